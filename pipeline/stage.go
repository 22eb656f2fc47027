package pipeline

import (
	"context"
	"time"
)

// Stage transforms a stream of I into a stream of O. Run starts the stage's
// goroutines and returns the output channel, which the stage owns and closes
// after in is closed and every item has been emitted. Run must be called
// once.
type Stage[I, O any] interface {
	Name() string
	Run(ctx context.Context, in <-chan I) <-chan O
}

// MapConfig configures a Map stage.
type MapConfig struct {
	// Workers is how many items are processed at once (the stage's
	// max-in-flight knob). Output order is always input order.
	Workers int
	// Buffer is the output channel's capacity.
	Buffer int
	// Observer receives per-item measurements; nil means none.
	Observer Observer
	// Size reports an item's bytes for the observer; nil means 0.
	Size func(any) int64
}

// MapFunc processes one item. ok=false drops the item (the function must
// then have completed it itself).
type MapFunc[I, O any] func(ctx context.Context, in I) (out O, ok bool)

type mapStage[I, O any] struct {
	name string
	cfg  MapConfig
	fn   MapFunc[I, O]
	obs  observer
}

// Map returns a stage that applies fn to every item with cfg.Workers
// workers, emitting results in input order.
func Map[I, O any](name string, cfg MapConfig, fn MapFunc[I, O]) Stage[I, O] {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Buffer < 0 {
		cfg.Buffer = 0
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	return &mapStage[I, O]{name: name, cfg: cfg, fn: fn, obs: newObserver(cfg.Observer)}
}

func (m *mapStage[I, O]) Name() string { return m.name }

type mapResult[O any] struct {
	out O
	ok  bool
}

func (m *mapStage[I, O]) Run(ctx context.Context, in <-chan I) <-chan O {
	out := make(chan O, m.cfg.Buffer)
	m.obs.queue(m.name, func() int { return len(in) })
	if m.cfg.Workers == 1 {
		go func() {
			defer close(out)
			for item := range in {
				o, ok := m.call(ctx, item)
				if ok {
					out <- o
				}
			}
		}()
		return out
	}
	// Ordered parallelism: the dispatcher hands each item to a worker
	// together with a one-slot result channel, and queues that channel;
	// the collector emits results in queue order. The queue's capacity
	// bounds the items in flight.
	slots := make(chan chan mapResult[O], m.cfg.Workers)
	sem := make(chan struct{}, m.cfg.Workers)
	go func() {
		defer close(slots)
		for item := range in {
			slot := make(chan mapResult[O], 1)
			sem <- struct{}{}
			slots <- slot
			go func(item I) {
				defer func() { <-sem }()
				o, ok := m.call(ctx, item)
				slot <- mapResult[O]{o, ok}
			}(item)
		}
	}()
	go func() {
		defer close(out)
		for slot := range slots {
			r := <-slot
			if r.ok {
				out <- r.out
			}
		}
	}()
	return out
}

// call runs fn on one item and, when measuring is on, reports it and
// stamps the result. With measuring off it costs one branch.
func (m *mapStage[I, O]) call(ctx context.Context, item I) (O, bool) {
	if !m.obs.on {
		return m.fn(ctx, item)
	}
	start := time.Now()
	o, ok := m.fn(ctx, item)
	end := time.Now()
	meas := Measure{Start: start, End: end, Items: 1, Dropped: !ok}
	if m.cfg.Size != nil {
		meas.Bytes = m.cfg.Size(item)
	}
	m.obs.report(m.name, item, meas)
	if ok {
		stamp(o, end)
	}
	return o, ok
}

// Sink drains a stage's output with fn and returns when the channel is
// closed and fn has returned for every item.
func Sink[T any](in <-chan T, fn func(T)) {
	for item := range in {
		fn(item)
	}
}

// Go runs Sink in a goroutine and returns a channel closed when it is done.
func Go[T any](in <-chan T, fn func(T)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Sink(in, fn)
	}()
	return done
}

// Connect chains two stages.
func Connect[A, B, C any](first Stage[A, B], second Stage[B, C]) Stage[A, C] {
	return &chain[A, B, C]{first, second}
}

type chain[A, B, C any] struct {
	first  Stage[A, B]
	second Stage[B, C]
}

func (c *chain[A, B, C]) Name() string { return c.first.Name() + "→" + c.second.Name() }

func (c *chain[A, B, C]) Run(ctx context.Context, in <-chan A) <-chan C {
	return c.second.Run(ctx, c.first.Run(ctx, in))
}
