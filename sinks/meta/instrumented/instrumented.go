package instrumented

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Counters are the always-on counts: Commits counts Commit calls (one
// transaction each), Writes every other mutating call, Reads the reads.
type Counters struct {
	Commits, Writes, Reads atomic.Int64
}

var durationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Store is an instrumented meta.Store.
type Store struct {
	meta.Store
	c *Counters
	m *instruments // nil: metrics off
}

type instruments struct {
	calls, errors metric.Int64Counter
	duration      metric.Float64Histogram
	ops           sync.Map // op name -> *opOpts
}

type opOpts struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// New wraps s. c receives the counts; meter, if not nil, the metrics.
func New(s meta.Store, c *Counters, meter metric.Meter) (*Store, error) {
	w := &Store{Store: s, c: c}
	if meter == nil {
		return w, nil
	}
	m := &instruments{}
	var err error
	if m.calls, err = meter.Int64Counter("sluice.meta.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Metadata store calls.")); err != nil {
		return nil, err
	}
	if m.errors, err = meter.Int64Counter("sluice.meta.errors", metric.WithUnit("{call}"),
		metric.WithDescription("Metadata store calls that returned an error.")); err != nil {
		return nil, err
	}
	if m.duration, err = meter.Float64Histogram("sluice.meta.duration", metric.WithUnit("s"),
		metric.WithDescription("Metadata store call latency."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	w.m = m
	return w, nil
}

// Unwrap returns the wrapped store.
func (w *Store) Unwrap() meta.Store { return w.Store }

// CommitLimits implements meta.CommitLimiter with the wrapped store's
// limits, which embedding alone would hide.
func (w *Store) CommitLimits() meta.CommitLimits { return meta.LimitsOf(w.Store) }

type kind int

const (
	read kind = iota
	write
	commit
)

// call is one measured call; its zero value (metrics off) only counts.
type call struct {
	w     *Store
	op    string
	start time.Time
}

func (w *Store) begin(k kind, op string) call {
	switch k {
	case read:
		w.c.Reads.Add(1)
	case write:
		w.c.Writes.Add(1)
	case commit:
		w.c.Commits.Add(1)
	}
	if w.m == nil {
		return call{}
	}
	return call{w: w, op: op, start: time.Now()}
}

func (c call) end(err error) {
	if c.w == nil {
		return
	}
	m := c.w.m
	var o *opOpts
	if v, ok := m.ops.Load(c.op); ok {
		o = v.(*opOpts)
	} else {
		set := attribute.NewSet(attribute.String("op", c.op))
		v, _ := m.ops.LoadOrStore(c.op, &opOpts{
			add:    []metric.AddOption{metric.WithAttributeSet(set)},
			record: []metric.RecordOption{metric.WithAttributeSet(set)},
		})
		o = v.(*opOpts)
	}
	ctx := context.Background()
	m.calls.Add(ctx, 1, o.add...)
	if err != nil {
		m.errors.Add(ctx, 1, o.add...)
	}
	m.duration.Record(ctx, time.Since(c.start).Seconds(), o.record...)
}

// ClusterID implements meta.Store.
func (w *Store) ClusterID(ctx context.Context) (string, error) {
	c := w.begin(read, "cluster_id")
	id, err := w.Store.ClusterID(ctx)
	c.end(err)
	return id, err
}

// CreateTopic implements meta.Store.
func (w *Store) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (meta.Topic, error) {
	c := w.begin(write, "create_topic")
	t, err := w.Store.CreateTopic(ctx, name, partitions, configs)
	c.end(err)
	return t, err
}

// DeleteTopic implements meta.Store.
func (w *Store) DeleteTopic(ctx context.Context, name string) error {
	c := w.begin(write, "delete_topic")
	err := w.Store.DeleteTopic(ctx, name)
	c.end(err)
	return err
}

// Topic implements meta.Store.
func (w *Store) Topic(ctx context.Context, name string) (meta.Topic, error) {
	c := w.begin(read, "topic")
	t, err := w.Store.Topic(ctx, name)
	c.end(err)
	return t, err
}

// TopicByID implements meta.Store.
func (w *Store) TopicByID(ctx context.Context, id meta.TopicID) (meta.Topic, error) {
	c := w.begin(read, "topic_by_id")
	t, err := w.Store.TopicByID(ctx, id)
	c.end(err)
	return t, err
}

// Topics implements meta.Store.
func (w *Store) Topics(ctx context.Context) ([]meta.Topic, error) {
	c := w.begin(read, "topics")
	ts, err := w.Store.Topics(ctx)
	c.end(err)
	return ts, err
}

// CreatePartitions implements meta.Store.
func (w *Store) CreatePartitions(ctx context.Context, name string, total int32) error {
	c := w.begin(write, "create_partitions")
	err := w.Store.CreatePartitions(ctx, name, total)
	c.end(err)
	return err
}

// SetTopicConfigs implements meta.Store.
func (w *Store) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	c := w.begin(write, "set_topic_configs")
	err := w.Store.SetTopicConfigs(ctx, name, configs)
	c.end(err)
	return err
}

// PartitionState implements meta.Store.
func (w *Store) PartitionState(ctx context.Context, tp meta.TP) (meta.PartitionState, error) {
	c := w.begin(read, "partition_state")
	st, err := w.Store.PartitionState(ctx, tp)
	c.end(err)
	return st, err
}

// DeleteRecords implements meta.Store.
func (w *Store) DeleteRecords(ctx context.Context, tp meta.TP, offset int64) (int64, error) {
	c := w.begin(write, "delete_records")
	n, err := w.Store.DeleteRecords(ctx, tp, offset)
	c.end(err)
	return n, err
}

// Commit implements meta.Store.
func (w *Store) Commit(ctx context.Context, objs []meta.ObjectCommit) ([][]meta.BatchResult, error) {
	c := w.begin(commit, "commit")
	res, err := w.Store.Commit(ctx, objs)
	c.end(err)
	return res, err
}

// Entries implements meta.Store.
func (w *Store) Entries(ctx context.Context, tp meta.TP, from int64, limit int) ([]meta.IndexEntry, error) {
	c := w.begin(read, "entries")
	es, err := w.Store.Entries(ctx, tp, from, limit)
	c.end(err)
	return es, err
}

// EntryAtTimestamp implements meta.Store.
func (w *Store) EntryAtTimestamp(ctx context.Context, tp meta.TP, ts int64) (meta.IndexEntry, bool, error) {
	c := w.begin(read, "entry_at_timestamp")
	e, ok, err := w.Store.EntryAtTimestamp(ctx, tp, ts)
	c.end(err)
	return e, ok, err
}

// NextProducerID implements meta.Store.
func (w *Store) NextProducerID(ctx context.Context) (int64, error) {
	c := w.begin(write, "next_producer_id")
	id, err := w.Store.NextProducerID(ctx)
	c.end(err)
	return id, err
}

// BumpProducerEpoch implements meta.Store.
func (w *Store) BumpProducerEpoch(ctx context.Context, producerID int64, epoch int16) (int16, error) {
	c := w.begin(write, "bump_producer_epoch")
	e, err := w.Store.BumpProducerEpoch(ctx, producerID, epoch)
	c.end(err)
	return e, err
}

// ProducerState implements meta.Store.
func (w *Store) ProducerState(ctx context.Context, producerID int64, tp meta.TP) (meta.ProducerState, bool, error) {
	c := w.begin(read, "producer_state")
	st, ok, err := w.Store.ProducerState(ctx, producerID, tp)
	c.end(err)
	return st, ok, err
}

var _ meta.Store = (*Store)(nil)
