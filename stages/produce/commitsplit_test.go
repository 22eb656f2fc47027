package produce

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/boltmeta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"gocloud.dev/blob/memblob"
)

// spannerLike are Spanner's weights (mutations per index entry, partition
// row and producer-state row) with a tiny limit: 12 batches to distinct
// idempotent partitions (24 each) fit in one commit, 13 do not.
var spannerLike = meta.CommitLimits{Max: 300, Entry: 13, Partition: 5, Producer: 6}

// commitRecorder wraps a memmeta store that enforces its limits (the
// store under test, not a mock: it refuses oversize commits as Spanner
// does). It records every Commit, can hold the first one until released,
// and can hide the store's limits from the pipeline.
type commitRecorder struct {
	meta.Store
	hideLimits bool
	gate       chan struct{} // nil: no gate
	entered    chan struct{}
	once       sync.Once

	mu       sync.Mutex
	commits  []int // objects per successful commit
	tooLarge int   // commits refused with ErrCommitTooLarge
}

func (c *commitRecorder) CommitLimits() meta.CommitLimits {
	if c.hideLimits {
		return meta.CommitLimits{}
	}
	return meta.LimitsOf(c.Store)
}

func (c *commitRecorder) Commit(ctx context.Context, objs []meta.ObjectCommit) ([][]meta.BatchResult, error) {
	if c.gate != nil {
		c.once.Do(func() { close(c.entered); <-c.gate })
	}
	res, err := c.Store.Commit(ctx, objs)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.Is(err, meta.ErrCommitTooLarge):
		c.tooLarge++
	case err == nil:
		c.commits = append(c.commits, len(objs))
	}
	return res, err
}

func (c *commitRecorder) counts() (commits []int, tooLarge int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.commits...), c.tooLarge
}

func newLimitedPipeline(t *testing.T, rec *commitRecorder, partitions int32, linger time.Duration) (*Pipeline, *faultyStore, meta.Topic) {
	t.Helper()
	rec.Store = memmeta.NewLimited(spannerLike)
	objs := &faultyStore{Store: blobstore.New(memblob.OpenBucket(nil))}
	topic, err := rec.Store.CreateTopic(context.Background(), "t", partitions, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Config{Meta: rec, Objects: objs, Linger: linger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, objs, topic
}

func checkAllCommitted(t *testing.T, store meta.Store, topic meta.Topic, res []result, partitions int32, want int64) {
	t.Helper()
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("batch %d: %v", i, r.err)
		}
	}
	for p := range partitions {
		st, err := store.PartitionState(context.Background(), meta.TP{Topic: topic.ID, Partition: p})
		if err != nil || st.HighWatermark != want {
			t.Fatalf("partition %d: high watermark %d (%v), want %d", p, st.HighWatermark, err, want)
		}
	}
}

// TestFlushSplitKeepsFlushUnderLimit: one cashier flush of 100 idempotent
// partitions (2,400 mutations by Spanner's count) against a store that
// takes 300 per commit is cut into flushes that fit, and every batch is
// acknowledged. Without the cut the one flush is refused as too large.
func TestFlushSplitKeepsFlushUnderLimit(t *testing.T) {
	rec := &commitRecorder{}
	// A long linger gathers the 100 batches into one cashier flush.
	p, _, topic := newLimitedPipeline(t, rec, 100, 200*time.Millisecond)
	var bs []*Batch
	for part := range int32(100) {
		bs = append(bs, testBatch(t, topic, part, 2, 7, 0))
	}
	res := submitAndWait(t, p, bs)
	checkAllCommitted(t, rec.Store, topic, res, 100, 2)
	commits, tooLarge := rec.counts()
	if tooLarge != 0 || len(commits) < 9 {
		t.Fatalf("commits %v, %d refused as too large; want >= 9 commits (12 partitions each at most), none refused", commits, tooLarge)
	}
}

// submitWaves holds the first commit, then sends three more waves of one
// batch to each of 10 idempotent partitions, each wave its own flush,
// which queue up as one commit group while the first commit waits.
func submitWaves(t *testing.T, rec *commitRecorder, p *Pipeline, objs *faultyStore, topic meta.Topic) []result {
	t.Helper()
	var mu sync.Mutex
	var all []result
	var wg sync.WaitGroup
	wave := func(seq int32) {
		var bs []*Batch
		for part := range int32(10) {
			bs = append(bs, testBatch(t, topic, part, 1, 7, seq))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := submitAndWait(t, p, bs)
			mu.Lock()
			all = append(all, res...)
			mu.Unlock()
		}()
	}
	wave(0)
	<-rec.entered
	for seq := int32(1); seq <= 3; seq++ {
		wave(seq)
		// Wait for the wave's upload, so each wave is its own flush.
		for deadline := time.Now().Add(10 * time.Second); objs.puts.Load() < seq+1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("wave %d not uploaded", seq)
			}
		}
	}
	close(rec.gate)
	wg.Wait()
	return all
}

// TestCommitGroupSplitsUnderLimit: three flushes of 10 idempotent
// partitions (240 mutations each) queued as one commit group are
// committed in runs that fit the store's 300, never as one refused
// 720-mutation transaction.
func TestCommitGroupSplitsUnderLimit(t *testing.T) {
	rec := &commitRecorder{gate: make(chan struct{}), entered: make(chan struct{})}
	p, objs, topic := newLimitedPipeline(t, rec, 10, time.Millisecond)
	res := submitWaves(t, rec, p, objs, topic)
	checkAllCommitted(t, rec.Store, topic, res, 10, 4)
	commits, tooLarge := rec.counts()
	if tooLarge != 0 || len(commits) != 4 {
		t.Fatalf("commits %v, %d refused as too large; want 4 commits of one object, none refused", commits, tooLarge)
	}
}

// TestCommitTooLargeFallsBackToOneByOne: a store that does not tell its
// limit refuses the group as too large; its flushes are then committed
// one by one and all acknowledged.
func TestCommitTooLargeFallsBackToOneByOne(t *testing.T) {
	rec := &commitRecorder{hideLimits: true, gate: make(chan struct{}), entered: make(chan struct{})}
	p, objs, topic := newLimitedPipeline(t, rec, 10, time.Millisecond)
	res := submitWaves(t, rec, p, objs, topic)
	checkAllCommitted(t, rec.Store, topic, res, 10, 4)
	commits, tooLarge := rec.counts()
	if tooLarge != 1 || len(commits) != 4 {
		t.Fatalf("commits %v, %d refused as too large; want the group refused once, then 4 commits of one object", commits, tooLarge)
	}
}

// TestCommitPartsBounds checks the splitter's arithmetic against the
// store's exact count: every run it makes commits, and the whole does not.
func TestCommitPartsBounds(t *testing.T) {
	store := memmeta.NewLimited(spannerLike)
	top, err := store.CreateTopic(context.Background(), "t", 30, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Five objects: 6 partitions each, 2 batches per partition from one
	// idempotent producer (one run each: 24 per partition, 144 per
	// object), partitions shifting by 6 per object.
	var objs []meta.ObjectCommit
	for o := range 5 {
		oc := meta.ObjectCommit{Key: "o" + string(rune('a'+o))}
		for i := range 12 {
			part := int32(o*6 + i/2)
			oc.Batches = append(oc.Batches, meta.BatchCommit{TP: meta.TP{Topic: top.ID, Partition: part}, Records: 1,
				ProducerID: 9, BaseSequence: int32(i % 2), RelOffset: int64(i % 2), Pos: int64(i), Len: 1})
		}
		objs = append(objs, oc)
	}
	// 2 batches of a partition make at most ceil(2/2) = 1 index entry.
	if got := spannerLike.ObjectCost(&objs[0]); got != 6*(13+5+6) {
		t.Fatalf("ObjectCost = %d, want %d", got, 6*(13+5+6))
	}
	if _, err := store.Commit(context.Background(), objs); !errors.Is(err, meta.ErrCommitTooLarge) {
		t.Fatalf("whole commit: %v, want ErrCommitTooLarge", err)
	}
	ends := commitParts(spannerLike, objs)
	if len(ends) != 3 || ends[len(ends)-1] != 5 {
		t.Fatalf("commitParts = %v, want 3 runs ending at 5 (two 144-cost objects per 300)", ends)
	}
	start := 0
	for _, end := range ends {
		if _, err := store.Commit(context.Background(), objs[start:end]); err != nil {
			t.Fatalf("run %d..%d: %v", start, end, err)
		}
		start = end
	}
}

// BenchmarkPipelineCommitLimits measures what fitting commits to the
// store's limit costs the pipeline (benchPipeline's load: 8 partitions,
// flushes of 64 batches, in-memory stores): an unbounded store skips the
// splitting; bbolt's and Spanner's limits (which this load never reaches)
// cost counting every batch twice, once after the cashier and once at
// commit. Compare ns/op and cpu-ns/op across the three in one run.
func BenchmarkPipelineCommitLimits(b *testing.B) {
	for _, mode := range []struct {
		name   string
		limits meta.CommitLimits
	}{
		{"unbounded", meta.CommitLimits{}},
		{"bbolt", boltmeta.CommitLimits},
		{"spanner", meta.CommitLimits{Max: 80000, Entry: 13, Partition: 5, Producer: 6}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			benchPipelineOn(b, memmeta.NewLimited(mode.limits), nil, nil)
		})
	}
}
