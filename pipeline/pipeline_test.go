package pipeline

import (
	"context"
	"math/rand"
	"sync/atomic"
	"testing"
	"time"
)

func feed(items ...int) <-chan int {
	c := make(chan int, len(items))
	for _, it := range items {
		c <- it
	}
	close(c)
	return c
}

func TestMapKeepsOrderWithWorkers(t *testing.T) {
	var inflight, peak atomic.Int32
	st := Map("square", MapConfig{Workers: 4}, func(_ context.Context, i int) (int, bool) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Duration(rand.Intn(300)) * time.Microsecond)
		inflight.Add(-1)
		return i * i, i%7 != 0 // drop multiples of 7
	})
	in := make([]int, 500)
	for i := range in {
		in[i] = i
	}
	var got []int
	<-Go(st.Run(context.Background(), feed(in...)), func(v int) { got = append(got, v) })
	var want []int
	for _, i := range in {
		if i%7 != 0 {
			want = append(want, i*i)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d items, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("item %d: got %d want %d (order lost)", i, got[i], want[i])
		}
	}
	if p := peak.Load(); p > 4 || p < 2 {
		t.Fatalf("peak in flight %d, want between 2 and 4", p)
	}
}

func TestBatchFlushesOnCountAndBytes(t *testing.T) {
	st := Batch[int]("cashier", BatchConfig{MaxCount: 3, MaxBytes: 10, Linger: time.Hour,
		Size: func(v any) int64 { return int64(v.(int)) }})
	var got [][]int
	<-Go(st.Run(context.Background(), feed(1, 1, 1, 1, 9, 1, 2)), func(b []int) { got = append(got, b) })
	want := [][]int{{1, 1, 1}, {1, 9}, {1, 2}} // count, bytes, then input closed
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("got %v want %v", got, want)
		}
	}
}

func TestBatchLingerMeasuredFromFirstItem(t *testing.T) {
	in := make(chan int)
	st := Batch[int]("cashier", BatchConfig{Linger: 30 * time.Millisecond})
	out := st.Run(context.Background(), in)
	start := time.Now()
	in <- 1
	go func() {
		time.Sleep(10 * time.Millisecond)
		in <- 2
	}()
	b := <-out
	el := time.Since(start)
	if len(b) != 2 {
		t.Fatalf("got batch %v, want both items", b)
	}
	if el < 30*time.Millisecond {
		t.Fatalf("flushed after %v, before the linger", el)
	}
	close(in)
	if _, ok := <-out; ok {
		t.Fatal("output not closed after input closed")
	}
}

func TestBatchZeroLingerTakesOnlyReady(t *testing.T) {
	in := make(chan int, 10)
	for i := 0; i < 5; i++ {
		in <- i
	}
	st := Batch[int]("commit", BatchConfig{MaxCount: 4})
	out := st.Run(context.Background(), in)
	if b := <-out; len(b) != 4 {
		t.Fatalf("first batch %v, want 4 (count cap)", b)
	}
	if b := <-out; len(b) != 1 {
		t.Fatalf("second batch %v, want the 1 ready item", b)
	}
	select {
	case b := <-out:
		t.Fatalf("unexpected batch %v with nothing ready", b)
	case <-time.After(20 * time.Millisecond):
	}
	close(in)
	if _, ok := <-out; ok {
		t.Fatal("output not closed")
	}
}

func BenchmarkMap(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(8)
	in := make(chan int, 1024)
	st := Map("id", MapConfig{Workers: 1, Buffer: 1024}, func(_ context.Context, i int) (int, bool) { return i, true })
	done := Go(st.Run(context.Background(), in), func(int) {})
	for i := 0; i < b.N; i++ {
		in <- i
	}
	close(in)
	<-done
}
