package telemetry

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluicedata/sluice/pipeline"
)

// DurationBuckets are the histogram bounds, in seconds, of Sluice's
// latency metrics: 10 µs to 10 s.
var DurationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// StageObserver records the stage engine's measurements as metrics, by
// stage: sluice.stage.items, sluice.stage.bytes, sluice.stage.dropped,
// sluice.stage.work.duration and sluice.stage.queue.wait (histograms, s)
// and sluice.stage.queue.depth (the items waiting in the stage's input).
//
// Counts are kept in atomics per stage and read by the meter's callback, so
// that the per-item cost is two histogram records and a few atomic adds.
type StageObserver struct {
	work, wait metric.Float64Histogram
	panics     metric.Int64Counter

	stages sync.Map // stage name -> *stageOpts

	mu     sync.Mutex
	all    []*stageOpts // every stage seen, for the callback
	queues []queue
}

type stageOpts struct {
	record  []metric.RecordOption
	add     []metric.AddOption
	observe []metric.ObserveOption
	set     attribute.Set

	items, bytes, dropped atomic.Int64
}

type queue struct {
	opts  []metric.ObserveOption
	depth func() int
}

// NewStageObserver creates the stage instruments on m.
func NewStageObserver(m metric.Meter) (*StageObserver, error) {
	o := &StageObserver{}
	items, err := m.Int64ObservableCounter("sluice.stage.items", metric.WithUnit("{item}"),
		metric.WithDescription("Items a pipeline stage processed (for batching stages: the items of its batches)."))
	if err != nil {
		return nil, err
	}
	bytes, err := m.Int64ObservableCounter("sluice.stage.bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of the items a pipeline stage processed."))
	if err != nil {
		return nil, err
	}
	dropped, err := m.Int64ObservableCounter("sluice.stage.dropped", metric.WithUnit("{item}"),
		metric.WithDescription("Items a stage completed early (rejected or answered) instead of passing on."))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, so := range o.all {
			obs.ObserveInt64(items, so.items.Load(), so.observe...)
			obs.ObserveInt64(bytes, so.bytes.Load(), so.observe...)
			obs.ObserveInt64(dropped, so.dropped.Load(), so.observe...)
		}
		return nil
	}, items, bytes, dropped)
	if err != nil {
		return nil, err
	}
	if o.work, err = m.Float64Histogram("sluice.stage.work.duration", metric.WithUnit("s"),
		metric.WithDescription("Time a stage worked on one item or batch (for batching stages: the linger)."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...)); err != nil {
		return nil, err
	}
	if o.wait, err = m.Float64Histogram("sluice.stage.queue.wait", metric.WithUnit("s"),
		metric.WithDescription("Time an item waited in a stage's input queue."),
		metric.WithExplicitBucketBoundaries(DurationBuckets...)); err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableGauge("sluice.stage.queue.depth", metric.WithUnit("{item}"),
		metric.WithDescription("Items waiting in a stage's input queue."),
		metric.WithInt64Callback(func(_ context.Context, obs metric.Int64Observer) error {
			o.mu.Lock()
			defer o.mu.Unlock()
			for _, q := range o.queues {
				obs.Observe(int64(q.depth()), q.opts...)
			}
			return nil
		}))
	if err != nil {
		return nil, err
	}
	if o.panics, err = m.Int64Counter("sluice.pipeline.panics", metric.WithUnit("{panic}"),
		metric.WithDescription("Panics in a pipeline stage; each failed the item the stage held, and the broker carried on.")); err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableCounter("sluice.pipeline.extra_completions", metric.WithUnit("{call}"),
		metric.WithDescription("Second calls to an item's completion (a bug; ignored)."),
		metric.WithInt64Callback(func(_ context.Context, obs metric.Int64Observer) error {
			obs.Observe(pipeline.ExtraCompletions())
			return nil
		}))
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (o *StageObserver) opts(stage string) *stageOpts {
	if v, ok := o.stages.Load(stage); ok {
		return v.(*stageOpts)
	}
	set := attribute.NewSet(attribute.String("stage", stage))
	so := &stageOpts{
		record:  []metric.RecordOption{metric.WithAttributeSet(set)},
		add:     []metric.AddOption{metric.WithAttributeSet(set)},
		observe: []metric.ObserveOption{metric.WithAttributeSet(set)},
		set:     set,
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	v, loaded := o.stages.LoadOrStore(stage, so)
	if !loaded {
		o.all = append(o.all, so)
	}
	return v.(*stageOpts)
}

// Processed implements pipeline.Observer (for steps measured outside the
// engine, such as fetch's, which have no queue: a zero wait is left out).
func (o *StageObserver) Processed(stage string, queueWait, work time.Duration, items int, bytes int64) {
	o.record(o.opts(stage), queueWait, work, items, bytes, false)
}

// Item implements pipeline.ItemObserver.
func (o *StageObserver) Item(stage string, _ any, m pipeline.Measure) {
	so := o.opts(stage)
	o.record(so, m.QueueWait(), m.Work(), m.Items, m.Bytes, m.Dropped)
}

func (o *StageObserver) record(so *stageOpts, queueWait, work time.Duration, items int, bytes int64, dropped bool) {
	ctx := context.Background()
	so.items.Add(int64(items))
	if bytes > 0 {
		so.bytes.Add(bytes)
	}
	if dropped {
		so.dropped.Add(1)
	}
	o.work.Record(ctx, work.Seconds(), so.record...)
	if queueWait > 0 {
		o.wait.Record(ctx, queueWait.Seconds(), so.record...)
	}
}

// Panicked implements pipeline.PanicObserver.
func (o *StageObserver) Panicked(stage string, _ *pipeline.PanicError) {
	o.panics.Add(context.Background(), 1, o.opts(stage).add...)
}

// Queue implements pipeline.QueueObserver.
func (o *StageObserver) Queue(stage string, depth func() int) {
	so := o.opts(stage)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queues = append(o.queues, queue{opts: so.observe, depth: depth})
}

var (
	_ pipeline.ItemObserver  = (*StageObserver)(nil)
	_ pipeline.QueueObserver = (*StageObserver)(nil)
	_ pipeline.PanicObserver = (*StageObserver)(nil)
)
