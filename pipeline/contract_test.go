package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testItem carries a completion, as the produce pipeline's batches do.
type testItem struct {
	n    int
	done *Completion[int]
	res  chan testResult
}

type testResult struct {
	v   int
	err error
}

func newTestItem(n int) *testItem {
	it := &testItem{n: n, res: make(chan testResult, 1)}
	it.done = NewCompletion(func(v int, err error) { it.res <- testResult{v, err} })
	return it
}

// Fail implements Failer.
func (it *testItem) Fail(err error) { it.done.DoneIfPending(0, err) }

// result waits for the item's completion.
func (it *testItem) result(t *testing.T) testResult {
	t.Helper()
	select {
	case r := <-it.res:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("item %d never completed", it.n)
		return testResult{}
	}
}

// panicLog records what the OnPanic hook and a PanicObserver are told.
type panicLog struct {
	mu       sync.Mutex
	hook     []*PanicError
	observed []string
}

func (l *panicLog) onPanic(pe *PanicError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hook = append(l.hook, pe)
}

// Processed implements Observer; the log measures nothing.
func (l *panicLog) Processed(string, time.Duration, time.Duration, int, int64) {}

// Panicked implements PanicObserver.
func (l *panicLog) Panicked(stage string, _ *PanicError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observed = append(l.observed, stage)
}

func (l *panicLog) counts() (hook, observed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.hook), len(l.observed)
}

func TestMapPanicFailsOnlyThatItem(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			log := &panicLog{}
			st := Map("upload", MapConfig{Workers: workers, Observer: log, OnPanic: log.onPanic},
				func(_ context.Context, it *testItem) (*testItem, bool) {
					if it.n%5 == 3 {
						panic(fmt.Sprintf("store SDK bug on item %d", it.n))
					}
					return it, true
				})
			in := make(chan *testItem, 20)
			var items []*testItem
			for i := 0; i < 20; i++ {
				it := newTestItem(i)
				items = append(items, it)
				in <- it
			}
			close(in)
			var got []int
			<-Go(st.Run(context.Background(), in), func(it *testItem) {
				got = append(got, it.n)
				it.done.Done(it.n, nil)
			})
			var want []int
			for _, it := range items {
				r := it.result(t)
				if it.n%5 != 3 {
					want = append(want, it.n)
					if r.err != nil {
						t.Fatalf("item %d: %v", it.n, r.err)
					}
					continue
				}
				var pe *PanicError
				if !errors.Is(r.err, ErrPanic) || !errors.As(r.err, &pe) {
					t.Fatalf("item %d: err %v, want a PanicError", it.n, r.err)
				}
				if pe.Stage != "upload" || !strings.Contains(fmt.Sprint(pe.Value), "SDK bug") || !strings.Contains(string(pe.Stack), "contract_test.go") {
					t.Fatalf("item %d: panic error %+v lacks stage, value or stack", it.n, pe)
				}
				if it.done.Extra() != 0 {
					t.Fatalf("item %d completed %d extra times", it.n, it.done.Extra())
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("passed on %v, want %v (the others, in order)", got, want)
			}
			if h, o := log.counts(); h != 4 || o != 4 {
				t.Fatalf("panics: hook %d, observer %d, want 4 each", h, o)
			}
		})
	}
}

func TestBatchPanicInSizeFailsThatItem(t *testing.T) {
	log := &panicLog{}
	st := Batch[*testItem]("cashier", BatchConfig{MaxCount: 100, Linger: time.Hour, OnPanic: log.onPanic,
		Size: func(v any) int64 {
			if v.(*testItem).n == 2 {
				panic("size bug")
			}
			return 1
		}})
	in := make(chan *testItem, 5)
	var items []*testItem
	for i := 0; i < 5; i++ {
		it := newTestItem(i)
		items = append(items, it)
		in <- it
	}
	close(in)
	var batches [][]*testItem
	<-Go(st.Run(context.Background(), in), func(b []*testItem) { batches = append(batches, b) })
	if len(batches) != 1 || len(batches[0]) != 4 {
		t.Fatalf("batches %v, want one of the 4 other items", batches)
	}
	if r := items[2].result(t); !errors.Is(r.err, ErrPanic) {
		t.Fatalf("item 2: %v, want ErrPanic", r.err)
	}
	if h, _ := log.counts(); h != 1 {
		t.Fatalf("%d panics reported, want 1", h)
	}
}

// A panic in the sink (the ack stage) part way through a batch fails the
// items not yet completed, and leaves the completed ones alone.
func TestSinkPanicFailsTheRestOfTheBatch(t *testing.T) {
	log := &panicLog{}
	in := make(chan []*testItem, 2)
	first := []*testItem{newTestItem(0), newTestItem(1), newTestItem(2)}
	second := []*testItem{newTestItem(3)}
	in <- first
	in <- second
	close(in)
	<-GoWith("ack", SinkConfig{Observer: log, OnPanic: log.onPanic}, in, func(b []*testItem) {
		for _, it := range b {
			if it.n == 1 {
				panic("OnCommit callback bug")
			}
			it.done.Done(it.n, nil)
		}
	})
	if r := first[0].result(t); r.err != nil || r.v != 0 {
		t.Fatalf("item 0: %+v, want acknowledged", r)
	}
	for _, it := range first[1:] {
		if r := it.result(t); !errors.Is(r.err, ErrPanic) {
			t.Fatalf("item %d: %v, want ErrPanic", it.n, r.err)
		}
	}
	if r := second[0].result(t); r.err != nil {
		t.Fatalf("next batch after the panic: %v", r.err)
	}
	for _, it := range append(first, second...) {
		if it.done.Extra() != 0 {
			t.Fatalf("item %d completed twice", it.n)
		}
	}
	if h, o := log.counts(); h != 1 || o != 1 {
		t.Fatalf("panics: hook %d, observer %d, want 1 each", h, o)
	}
}

var errStopping = errors.New("stopping")

// Cancelling the context stops every stage without closing the input: the
// items they hold, and those arriving later, are failed with the cause; a
// worker stuck in a call that ignores ctx does not hold the shutdown up.
func TestCancelFailsHeldItemsAndClosesOutputs(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	release := make(chan struct{})
	var started atomic.Int32
	first := Map("decode", MapConfig{Buffer: 4}, func(_ context.Context, it *testItem) (*testItem, bool) { return it, true })
	stuck := Map("upload", MapConfig{Workers: 3, Buffer: 1}, func(ctx context.Context, it *testItem) (*testItem, bool) {
		started.Add(1)
		if it.n == 0 {
			<-release // ignores ctx
		} else {
			<-ctx.Done()
		}
		return it, true
	})
	gather := Batch[*testItem]("commit-group", BatchConfig{MaxCount: 2, Linger: time.Hour})
	in := make(chan *testItem, 16)
	var items []*testItem
	for i := 0; i < 10; i++ {
		it := newTestItem(i)
		items = append(items, it)
		in <- it
	}
	var sunk atomic.Int32
	done := Go(Connect(Connect(first, stuck), gather).Run(ctx, in), func(b []*testItem) {
		sunk.Add(int32(len(b)))
	})
	for started.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel(errStopping)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("outputs not closed after cancel (input still open)")
	}
	late := newTestItem(10)
	in <- late
	for _, it := range append(items[1:], late) {
		if r := it.result(t); !errors.Is(r.err, errStopping) {
			t.Fatalf("item %d: %v, want the cancel cause", it.n, r.err)
		}
	}
	if items[0].done.Completed() {
		t.Fatal("item 0 completed while its call still runs")
	}
	close(release)
	if r := items[0].result(t); !errors.Is(r.err, errStopping) {
		t.Fatalf("item 0 after its call returned: %v, want the cancel cause", r.err)
	}
	if sunk.Load() != 0 {
		t.Fatalf("%d items passed on after cancel", sunk.Load())
	}
	for _, it := range append(items, late) {
		if it.done.Extra() != 0 {
			t.Fatalf("item %d completed twice", it.n)
		}
	}
	close(in)
}

// A Batch stage lingering on a partial batch fails it on cancel.
func TestCancelFailsLingeringBatch(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	in := make(chan *testItem, 2)
	a, b := newTestItem(0), newTestItem(1)
	in <- a
	in <- b
	out := Batch[*testItem]("cashier", BatchConfig{Linger: time.Hour}).Run(ctx, in)
	time.Sleep(10 * time.Millisecond)
	cancel(errStopping)
	if _, ok := <-out; ok {
		t.Fatal("a batch was emitted after cancel")
	}
	for _, it := range []*testItem{a, b} {
		if r := it.result(t); !errors.Is(r.err, errStopping) {
			t.Fatalf("item %d: %v", it.n, r.err)
		}
	}
	close(in)
}

// BenchmarkMapOverhead measures what a Map stage (recover per item, the
// context checks, ordered output) costs over its baseline in the same run:
// a bare goroutine applying the same function between two channels.
func BenchmarkMapOverhead(b *testing.B) {
	fn := func(_ context.Context, i int) (int, bool) { return i, true }
	run := func(b *testing.B, start func(ctx context.Context, in <-chan int) <-chan int) {
		b.ReportAllocs()
		b.SetBytes(8)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		in := make(chan int, 1024)
		done := Go(start(ctx, in), func(int) {})
		for i := 0; i < b.N; i++ {
			in <- i
		}
		close(in)
		<-done
	}
	b.Run("bare", func(b *testing.B) {
		run(b, func(ctx context.Context, in <-chan int) <-chan int {
			out := make(chan int, 1024)
			go func() {
				defer close(out)
				for i := range in {
					if o, ok := fn(ctx, i); ok {
						out <- o
					}
				}
			}()
			return out
		})
	})
	b.Run("map", func(b *testing.B) {
		run(b, Map("id", MapConfig{Buffer: 1024}, fn).Run)
	})
	b.Run("map-4-workers", func(b *testing.B) {
		run(b, Map("id", MapConfig{Workers: 4, Buffer: 1024}, fn).Run)
	})
}
