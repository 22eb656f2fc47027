package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"
)

type stampedItem struct {
	n      int
	queued time.Time
}

func (s *stampedItem) QueuedAt() time.Time     { return s.queued }
func (s *stampedItem) SetQueuedAt(t time.Time) { s.queued = t }

type recordingObserver struct {
	mu     sync.Mutex
	items  map[string][]Measure
	queues map[string]func() int
}

func (r *recordingObserver) Processed(string, time.Duration, time.Duration, int, int64) {
	panic("Processed called on an ItemObserver")
}

func (r *recordingObserver) Item(stage string, _ any, m Measure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items[stage] = append(r.items[stage], m)
}

func (r *recordingObserver) Queue(stage string, depth func() int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queues[stage] = depth
}

func TestObserverStampsAndMeasuresQueueWait(t *testing.T) {
	obs := &recordingObserver{items: map[string][]Measure{}, queues: map[string]func() int{}}
	in := make(chan *stampedItem, 8)
	first := Map("first", MapConfig{Observer: obs, Buffer: 8, Size: func(any) int64 { return 10 }},
		func(_ context.Context, it *stampedItem) (*stampedItem, bool) { return it, it.n != 3 })
	second := Map("second", MapConfig{Observer: obs, Workers: 2}, func(_ context.Context, it *stampedItem) (*stampedItem, bool) {
		return it, true
	})
	batch := Batch[*stampedItem]("batch", BatchConfig{Observer: obs, Linger: time.Millisecond})
	out := Connect(Connect(first, second), batch).Run(context.Background(), in)
	for i := 0; i < 5; i++ {
		in <- &stampedItem{n: i}
	}
	close(in)
	n := 0
	<-Go(out, func(b []*stampedItem) { n += len(b) })
	if n != 4 {
		t.Fatalf("got %d items, want 4 (one dropped)", n)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, st := range []string{"first", "second", "batch"} {
		if obs.queues[st] == nil {
			t.Errorf("stage %s: queue not reported", st)
		}
	}
	if got := len(obs.items["first"]); got != 5 {
		t.Fatalf("first: %d measures, want 5", got)
	}
	dropped := 0
	for _, m := range obs.items["first"] {
		if m.Dropped {
			dropped++
		}
		if m.Bytes != 10 || m.Items != 1 || m.End.Before(m.Start) {
			t.Fatalf("first: bad measure %+v", m)
		}
		if !m.Queued.IsZero() {
			t.Fatalf("first: unstamped input reported queued at %v", m.Queued)
		}
	}
	if dropped != 1 {
		t.Fatalf("first: %d dropped, want 1", dropped)
	}
	for _, m := range obs.items["second"] {
		if m.Queued.IsZero() || m.Start.Before(m.Queued) || m.QueueWait() < 0 {
			t.Fatalf("second: item not stamped by the first stage: %+v", m)
		}
	}
	items := 0
	for _, m := range obs.items["batch"] {
		if m.Queued.IsZero() {
			t.Fatalf("batch: first item not stamped: %+v", m)
		}
		items += m.Items
	}
	if items != 4 {
		t.Fatalf("batch: measured %d items, want 4", items)
	}
}

func TestNopObserverIsInactive(t *testing.T) {
	if Active(nil) || Active(NopObserver{}) {
		t.Fatal("nil or NopObserver reported active")
	}
	if !Active(&recordingObserver{}) {
		t.Fatal("a real observer reported inactive")
	}
}

func BenchmarkMapObserved(b *testing.B) {
	// Measuring on: two clock reads per item (int items are boxed for the
	// observer; the pipeline's pointer items are not).
	b.ReportAllocs()
	in := make(chan int, 1024)
	st := Map("id", MapConfig{Workers: 1, Buffer: 1024, Observer: countingObserver{}}, func(_ context.Context, i int) (int, bool) { return i, true })
	done := Go(st.Run(context.Background(), in), func(int) {})
	for i := 0; i < b.N; i++ {
		in <- i
	}
	close(in)
	<-done
}

type countingObserver struct{}

func (countingObserver) Processed(string, time.Duration, time.Duration, int, int64) {}
