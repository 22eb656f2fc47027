package metatest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// BenchCommit measures Commit as the broker's intake uses it: each commit
// is one object holding, for each of partitions partitions, one plain
// batch and one batch of the committer's idempotent producer. committers
// goroutines (brokers, in effect) commit concurrently to the same
// partitions. It reports commits/s, the p50 and p99 commit latency in
// milliseconds, and batches/s.
func BenchCommit(b *testing.B, s meta.Store, partitions, committers int) {
	top, err := s.CreateTopic(ctx, fmt.Sprintf("bench-%d", time.Now().UnixNano()), int32(partitions), nil)
	if err != nil {
		b.Fatal(err)
	}
	type committer struct {
		pid int64
		seq int32
	}
	cs := make([]*committer, committers)
	for i := range cs {
		pid, err := s.NextProducerID(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = &committer{pid: pid}
	}
	mkObject := func(c *committer, n int) meta.ObjectCommit {
		var bs []meta.BatchCommit
		for p := range int32(partitions) {
			bs = append(bs, plain(tpOf(top, p), 10, 1), idem(tpOf(top, p), 10, c.pid, 0, c.seq))
		}
		c.seq += 10
		return object(fmt.Sprintf("obj-%d-%d", c.pid, n), bs...)
	}
	var (
		mu   sync.Mutex
		lats = make([]time.Duration, 0, b.N)
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for i, c := range cs {
		n := b.N / committers
		if i < b.N%committers {
			n++
		}
		wg.Go(func() {
			mine := make([]time.Duration, 0, n)
			for k := range n {
				obj := mkObject(c, k)
				t0 := time.Now()
				res, err := s.Commit(ctx, []meta.ObjectCommit{obj})
				mine = append(mine, time.Since(t0))
				if err != nil {
					b.Error(err)
					return
				}
				for _, r := range res[0] {
					if r.Err != nil {
						b.Errorf("batch: %v", r.Err)
						return
					}
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lats) == 0 {
		return
	}
	slices.Sort(lats)
	q := func(p float64) float64 {
		return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "commits/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(lats)*partitions*2)/elapsed.Seconds(), "batches/s")
}
