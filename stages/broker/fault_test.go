package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/meta/spannermeta"
	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/testservers"
)

// The fault suite's knobs, environment variables so that `make fault` can
// run it longer than `make test` does.
const (
	faultDurationEnv  = "SLUICE_FAULT_DURATION"   // faulty phase (default 1m)
	faultSeedEnv      = "SLUICE_FAULT_SEED"       // random choices (default: from the clock, printed)
	faultRateEnv      = "SLUICE_FAULT_RATE"       // records/s offered by all producers together
	faultKillEveryEnv = "SLUICE_FAULT_KILL_EVERY" // mean time between kill -9s
)

func faultEnvDuration(t *testing.T, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", name, s)
	}
	return d
}

func faultEnvInt(t *testing.T, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// faultKey and faultValue are record seq of producer p: a key naming
// both, and a value that follows from them, so that every byte a consumer
// gets can be checked against what was produced.
func faultKey(p, seq int) []byte { return []byte("f" + strconv.Itoa(p) + "-" + strconv.Itoa(seq)) }

func faultValue(p, seq int) []byte {
	rng := rand.New(rand.NewPCG(uint64(p), uint64(seq)))
	v := make([]byte, 32+rng.IntN(256))
	for i := range v {
		v[i] = byte(rng.Uint32())
	}
	return v
}

func parseFaultKey(k []byte) (p, seq int, ok bool) {
	s, ok := strings.CutPrefix(string(k), "f")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(a)
	seq, err2 := strconv.Atoi(b)
	return p, seq, err1 == nil && err2 == nil && p >= 0 && seq >= 0
}

// faultTP is a topic partition of the suite.
type faultTP struct {
	topic string
	part  int32
}

func (tp faultTP) String() string { return tp.topic + "/" + strconv.Itoa(int(tp.part)) }

// faultAck is where one produced record went: state 0 attempted (no
// answer yet), 1 acknowledged at tp/off, 2 failed.
type faultAck struct {
	tp    faultTP
	off   int64
	state uint8
}

const (
	ackPending = iota
	ackOK
	ackFailed
)

// faultLedger is the suite's record of everything that happened: what
// each producer attempted and was told, what the group saw, its committed
// offsets over time, and any violation of the invariants.
type faultLedger struct {
	began time.Time

	mu         sync.Mutex
	produced   [][]faultAck // by producer, by sequence
	prodErrs   map[string]int64
	groupSeen  map[faultTP]map[int64][2]int // offset -> producer, seq, as the group got it
	groupRecs  int64
	groupDups  int64 // records the group got again (after a rebalance before their commit)
	commitErrs int64
	committed  map[faultTP]int64 // highest committed offset sampled
	samples    int64
	sampleErrs int64
	violations []string
	nviolation int
}

func (l *faultLedger) violate(format string, args ...any) {
	l.nviolation++
	if len(l.violations) < 30 {
		l.violations = append(l.violations, fmt.Sprintf("+%v ", time.Since(l.began).Round(time.Millisecond))+fmt.Sprintf(format, args...))
	}
}

// errName is the Kafka error name of err, or a short description.
func errName(err error) string {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Message
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "context"
	case errors.Is(err, kgo.ErrRecordTimeout):
		return "record-timeout"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// checkValue checks that a consumed record is exactly one that was
// produced; it returns its producer and sequence.
func (l *faultLedger) checkValue(who string, r *kgo.Record) (p, seq int, ok bool) {
	p, seq, ok = parseFaultKey(r.Key)
	if !ok || p >= len(l.produced) || seq >= len(l.produced[p]) {
		l.violate("%s read a record never produced: key %q at %s/%d/%d", who, r.Key, r.Topic, r.Partition, r.Offset)
		return 0, 0, false
	}
	if !bytes.Equal(r.Value, faultValue(p, seq)) {
		l.violate("%s read %s at %s/%d/%d with a value that differs from the one produced (%d bytes, want %d)",
			who, r.Key, r.Topic, r.Partition, r.Offset, len(r.Value), len(faultValue(p, seq)))
		return 0, 0, false
	}
	return p, seq, true
}

// groupGot notes records the group consumed: each must be one produced,
// and an offset seen again must hold the same record.
func (l *faultLedger) groupGot(member string, recs []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		p, seq, ok := l.checkValue(member, r)
		if !ok {
			continue
		}
		tp := faultTP{r.Topic, r.Partition}
		m := l.groupSeen[tp]
		if m == nil {
			m = map[int64][2]int{}
			l.groupSeen[tp] = m
		}
		if prev, again := m[r.Offset]; again {
			l.groupDups++
			if prev != [2]int{p, seq} {
				l.violate("%s read f%d-%d at %s/%d, where the group read f%d-%d before", member, p, seq, tp, r.Offset, prev[0], prev[1])
			}
			continue
		}
		m[r.Offset] = [2]int{p, seq}
		l.groupRecs++
	}
}

// sampleCommitted notes the group's committed offsets: none may go
// backwards.
func (l *faultLedger) sampleCommitted(offs kadm.OffsetResponses) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples++
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil || o.At < 0 {
			return
		}
		tp := faultTP{o.Topic, o.Partition}
		if last, ok := l.committed[tp]; ok && o.At < last {
			l.violate("group offset of %s went backwards: %d after %d", tp, o.At, last)
		}
		if o.At > l.committed[tp] {
			l.committed[tp] = o.At
		}
	})
}

// TestFaultSuite is the fault suite (issue 12): three `sluice serve`
// processes over the Spanner emulator and an in-process S3 server behind
// a proxy that injects errors, latency, lost replies and truncated reads;
// one broker killed with SIGKILL and restarted every few seconds (never
// two down at once); every client connection cut after a random lifetime
// of up to 3s by a TCP proxy in front of each broker (connCutter), so
// that produces the brokers committed lose their replies and are sent
// again; idempotent producers (acks=all) and a consumer group
// of two members committing what it processed; the lifecycle archiving
// and vacuuming throughout. Then, with the faults off, a fresh consumer
// reads every partition from the start and the suite checks that every
// acknowledged record is there at the offset its producer was told, once,
// byte for byte; that offsets and each producer's sequences go up within
// a partition; that nothing read (by the group or at the end) differs
// from what was produced; that the group read only records that are in
// the log and its committed offsets never went backwards; and that the
// group catches up. It prints the counts.
//
// SLUICE_FAULT_DURATION (default 1m) is the faulty phase; `make fault`
// runs it for FAULT_TIME (10m). SLUICE_FAULT_SEED repeats a run's random
// choices (fault mix, kill order), SLUICE_FAULT_RATE sets the offered
// load, SLUICE_FAULT_KILL_EVERY the mean time between kills.
func TestFaultSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the broker, starts the Spanner emulator and runs for SLUICE_FAULT_DURATION")
	}
	duration := faultEnvDuration(t, faultDurationEnv, time.Minute)
	killEvery := faultEnvDuration(t, faultKillEveryEnv, 5*time.Second)
	rate := faultEnvInt(t, faultRateEnv, 1500)
	seed := uint64(faultEnvInt(t, faultSeedEnv, time.Now().UnixNano()%1_000_000_000+1))
	const (
		brokers   = 3
		producers = 4
		members   = 2
		group     = "fault-g"
	)
	topics := map[string]int32{"fault-a": 4, "fault-b": 2}
	topicNames := []string{"fault-a", "fault-b"}
	began := time.Now()
	// Registered first, so run last: the whole test's wall time.
	t.Cleanup(func() { t.Logf("+%v cleaned up", time.Since(began).Round(time.Millisecond)) })
	t.Logf("fault suite: seed %d (%s=%d repeats it), %v of faults, %d records/s offered, a kill every ~%v",
		seed, faultSeedEnv, seed, duration, rate, killEvery)

	bin, err := buildSluice()
	if err != nil {
		t.Fatal(err)
	}
	s3 := testservers.StartS3(t)
	bucket := s3.NewBucket(t)
	proxy := testservers.StartFaultProxy(t, s3.Endpoint, testservers.FaultRates{
		Error: 0.03, LostReply: 0.02, Latency: 0.2, MaxLatency: 150 * time.Millisecond, CutGet: 0.03, ShortGet: 0.03,
	}, seed)
	objects := s3.URL(bucket, "endpoint="+proxy.URL)
	metaURL := spanneremu.NewDatabase(t)
	if _, _, err := spannermeta.Migrate(context.Background(), metaURL); err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	procs := make([]*brokerProc, brokers)
	cutters := make([]*connCutter, brokers)
	var addrs []string // the cutters', which the brokers advertise
	for i := range procs {
		name := "fault-" + strconv.Itoa(i)
		logf, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		kafka := freePort(t)
		cutters[i] = startConnCutter(t, kafka, 3*time.Second, seed+uint64(i))
		procs[i] = &brokerProc{name: name, addr: kafka, admin: freePort(t), dir: t.TempDir(), stderr: logf,
			// Short lifecycle settings, so that intake is archived and
			// unreferenced objects vacuumed during the run.
			extra: []string{"--lifecycle-interval", "1s", "--archive-age", "2s", "--archive-bytes", "65536",
				"--vacuum-grace", "30s", "--default-partitions", "2", "--public-addr", cutters[i].Addr()}}
		addrs = append(addrs, cutters[i].Addr())
	}
	defer func() {
		if t.Failed() {
			for _, p := range procs {
				b, _ := os.ReadFile(filepath.Join(logDir, p.name+".log"))
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) > 15 {
					lines = lines[len(lines)-15:]
				}
				t.Logf("last lines of %s's log:\n%s", p.name, strings.Join(lines, "\n"))
			}
		}
	}()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.start(t, bin, metaURL, objects) }()
	}
	wg.Wait()
	waitFor(t, "all brokers registered", 30*time.Second, func() bool { return len(brokersSeen(t, addrs[0], "probe")) == brokers })
	for _, name := range topicNames {
		createTopic(t, addrs[0], name, topics[name], nil)
	}
	t.Logf("+%v brokers up, topics created; faults on", time.Since(began).Round(time.Millisecond))
	proxy.Enable()
	for _, c := range cutters {
		c.on.Store(true)
	}

	l := newFaultLedger(producers)
	l.began = began
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The group: two members, each processing a poll and committing it
	// before it lets a rebalance happen.
	gctx, stopGroup := context.WithCancel(ctx)
	defer stopGroup()
	var gwg sync.WaitGroup
	for m := range members {
		member := group + "-m" + strconv.Itoa(m)
		cl := newClient(t, addrs[m%brokers], kgo.SeedBrokers(addrs...), kgo.ClientID(member), kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topicNames...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(), kgo.FetchMaxWait(200*time.Millisecond), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.SessionTimeout(15*time.Second), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
		gwg.Add(1)
		go func() {
			defer gwg.Done()
			for gctx.Err() == nil {
				fs := cl.PollRecords(gctx, 5000)
				if recs := fs.Records(); len(recs) > 0 {
					l.groupGot(member, recs)
					cctx, ccancel := context.WithTimeout(gctx, 20*time.Second)
					err := cl.CommitRecords(cctx, recs...)
					ccancel()
					if err != nil {
						l.mu.Lock()
						l.commitErrs++
						l.mu.Unlock()
					}
				}
				cl.AllowRebalance()
			}
		}()
	}

	// Sample the group's committed offsets twice a second.
	adm := kadm.NewClient(newClient(t, addrs[2], kgo.SeedBrokers(addrs...), kgo.ClientID("fault-sampler"),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })))
	var swg sync.WaitGroup
	swg.Add(1)
	go func() {
		defer swg.Done()
		for gctx.Err() == nil {
			sctx, scancel := context.WithTimeout(gctx, 5*time.Second)
			offs, err := adm.FetchOffsets(sctx, group)
			scancel()
			if err == nil {
				l.sampleCommitted(offs)
			} else if gctx.Err() == nil {
				l.mu.Lock()
				l.sampleErrs++
				l.mu.Unlock()
			}
			select {
			case <-gctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()

	// The producers: idempotent (kgo's default, so acks=all), each
	// offering rate/producers records a second, in steps of 10 ms.
	pctx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	var pwg sync.WaitGroup
	var attempted, acked, failed atomic.Int64
	pcls := make([]*kgo.Client, producers)
	for p := range producers {
		pcls[p] = newClient(t, addrs[p%brokers], kgo.SeedBrokers(addrs...), kgo.ClientID("fault-p"+strconv.Itoa(p)),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(20_000),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			cl := pcls[p]
			perStep := max(1, int(rate)/producers/100)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for seq := 0; ; {
				select {
				case <-pctx.Done():
					return
				case <-tick.C:
				}
				for range perStep {
					l.mu.Lock()
					l.produced[p] = append(l.produced[p], faultAck{})
					l.mu.Unlock()
					attempted.Add(1)
					s := seq
					cl.Produce(ctx, &kgo.Record{Topic: topicNames[seq%len(topicNames)], Key: faultKey(p, s), Value: faultValue(p, s)},
						func(r *kgo.Record, err error) {
							l.mu.Lock()
							defer l.mu.Unlock()
							if err != nil {
								failed.Add(1)
								l.produced[p][s].state = ackFailed
								l.prodErrs[errName(err)]++
								return
							}
							acked.Add(1)
							l.produced[p][s] = faultAck{tp: faultTP{r.Topic, r.Partition}, off: r.Offset, state: ackOK}
						})
					seq++
				}
			}
		}()
	}

	// kill -9 one broker every killEvery or so and start it again with
	// the same flags and data directory: one down at a time.
	rng := rand.New(rand.NewPCG(seed, 7))
	var kills int
	var restartTotal time.Duration
	end := time.Now().Add(duration)
	for {
		wait := killEvery/2 + time.Duration(rng.Int64N(int64(killEvery)))
		if time.Until(end) < wait {
			time.Sleep(time.Until(end))
			break
		}
		time.Sleep(wait)
		victim := procs[rng.IntN(brokers)]
		_ = victim.cmd.Process.Signal(syscall.SIGKILL)
		_, _ = victim.cmd.Process.Wait()
		kills++
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
		restarted := time.Now()
		victim.start(t, bin, metaURL, objects)
		restartTotal += time.Since(restarted)
	}
	t.Logf("+%v faulty phase over: %d kills, %d acknowledged of %d attempted so far; faults off",
		time.Since(began).Round(time.Millisecond), kills, acked.Load(), attempted.Load())

	// Faults off, producers stop offering and flush what they hold.
	proxy.Disable()
	var cuts int64
	for _, c := range cutters {
		c.on.Store(false)
		cuts += c.cuts.Load()
	}
	stopProducing()
	pwg.Wait()
	flushCtx, flushCancel := context.WithTimeout(ctx, 90*time.Second)
	for p, cl := range pcls {
		if err := cl.Flush(flushCtx); err != nil {
			t.Errorf("producer %d: flush after the faults: %v (records still unanswered: %d)", p, err, attempted.Load()-acked.Load()-failed.Load())
		}
	}
	flushCancel()
	t.Logf("+%v producers flushed", time.Since(began).Round(time.Millisecond))

	// The log's end offsets, read from the brokers.
	ectx, ecancel := context.WithTimeout(ctx, 30*time.Second)
	ends, err := adm.ListEndOffsets(ectx, topicNames...)
	ecancel()
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets: %v %v", err, ends.Error())
	}
	endOf := map[faultTP]int64{}
	ends.Each(func(o kadm.ListedOffset) { endOf[faultTP{o.Topic, o.Partition}] = o.Offset })

	// The group catches up: its committed offsets reach the end offsets.
	caughtUp := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for tp, e := range endOf {
			if e > 0 && l.committed[tp] < e {
				return false
			}
		}
		return true
	}
	// A group that was rebalanced through the whole faulty phase (its
	// members' connections cut, their brokers killed) is far behind on a
	// loaded machine: the bound is a minute without its committed offsets
	// moving, and in all twice the faulty phase or 90 seconds. Falling
	// behind is reported; the checks below run anyway.
	committedSum := func() (n int64) {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, o := range l.committed {
			n += o
		}
		return n
	}
	groupLimit := time.Now().Add(max(2*duration, 90*time.Second))
	lastMoved, lastSum := time.Now(), committedSum()
	for !caughtUp() && time.Now().Before(groupLimit) && time.Since(lastMoved) < time.Minute {
		time.Sleep(200 * time.Millisecond)
		if n := committedSum(); n != lastSum {
			lastMoved, lastSum = time.Now(), n
		}
	}
	if !caughtUp() {
		l.mu.Lock()
		t.Errorf("the group did not commit every partition's end after the faults (a minute without progress, or twice the faulty phase): committed %v, ends %v", l.committed, endOf)
		l.mu.Unlock()
	} else {
		t.Logf("+%v group committed every partition's end", time.Since(began).Round(time.Millisecond))
	}
	stopGroup()
	gwg.Wait()
	swg.Wait()
	t.Logf("+%v group stopped", time.Since(began).Round(time.Millisecond))

	// A fresh consumer reads every partition from the start.
	parts := map[string]map[int32]kgo.Offset{}
	for _, name := range topicNames {
		parts[name] = map[int32]kgo.Offset{}
		for p := range topics[name] {
			parts[name][p] = kgo.NewOffset().AtStart()
		}
	}
	rd := newClient(t, addrs[1], kgo.SeedBrokers(addrs...), kgo.ClientID("fault-reader"), kgo.ConsumePartitions(parts),
		kgo.FetchMaxWait(200*time.Millisecond))
	logRecs := map[faultTP][]*kgo.Record{}
	// A catch-up read from intake objects is slow on a loaded machine
	// (one GET per flush's run): the bound is a minute without progress,
	// and in all twice the faulty phase or 2 minutes.
	readLimit := max(2*duration, 2*time.Minute)
	rctx, rcancel := context.WithTimeout(ctx, readLimit)
	defer rcancel()
	done := func() bool {
		for tp, e := range endOf {
			if n := len(logRecs[tp]); n == 0 && e > 0 || n > 0 && logRecs[tp][n-1].Offset < e-1 {
				return false
			}
		}
		return true
	}
	progress := func() string {
		var b strings.Builder
		for _, name := range topicNames {
			for p := range topics[name] {
				tp := faultTP{name, p}
				last := int64(-1)
				if n := len(logRecs[tp]); n > 0 {
					last = logRecs[tp][n-1].Offset
				}
				fmt.Fprintf(&b, " %s:%d/%d", tp, last+1, endOf[tp])
			}
		}
		for _, p := range procs {
			st := p.stats(t)
			fmt.Fprintf(&b, "; %s: fetched %d B (memory %d, intake %d in %d GETs, archive %d in %d GETs)", p.name, st.FetchedBytes,
				st.FetchMemoryBytes, st.FetchIntakeBytes, st.FetchIntakeGets, st.FetchArchiveBytes, st.FetchArchiveGets)
		}
		return b.String()
	}
	lastReport, lastRecord := time.Now(), time.Now()
	for !done() {
		pctx, pcancel := context.WithTimeout(rctx, time.Until(lastRecord.Add(time.Minute)))
		fs := rd.PollFetches(pctx)
		pcancel()
		if rctx.Err() != nil {
			t.Fatalf("the fresh consumer did not reach the end offsets in %v: read/end%s", readLimit, progress())
		}
		if time.Since(lastRecord) >= time.Minute {
			t.Fatalf("the fresh consumer got no record for a minute: read/end%s", progress())
		}
		if fs.NumRecords() > 0 {
			lastRecord = time.Now()
		}
		if time.Since(lastReport) > 15*time.Second {
			lastReport = time.Now()
			t.Logf("+%v fresh consumer: read/end%s", time.Since(began).Round(time.Millisecond), progress())
		}
		var fetchErr error
		fs.EachError(func(topic string, p int32, err error) {
			fetchErr = err
			t.Errorf("fresh consumer: fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			tp := faultTP{r.Topic, r.Partition}
			logRecs[tp] = append(logRecs[tp], r)
		})
		if fetchErr != nil {
			t.FailNow()
		}
	}

	t.Logf("+%v fresh consumer read to the end offsets", time.Since(began).Round(time.Millisecond))

	// What the lifecycle did: the objects in the bucket by kind (read
	// past the proxy), and the archive bytes the brokers served since
	// their last start (the fresh consumer's reads among them).
	direct, err := objstore.Open(ctx, s3.URL(bucket))
	if err != nil {
		t.Fatal(err)
	}
	objectKinds := map[string]int{}
	if err := direct.List(ctx, "", func(key string, _ int64) bool {
		kind, _, _ := strings.Cut(key, "/")
		if kind == "archive" {
			kind += path.Ext(key)
		}
		objectKinds[kind]++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	direct.Close()
	var archiveBytes int64
	for _, p := range procs {
		archiveBytes += p.stats(t).FetchArchiveBytes
	}

	// The checks.
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.verify(endOf, logRecs)
	errs := make([]string, 0, len(l.prodErrs))
	for name, n := range l.prodErrs {
		errs = append(errs, fmt.Sprintf("%q=%d", name, n))
	}
	sort.Strings(errs)
	meanRestart := time.Duration(0)
	if kills > 0 {
		meanRestart = restartTotal / time.Duration(kills)
	}
	t.Logf("fault suite summary: seed=%d duration=%v objects=%v fetched-from-archive-bytes=%d attempted=%d acknowledged=%d failed=%d unanswered=%d read=%d "+
		"unacknowledged-but-present=%d lost=%d offset-gaps=%d kills=%d mean-restart=%v connection-cuts=%d group-read=%d group-reread=%d "+
		"group-commit-errors=%d offset-samples=%d sample-errors=%d faults: %s; produce errors: {%s}; violations=%d",
		seed, duration, objectKinds, archiveBytes, attempted.Load(), acked.Load(), failed.Load(), attempted.Load()-acked.Load()-failed.Load(), c.read,
		c.unackedPresent, c.lost, c.gaps, kills, meanRestart.Round(time.Millisecond), cuts, l.groupRecs, l.groupDups,
		l.commitErrs, l.samples, l.sampleErrs, proxy.Summary(), strings.Join(errs, " "), l.nviolation)
	if l.nviolation > 0 {
		t.Errorf("%d violations (%s=%d repeats the fault mix), first ones:\n%s", l.nviolation, faultSeedEnv, seed, strings.Join(l.violations, "\n"))
	}
	// The suite must have tested something: kills, faults of every kind
	// and archive-era reads happened, and records were acknowledged.
	if kills == 0 || cuts == 0 || acked.Load() == 0 || objectKinds["archive.seg"] == 0 {
		t.Errorf("nothing was tested: %d kills, %d connection cuts, %d records acknowledged, %d archive segments",
			kills, cuts, acked.Load(), objectKinds["archive.seg"])
	}
	for k := range testservers.NumFaultKinds {
		if proxy.Count(k) == 0 {
			t.Errorf("no %s fault was injected in %v: the run did not exercise it", testservers.FaultKindNames[k], duration)
		}
	}
}
