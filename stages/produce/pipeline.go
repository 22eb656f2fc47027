package produce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
)

// Config configures the produce pipeline. Zero values take the defaults
// below, which were chosen by benchmark (see the README).
type Config struct {
	Meta    meta.Store
	Objects objstore.Store
	Logger  *slog.Logger

	// Linger is how long the cashier waits, from the first batch of a
	// flush, for more batches.
	Linger time.Duration
	// FlushBytes closes a flush early once it holds this many bytes.
	FlushBytes int64
	// FlushBatches closes a flush early once it holds this many batches.
	FlushBatches int
	// UploadConcurrency is the max in-flight object uploads.
	UploadConcurrency int
	// CommitGroup is how many uploaded flushes one metadata transaction
	// may commit together.
	CommitGroup int
	// DecodeWorkers validate batches in parallel.
	DecodeWorkers int
	// UploadTimeout bounds one object Put.
	UploadTimeout time.Duration
	// CommitTimeout bounds one metadata commit.
	CommitTimeout time.Duration
	// CommitDeadline, if set, is how long after a flush's object is named
	// its commit may land; the store refuses later commits
	// (meta.ObjectCommit.Deadline) because the lifecycle's vacuum deletes
	// uncommitted objects once they are old enough.
	CommitDeadline time.Duration
	// QueueDepth is each stage's channel capacity.
	QueueDepth int
	// SequenceStateTTL is how long the sequence stage trusts what it
	// remembers of an idle producer on a partition before reading it from
	// the store again (default 1 h). Set it below the producer-state
	// expiration: a state the store expired must not be answered from
	// memory.
	SequenceStateTTL time.Duration

	Observer pipeline.Observer
	// Tracer, if set, traces batches whose Trace is sampled (decode,
	// sequence) and their flushes (cashier, compress, upload, commit).
	Tracer trace.Tracer
	// OnCommit is called after a flush committed, before its batches are
	// acknowledged: the broker caches the object and wakes fetches.
	OnCommit func(f *Flush)
}

// Defaults.
const (
	DefaultLinger            = 2 * time.Millisecond
	DefaultFlushBytes        = 8 << 20
	DefaultFlushBatches      = 4096
	DefaultUploadConcurrency = 4
	DefaultCommitGroup       = 8
	DefaultUploadTimeout     = 30 * time.Second
	DefaultCommitTimeout     = 30 * time.Second
	DefaultSequenceStateTTL  = time.Hour
)

func (c *Config) setDefaults() {
	if c.Linger <= 0 {
		c.Linger = DefaultLinger
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = DefaultFlushBytes
	}
	if c.FlushBatches <= 0 {
		c.FlushBatches = DefaultFlushBatches
	}
	if c.UploadConcurrency <= 0 {
		c.UploadConcurrency = DefaultUploadConcurrency
	}
	if c.CommitGroup <= 0 {
		c.CommitGroup = DefaultCommitGroup
	}
	if c.DecodeWorkers <= 0 {
		c.DecodeWorkers = 2
	}
	if c.UploadTimeout <= 0 {
		c.UploadTimeout = DefaultUploadTimeout
	}
	if c.SequenceStateTTL <= 0 {
		c.SequenceStateTTL = DefaultSequenceStateTTL
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.QueueDepth <= 0 {
		c.QueueDepth = 256
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = pipeline.NopObserver{}
	}
}

// Pipeline is a running produce pipeline.
type Pipeline struct {
	cfg    Config
	in     chan *Batch
	done   <-chan struct{}
	cancel context.CancelCauseFunc

	mu     sync.RWMutex
	closed bool
	seq    uint64

	// measuring: the stages report to an observer, so Submit stamps
	// batches with their queueing time.
	measuring bool
	// Accepted batches and their bytes (committed, not duplicates).
	producedBatches, producedBytes atomic.Int64
	// limits bound one metadata commit (commitsplit.go).
	limits meta.CommitLimits
}

// Produced reports the batches (and their bytes) the pipeline has
// committed and acknowledged, idempotent duplicates left out.
func (p *Pipeline) Produced() (batches, bytes int64) {
	return p.producedBatches.Load(), p.producedBytes.Load()
}

// Start builds and starts the pipeline.
func Start(cfg Config) (*Pipeline, error) {
	if cfg.Meta == nil || cfg.Objects == nil {
		return nil, errors.New("produce: Meta and Objects are required")
	}
	cfg.setDefaults()
	p := &Pipeline{cfg: cfg, in: make(chan *Batch, cfg.QueueDepth), limits: meta.LimitsOf(cfg.Meta)}
	// The stages run until intake closes and they drain (Close), or until
	// Shutdown cancels them.
	ctx, cancel := context.WithCancelCause(context.Background())
	p.cancel = cancel
	obs := cfg.Observer
	if cfg.Tracer != nil {
		obs = &tracingObserver{next: obs, tracer: cfg.Tracer}
	}
	p.measuring = pipeline.Active(obs)
	batchSize := func(v any) int64 { return v.(*Batch).Size() }
	flushSize := func(v any) int64 { return v.(*Flush).Bytes() }
	seq := newSequencer(cfg.Meta, cfg.SequenceStateTTL)
	onPanic := p.logPanic

	decoded := pipeline.Map("decode", pipeline.MapConfig{Workers: cfg.DecodeWorkers, Buffer: cfg.QueueDepth, Observer: obs, Size: batchSize, OnPanic: onPanic}, decode).Run(ctx, p.in)
	sequenced := pipeline.Map("sequence", pipeline.MapConfig{Buffer: cfg.QueueDepth, Observer: obs, Size: batchSize, OnPanic: onPanic}, seq.sequence).Run(ctx, decoded)
	gathered := pipeline.Batch[*Batch]("cashier", pipeline.BatchConfig{
		MaxCount: cfg.FlushBatches, MaxBytes: cfg.FlushBytes, Linger: cfg.Linger,
		Buffer: 2, Observer: obs, Size: batchSize, OnPanic: onPanic,
	}).Run(ctx, sequenced)
	if p.limits.Bounded() {
		gathered = (&flushSplitter{limits: p.limits, buffer: 2}).Run(ctx, gathered)
	}
	flushes := pipeline.Map("flush", pipeline.MapConfig{Buffer: 2, Observer: obs, OnPanic: onPanic}, p.newFlush).Run(ctx, gathered)
	compressed := pipeline.Map("compress", pipeline.MapConfig{Workers: 2, Buffer: 2, Observer: obs, Size: flushSize, OnPanic: onPanic}, compress).Run(ctx, flushes)
	uploaded := pipeline.Map("upload", pipeline.MapConfig{Workers: cfg.UploadConcurrency, Buffer: cfg.UploadConcurrency, Observer: obs, Size: flushSize, OnPanic: onPanic}, p.upload).Run(ctx, compressed)
	groups := pipeline.Batch[*Flush]("commit-group", pipeline.BatchConfig{MaxCount: cfg.CommitGroup, Observer: obs, Size: flushSize, OnPanic: onPanic}).Run(ctx, uploaded)
	committed := pipeline.Map("commit", pipeline.MapConfig{Observer: obs, OnPanic: onPanic}, p.commit).Run(ctx, groups)
	p.done = pipeline.GoWith("ack", pipeline.SinkConfig{Observer: obs, OnPanic: onPanic}, committed, p.ack)
	return p, nil
}

// logPanic logs a stage's panic; the engine has failed the batches it
// held (ErrPanic, a retriable storage error to the client) and carries on.
func (p *Pipeline) logPanic(pe *pipeline.PanicError) {
	p.cfg.Logger.Error("produce stage panicked; its batches failed", "stage", pe.Stage, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
}

// Submit hands a batch to the pipeline; its Done is called exactly once.
// It blocks while the pipeline is full (backpressure) or until ctx ends.
func (p *Pipeline) Submit(ctx context.Context, b *Batch) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		b.fail(ErrShuttingDown)
		return
	}
	if p.measuring {
		b.queued = time.Now()
	}
	select {
	case p.in <- b:
	case <-ctx.Done():
		b.fail(ctx.Err())
	}
}

// Close stops intake and waits until every submitted batch is completed.
func (p *Pipeline) Close() {
	p.stopIntake()
	<-p.done
}

// Shutdown is Close bounded by ctx: it stops intake and lets the pipeline
// drain until ctx ends; then it cancels the stages, which fail the batches
// they still hold with ErrShuttingDown (retriable: the client moves to
// another broker), and returns ctx's error once they have. A stage call
// under way (an upload, a commit) is cancelled through its context, not
// waited out, except that the single-worker stages finish their current
// call.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.stopIntake()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.cancel(ErrShuttingDown)
	<-p.done
	return ctx.Err()
}

func (p *Pipeline) stopIntake() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.in)
	}
	p.mu.Unlock()
}

func (p *Pipeline) newFlush(_ context.Context, batches []*Batch) (*Flush, bool) {
	p.seq++
	now := time.Now()
	f := &Flush{Seq: p.seq, Key: newObjectKey(now), Batches: batches}
	if p.cfg.CommitDeadline > 0 {
		f.deadline = now.Add(p.cfg.CommitDeadline)
	}
	if ft := batches[0].flushTrace; ft != nil {
		f.trace, batches[0].flushTrace = ft, nil
	}
	return f, true
}

func (p *Pipeline) upload(ctx context.Context, f *Flush) (*Flush, bool) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.UploadTimeout)
	defer cancel()
	if err := p.cfg.Objects.Put(ctx, f.Key, f.Intake.Data); err != nil {
		p.cfg.Logger.Warn("intake upload failed", "key", f.Key, "bytes", len(f.Intake.Data), "err", err)
		f.Err = fmt.Errorf("%w: upload %s: %v", ErrStorage, f.Key, err)
	}
	return f, true
}

// commit assigns offsets to a group of uploaded flushes, in as few
// metadata transactions as the store's commit limit allows (one, unless
// the group is too large for it: commitsplit.go). Flushes whose upload
// failed are left out (and failed).
func (p *Pipeline) commit(ctx context.Context, group []*Flush) ([]*Flush, bool) {
	var objs []meta.ObjectCommit
	var ok []*Flush
	for _, f := range group {
		if f.Err == nil {
			objs = append(objs, f.objectCommit())
			ok = append(ok, f)
		}
	}
	if len(objs) == 0 {
		return group, true
	}
	start := 0
	for _, end := range commitParts(p.limits, objs) {
		p.commitRun(ctx, objs[start:end], ok[start:end])
		start = end
	}
	return group, true
}

// setResults maps the store's results (in object order) back to the
// flush's batches.
func (f *Flush) setResults(oc meta.ObjectCommit, res []meta.BatchResult) {
	byPos := make(map[int64]meta.BatchResult, len(res))
	seen := make(map[meta.TP]bool)
	for i, bc := range oc.Batches {
		byPos[bc.Pos] = res[i]
		if res[i].Err == nil && !res[i].Duplicate && !seen[bc.TP] {
			seen[bc.TP] = true
			f.Committed = append(f.Committed, bc.TP)
		}
	}
	f.results = make([]meta.BatchResult, len(f.Batches))
	for i, b := range f.Batches {
		f.results[i] = byPos[f.Intake.Rows[f.Intake.RowOf[b.addID]].Pos]
	}
}

// ack completes every batch of the group.
func (p *Pipeline) ack(group []*Flush) {
	var batches, bytes int64
	defer func() {
		p.producedBatches.Add(batches)
		p.producedBytes.Add(bytes)
	}()
	for _, f := range group {
		if f.trace != nil {
			defer f.trace.end(f)
		}
		if f.Err == nil && p.cfg.OnCommit != nil && len(f.Committed) > 0 {
			p.cfg.OnCommit(f)
		}
		for i, b := range f.Batches {
			if f.Err != nil {
				b.fail(f.Err)
				continue
			}
			r := f.results[i]
			if r.Err != nil {
				b.fail(r.Err)
				continue
			}
			b.LogStart = r.LogStart
			b.Duplicate = r.Duplicate
			if !r.Duplicate {
				batches++
				bytes += int64(len(b.Data))
			}
			b.Done.Done(r.BaseOffset, nil)
		}
	}
}
