package codec

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBudgetWait reports that a wait for request budget ended before the
// budget was granted: the reader was stopped or its deadline passed.
var ErrBudgetWait = errors.New("codec: gave up waiting for request budget")

// RequestBudget bounds the request bytes held in memory broker-wide
// (Kafka's queued.max.request.bytes). Frame readers charge it as bytes
// arrive and wait while it is exhausted, so a connection stops reading
// instead of growing the heap; the owner of a frame releases it when the
// frame's bytes are no longer referenced.
//
// The fast path is one compare-and-swap; a mutex is taken only to wait and,
// by Release, only while someone waits.
//
// A reader that waits may already hold part of a frame. If every byte in
// use belongs to readers that are waiting, nobody would ever release
// anything, so one of them is let go over the limit: the budget can be
// exceeded by at most one frame, and never deadlocks.
type RequestBudget struct {
	limit int64
	inUse atomic.Int64
	// waiters counts goroutines in the slow path of Acquire, so Release
	// knows whether to wake anyone without taking the mutex.
	waiters atomic.Int64

	mu sync.Mutex
	// waitingHeld is the budget held by the goroutines now waiting.
	waitingHeld int64
	// wake is closed (and replaced) by every Release while waiters > 0.
	wake chan struct{}
}

// NewRequestBudget returns a budget of limit bytes; limit <= 0 means
// unbounded (nil is also an unbounded budget).
func NewRequestBudget(limit int64) *RequestBudget {
	if limit <= 0 {
		return nil
	}
	return &RequestBudget{limit: limit, wake: make(chan struct{})}
}

// Limit is the budget's size in bytes (0 for an unbounded budget).
func (b *RequestBudget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// InUse is the number of bytes charged and not yet released.
func (b *RequestBudget) InUse() int64 {
	if b == nil {
		return 0
	}
	return b.inUse.Load()
}

func (b *RequestBudget) tryAcquire(n int64) bool {
	for {
		cur := b.inUse.Load()
		if cur+n > b.limit {
			return false
		}
		if b.inUse.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// Acquire charges n bytes, waiting while that would exceed the limit.
// held is what the caller already holds for the frame it is reading (it
// takes part in the deadlock rule above). The wait ends with an error
// wrapping ErrBudgetWait, and nothing charged, when stop is closed or at
// deadline (zero: none).
func (b *RequestBudget) Acquire(n, held int64, stop <-chan struct{}, deadline time.Time) error {
	if b == nil || n <= 0 || b.tryAcquire(n) {
		return nil
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	b.mu.Lock()
	b.waitingHeld += held
	defer func() {
		b.mu.Lock()
		b.waitingHeld -= held
		b.mu.Unlock()
	}()
	for {
		// wake is read before trying, under the mutex, so a Release
		// after a failed try closes this very channel (or a later one
		// replacing an already closed one).
		wake := b.wake
		if b.tryAcquire(n) {
			b.mu.Unlock()
			return nil
		}
		if b.inUse.Load() <= b.waitingHeld {
			// Everything in use is held by waiters: go over the limit.
			b.inUse.Add(n)
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		select {
		case <-wake:
		case <-stop:
			return ErrBudgetWait
		case <-timeout:
			return ErrBudgetWait
		}
		b.mu.Lock()
	}
}

// Release returns n bytes to the budget.
func (b *RequestBudget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	// A release of more than was acquired would show as a negative
	// InUse, which the tests check; it is not worth a panic here.
	b.inUse.Add(-n)
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		close(b.wake)
		b.wake = make(chan struct{})
		b.mu.Unlock()
	}
}
