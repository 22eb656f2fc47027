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
	// Size reports an item's bytes; nil counts every item as 0 bytes.
	Size     func(any) int64
	Observer Observer
}

type batchStage[I any] struct {
	name string
	cfg  BatchConfig
	obs  observer
}

// Batch returns a stage that gathers items into slices.
func Batch[I any](name string, cfg BatchConfig) Stage[I, []I] {
	if cfg.MaxCount < 1 {
		cfg.MaxCount = 1 << 30
	}
	if cfg.MaxBytes < 1 {
		cfg.MaxBytes = 1 << 62
	}
	return &batchStage[I]{name: name, cfg: cfg, obs: newObserver(cfg.Observer)}
}

func (b *batchStage[I]) Name() string { return b.name }

func (b *batchStage[I]) Run(ctx context.Context, in <-chan I) <-chan []I {
	out := make(chan []I, b.cfg.Buffer)
	b.obs.queue(b.name, func() int { return len(in) })
	go func() {
		defer close(out)
		var timer *time.Timer
		for {
			first, ok := <-in
			if !ok {
				return
			}
			var start time.Time
			if b.obs.on {
				start = time.Now()
			}
			batch := []I{first}
			bytes := b.size(first)
			closed := false
			if b.cfg.Linger <= 0 {
			ready:
				for len(batch) < b.cfg.MaxCount && bytes < b.cfg.MaxBytes {
					select {
					case item, ok := <-in:
						if !ok {
							closed = true
							break ready
						}
						batch = append(batch, item)
						bytes += b.size(item)
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
				for len(batch) < b.cfg.MaxCount && bytes < b.cfg.MaxBytes {
					select {
					case item, ok := <-in:
						if !ok {
							closed = true
							break linger
						}
						batch = append(batch, item)
						bytes += b.size(item)
					case <-timer.C:
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
			if b.obs.on {
				meas := Measure{Start: start, End: time.Now(), Items: len(batch), Bytes: bytes}
				if s, ok := any(first).(Stamped); ok {
					meas.Queued = s.QueuedAt()
				}
				b.obs.report(b.name, batch, meas)
			}
			out <- batch
			if closed {
				return
			}
		}
	}()
	return out
}

func (b *batchStage[I]) size(item I) int64 {
	if b.cfg.Size == nil {
		return 0
	}
	return b.cfg.Size(item)
}
