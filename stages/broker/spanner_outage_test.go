package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
	"github.com/sluicedata/sluice/stages/broker"
)

// tcpForwarder relays TCP connections from a loopback port to target. It
// can be paused: every current connection is closed and new ones are
// accepted but black-holed (nothing is read or forwarded) until resume,
// which closes them so that the client reconnects.
type tcpForwarder struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	paused bool
	conns  map[net.Conn]struct{} // both sides of live relays
	held   []net.Conn            // black-holed while paused
	closed bool
	wg     sync.WaitGroup
}

func newTCPForwarder(t *testing.T, target string) *tcpForwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &tcpForwarder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.acceptLoop()
	t.Cleanup(f.close)
	return f
}

func (f *tcpForwarder) addr() string { return f.ln.Addr().String() }

func (f *tcpForwarder) acceptLoop() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		switch {
		case f.closed:
			f.mu.Unlock()
			c.Close()
			return
		case f.paused:
			f.held = append(f.held, c)
			f.mu.Unlock()
			continue
		}
		f.mu.Unlock()
		f.wg.Add(1)
		go f.relay(c)
	}
}

func (f *tcpForwarder) relay(c net.Conn) {
	defer f.wg.Done()
	up, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	f.mu.Lock()
	if f.paused || f.closed {
		f.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	f.conns[c], f.conns[up] = struct{}{}, struct{}{}
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	<-done
	f.mu.Lock()
	delete(f.conns, c)
	delete(f.conns, up)
	f.mu.Unlock()
}

// pause cuts every relayed connection and black-holes new ones.
func (f *tcpForwarder) pause() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = true
	for c := range f.conns {
		c.Close()
	}
}

// resume closes the black-holed connections and relays again.
func (f *tcpForwarder) resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = false
	for _, c := range f.held {
		c.Close()
	}
	f.held = nil
}

func (f *tcpForwarder) close() {
	f.mu.Lock()
	f.closed = true
	f.paused = true
	for c := range f.conns {
		c.Close()
	}
	for _, c := range f.held {
		c.Close()
	}
	f.held = nil
	f.mu.Unlock()
	f.ln.Close()
	f.wg.Wait()
}

// produceErrLogger keeps the per-partition produce errors kgo logs
// ("batch in a produce request failed"): the errors the broker answered.
type produceErrLogger struct {
	mu   sync.Mutex
	errs []error
}

func (l *produceErrLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l *produceErrLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	if msg != "batch in a produce request failed" {
		return
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, _ := keyvals[i].(string); k == "err" {
			if err, ok := keyvals[i+1].(error); ok {
				l.mu.Lock()
				l.errs = append(l.errs, err)
				l.mu.Unlock()
			}
		}
	}
}

func (l *produceErrLogger) seen() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// rawProduceResult is the answer to one hand-made produce request.
type rawProduceResult struct {
	code   int16
	offset int64
	err    error // transport failure: no answer
	at     time.Time
}

// rawProduceOnce sends one non-idempotent batch holding a single record
// (key key) to partition 0 of topic over its own connection and waits up to
// wait for the answer. Safe to call from any goroutine.
func rawProduceOnce(addr, topic string, key []byte, wait time.Duration) rawProduceResult {
	now := time.Now().UnixMilli()
	h := codec.BatchHeader{Magic: 2, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	batch, err := codec.AppendBatch(nil, h, []codec.Record{{Key: key, Value: []byte("raw")}}, codec.CodecNone)
	if err != nil {
		return rawProduceResult{err: err}
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9) // names topics by name
	req.Acks, req.TimeoutMillis = -1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return rawProduceResult{err: err}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, 1)
	body = binary.BigEndian.AppendUint16(body, 4)
	body = append(body, "test"...)
	body = append(body, 0) // v9 is flexible: empty header tags
	body = req.AppendTo(body)
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		return rawProduceResult{err: err}
	}
	frame, err := codec.ReadFrame(c, 16<<20)
	if err != nil {
		return rawProduceResult{err: err, at: time.Now()}
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(frame[5:]); err != nil { // correlation id, header tags
		return rawProduceResult{err: err, at: time.Now()}
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return rawProduceResult{err: fmt.Errorf("malformed answer %+v", resp), at: time.Now()}
	}
	p := resp.Topics[0].Partitions[0]
	return rawProduceResult{code: p.ErrorCode, offset: p.BaseOffset, at: time.Now()}
}

// retriableStorageCode reports whether code is one of the retriable codes
// a broker may answer when its metadata store is unreachable.
func retriableStorageCode(code int16) bool {
	err := kerr.ErrorForCode(code)
	return kerr.IsRetriable(err) && (errors.Is(err, kerr.KafkaStorageError) || errors.Is(err, kerr.RequestTimedOut))
}

// TestSpannerOutageWhileServing cuts the broker off from Spanner for a few
// seconds while an idempotent producer runs: acknowledgements stop (none is
// given for a record that was not committed), the broker keeps answering,
// any produce error is retriable, and once Spanner is back the producer
// completes by itself; consuming everything back finds every acknowledged
// record exactly once, at the offset it was acknowledged with.
func TestSpannerOutageWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Spanner emulator")
	}
	emuHost := spanneremu.Host(t)
	url := spanneremu.NewDatabase(t) // through the real address
	fwd := newTCPForwarder(t, emuHost)
	t.Setenv("SPANNER_EMULATOR_HOST", fwd.addr())

	const topic = "outage"
	const partitions = 4
	b := startBroker(t, func(c *broker.Config) {
		c.Metadata, c.AutoMigrate = url, true
	})
	createTopic(t, b.Addr(), topic, partitions, nil)

	type ack struct {
		i         int
		partition int32
		offset    int64
		err       error
		at        time.Time
	}
	var (
		acksMu sync.Mutex
		acks   []ack
	)
	errLog := &produceErrLogger{}
	cl := newClient(t, b.Addr(),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(0), // unlimited
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.WithLogger(errLog),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// Produce continuously (a record every ~2ms) until told to stop.
	stop := make(chan struct{})
	producerDone := make(chan int)
	go func() {
		i := 0
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				producerDone <- i
				return
			case <-tick.C:
			}
			n := i
			r := &kgo.Record{Key: []byte("rec-" + strconv.Itoa(n)), Value: []byte(fmt.Sprintf("value %d", n))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				acksMu.Lock()
				acks = append(acks, ack{i: n, partition: r.Partition, offset: r.Offset, err: err, at: time.Now()})
				acksMu.Unlock()
			})
			i++
		}
	}()
	ackCount := func() int {
		acksMu.Lock()
		defer acksMu.Unlock()
		return len(acks)
	}

	time.Sleep(3 * time.Second)
	before := ackCount()
	if before == 0 {
		t.Fatal("no acknowledgement in the 3s before the outage")
	}

	// The outage.
	const outage = 5 * time.Second
	pausedAt := time.Now()
	fwd.pause()
	t.Logf("paused Spanner after %d acknowledgements", before)

	// A hand-made produce during the outage: its answer (whenever it
	// comes) is either a retriable error or an offset that must hold it.
	rawKey := []byte("raw-during-outage")
	rawDone := make(chan rawProduceResult, 1)
	go func() {
		time.Sleep(500 * time.Millisecond)
		rawDone <- rawProduceOnce(b.Addr(), topic, rawKey, 60*time.Second)
	}()

	// The broker keeps answering requests that need no commit.
	time.Sleep(1500 * time.Millisecond)
	{
		api := rawRequest(t, b.Addr(), kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
		if api.ErrorCode != 0 || len(api.ApiKeys) == 0 {
			t.Errorf("ApiVersions during the outage: error %d, %d keys", api.ErrorCode, len(api.ApiKeys))
		}
		pcl := newClient(t, b.Addr())
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		start := time.Now()
		err := pcl.Ping(pctx) // a Metadata request
		pcancel()
		if err != nil {
			t.Errorf("Metadata (client ping) during the outage: %v after %v", err, time.Since(start).Round(time.Millisecond))
		} else {
			t.Logf("Metadata answered during the outage in %v", time.Since(start).Round(time.Millisecond))
		}
	}
	time.Sleep(time.Until(pausedAt.Add(outage)))
	resumedAt := time.Now()
	fwd.resume()

	// Acknowledgements given more than a second into the outage cannot
	// have been committed to Spanner.
	acksMu.Lock()
	var during, lateDuring int
	for _, a := range acks {
		if a.at.After(pausedAt) && a.at.Before(resumedAt) {
			during++
			if a.at.After(pausedAt.Add(time.Second)) {
				lateDuring++
			}
		}
	}
	acksMu.Unlock()
	t.Logf("acknowledgements during the outage: %d (%d after its first second)", during, lateDuring)
	if lateDuring > 0 {
		t.Errorf("%d records acknowledged more than 1s into the Spanner outage", lateDuring)
	}

	// Recovery: produce a bit more, then everything must complete.
	time.Sleep(2 * time.Second)
	close(stop)
	total := <-producerDone
	fctx, fcancel := context.WithTimeout(ctx, 40*time.Second)
	err := cl.Flush(fctx)
	fcancel()
	if err != nil {
		t.Fatalf("producer did not complete within 40s of Spanner's return: %d of %d acknowledged (%v)", ackCount(), total, err)
	}
	recovered := time.Now()
	acksMu.Lock()
	firstAfter := time.Time{}
	for _, a := range acks {
		if a.at.After(resumedAt) && (firstAfter.IsZero() || a.at.Before(firstAfter)) {
			firstAfter = a.at
		}
	}
	acksMu.Unlock()
	if !firstAfter.IsZero() {
		t.Logf("first acknowledgement %v after resume; flush done %v after resume", firstAfter.Sub(resumedAt).Round(time.Millisecond), recovered.Sub(resumedAt).Round(time.Millisecond))
	}

	// Errors the producer saw are retriable ones.
	for _, err := range errLog.seen() {
		var ke *kerr.Error
		if !errors.As(err, &ke) || !retriableStorageCode(ke.Code) {
			t.Errorf("producer saw produce error %v, want a retriable KAFKA_STORAGE_ERROR or REQUEST_TIMED_OUT", err)
		}
	}
	t.Logf("produce errors the producer saw: %d", len(errLog.seen()))

	var raw rawProduceResult
	select {
	case raw = <-rawDone:
	case <-time.After(40 * time.Second):
		t.Fatal("raw produce sent during the outage got no answer 40s after Spanner returned")
	}
	rawAcked := false
	switch {
	case raw.err != nil:
		t.Errorf("raw produce during the outage: no answer: %v", raw.err)
	case raw.code == 0:
		rawAcked = true
		t.Logf("raw produce during the outage acknowledged at offset %d, %v after resume", raw.offset, raw.at.Sub(resumedAt).Round(time.Millisecond))
		if raw.at.Before(resumedAt) {
			t.Errorf("raw produce acknowledged during the outage (%v after pause)", raw.at.Sub(pausedAt))
		}
	case retriableStorageCode(raw.code):
		t.Logf("raw produce during the outage answered %v, %v after pause", kerr.ErrorForCode(raw.code), raw.at.Sub(pausedAt).Round(time.Millisecond))
	default:
		t.Errorf("raw produce during the outage answered %v, want success or KAFKA_STORAGE_ERROR / REQUEST_TIMED_OUT", kerr.ErrorForCode(raw.code))
	}

	// Every record was acknowledged, exactly once.
	acksMu.Lock()
	if len(acks) != total {
		t.Fatalf("%d promises called for %d records", len(acks), total)
	}
	want := map[int32]map[int64]int{} // partition -> offset -> record
	for _, a := range acks {
		if a.err != nil {
			t.Errorf("record %d failed: %v", a.i, a.err)
			continue
		}
		if want[a.partition] == nil {
			want[a.partition] = map[int64]int{}
		}
		if prev, dup := want[a.partition][a.offset]; dup {
			t.Fatalf("offset %d/%d acknowledged for records %d and %d", a.partition, a.offset, prev, a.i)
		}
		want[a.partition][a.offset] = a.i
	}
	acksMu.Unlock()
	if t.Failed() {
		t.FailNow()
	}

	// The broker still serves after the outage.
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("ping after the outage: %v", err)
	}

	// Consume everything there is and match it against the acknowledgements.
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %d: %v", o.Partition, o.Err)
		}
		stored += int(o.Offset)
	})
	t.Logf("%d records produced by the idempotent producer, %d stored", total, stored)
	recs := consumeAll(t, b.Addr(), topic, stored)
	seenRec := map[int]bool{}
	rawFound := false
	for _, r := range recs {
		if string(r.Key) == string(rawKey) {
			if r.Partition != 0 || (rawAcked && r.Offset != raw.offset) || rawFound {
				t.Errorf("raw record found at %d/%d (acknowledged %v at offset %d; seen before %v)", r.Partition, r.Offset, rawAcked, raw.offset, rawFound)
			}
			rawFound = true
			continue
		}
		i, err := strconv.Atoi(string(r.Key[len("rec-"):]))
		if err != nil || string(r.Value) != fmt.Sprintf("value %d", i) {
			t.Fatalf("unexpected record at %d/%d: key %q value %q", r.Partition, r.Offset, r.Key, r.Value)
		}
		if seenRec[i] {
			t.Errorf("record %d stored more than once (again at %d/%d)", i, r.Partition, r.Offset)
		}
		seenRec[i] = true
		if w, ok := want[r.Partition][r.Offset]; !ok || w != i {
			t.Errorf("record %d at %d/%d, acknowledged there: record %d (%v)", i, r.Partition, r.Offset, w, ok)
		}
	}
	for p, m := range want {
		for off, i := range m {
			if !seenRec[i] {
				t.Errorf("record %d acknowledged at %d/%d but not stored", i, p, off)
			}
		}
	}
	if rawAcked && !rawFound {
		t.Errorf("raw record acknowledged at 0/%d but not stored", raw.offset)
	}
	if !rawAcked && rawFound {
		t.Logf("raw record answered with an error was stored anyway (an ambiguous commit: allowed, at-least-once)")
	}
	if len(recs) != stored {
		t.Errorf("consumed %d records, end offsets say %d", len(recs), stored)
	}
}
