package broker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
)

// spKey is the key of record n of producer i; spID maps it back to a
// dense index i*perProducer+n.
func spKey(i, n int) string { return "p" + strconv.Itoa(i) + "-" + strconv.Itoa(n) }

func spID(key []byte, perProducer int) (int, bool) {
	s, ok := strings.CutPrefix(string(key), "p")
	if !ok {
		return 0, false
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, false
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 0 || n >= perProducer || i < 0 {
		return 0, false
	}
	return i*perProducer + n, true
}

// spGroup is the ledger of one consumer group: where each record was
// committed (processed, then its offset committed), how often records
// were processed again because an earlier processing was not committed,
// and any violation.
type spGroup struct {
	name        string
	perProducer int
	began       time.Time // for log lines
	mu          sync.Mutex
	committedAt []tpo // by record id; o == -1: not committed
	processed   []uint8
	last        map[int32]int64 // last committed offset per partition
	committed   atomic.Int64
	reprocessed int
	failed      int
	violations  []string
}

func newSpGroup(name string, total, perProducer int, began time.Time) *spGroup {
	g := &spGroup{name: name, perProducer: perProducer, began: began, committedAt: make([]tpo, total), processed: make([]uint8, total), last: map[int32]int64{}}
	for i := range g.committedAt {
		g.committedAt[i].o = -1
	}
	return g
}

func (g *spGroup) violate(format string, args ...any) {
	if len(g.violations) < 20 {
		g.violations = append(g.violations, fmt.Sprintf(format, args...))
	}
}

// process notes that a member handled recs: handling a record that the
// group already committed is a violation (it was delivered twice).
func (g *spGroup) process(member string, recs []*kgo.Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range recs {
		id, ok := spID(r.Key, g.perProducer)
		if !ok || id >= len(g.committedAt) {
			g.violate("%s read unknown key %q at %d/%d", member, r.Key, r.Partition, r.Offset)
			continue
		}
		if c := g.committedAt[id]; c.o >= 0 {
			g.violate("%s read %s at %d/%d, already committed at %d/%d", member, r.Key, r.Partition, r.Offset, c.p, c.o)
		}
		if g.processed[id] > 0 {
			g.reprocessed++
		}
		if g.processed[id] < 255 {
			g.processed[id]++
		}
	}
}

// commit notes that recs were committed: per partition, the committed
// offsets must go up one by one.
func (g *spGroup) commit(member string, recs []*kgo.Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range recs {
		id, ok := spID(r.Key, g.perProducer)
		if !ok || id >= len(g.committedAt) {
			continue
		}
		last, seen := g.last[r.Partition]
		if !seen {
			last = -1
		}
		if r.Offset != last+1 {
			g.violate("%s committed %d/%d after %d/%d", member, r.Partition, r.Offset, r.Partition, last)
		}
		if r.Offset > last {
			g.last[r.Partition] = r.Offset
		}
		if c := g.committedAt[id]; c.o >= 0 {
			g.violate("%s committed %s at %d/%d, already committed at %d/%d", member, r.Key, r.Partition, r.Offset, c.p, c.o)
			continue
		}
		g.committedAt[id] = tpo{r.Partition, r.Offset}
		g.committed.Add(1)
	}
}

// run consumes in the group until ctx ends: process a poll, commit it
// while rebalances are blocked, then allow them.
func (g *spGroup) run(ctx context.Context, t *testing.T, seed, topic, member string) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumerGroup(g.name), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.ClientID(member), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.SessionTimeout(15*time.Second), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 10_000)
			fs.EachError(func(topic string, p int32, err error) {
				if ctx.Err() == nil {
					t.Logf("+%v %s: fetch %s/%d: %v", time.Since(g.began).Round(time.Millisecond), member, topic, p, err)
				}
			})
			recs := fs.Records()
			if len(recs) > 0 {
				g.process(member, recs)
				cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err := cl.CommitRecords(cctx, recs...)
				cancel()
				if err == nil {
					g.commit(member, recs)
				} else {
					g.mu.Lock()
					g.failed++
					g.mu.Unlock()
					t.Logf("+%v %s: commit of %d records failed (they may be processed again): %v", time.Since(g.began).Round(time.Millisecond), member, len(recs), err)
				}
			}
			cl.AllowRebalance()
		}
	}()
	return cl
}

// latestOffsets asks exactly the broker at addr for the latest offset of
// each of the topic's partitions.
func latestOffsets(t *testing.T, addr, topic string, partitions int32) []int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, addr, req).(*kmsg.ListOffsetsResponse)
	out := make([]int64, partitions)
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("%s: latest offset of partition %d: error %d", addr, p.Partition, p.ErrorCode)
		}
		out[p.Partition] = p.Offset
	}
	return out
}

// spannerClusterRecords is how many records TestSpannerClusterProcesses
// produces; SLUICE_SPANNER_RECORDS overrides it. On 2 cores the 500k
// records are produced in 6-16 s (30-80k records/s through the emulator)
// and the whole test takes 40-60 s, most of it the groups catching up
// after the kill.
const spannerClusterRecords = 500_000

// TestSpannerClusterProcesses is the acceptance test of brokers sharing
// Spanner: three `sluice serve` processes over one Spanner database (the
// emulator) and one object directory; eight idempotent producers and two
// consumer groups of two members each, spread over the three brokers.
// One broker is killed with SIGKILL once a third of the records are
// acknowledged and is not restarted: the clients carry on through the
// other two. Every acknowledged record is committed exactly once by each
// group, at the offset its producer was told, with each partition's
// offsets committed in order; and both surviving brokers answer the same
// latest offsets, equal to the number of records acknowledged per
// partition.
func TestSpannerClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the broker and starts the Spanner emulator")
	}
	total := spannerClusterRecords
	if s := os.Getenv("SLUICE_SPANNER_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 8 {
			t.Fatalf("SLUICE_SPANNER_RECORDS=%q", s)
		}
		total = n
	}
	const (
		producers  = 8
		partitions = 12
		topic      = "spc"
	)
	perProducer := total / producers
	total = perProducer * producers
	began := time.Now()

	bin, err := buildSluice()
	if err != nil {
		t.Fatal(err)
	}
	url := spanneremu.NewDatabase(t)
	objects := "file://" + t.TempDir()
	procs := make([]*brokerProc, 3)
	for i := range procs {
		procs[i] = &brokerProc{name: "spc-" + strconv.Itoa(i), addr: freePort(t), admin: freePort(t), dir: t.TempDir(), extra: []string{"--auto-migrate"}}
	}
	// The first broker applies the schema (--auto-migrate); the others
	// then start together.
	procs[0].start(t, bin, url, objects)
	var wg sync.WaitGroup
	for _, p := range procs[1:] {
		wg.Add(1)
		go func() { defer wg.Done(); p.start(t, bin, url, objects) }()
	}
	wg.Wait()
	for _, p := range procs {
		waitFor(t, "all brokers listed by "+p.addr, 20*time.Second, func() bool { return len(brokersSeen(t, p.addr, "probe")) == 3 })
	}
	createTopic(t, procs[1].addr, topic, partitions, nil)
	started := time.Now()
	t.Logf("%d records; brokers up and topic created in %v", total, started.Sub(began).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	// Consumers first, so that they read while the producers write.
	groups := []*spGroup{newSpGroup("spc-g0", total, perProducer, began), newSpGroup("spc-g1", total, perProducer, began)}
	cctx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	var members []*kgo.Client
	for gi, g := range groups {
		for m := range 2 {
			seed := procs[(gi+2*m)%len(procs)].addr // g0: brokers 0, 2; g1: brokers 1, 0
			members = append(members, g.run(cctx, t, seed, topic, fmt.Sprintf("%s-m%d", g.name, m)))
		}
	}
	defer func() {
		stopConsumers()
		for _, m := range members {
			m.Close()
		}
	}()

	// Producers: idempotent (kgo's default), producer i seeded with broker i%3.
	acked := make([]tpo, total)
	var ackedN, failedN atomic.Int64
	var ackMu sync.Mutex
	var pwg sync.WaitGroup
	for i := range producers {
		cl := newClient(t, procs[i%len(procs)].addr, kgo.ClientID("spc-p"+strconv.Itoa(i)), kgo.DefaultProduceTopic(topic),
			kgo.ProducerLinger(15*time.Millisecond), kgo.MaxBufferedRecords(50_000),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for n := range perProducer {
				k := []byte(spKey(i, n))
				cl.Produce(ctx, &kgo.Record{Key: k, Value: k}, func(r *kgo.Record, err error) {
					if err != nil {
						if failedN.Add(1) <= 5 {
							t.Errorf("produce %s: %v", r.Key, err)
						}
						return
					}
					id, _ := spID(r.Key, perProducer)
					ackMu.Lock()
					acked[id] = tpo{r.Partition, r.Offset + 1} // o == 0: not acknowledged
					ackMu.Unlock()
					ackedN.Add(1)
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Errorf("flush of producer %d: %v", i, err)
			}
		}()
	}

	// SIGKILL broker 0 once a third of the records are acknowledged.
	victim := procs[0]
	var ackedAtKill int64
	var killedAt time.Time
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for ackedN.Load() < int64(total/3) {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
		_ = victim.cmd.Process.Signal(syscall.SIGKILL)
		_, _ = victim.cmd.Process.Wait()
		killedAt = time.Now()
		ackedAtKill = ackedN.Load()
	}()
	pwg.Wait()
	<-killed
	produced := time.Now()
	if t.Failed() {
		t.FailNow()
	}
	if ackedAtKill == 0 || ackedAtKill >= int64(total) {
		t.Fatalf("kill came at %d of %d acknowledged records: not during the run", ackedAtKill, total)
	}
	t.Logf("+%v produced %d records in %v (%.0f/s); SIGKILL at %d acknowledged, %v after the start; the rest took %v",
		produced.Sub(began).Round(time.Millisecond), total, produced.Sub(started).Round(time.Millisecond), float64(total)/produced.Sub(started).Seconds(),
		ackedAtKill, killedAt.Sub(started).Round(time.Millisecond), produced.Sub(killedAt).Round(time.Millisecond))

	// Acknowledged offsets: per partition exactly 0..k-1, once each.
	count := make([]int64, partitions)
	byOffset := make([]map[int64]int, partitions)
	for p := range byOffset {
		byOffset[p] = map[int64]int{}
	}
	for id, a := range acked {
		if a.o == 0 {
			t.Fatalf("record %d never acknowledged", id)
		}
		if prev, dup := byOffset[a.p][a.o-1]; dup {
			t.Fatalf("offset %d/%d acknowledged for records %d and %d", a.p, a.o-1, prev, id)
		}
		byOffset[a.p][a.o-1] = id
		count[a.p]++
	}
	for p := range partitions {
		for o := range count[p] {
			if _, ok := byOffset[p][o]; !ok {
				t.Fatalf("partition %d: %d records acknowledged but offset %d not among them", p, count[p], o)
			}
		}
	}

	// Both groups read everything through the surviving brokers.
	for _, g := range groups {
		waitFor(t, g.name+" committing every record", time.Until(began.Add(140*time.Second)), func() bool {
			return g.committed.Load() >= int64(total)
		})
		t.Logf("+%v %s committed every record", time.Since(began).Round(time.Millisecond), g.name)
	}
	consumed := time.Now()
	stopConsumers()
	t.Logf("groups done %v after the producers", consumed.Sub(produced).Round(time.Millisecond))
	for _, g := range groups {
		g.mu.Lock()
		t.Logf("%s: %d processed again after an uncommitted processing, %d failed commits", g.name, g.reprocessed, g.failed)
		if len(g.violations) > 0 {
			t.Errorf("%s: %d+ violations, first: %s", g.name, len(g.violations), strings.Join(g.violations, "; "))
		}
		for id, c := range g.committedAt {
			if a := acked[id]; c.o != a.o-1 || c.p != a.p {
				t.Errorf("%s: record %s committed at %d/%d, acknowledged at %d/%d", g.name, spKey(id/perProducer, id%perProducer), c.p, c.o, a.p, a.o-1)
				break
			}
		}
		g.mu.Unlock()
	}

	// The registry dropped the killed broker; the survivors agree on the
	// offsets, which are the acknowledged counts.
	waitFor(t, "killed broker dropped", 10*time.Second, func() bool { return len(brokersSeen(t, procs[1].addr, "probe")) == 2 })
	for _, p := range procs[1:] {
		latest := latestOffsets(t, p.addr, topic, partitions)
		for part := range partitions {
			if latest[part] != count[part] {
				t.Errorf("broker %s: partition %d latest %d, acknowledged %d", p.name, part, latest[part], count[part])
			}
		}
	}
	t.Logf("total %v", time.Since(began).Round(time.Millisecond))
}
