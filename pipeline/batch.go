package pipeline

import (
	"context"
	"time"
)

// BatchConfig configures a Batch stage. A batch is flushed as soon as it
// holds MaxCount items or MaxBytes bytes, or Linger after its first item
// arrived. Linger 0 flushes whatever is ready without waiting: the first
// item blocks, the rest are taken only if already queued (group commit).
type BatchConfig struct {
	MaxCount int
	MaxBytes int64
	Linger   time.Duration
	// Buffer is the output channel's capacity.
	Buffer int
	// Size reports an item's bytes; nil counts every item as 0 bytes. If
	// it panics, that item is failed and left out of the batch.
	Size func(any) int64
	// Observer receives per-batch measurements (a panic in it fails the
	// batch); if it is a PanicObserver, it is told of panics.
	Observer Observer
	// OnPanic, if set, is called with every panic of the stage.
	OnPanic func(*PanicError)
}

type batchStage[I any] struct {
	name   string
	cfg    BatchConfig
	obs    observer
	faults faults
}

// Batch returns a stage that gathers items into slices.
func Batch[I any](name string, cfg BatchConfig) Stage[I, []I] {
	if cfg.MaxCount < 1 {
		cfg.MaxCount = 1 << 30
	}
	if cfg.MaxBytes < 1 {
		cfg.MaxBytes = 1 << 62
	}
	return &batchStage[I]{name: name, cfg: cfg, obs: newObserver(cfg.Observer),
		faults: newFaults(name, cfg.Observer, cfg.OnPanic)}
}

func (b *batchStage[I]) Name() string { return b.name }

// gathering is the batch being gathered.
type gathering[I any] struct {
	items []I
	bytes int64
}

func (b *batchStage[I]) Run(ctx context.Context, in <-chan I) <-chan []I {
	out := make(chan []I, b.cfg.Buffer)
	b.obs.queue(b.name, func() int { return len(in) })
	go b.run(ctx, in, out)
	return out
}

func (b *batchStage[I]) run(ctx context.Context, in <-chan I, out chan<- []I) {
	// stop ends a cancelled stage: what it holds is failed, its output
	// closed, and what still arrives on in failed.
	stop := func(held []I) {
		if len(held) > 0 {
			b.faults.cancel(ctx, held)
		}
		close(out)
		drainCancelled(ctx, &b.faults, in)
	}
	var timer *time.Timer
	for {
		var first I
		var ok bool
		select {
		case first, ok = <-in:
		default:
			select {
			case first, ok = <-in:
			case <-ctx.Done():
				stop(nil)
				return
			}
		}
		if !ok {
			close(out)
			return
		}
		var start time.Time
		if b.obs.on {
			start = time.Now()
		}
		var g gathering[I]
		b.add(&g, first)
		closed, cancelled := false, false
		if b.cfg.Linger <= 0 {
		ready:
			for len(g.items) < b.cfg.MaxCount && g.bytes < b.cfg.MaxBytes {
				select {
				case item, ok := <-in:
					if !ok {
						closed = true
						break ready
					}
					b.add(&g, item)
				default:
					break ready
				}
			}
		} else {
			if timer == nil {
				timer = time.NewTimer(b.cfg.Linger)
			} else {
				timer.Reset(b.cfg.Linger)
			}
		linger:
			for len(g.items) < b.cfg.MaxCount && g.bytes < b.cfg.MaxBytes {
				select {
				case item, ok := <-in:
					if !ok {
						closed = true
						break linger
					}
					b.add(&g, item)
				case <-timer.C:
					break linger
				case <-ctx.Done():
					cancelled = true
					break linger
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		if cancelled || ctx.Err() != nil {
			stop(g.items)
			return
		}
		if len(g.items) > 0 && (!b.obs.on || b.report(g, first, start)) {
			select {
			case out <- g.items:
			default:
				select {
				case out <- g.items:
				case <-ctx.Done():
					stop(g.items)
					return
				}
			}
		}
		if closed {
			close(out)
			return
		}
	}
}

// add puts item in the batch; if Size panics, the item is failed instead.
func (b *batchStage[I]) add(g *gathering[I], item I) {
	defer func() {
		if v := recover(); v != nil {
			b.faults.recovered(item, v)
		}
	}()
	g.bytes += b.size(item)
	g.items = append(g.items, item)
}

// report measures the batch; if the observer panics, the batch is failed
// and report returns false.
func (b *batchStage[I]) report(g gathering[I], first I, start time.Time) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			b.faults.recovered(g.items, v)
			ok = false
		}
	}()
	meas := Measure{Start: start, End: time.Now(), Items: len(g.items), Bytes: g.bytes}
	if s, ok := any(first).(Stamped); ok {
		meas.Queued = s.QueuedAt()
	}
	b.obs.report(b.name, g.items, meas)
	return true
}

func (b *batchStage[I]) size(item I) int64 {
	if b.cfg.Size == nil {
		return 0
	}
	return b.cfg.Size(item)
}
