package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// startForTest starts the named in-process target, stopped at cleanup.
func startForTest(tb testing.TB, name string) string {
	tb.Helper()
	addr, stop, err := StartTarget(name, tb.TempDir())
	if err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	tb.Cleanup(stop)
	return addr
}

func TestBenchSmoke(t *testing.T) {
	for _, target := range []string{"kfake", "sluice"} {
		t.Run(target, func(t *testing.T) {
			tg, err := StartTargetWith(target, t.TempDir(), TargetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Stop()
			w := DefaultWorkload()
			w.Name = "smoke"
			w.Duration = 2 * time.Second
			w.Warmup = 200 * time.Millisecond
			w.MaxBufferedBytes = 4 << 20
			w.Consumers = 1
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := RunTarget(ctx, tg, w, RunConfig{})
			if err != nil {
				t.Fatalf("run: %v (result %+v)", err, res)
			}
			t.Logf("%s: %.1f MB/s, %.0f records/s, p50 %v, p99 %v, max %v, consumed %.1f MB/s, e2e p99 %v, errors %d, notes %v",
				target, res.MBPerSec, res.RecordsPerSec, res.Latency.P50, res.Latency.P99, res.Latency.Max,
				res.ConsumeMBPerSec, res.EndToEnd.P99, res.Errors, res.Notes)
			checkResult(t, res, w)
			if res.ConsumedRecords <= 0 || res.EndToEnd.Count == 0 || res.EndToEnd.P99 <= 0 {
				t.Errorf("consumed %d records, e2e %+v: want both", res.ConsumedRecords, res.EndToEnd)
			}
			if len(res.Timeline) < 2 {
				t.Errorf("timeline has %d samples, want one a second", len(res.Timeline))
			}
			if r := res.Resources; r == nil || r.CPUSeconds <= 0 || r.PeakRSSBytes <= 0 || r.Scope != inProcessScope {
				t.Errorf("resources = %+v, want CPU and RSS of the whole process", r)
			}
			if target == "sluice" {
				c := res.Cost
				if c == nil || c.Delta.ObjectPuts <= 0 || c.Delta.MetaCommits <= 0 || c.Delta.MetaCommits > c.Delta.ObjectPuts || c.PutsPerGiB <= 0 {
					t.Errorf("cost = %+v, want PUTs and at most one commit per PUT", c)
				}
			} else if res.Cost != nil {
				t.Errorf("kfake has no store counters, got cost %+v", res.Cost)
			}
		})
	}
}

// TestCatchUp reads a small backlog back on both targets.
func TestCatchUp(t *testing.T) {
	for _, target := range []string{"kfake", "sluice"} {
		t.Run(target, func(t *testing.T) {
			addr := startForTest(t, target)
			w := DefaultWorkload()
			w.CatchUpBytes = 4 << 20
			w.Consumers = 2
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Run(ctx, addr, w)
			if err != nil {
				t.Fatalf("run: %v (%+v)", err, res)
			}
			want := (w.CatchUpBytes + int64(w.RecordBytes) - 1) / int64(w.RecordBytes)
			if res.Records != want || res.ConsumedRecords != want || res.ConsumedBytes != res.Bytes {
				t.Errorf("produced %d (%d B), consumed %d (%d B); want %d records both ways",
					res.Records, res.Bytes, res.ConsumedRecords, res.ConsumedBytes, want)
			}
			if res.ConsumeMBPerSec <= 0 || res.Elapsed <= 0 {
				t.Errorf("consume rate %v over %v", res.ConsumeMBPerSec, res.Elapsed)
			}
		})
	}
}

func checkResult(t *testing.T, res Result, w Workload) {
	t.Helper()
	if res.Records <= 0 {
		t.Errorf("records = %d, want > 0", res.Records)
	}
	if res.Errors != 0 || len(res.ErrorSamples) != 0 {
		t.Errorf("errors = %d %q, want none", res.Errors, res.ErrorSamples)
	}
	if res.Partitions != w.Partitions {
		t.Errorf("partitions = %d, want %d", res.Partitions, w.Partitions)
	}
	if res.Elapsed != w.Duration {
		t.Errorf("elapsed = %v, want %v", res.Elapsed, w.Duration)
	}
	if want := res.Records * int64(w.RecordBytes); res.Bytes != want {
		t.Errorf("bytes = %d, want records*record bytes = %d", res.Bytes, want)
	}
	secs := res.Elapsed.Seconds()
	if want := float64(res.Bytes) / 1e6 / secs; !near(res.MBPerSec, want) {
		t.Errorf("MB/s = %v, want bytes/1e6/elapsed = %v", res.MBPerSec, want)
	}
	if want := float64(res.Records) / secs; !near(res.RecordsPerSec, want) {
		t.Errorf("records/s = %v, want records/elapsed = %v", res.RecordsPerSec, want)
	}
	l := res.Latency
	if l.Count != uint64(res.Records) {
		t.Errorf("latency count = %d, want records = %d", l.Count, res.Records)
	}
	if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("latency not ordered: %+v", l)
	}
	if l.Mean < l.Min || l.Mean > l.Max {
		t.Errorf("mean %v outside [%v, %v]", l.Mean, l.Min, l.Max)
	}
	if l.Max > w.Warmup+w.Duration+w.DrainTimeout {
		t.Errorf("max latency %v longer than the run", l.Max)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	var vals []time.Duration
	for range 100000 {
		v := time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[max(int(math.Ceil(q*float64(len(vals))))-1, 0)]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/subCount+1 {
			t.Errorf("q%v = %v, exact %v: outside [exact, exact*(1+1/%d)]", q, got, exact, subCount)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] || h.Count() != uint64(len(vals)) {
		t.Errorf("min/max/count = %v/%v/%d, want %v/%v/%d", h.Min(), h.Max(), h.Count(), vals[0], vals[len(vals)-1], len(vals))
	}
	var m Histogram
	m.Merge(&h)
	m.Merge(&Histogram{})
	if m.Summary() != h.Summary() {
		t.Errorf("merged summary %+v != %+v", m.Summary(), h.Summary())
	}
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 1000, 1 << 40, math.MaxInt64} {
		b := bucketOf(v)
		if b < 0 || b >= numBuckets || bucketHigh(b) < v || (b > 0 && bucketHigh(b-1) >= v) {
			t.Errorf("value %d: bucket %d [.., %d] does not hold it", v, b, bucketHigh(b))
		}
	}
}

func TestPayload(t *testing.T) {
	p := RandomPayload(1024, 7)
	a, b := p(0), p(1)
	if len(a) != 1024 || len(b) != 1024 || string(a) == string(b) {
		t.Fatalf("payloads: len %d/%d, equal %v", len(a), len(b), string(a) == string(b))
	}
	if string(RandomPayload(1024, 7)(5)) != string(p(5)) {
		t.Fatal("payload not deterministic")
	}
	if len(TextPayload(100, 1)(3)) != 100 {
		t.Fatal("text payload size")
	}
}

func BenchmarkProduceSluice(b *testing.B) { benchmarkProduce(b, "sluice") }
func BenchmarkProduceKfake(b *testing.B)  { benchmarkProduce(b, "kfake") }

// benchmarkProduce produces b.N 1 KiB records with the default workload's
// producer settings and waits for all of them to be acknowledged.
func benchmarkProduce(b *testing.B, target string) {
	addr := startForTest(b, target)
	w := DefaultWorkload()
	w.Topic = "bench-produce"
	ctx := context.Background()
	if _, _, err := CreateTopic(ctx, addr, w.Topic, w.Partitions); err != nil {
		b.Fatal(err)
	}
	opts, err := w.ProducerOpts()
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(addr))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	payload := RandomPayload(w.RecordBytes, 1)
	var failed atomic.Int64
	var firstErr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	// One acknowledged record first, so connection and producer ID set-up
	// are not timed.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: payload(0)}).FirstErr(); err != nil {
		b.Fatal(err)
	}

	b.SetBytes(int64(w.RecordBytes))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		cl.Produce(ctx, &kgo.Record{Value: payload(uint64(i))}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d records failed, first: %v", n, b.N, firstErr.Load())
	}
}

// TestCreateTopicFallback checks topic creation through Metadata
// auto-creation on a broker without CreateTopics, and that a partition
// count other than the one asked for is refused.
func TestCreateTopicFallback(t *testing.T) {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(kmsg.CreateTopics.Int16(), -1)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.MaxVersions(vs),
		kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := c.ListenAddrs()[0]

	got, notes, err := CreateTopic(ctx, addr, "fallback", 3)
	if err != nil || got != 3 || len(notes) != 1 {
		t.Fatalf("CreateTopic = %d, %q, %v; want 3 partitions, one note, no error", got, notes, err)
	}
	if _, _, err := CreateTopic(ctx, addr, "fallback-8", 8); err == nil {
		t.Fatal("CreateTopic of 8 partitions on a broker that auto-creates 3: no error")
	}
}
