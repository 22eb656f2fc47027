package metatest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta"
)

const workers = 8

func testNextProducerID(t *testing.T, s meta.Store) {
	const each = 50
	ids := make(chan int64, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				id, err := s.NextProducerID(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if id < 1000 {
			t.Fatalf("producer id %d below 1000", id)
		}
		if seen[id] {
			t.Fatalf("producer id %d handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d ids, want %d", len(seen), workers*each)
	}
}

// testConcurrentCommits: committers racing on the same partitions get
// disjoint, gap-free offsets, and the index covers exactly [0, HWM).
func testConcurrentCommits(t *testing.T, s meta.Store) {
	const rounds = 25
	top := createTopic(t, s, "cc", 2)
	tps := []meta.TP{tpOf(top, 0), tpOf(top, 1)}
	type span struct{ base, n int64 }
	var (
		mu    sync.Mutex
		spans = map[meta.TP][]span{}
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Half the workers are idempotent producers: sequence state
			// must hold up under concurrency too.
			pid, err := s.NextProducerID(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			seq := map[meta.TP]int32{}
			mk := func(tp meta.TP, n int32) meta.BatchCommit {
				if w%2 == 0 {
					return plain(tp, n, int64(w))
				}
				b := idem(tp, n, pid, 0, seq[tp])
				seq[tp] += n
				return b
			}
			for r := range rounds {
				n := int32(r%3 + 1)
				objs := []meta.ObjectCommit{
					object("a", mk(tps[0], n), mk(tps[1], 2), mk(tps[0], 1)),
					object("b", mk(tps[1], n)),
				}
				res, err := s.Commit(ctx, objs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i := range objs {
					for j, b := range objs[i].Batches {
						br := res[i][j]
						if br.Err != nil || br.Duplicate {
							t.Errorf("worker %d round %d: %+v", w, r, br)
							continue
						}
						spans[b.TP] = append(spans[b.TP], span{br.BaseOffset, int64(b.Records)})
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, tp := range tps {
		sp := spans[tp]
		slices.SortFunc(sp, func(a, b span) int { return int(a.base - b.base) })
		var next int64
		for _, x := range sp {
			if x.base != next {
				t.Fatalf("partition %d: batch at %d, expected %d (gap or reuse)", tp.Partition, x.base, next)
			}
			next += x.n
		}
		if got := hwm(t, s, tp); got != next {
			t.Fatalf("partition %d: HWM %d, total records %d", tp.Partition, got, next)
		}
		next = 0
		for _, e := range entries(t, s, tp, 0, 0) {
			if e.BaseOffset != next || e.LastOffset < e.BaseOffset {
				t.Fatalf("partition %d: entry [%d,%d], expected base %d", tp.Partition, e.BaseOffset, e.LastOffset, next)
			}
			next = e.LastOffset + 1
		}
		if got := hwm(t, s, tp); got != next {
			t.Fatalf("partition %d: entries end at %d, HWM %d", tp.Partition, next, got)
		}
	}
}

func testClose(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "x", 1)
	tp := tpOf(top, 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	errs := map[string]error{}
	_, errs["ClusterID"] = s.ClusterID(ctx)
	_, errs["CreateTopic"] = s.CreateTopic(ctx, "y", 1, nil)
	errs["DeleteTopic"] = s.DeleteTopic(ctx, "x")
	_, errs["Topic"] = s.Topic(ctx, "x")
	_, errs["TopicByID"] = s.TopicByID(ctx, top.ID)
	_, errs["Topics"] = s.Topics(ctx)
	errs["CreatePartitions"] = s.CreatePartitions(ctx, "x", 2)
	errs["SetTopicConfigs"] = s.SetTopicConfigs(ctx, "x", nil)
	_, errs["PartitionState"] = s.PartitionState(ctx, tp)
	_, errs["DeleteRecords"] = s.DeleteRecords(ctx, tp, 0)
	_, errs["Commit"] = s.Commit(ctx, []meta.ObjectCommit{object("o", plain(tp, 1, 1))})
	_, errs["Entries"] = s.Entries(ctx, tp, 0, 0)
	_, _, errs["EntryAtTimestamp"] = s.EntryAtTimestamp(ctx, tp, 0)
	_, errs["NextProducerID"] = s.NextProducerID(ctx)
	_, errs["BumpProducerEpoch"] = s.BumpProducerEpoch(ctx, 1000, 0)
	_, _, errs["ProducerState"] = s.ProducerState(ctx, 1000, tp)
	for name, err := range errs {
		if !errors.Is(err, meta.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
}
