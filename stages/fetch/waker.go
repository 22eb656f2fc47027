package fetch

import (
	"sync"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Waker wakes long-polling fetches when a partition they wait on gets new
// committed offsets.
type Waker struct {
	mu      sync.Mutex
	waiters map[meta.TP]map[*waiter]struct{}
}

type waiter struct {
	ch   chan struct{}
	once sync.Once
}

// NewWaker returns an empty Waker.
func NewWaker() *Waker { return &Waker{waiters: make(map[meta.TP]map[*waiter]struct{})} }

// Wait registers interest in tps. The returned channel is closed on the
// first commit to any of them; cancel must be called when done waiting.
func (w *Waker) Wait(tps []meta.TP) (<-chan struct{}, func()) {
	wt := &waiter{ch: make(chan struct{})}
	w.mu.Lock()
	for _, tp := range tps {
		m := w.waiters[tp]
		if m == nil {
			m = make(map[*waiter]struct{})
			w.waiters[tp] = m
		}
		m[wt] = struct{}{}
	}
	w.mu.Unlock()
	return wt.ch, func() {
		w.mu.Lock()
		for _, tp := range tps {
			if m := w.waiters[tp]; m != nil {
				delete(m, wt)
				if len(m) == 0 {
					delete(w.waiters, tp)
				}
			}
		}
		w.mu.Unlock()
	}
}

// Notify wakes every fetch waiting on one of tps.
func (w *Waker) Notify(tps []meta.TP) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, tp := range tps {
		for wt := range w.waiters[tp] {
			wt.once.Do(func() { close(wt.ch) })
		}
	}
}
