package instrumented

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluicedata/sluice/sinks/objstore"
)

// Counters are the always-on counts. Bytes are those written (Put) and
// returned (GetRange).
type Counters struct {
	Puts, PutBytes, Gets, GetBytes, Deletes, Lists atomic.Int64
}

// durationBuckets bound the latency histogram, in seconds.
var durationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

const (
	opPut = iota
	opGet
	opDelete
	opList
	numOps
)

var opNames = [numOps]string{"put", "get", "delete", "list"}

// Store is an instrumented objstore.Store.
type Store struct {
	objstore.Store
	c *Counters
	m *instruments // nil: metrics off
}

type instruments struct {
	calls, errors, bytes metric.Int64Counter
	duration             metric.Float64Histogram
	add                  [numOps][]metric.AddOption
	record               [numOps][]metric.RecordOption
}

// New wraps s. c receives the counts; meter, if not nil, the metrics.
func New(s objstore.Store, c *Counters, meter metric.Meter) (*Store, error) {
	w := &Store{Store: s, c: c}
	if meter == nil {
		return w, nil
	}
	m := &instruments{}
	var err error
	if m.calls, err = meter.Int64Counter("sluice.objstore.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Object store calls.")); err != nil {
		return nil, err
	}
	if m.errors, err = meter.Int64Counter("sluice.objstore.errors", metric.WithUnit("{call}"),
		metric.WithDescription("Object store calls that failed.")); err != nil {
		return nil, err
	}
	if m.bytes, err = meter.Int64Counter("sluice.objstore.bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes written to (put) and read from (get) the object store.")); err != nil {
		return nil, err
	}
	if m.duration, err = meter.Float64Histogram("sluice.objstore.duration", metric.WithUnit("s"),
		metric.WithDescription("Object store call latency."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	for op, name := range opNames {
		set := attribute.NewSet(attribute.String("op", name))
		m.add[op] = []metric.AddOption{metric.WithAttributeSet(set)}
		m.record[op] = []metric.RecordOption{metric.WithAttributeSet(set)}
	}
	w.m = m
	return w, nil
}

// Unwrap returns the wrapped store.
func (w *Store) Unwrap() objstore.Store { return w.Store }

func (w *Store) start() time.Time {
	if w.m == nil {
		return time.Time{}
	}
	return time.Now()
}

func (w *Store) done(op int, start time.Time, bytes int64, err error) {
	if w.m == nil {
		return
	}
	ctx := context.Background()
	w.m.calls.Add(ctx, 1, w.m.add[op]...)
	if err != nil {
		w.m.errors.Add(ctx, 1, w.m.add[op]...)
	}
	if bytes > 0 {
		w.m.bytes.Add(ctx, bytes, w.m.add[op]...)
	}
	w.m.duration.Record(ctx, time.Since(start).Seconds(), w.m.record[op]...)
}

// Put implements objstore.Store.
func (w *Store) Put(ctx context.Context, key string, data []byte) error {
	start := w.start()
	err := w.Store.Put(ctx, key, data)
	w.c.Puts.Add(1)
	if err == nil {
		w.c.PutBytes.Add(int64(len(data)))
	}
	w.done(opPut, start, int64(len(data)), err)
	return err
}

// GetRange implements objstore.Store.
func (w *Store) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	start := w.start()
	b, err := w.Store.GetRange(ctx, key, off, length)
	w.c.Gets.Add(1)
	w.c.GetBytes.Add(int64(len(b)))
	w.done(opGet, start, int64(len(b)), err)
	return b, err
}

// Delete implements objstore.Store.
func (w *Store) Delete(ctx context.Context, key string) error {
	start := w.start()
	err := w.Store.Delete(ctx, key)
	w.c.Deletes.Add(1)
	w.done(opDelete, start, 0, err)
	return err
}

// List implements objstore.Store.
func (w *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) bool) error {
	start := w.start()
	err := w.Store.List(ctx, prefix, fn)
	w.c.Lists.Add(1)
	w.done(opList, start, 0, err)
	return err
}

var _ objstore.Store = (*Store)(nil)
