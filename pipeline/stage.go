package pipeline

import (
	"context"
	"time"
)

// Stage transforms a stream of I into a stream of O. Run starts the stage's
// goroutines and returns the output channel, which the stage owns and closes
// after in is closed and every item has been emitted. Run must be called
// once.
//
// When ctx ends, the stage stops taking new work: it fails (see Failer)
// the items it holds and every item that still arrives on in, with
// context.Cause(ctx), and closes its output without waiting for in to
// close. A call of the stage's function already running is not
// interrupted; the function is given ctx and should return early.
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
	// Observer receives per-item measurements; nil means none. If it is a
	// PanicObserver, it is told of panics even when it measures nothing.
	Observer Observer
	// Size reports an item's bytes for the observer; nil means 0.
	Size func(any) int64
	// OnPanic, if set, is called with every panic of the stage (after
	// which the item is failed and dropped), to log it.
	OnPanic func(*PanicError)
}

// MapFunc processes one item. ok=false drops the item (the function must
// then have completed it itself). A panic fails the item with a
// *PanicError and drops it; the stage carries on with the next item.
type MapFunc[I, O any] func(ctx context.Context, in I) (out O, ok bool)

type mapStage[I, O any] struct {
	name   string
	cfg    MapConfig
	fn     MapFunc[I, O]
	obs    observer
	faults faults
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
	return &mapStage[I, O]{name: name, cfg: cfg, fn: fn, obs: newObserver(cfg.Observer),
		faults: newFaults(name, cfg.Observer, cfg.OnPanic)}
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
		go m.runSerial(ctx, in, out)
		return out
	}
	// Ordered parallelism: the dispatcher hands each item to a worker
	// together with a one-slot result channel, and queues that channel;
	// the collector emits results in queue order. The queue's capacity
	// bounds the items in flight.
	slots := make(chan chan mapResult[O], m.cfg.Workers)
	sem := make(chan struct{}, m.cfg.Workers)
	go m.dispatch(ctx, in, slots, sem)
	go m.collect(ctx, slots, out)
	return out
}

func (m *mapStage[I, O]) runSerial(ctx context.Context, in <-chan I, out chan<- O) {
	// Each channel operation tries the plain operation first (no select
	// over two channels, which costs several times more) and waits on
	// the context only when it would block.
	done := ctx.Done()
	for {
		var item I
		var ok bool
		select {
		case item, ok = <-in:
		default:
			select {
			case item, ok = <-in:
			case <-done:
				m.stop(ctx, in, out)
				return
			}
		}
		if !ok {
			close(out)
			return
		}
		select {
		case <-done:
			m.faults.cancel(ctx, item)
			m.stop(ctx, in, out)
			return
		default:
		}
		o, ok := m.call(ctx, item)
		if !ok {
			continue
		}
		select {
		case out <- o:
		default:
			select {
			case out <- o:
			case <-done:
				m.faults.cancel(ctx, o)
				m.stop(ctx, in, out)
				return
			}
		}
	}
}

// stop ends a cancelled stage: its output is closed at once, and what
// still arrives on in is failed.
func (m *mapStage[I, O]) stop(ctx context.Context, in <-chan I, out chan<- O) {
	close(out)
	drainCancelled(ctx, &m.faults, in)
}

func (m *mapStage[I, O]) dispatch(ctx context.Context, in <-chan I, slots chan<- chan mapResult[O], sem chan struct{}) {
	// cancelled closes the queue first, so that the collector closes the
	// output without waiting for in to close.
	cancelled := func(held *I) {
		close(slots)
		if held != nil {
			m.faults.cancel(ctx, *held)
		}
		drainCancelled(ctx, &m.faults, in)
	}
	done := ctx.Done()
	for {
		var item I
		var ok bool
		select {
		case item, ok = <-in:
		default:
			select {
			case item, ok = <-in:
			case <-done:
				cancelled(nil)
				return
			}
		}
		if !ok {
			close(slots)
			return
		}
		select {
		case <-done:
			cancelled(&item)
			return
		default:
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			cancelled(&item)
			return
		}
		slot := make(chan mapResult[O], 1)
		select {
		case slots <- slot:
		case <-ctx.Done():
			<-sem
			cancelled(&item)
			return
		}
		go func(item I) {
			defer func() { <-sem }()
			o, ok := m.call(ctx, item)
			slot <- mapResult[O]{o, ok}
		}(item)
	}
}

func (m *mapStage[I, O]) collect(ctx context.Context, slots <-chan chan mapResult[O], out chan<- O) {
	defer close(out)
	done := ctx.Done()
	for slot := range slots {
		select {
		case r := <-slot:
			if !r.ok {
				continue
			}
			select {
			case <-done:
				m.faults.cancel(ctx, r.out)
				continue
			default:
			}
			select {
			case out <- r.out:
			default:
				select {
				case out <- r.out:
				case <-done:
					m.faults.cancel(ctx, r.out)
				}
			}
		case <-done:
			// Cancelled while a worker still runs: the output closes
			// now, and the item is failed when the worker returns.
			go func() {
				if r := <-slot; r.ok {
					m.faults.cancel(ctx, r.out)
				}
			}()
		}
	}
}

// call runs fn on one item and, when measuring is on, reports it and
// stamps the result. A panic fails the item and drops it. With measuring
// off it costs one branch and a deferred recover.
func (m *mapStage[I, O]) call(ctx context.Context, item I) (o O, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			m.faults.recovered(item, v)
			var zero O
			o, ok = zero, false
		}
	}()
	if !m.obs.on {
		return m.fn(ctx, item)
	}
	start := time.Now()
	o, ok = m.fn(ctx, item)
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

// SinkConfig configures a sink (SinkWith, GoWith): the last stage, which
// consumes items instead of passing them on.
type SinkConfig struct {
	// Observer is told of panics if it is a PanicObserver.
	Observer Observer
	// OnPanic, if set, is called with every panic of fn.
	OnPanic func(*PanicError)
}

// Sink drains a stage's output with fn and returns when the channel is
// closed and fn has returned for every item. A panic in fn fails that item
// (see Failer) and Sink carries on.
func Sink[T any](in <-chan T, fn func(T)) { SinkWith("sink", SinkConfig{}, in, fn) }

// SinkWith is Sink with a name (for the PanicErrors) and a config.
func SinkWith[T any](name string, cfg SinkConfig, in <-chan T, fn func(T)) {
	f := newFaults(name, cfg.Observer, cfg.OnPanic)
	for item := range in {
		sinkCall(&f, item, fn)
	}
}

func sinkCall[T any](f *faults, item T, fn func(T)) {
	defer func() {
		if v := recover(); v != nil {
			f.recovered(item, v)
		}
	}()
	fn(item)
}

// Go runs Sink in a goroutine and returns a channel closed when it is done.
func Go[T any](in <-chan T, fn func(T)) <-chan struct{} { return GoWith("sink", SinkConfig{}, in, fn) }

// GoWith runs SinkWith in a goroutine and returns a channel closed when it
// is done.
func GoWith[T any](name string, cfg SinkConfig, in <-chan T, fn func(T)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		SinkWith(name, cfg, in, fn)
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
