package kafka

// FuzzHandlers feeds requests of every registered API, at every served
// version, to a Server over in-memory stores (memmeta, memblob: real
// stores, only not durable), through the connection's read loop, handler
// and write loop over a net.Pipe. The fuzz input picks the API and version
// and then either is the request body itself (raw: mostly exercises kmsg's
// parsing and the "malformed request closes" path) or drives a generator
// that fills every field of the kmsg request struct by reflection (topic
// and group names from a small dictionary, ids of topics that exist, valid
// record batches, bounded arrays, boundary integers), which reaches far
// deeper into the handlers than random bytes that rarely parse. A generated
// input may pipeline up to maxPipelined requests on its connection, so
// that handlers overlap and answers must keep their order.
//
// Each exec asserts that no handler panicked (conn.go recovers a panic into
// a closed connection and a "handler panic" log line, which fails the
// target here), and that the broker either answered each request, in
// order, with a response that kmsg parses at the request's version with
// the request's correlation id (none for acks=0), or closed the
// connection, within fuzzHangTimeout; a request kmsg cannot parse must
// close it. An ApiVersions request pipelined behind the fuzzed ones tells
// an acks=0 produce (no answer, as in Kafka) apart from a hung handler.
// Once per run,
// a kgo client then produces and consumes through the same Server over
// TCP, to show the stores are still usable.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"gocloud.dev/blob/memblob"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"github.com/sluicedata/sluice/stages/fetch"
	"github.com/sluicedata/sluice/stages/group"
	"github.com/sluicedata/sluice/stages/produce"
)

const (
	// fuzzHangTimeout is how long one request may go unanswered (with
	// the connection open) before the target reports a hung handler. Wait
	// fields (*Millis) are generated below 100 ms, so only a handler that
	// never answers gets near it.
	fuzzHangTimeout = 5 * time.Second
	// fuzzTopic is created with fuzzTopicPartitions partitions at start,
	// so that generated requests name a topic that exists.
	fuzzTopic           = "fuzz"
	fuzzTopicPartitions = 3
	fuzzGroup           = "fuzz-group"
	sentinelCorrelation = 0x7e57
)

func FuzzHandlers(f *testing.F) {
	fs := newFuzzServer(f)
	f.Cleanup(func() { fs.checkUsable(f) })
	f.Fuzz(func(t *testing.T, api, version uint8, generate bool, data []byte) {
		fs.exec(t, api, version, generate, data)
	})
}

// fuzzServer is a Server over in-memory stores, shared by the execs of one
// fuzz process (state built by one exec is there for the next: topics,
// groups, producer ids).
type fuzzServer struct {
	s       *Server
	meta    meta.Store
	panics  *panicLog
	keys    []handler
	mu      sync.Mutex
	execs   int
	topicID []meta.TopicID // ids of existing topics, refreshed now and then
	learned learned        // ids the broker handed out
}

// learned holds ids from past answers (the last few of each kind), so
// that generated requests can continue a group, fetch session or
// idempotent producer a past exec started.
type learned struct {
	members   []string
	sessions  []int32
	producers []int64
}

// keep adds v to the last eight of a kind.
func keep[T any](list []T, v T, n int) []T {
	if len(list) < 8 {
		return append(list, v)
	}
	list[n%8] = v
	return list
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	panics := &panicLog{}
	log := slog.New(panics)
	store := memmeta.New()
	objects := blobstore.New(memblob.OpenBucket(nil))
	fetcher := fetch.New(fetch.Config{Meta: store, Objects: objects, Logger: log})
	pipe, err := produce.Start(produce.Config{
		Meta: store, Objects: objects, Logger: log, Linger: time.Millisecond,
		OnCommit: func(fl *produce.Flush) {
			fetcher.Written(fl.Key, fl.Intake.Data, fl.Intake.Rows)
			fetcher.Waker.Notify(fl.Committed)
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	// Session timeouts of up to 100 ms (the generated range) are valid,
	// so that joins get past the timeout checks and members of past execs
	// expire quickly instead of holding rebalances.
	groups := group.New(group.Config{Store: store, Logger: log, MinSessionTimeout: time.Millisecond, MaxSessionTimeout: 100 * time.Millisecond})
	s, err := New(Config{
		NodeID: 1, AdvertisedHost: "127.0.0.1", AdvertisedPort: 9092, ClusterID: "fuzz",
		Meta: store, Produce: pipe, Fetch: fetcher, Logger: log, Groups: groups,
		AutoCreateTopics: true, MaxRequestBytes: 1 << 20,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		pipe.Close()
		fetcher.Close()
		groups.Close()
	})
	if _, err := store.CreateTopic(context.Background(), fuzzTopic, fuzzTopicPartitions, nil); err != nil {
		tb.Fatal(err)
	}
	fs := &fuzzServer{s: s, meta: store, panics: panics, keys: supportedKeys()}
	fs.refreshTopicIDs()
	return fs
}

func (fs *fuzzServer) refreshTopicIDs() {
	ts, err := fs.meta.Topics(context.Background())
	if err != nil {
		return
	}
	ids := make([]meta.TopicID, 0, len(ts))
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	fs.mu.Lock()
	fs.topicID = ids
	fs.mu.Unlock()
}

// pick maps the fuzz input's api and version bytes to a registered API
// and one of its served versions.
func (fs *fuzzServer) pick(api, version uint8) (handler, int16) {
	h := fs.keys[int(api)%len(fs.keys)]
	return h, h.minVersion + int16(int(version)%int(h.maxVersion-h.minVersion+1))
}

// fuzzRequest is one request of an exec.
type fuzzRequest struct {
	key, version int16
	body         []byte
	// parses: kmsg parses body, so the broker must answer it (unless
	// acks=0: answer false) or close the connection; when it does not
	// parse, the broker must close.
	parses, answer bool
}

func (r fuzzRequest) String() string { return fmt.Sprintf("%s v%d", kmsg.NameForKey(r.key), r.version) }

// maxPipelined bounds the requests one generated input sends on its
// connection before the ApiVersions sentinel.
const maxPipelined = 4

// exec runs one fuzz input: raw, one request whose body is data; generated,
// a request from data, and while the bytes left ask for it (a byte that is
// a multiple of 4) up to maxPipelined-1 more, picked by the next two
// bytes, sent back to back so that their handlers overlap.
func (fs *fuzzServer) exec(t *testing.T, api, version uint8, generate bool, data []byte) {
	fs.mu.Lock()
	if fs.execs++; fs.execs%64 == 0 {
		fs.mu.Unlock()
		fs.refreshTopicIDs()
		fs.mu.Lock()
	}
	g := &fuzzGen{src: data, topicIDs: fs.topicID, learned: fs.learned}
	fs.mu.Unlock()

	var reqs []fuzzRequest
	for {
		h, v := fs.pick(api, version)
		req := kmsg.RequestForKey(h.key)
		req.SetVersion(v)
		fr := fuzzRequest{key: h.key, version: v, parses: true}
		if generate {
			g.fill(reflect.ValueOf(req).Elem(), "")
			req.SetVersion(v)
			fr.body = req.AppendTo(nil)
		} else {
			// The broker parses the body with kmsg too.
			fr.body = data
			fr.parses = req.ReadFrom(data) == nil
		}
		p, isProduce := req.(*kmsg.ProduceRequest)
		fr.answer = fr.parses && !(isProduce && p.Acks == 0)
		reqs = append(reqs, fr)
		if !generate || len(reqs) == maxPipelined || len(g.src) == 0 || g.byte()%4 != 0 {
			break
		}
		api, version = g.byte(), g.byte()
	}

	resps, closed, err := fs.roundTrip(reqs)
	if msg := fs.panics.take(); msg != "" {
		t.Fatalf("%v: handler panic (connection closed):\n%s", reqs, msg)
	}
	if err != nil {
		t.Fatalf("%v: %v", reqs, err)
	}
	if !closed {
		for _, r := range reqs {
			if !r.parses {
				t.Fatalf("%v: %v does not parse, and the connection stayed open", reqs, r)
			}
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	l := &fs.learned
	for _, resp := range resps {
		switch a := resp.(type) {
		case *kmsg.JoinGroupResponse:
			if a.MemberID != "" {
				l.members = keep(l.members, a.MemberID, fs.execs)
			}
		case *kmsg.FetchResponse:
			if a.SessionID != 0 {
				l.sessions = keep(l.sessions, a.SessionID, fs.execs)
			}
		case *kmsg.InitProducerIDResponse:
			if a.ErrorCode == 0 {
				l.producers = keep(l.producers, a.ProducerID, fs.execs)
			}
		}
	}
}

// roundTrip sends the requests (correlation ids 0, 1, …, with v1/v2
// headers) and an ApiVersions sentinel behind them on a fresh connection
// served by conn.serve, and returns the parsed answers, or closed if the
// broker closed the connection first. err is an answer that breaks the
// protocol (out of order, unparsable, one owed and missing, one not
// owed) or a hang.
func (fs *fuzzServer) roundTrip(reqs []fuzzRequest) (resps []kmsg.Response, closed bool, err error) {
	client, server := net.Pipe()
	c := newConn(fs.s, server)
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.serve()
	}()
	defer func() {
		client.Close()
		select {
		case <-served:
		case <-time.After(fuzzHangTimeout):
			if err == nil {
				err = errors.New("connection not closed after the client went away")
			}
		}
	}()

	var frames []byte
	for i, r := range reqs {
		frames = appendRequestFrame(frames, r.key, r.version, int32(i), r.body)
	}
	frames = appendRequestFrame(frames, kmsg.ApiVersions.Int16(), 0, sentinelCorrelation, nil)
	go func() { _, _ = client.Write(frames) }()

	_ = client.SetReadDeadline(time.Now().Add(fuzzHangTimeout))
	next := 0 // the first request whose answer may come
	for {
		frame, rerr := codec.ReadFrame(client, math.MaxInt32)
		var ne net.Error
		switch {
		case errors.As(rerr, &ne) && ne.Timeout():
			return resps, false, fmt.Errorf("no answer and no close within %v (%d answered)", fuzzHangTimeout, len(resps))
		case rerr != nil:
			return resps, true, nil
		case len(frame) < 4:
			return resps, false, fmt.Errorf("answer frame of %d bytes", len(frame))
		}
		corr := int32(binary.BigEndian.Uint32(frame))
		k := int(corr)
		if corr == sentinelCorrelation {
			k = len(reqs)
		}
		if k < next || k > len(reqs) {
			return resps, false, fmt.Errorf("answer with correlation id %#x after %d answers", corr, next)
		}
		for ; next < k; next++ {
			if reqs[next].answer {
				return resps, false, fmt.Errorf("no answer to %v before the next one's", reqs[next])
			}
		}
		if k == len(reqs) {
			return resps, false, nil
		}
		r := reqs[k]
		if !r.answer {
			return resps, false, fmt.Errorf("an answer to %v, which is owed none (acks=0)", r)
		}
		resp, err := parseAnswer(r.key, r.version, frame[4:])
		if err != nil {
			return resps, false, err
		}
		resps = append(resps, resp)
		next = k + 1
	}
}

// appendRequestFrame appends a size-prefixed request: header v1, or v2 for
// a flexible version, then body.
func appendRequestFrame(dst []byte, key, version int16, correlationID int32, body []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(key))
	dst = binary.BigEndian.AppendUint16(dst, uint16(version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	dst = binary.BigEndian.AppendUint16(dst, 4)
	dst = append(dst, "fuzz"...)
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		dst = append(dst, 0) // no header tags
	}
	dst = append(dst, body...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// parseAnswer parses a response frame's header rest (after the
// correlation id) and body at version.
func parseAnswer(key, version int16, b []byte) (kmsg.Response, error) {
	resp := kmsg.ResponseForKey(key)
	resp.SetVersion(version)
	if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		// Response header v1: tagged fields.
		n, used := binary.Uvarint(b)
		if used <= 0 || n != 0 {
			return nil, fmt.Errorf("%s v%d answer: bad header tags", kmsg.NameForKey(key), version)
		}
		b = b[used:]
	}
	if err := resp.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("%s v%d answer does not parse: %w", kmsg.NameForKey(key), version, err)
	}
	return resp, nil
}

// checkUsable produces and consumes through the Server with a real
// client over TCP: whatever the fuzz inputs did, the stores must still
// serve.
func (fs *fuzzServer) checkUsable(tb testing.TB) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fs.s.cfg.AdvertisedPort = int32(port)
	go func() { _ = fs.s.Serve(ln) }()
	seeds := kgo.SeedBrokers(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		tb.Fatal(err)
	}
	defer prod.Close()
	want := fmt.Sprintf("usable after %d execs", fs.execs)
	r, err := prod.ProduceSync(ctx, &kgo.Record{Topic: fuzzTopic, Partition: 1, Value: []byte(want)}).First()
	if err != nil {
		tb.Fatalf("produce after fuzzing: %v", err)
	}
	cons, err := kgo.NewClient(seeds, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		fuzzTopic: {1: kgo.NewOffset().At(r.Offset)},
	}))
	if err != nil {
		tb.Fatal(err)
	}
	defer cons.Close()
	for {
		fetches := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			tb.Fatalf("consume after fuzzing: %v", err)
		}
		var got []byte
		fetches.EachRecord(func(rec *kgo.Record) {
			if rec.Offset == r.Offset {
				got = rec.Value
			}
		})
		if got != nil {
			if string(got) != want {
				tb.Fatalf("consumed %q at offset %d, produced %q", got, r.Offset, want)
			}
			return
		}
	}
}

// panicLog is a slog handler that keeps the log records reporting a
// recovered handler panic, and drops everything else.
type panicLog struct {
	mu  sync.Mutex
	msg []string
}

func (p *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *panicLog) WithGroup(string) slog.Handler            { return p }
func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if s := a.Value.String(); strings.Contains(s, "handler panic") {
			p.mu.Lock()
			p.msg = append(p.msg, s)
			p.mu.Unlock()
		}
		return true
	})
	return nil
}

func (p *panicLog) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := strings.Join(p.msg, "\n")
	p.msg = nil
	return s
}

// fuzzGen fills kmsg structs from fuzz bytes; past the end every byte
// reads as zero, so any input makes a request.
type fuzzGen struct {
	src      []byte
	topicIDs []meta.TopicID
	learned  learned
}

func (g *fuzzGen) byte() byte {
	if len(g.src) == 0 {
		return 0
	}
	b := g.src[0]
	g.src = g.src[1:]
	return b
}

func (g *fuzzGen) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = g.byte()
	}
	return out
}

func (g *fuzzGen) uint64() uint64 { return binary.BigEndian.Uint64(g.bytes(8)) }

// fuzzStrings are the strings generated fields are mostly drawn from, by
// what the field names.
var fuzzStrings = map[string][]string{
	"Topic":    {fuzzTopic, fuzzTopic, "fuzz-new", "fuzz.a", "fuzz_a", "", "__consumer_offsets", strings.Repeat("t", 250)},
	"Group":    {fuzzGroup, fuzzGroup, "fuzz-group-2", ""},
	"Protocol": {"consumer", "range", "roundrobin", "cooperative-sticky", ""},
	"Member":   {"", "fuzz-member"},
	"Config": {"retention.ms", "retention.bytes", "cleanup.policy", "max.message.bytes", "message.timestamp.type",
		"message.timestamp.difference.max.ms", "segment.bytes", "compression.type", "min.insync.replicas", "unknown.config", "",
		"-1", "0", "1", "1000", "9223372036854775807", "-9223372036854775808", "delete", "compact", "compact,delete",
		"true", "false", "producer", "zstd", "CreateTime", "LogAppendTime", "x"},
}

// dictionary picks the word list for a field.
func dictionary(field string) []string {
	switch {
	case strings.Contains(field, "Topic"):
		return fuzzStrings["Topic"]
	case strings.Contains(field, "Group"):
		return fuzzStrings["Group"]
	case strings.Contains(field, "Protocol"):
		return fuzzStrings["Protocol"]
	case strings.Contains(field, "Member"), strings.Contains(field, "Instance"):
		return fuzzStrings["Member"]
	}
	return fuzzStrings["Config"]
}

func (g *fuzzGen) string(field string) string {
	c := g.byte()
	switch {
	case c < 176:
		if m := g.learned.members; strings.Contains(field, "Member") && len(m) > 0 && c%2 == 0 {
			return m[int(g.byte())%len(m)]
		}
		d := dictionary(field)
		return d[int(g.byte())%len(d)]
	case c < 248:
		return string(g.bytes(int(g.byte() % 24)))
	default:
		return strings.Repeat(string(rune('a'+c%26)), int(g.byte())*64)
	}
}

// int returns a value for an integer field of the given width: boundary
// values, small ones (indexes, partitions, counts) or any. Wait times
// (fields named *Millis) stay under 100 ms so that long polls and
// rebalances end quickly.
func (g *fuzzGen) int(bits int, field string) int64 {
	if strings.HasSuffix(field, "Millis") {
		switch c := g.byte(); c % 4 {
		case 0:
			return -1
		case 1:
			return 0
		default:
			return int64(c % 100)
		}
	}
	if ss := g.learned.sessions; field == "SessionID" && len(ss) > 0 && g.byte()%2 == 0 {
		return int64(ss[int(g.byte())%len(ss)])
	}
	if ps := g.learned.producers; field == "ProducerID" && len(ps) > 0 && g.byte()%2 == 0 {
		return ps[int(g.byte())%len(ps)]
	}
	maxV := int64(1)<<(bits-1) - 1
	switch c := g.byte(); c % 8 {
	case 0:
		return 0
	case 1:
		return -1
	case 2, 3:
		return int64(g.byte() % 8)
	case 4:
		return maxV
	case 5:
		return -maxV - 1
	default:
		v := g.uint64()
		shift := 64 - bits
		return int64(v<<shift) >> shift
	}
}

// fill sets v (a field named field) from the fuzz bytes.
func (g *fuzzGen) fill(v reflect.Value, field string) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(kmsg.Tags{}) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			name := v.Type().Field(i).Name
			if name == "Version" || !v.Field(i).CanSet() {
				continue
			}
			g.fill(v.Field(i), name)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(g.byteField(field))
			return
		}
		c := g.byte()
		n := int(c % 4)
		if c >= 224 {
			n = int(c % 32)
		}
		if n == 0 && c%2 == 0 {
			v.Set(reflect.Zero(v.Type())) // null where the array is nullable
			return
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			g.fill(s.Index(i), field)
		}
		v.Set(s)
	case reflect.Array: // uuids: topic ids
		if v.Type().Elem().Kind() != reflect.Uint8 || v.Len() != 16 {
			return
		}
		var id [16]byte
		switch c := g.byte(); c % 4 {
		case 0:
		case 1, 2:
			if len(g.topicIDs) > 0 {
				id = g.topicIDs[int(g.byte())%len(g.topicIDs)]
			}
		default:
			copy(id[:], g.bytes(16))
		}
		reflect.Copy(v, reflect.ValueOf(id[:]))
	case reflect.Pointer:
		if v.Type().Elem().Kind() != reflect.String {
			return
		}
		if g.byte()%6 == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		s := g.string(field)
		v.Set(reflect.ValueOf(&s))
	case reflect.String:
		v.SetString(g.string(field))
	case reflect.Bool:
		v.SetBool(g.byte()&1 == 1)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(g.int(v.Type().Bits(), field))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(g.int(v.Type().Bits(), field)))
	case reflect.Float64:
		v.SetFloat(math.Float64frombits(g.uint64()))
	}
}

// byteField fills a bytes field: record batches for Records, consumer
// protocol metadata and assignments (which the broker reads) for those,
// else short opaque bytes.
func (g *fuzzGen) byteField(field string) []byte {
	c := g.byte()
	switch {
	case field == "Records" && c%4 != 0:
		return g.recordBatch(c)
	case field == "Metadata" && c%2 == 0:
		m := &kmsg.ConsumerMemberMetadata{}
		g.fill(reflect.ValueOf(m).Elem(), "")
		m.Version = int16(c/2) % 4
		return m.AppendTo(nil)
	case field == "Assignment" && c%2 == 0:
		m := &kmsg.ConsumerMemberAssignment{}
		g.fill(reflect.ValueOf(m).Elem(), "")
		m.Version = int16(c/2) % 4
		return m.AppendTo(nil)
	case c%5 == 0:
		return nil
	default:
		return g.bytes(int(g.byte() % 32))
	}
}

// recordBatch is a valid magic-2 batch (any codec, idempotent or not),
// sometimes followed by a second batch or with one byte changed.
func (g *fuzzGen) recordBatch(c byte) []byte {
	n := 1 + int(g.byte()%3)
	recs := make([]codec.Record, n)
	for i := range recs {
		recs[i] = codec.Record{OffsetDelta: int32(i), Key: g.byteField("Key"), Value: g.bytes(int(g.byte() % 16))}
	}
	ts := time.Now().UnixMilli()
	if g.byte()%8 == 0 {
		ts = g.int(64, "Timestamp")
	}
	h := codec.BatchHeader{
		Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}
	if g.byte()%4 == 0 { // idempotent
		h.ProducerID = g.int(64, "ProducerID")
		h.ProducerEpoch = int16(g.byte() % 3)
		h.BaseSequence = int32(g.byte() % 8)
	}
	if g.byte()%8 == 0 {
		h.Attributes = int16(g.byte()) << 3 // timestamp type, transactional, control
	}
	out, err := codec.AppendBatch(nil, h, recs, codec.Codec(int(c/4)%5))
	if err != nil {
		return g.bytes(8)
	}
	switch m := g.byte(); m % 8 {
	case 0:
		out = append(out, out...)
	case 1:
		out[int(g.byte())%len(out)] ^= 1 << (m % 8)
	}
	return out
}
