package codec

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

func TestRequestBudgetWaitsAndWakes(t *testing.T) {
	b := NewRequestBudget(100)
	if err := b.Acquire(60, 0, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// A second holder keeps the first from being the only one in use, so
	// the deadlock rule does not apply: 60 more must wait.
	if err := b.Acquire(30, 0, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Acquire(60, 0, nil, time.Time{}) }()
	select {
	case err := <-got:
		t.Fatalf("acquired over the limit: %v (in use %d)", err, b.InUse())
	case <-time.After(50 * time.Millisecond):
	}
	b.Release(60)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if b.InUse() != 90 {
		t.Fatalf("in use %d, want 90", b.InUse())
	}
	b.Release(90)
	if b.InUse() != 0 {
		t.Fatalf("in use %d after releasing all", b.InUse())
	}
}

func TestRequestBudgetStopAndDeadline(t *testing.T) {
	b := NewRequestBudget(10)
	if err := b.Acquire(10, 0, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	got := make(chan error, 1)
	go func() { got <- b.Acquire(5, 0, stop, time.Time{}) }()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	if err := <-got; !errors.Is(err, ErrBudgetWait) {
		t.Fatalf("stopped wait: %v", err)
	}
	if err := b.Acquire(5, 0, nil, time.Now().Add(20*time.Millisecond)); !errors.Is(err, ErrBudgetWait) {
		t.Fatalf("deadline: %v", err)
	}
	if b.InUse() != 10 {
		t.Fatalf("a failed wait charged the budget: in use %d", b.InUse())
	}
}

// TestRequestBudgetNoDeadlock: two readers each hold part of a frame and
// both need more than is left. Neither would ever release, so one is let
// over the limit.
func TestRequestBudgetNoDeadlock(t *testing.T) {
	b := NewRequestBudget(100)
	_ = b.Acquire(50, 0, nil, time.Time{})
	_ = b.Acquire(50, 0, nil, time.Time{})
	done := make(chan error, 2)
	go func() { done <- b.Acquire(40, 50, nil, time.Time{}) }()
	go func() { done <- b.Acquire(40, 50, nil, time.Time{}) }()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			// The one let through finishes its frame and releases it.
			b.Release(90)
		case <-time.After(5 * time.Second):
			t.Fatalf("deadlocked with %d in use", b.InUse())
		}
	}
	if b.InUse() != 0 {
		t.Fatalf("in use %d", b.InUse())
	}
	// A frame larger than the whole budget gets through when alone.
	if err := b.Acquire(500, 0, nil, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	b.Release(500)
}

// TestFrameReaderCharges: a frame read is charged exactly its length; a
// failed read leaves nothing charged.
func TestFrameReaderCharges(t *testing.T) {
	b := NewRequestBudget(64 << 20)
	for _, n := range []int{0, 10, frameEagerAlloc, frameEagerAlloc + 1, 3*frameEagerAlloc + 12345} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i * 13)
		}
		fr := FrameReader{R: iotest.HalfReader(bytes.NewReader(sizePrefixed(body))), Max: DefaultMaxRequestBytes, Budget: b}
		got, err := fr.Read()
		if err != nil || !bytes.Equal(got, body) || cap(got) != n {
			t.Fatalf("n %d: len %d cap %d err %v", n, len(got), cap(got), err)
		}
		if b.InUse() != int64(n) {
			t.Fatalf("n %d: charged %d", n, b.InUse())
		}
		b.Release(int64(n))
		for _, cut := range []int{4, 4 + n/4, 4 + n/2 + 1, 4 + n - 1} {
			if cut < 4 || cut >= 4+n {
				continue
			}
			fr := FrameReader{R: bytes.NewReader(sizePrefixed(body)[:cut]), Max: DefaultMaxRequestBytes, Budget: b}
			if _, err := fr.Read(); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("n %d cut %d: %v", n, cut, err)
			}
			if b.InUse() != 0 {
				t.Fatalf("n %d cut %d: %d still charged after a failed read", n, cut, b.InUse())
			}
		}
	}
}

// stallReader returns its bytes, then blocks until release is closed,
// then fails.
type stallReader struct {
	r       io.Reader
	release chan struct{}
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		return n, nil
	}
	_ = err
	<-s.release
	return 0, io.ErrClosedPipe
}

// TestFrameReaderStallHoldsWhatWasSent: a client that announces 100 MiB and
// sends 2 MiB holds about 2 MiB of budget (and memory), not 100 MiB.
func TestFrameReaderStallHoldsWhatWasSent(t *testing.T) {
	b := NewRequestBudget(1 << 30)
	stream := append(sizePrefixed(nil)[:0], 0x06, 0x40, 0, 0) // 100 MiB
	stream = append(stream, make([]byte, 2<<20)...)
	sr := &stallReader{r: bytes.NewReader(stream), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		fr := FrameReader{R: sr, Max: 200 << 20, Budget: b}
		_, err := fr.Read()
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for b.InUse() < 2<<20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if got := b.InUse(); got < 2<<20 || got > 3<<20 {
		t.Fatalf("stalled 100 MiB frame after 2 MiB holds %d bytes of budget", got)
	}
	close(sr.release)
	if err := <-done; !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("read: %v", err)
	}
	if b.InUse() != 0 {
		t.Fatalf("%d charged after the failed read", b.InUse())
	}
}

// TestFrameReaderWaitsForBudget: with the budget full the reader stops
// reading; a release lets it finish.
func TestFrameReaderWaitsForBudget(t *testing.T) {
	b := NewRequestBudget(4 << 20)
	_ = b.Acquire(1, 0, nil, time.Time{}) // another holder, not waiting
	_ = b.Acquire(4<<20-1, 0, nil, time.Time{})
	body := make([]byte, 3<<20)
	r := bytes.NewReader(sizePrefixed(body))
	done := make(chan error, 1)
	go func() {
		fr := FrameReader{R: r, Max: DefaultMaxRequestBytes, Budget: b}
		_, err := fr.Read()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if r.Len() != len(body) {
		t.Fatalf("read %d body bytes with no budget", len(body)-r.Len())
	}
	b.Release(4<<20 - 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b.InUse() != 1+3<<20 {
		t.Fatalf("in use %d", b.InUse())
	}
}

func BenchmarkReadFrame(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
	}{{"16KiB", 16 << 10}, {"4MiB", 4 << 20}} {
		size := tc.size
		frame := sizePrefixed(make([]byte, size))
		b.Run(tc.name, func(b *testing.B) {
			budget := NewRequestBudget(500 << 20)
			r := bytes.NewReader(frame)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for range b.N {
				r.Reset(frame)
				fr := FrameReader{R: r, Max: DefaultMaxRequestBytes, Budget: budget}
				f, err := fr.Read()
				if err != nil {
					b.Fatal(err)
				}
				budget.Release(int64(len(f)))
			}
		})
		b.Run(tc.name+"-unbudgeted", func(b *testing.B) {
			r := bytes.NewReader(frame)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for range b.N {
				r.Reset(frame)
				if _, err := ReadFrame(r, DefaultMaxRequestBytes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
