package faulty

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedata/sluice/sinks/objstore"
)

// ErrInjected is the error a Rule injects by default.
var ErrInjected = errors.New("faulty: injected failure")

// Rule says which calls of one kind fail.
type Rule struct {
	// Count calls fail first: the next Count calls, whatever Prob says.
	Count int
	// Prob is the probability, in [0, 1], that a call after those fails.
	Prob float64
	// Err is the error a failing call returns (nil: ErrInjected). Use
	// objstore.ErrNotFound or objstore.Permanent(...) for errors that
	// must not be retried.
	Err error
	// After makes a failing call fail after the wrapped store did the
	// work: a Put has stored the object, a GetRange has read it, a
	// Delete has deleted it, a List has delivered its first key.
	// Otherwise the call fails without reaching the wrapped store.
	After bool
	// Latency is added to each call of this kind, on top of
	// Config.Latency.
	Latency time.Duration
}

// Config is the whole behaviour of a faulty store.
type Config struct {
	Put, Get, Delete, List Rule
	// Latency is added to every call; Jitter adds up to that much more,
	// uniformly at random.
	Latency, Jitter time.Duration
	// Seed seeds the random choices (0: a random seed), so that a test
	// can repeat a run.
	Seed uint64
}

// Stats counts calls and injected failures, by kind, since New (Set does
// not reset them).
type Stats struct {
	Puts, PutFailures, Gets, GetFailures, Deletes, DeleteFailures, Lists, ListFailures int64
}

// Store is a faulty objstore.Store. Safe for concurrent use.
type Store struct {
	s objstore.Store

	mu    sync.Mutex
	cfg   Config
	left  [numOps]int // Count left per kind
	rng   *rand.Rand
	calls [numOps]atomic.Int64
	fails [numOps]atomic.Int64
}

const (
	opPut = iota
	opGet
	opDelete
	opList
	numOps
)

// New wraps s. Closing the faulty store closes s.
func New(s objstore.Store, cfg Config) *Store {
	f := &Store{s: s}
	f.Set(cfg)
	return f
}

// Set replaces the configuration, Rule counts included (Stats go on).
func (f *Store) Set(cfg Config) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	f.left = [numOps]int{cfg.Put.Count, cfg.Get.Count, cfg.Delete.Count, cfg.List.Count}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	f.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// FailPuts makes the next n Puts fail (with the Put rule's Err and After).
func (f *Store) FailPuts(n int) { f.setCount(opPut, n) }

// FailGets makes the next n GetRanges fail.
func (f *Store) FailGets(n int) { f.setCount(opGet, n) }

func (f *Store) setCount(op, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left[op] = n
}

// Stats returns the counts so far.
func (f *Store) Stats() Stats {
	return Stats{
		Puts: f.calls[opPut].Load(), PutFailures: f.fails[opPut].Load(),
		Gets: f.calls[opGet].Load(), GetFailures: f.fails[opGet].Load(),
		Deletes: f.calls[opDelete].Load(), DeleteFailures: f.fails[opDelete].Load(),
		Lists: f.calls[opList].Load(), ListFailures: f.fails[opList].Load(),
	}
}

// Unwrap returns the wrapped store.
func (f *Store) Unwrap() objstore.Store { return f.s }

// decide counts a call of kind op and says whether it fails, with what
// rule, and how long it waits first.
func (f *Store) decide(op int) (fail bool, r Rule, wait time.Duration) {
	f.calls[op].Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	r = [numOps]Rule{f.cfg.Put, f.cfg.Get, f.cfg.Delete, f.cfg.List}[op]
	wait = f.cfg.Latency + r.Latency
	if f.cfg.Jitter > 0 {
		wait += time.Duration(f.rng.Int64N(int64(f.cfg.Jitter) + 1))
	}
	switch {
	case f.left[op] > 0:
		f.left[op]--
		fail = true
	case r.Prob > 0:
		fail = f.rng.Float64() < r.Prob
	}
	if fail {
		f.fails[op].Add(1)
		if r.Err == nil {
			r.Err = ErrInjected
		}
	}
	return fail, r, wait
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Put implements objstore.Store.
func (f *Store) Put(ctx context.Context, key string, data []byte) error {
	fail, r, wait := f.decide(opPut)
	if err := sleep(ctx, wait); err != nil {
		return err
	}
	if fail && !r.After {
		return r.Err
	}
	if err := f.s.Put(ctx, key, data); err != nil {
		return err
	}
	if fail {
		return r.Err
	}
	return nil
}

// GetRange implements objstore.Store.
func (f *Store) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	fail, r, wait := f.decide(opGet)
	if err := sleep(ctx, wait); err != nil {
		return nil, err
	}
	if fail && !r.After {
		return nil, r.Err
	}
	b, err := f.s.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	if fail {
		return nil, r.Err
	}
	return b, nil
}

// Delete implements objstore.Store.
func (f *Store) Delete(ctx context.Context, key string) error {
	fail, r, wait := f.decide(opDelete)
	if err := sleep(ctx, wait); err != nil {
		return err
	}
	if fail && !r.After {
		return r.Err
	}
	if err := f.s.Delete(ctx, key); err != nil {
		return err
	}
	if fail {
		return r.Err
	}
	return nil
}

// List implements objstore.Store. A failing List with After set delivers
// the first key and then fails.
func (f *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) bool) error {
	fail, r, wait := f.decide(opList)
	if err := sleep(ctx, wait); err != nil {
		return err
	}
	if fail && !r.After {
		return r.Err
	}
	delivered, stopped := false, false
	err := f.s.List(ctx, prefix, func(key string, size int64) bool {
		if fail && delivered {
			return false
		}
		delivered = true
		if !fn(key, size) {
			stopped = true
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	if fail && !stopped {
		return r.Err
	}
	return nil
}

// Close closes the wrapped store.
func (f *Store) Close() error { return f.s.Close() }

var _ objstore.Store = (*Store)(nil)
