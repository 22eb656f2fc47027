package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/fetch"
)

// Config configures a Worker.
type Config struct {
	Meta    meta.Store
	Objects objstore.Store
	// Fetcher reads the batches an archive copies (the broker's own, so
	// recently written objects come from its cache).
	Fetcher *fetch.Fetcher
	// Holder names this broker in the leases.
	Holder string
	Logger *slog.Logger

	// ClusterID, if set, is the metadata store's cluster id: the vacuum
	// sweeps only while the object store's cluster marker
	// (objstore.MarkerKey) names it, so it never deletes the objects of
	// another cluster's store (vacuum.go).
	ClusterID string

	// Interval is the time between passes (default 30 s); the leases last
	// three intervals, so a dead holder's job moves within about that.
	Interval time.Duration

	// ArchiveBytes: a partition whose unarchived intake holds at least
	// this many batch bytes is archived (default 64 MiB).
	ArchiveBytes int64
	// ArchiveAge: a partition whose oldest unarchived intake object is
	// older than this is archived whatever its size (default 10 min).
	ArchiveAge time.Duration
	// SegmentBytes bounds the batch bytes of one segment object (default
	// 64 MiB); an archive writes as many segments as it needs.
	SegmentBytes int64
	// ArchiveShards splits archive and retention into this many jobs,
	// each under its own lease (default 16; shards.go).
	ArchiveShards int
	// Brokers reports how many brokers share the work (nil: 1); each
	// takes about ArchiveShards/Brokers shards.
	Brokers func() int

	// Grace is how old an object no entry refers to must be before the
	// vacuum deletes it (default 1 h). Commits must land within half of
	// it (CommitDeadline).
	Grace time.Duration

	// DefaultRetention and DefaultRetentionBytes apply to topics without
	// retention.ms / retention.bytes (defaults 7 days and -1: none).
	DefaultRetention      time.Duration
	DefaultRetentionBytes int64

	// ProducerExpiration is Kafka's producer.id.expiration.ms, a broker
	// setting there too: an idempotent producer's state on a partition
	// (its epoch and last sequences, kept to recognise retries) is
	// deleted once the producer has not written there for this long
	// (default 24 h, Kafka's). Every new client process gets a new
	// producer id, so without it the states would grow without bound.
	// Negative keeps them forever.
	ProducerExpiration time.Duration

	// Failpoint, if set, is called at named points of the work (crash
	// tests kill the process there).
	Failpoint func(name string)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultInterval      = 30 * time.Second
	DefaultArchiveBytes  = 64 << 20
	DefaultArchiveAge    = 10 * time.Minute
	DefaultSegmentBytes  = 64 << 20
	DefaultArchiveShards = 16
	DefaultGrace         = time.Hour
	DefaultRetention     = 7 * 24 * time.Hour
	// DefaultProducerExpiration is Kafka's producer.id.expiration.ms
	// default.
	DefaultProducerExpiration = 24 * time.Hour
)

// Lease names.
const (
	leaseArchive = "lifecycle/archive"
	leaseVacuum  = "lifecycle/vacuum"
)

// Failpoint names.
const (
	FailAfterSegments = "archive-after-segments" // segments and catalog written, swap not done
	FailAfterSwap     = "archive-after-swap"     // swap done, nothing vacuumed yet
	FailMidVacuum     = "vacuum-mid-delete"      // the sweep deleted one object
)

// CommitDeadline is how long after an object's upload its commit may land:
// half the vacuum's grace period.
func CommitDeadline(grace time.Duration) time.Duration {
	if grace <= 0 {
		grace = DefaultGrace
	}
	return grace / 2
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.ArchiveBytes <= 0 {
		c.ArchiveBytes = DefaultArchiveBytes
	}
	if c.ArchiveAge <= 0 {
		c.ArchiveAge = DefaultArchiveAge
	}
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.ArchiveShards <= 0 {
		c.ArchiveShards = DefaultArchiveShards
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.DefaultRetention == 0 {
		c.DefaultRetention = DefaultRetention
	}
	if c.DefaultRetentionBytes == 0 {
		c.DefaultRetentionBytes = -1
	}
	if c.ProducerExpiration == 0 {
		c.ProducerExpiration = DefaultProducerExpiration
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Stats counts the work done since the Worker started.
type Stats struct {
	Passes           int64
	Archives         int64 // partitions archived
	ArchivedBytes    int64 // batch bytes copied into segments
	Segments         int64 // segment objects written
	Merges           int64 // small last segments rewritten with new batches
	Conflicts        int64 // archives lost to a concurrent change
	CorruptRefused   int64 // archives refused because a batch to copy failed its check (intake left in place)
	RetentionAdvance int64 // log start advances by retention
	CatalogPrunes    int64 // catalogs rewritten without expired segments
	ProducersExpired int64 // idle producer states deleted (one per producer and partition)
	Deleted          int64 // objects the vacuum deleted
	DeletedBytes     int64
	Errors           int64
}

// Worker runs the lifecycle passes.
type Worker struct {
	cfg Config
	log *slog.Logger

	catalogs *fetch.Cache[*catalogRef] // decoded catalogs by key

	stats struct {
		passes, archives, archivedBytes, segments, merges, conflicts, corrupt, retention, prunes, producersExpired, deleted, deletedBytes, errors atomic.Int64
	}

	runMu      sync.Mutex   // one pass at a time
	lastVacuum time.Time    // guarded by runMu
	held       map[int]bool // archive shards leased; guarded by runMu
	stop       chan struct{}
	done       chan struct{}
	startOnce  sync.Once
	closeOnce  sync.Once

	// producerChecks holds, per partition of the last pass, when its
	// producer states can next have something to expire (expiry.go).
	// Guarded by runMu, as is pass, the number of passes run.
	producerChecks map[meta.TP]producerCheck
	pass           int64
}

// New returns a Worker; Start runs it periodically, RunOnce runs one pass.
func New(cfg Config) (*Worker, error) {
	if cfg.Meta == nil || cfg.Objects == nil || cfg.Fetcher == nil || cfg.Holder == "" {
		return nil, errors.New("lifecycle: Meta, Objects, Fetcher and Holder are required")
	}
	cfg.setDefaults()
	return &Worker{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "lifecycle"),
		catalogs: fetch.NewCache[*catalogRef](16 << 20),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		held:     map[int]bool{},

		producerChecks: map[meta.TP]producerCheck{},
	}, nil
}

// Stats reports the work done so far.
func (w *Worker) Stats() Stats {
	s := &w.stats
	return Stats{
		Passes: s.passes.Load(), Archives: s.archives.Load(), ArchivedBytes: s.archivedBytes.Load(),
		Segments: s.segments.Load(), Merges: s.merges.Load(), Conflicts: s.conflicts.Load(), CorruptRefused: s.corrupt.Load(), RetentionAdvance: s.retention.Load(),
		CatalogPrunes: s.prunes.Load(), ProducersExpired: s.producersExpired.Load(),
		Deleted: s.deleted.Load(), DeletedBytes: s.deletedBytes.Load(), Errors: s.errors.Load(),
	}
}

// Start runs a pass every Interval until Close.
func (w *Worker) Start() {
	w.startOnce.Do(func() {
		go func() {
			defer close(w.done)
			t := time.NewTicker(w.cfg.Interval)
			defer t.Stop()
			for {
				select {
				case <-w.stop:
					return
				case <-t.C:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*w.cfg.Interval)
				go func() {
					select {
					case <-w.stop:
						cancel()
					case <-ctx.Done():
					}
				}()
				if err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
					w.log.Warn("lifecycle pass failed", "err", err)
				}
				cancel()
			}
		}()
	})
}

// Close stops the periodic passes, waits for a running one to end, and
// gives up the leases so another broker takes over at once.
func (w *Worker) Close() {
	w.closeOnce.Do(func() {
		close(w.stop)
		// Start after Close must not run: claim startOnce if Start never ran.
		w.startOnce.Do(func() { close(w.done) })
		<-w.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.runMu.Lock()
		defer w.runMu.Unlock()
		w.releaseShards(ctx)
		_ = w.cfg.Meta.Lifecycle().ReleaseLease(ctx, leaseVacuum, w.cfg.Holder)
	})
}

// RunOnce runs one pass: retention, archive and producer-state expiry of
// the partitions of the archive shards this broker leases, then the vacuum
// under its own lease. Work whose lease another broker holds is skipped.
func (w *Worker) RunOnce(ctx context.Context) error {
	w.runMu.Lock()
	defer w.runMu.Unlock()
	w.stats.passes.Add(1)
	w.pass++
	var errs []error
	held, err := w.claimShards(ctx)
	errs = append(errs, err)
	if len(held) > 0 {
		errs = append(errs, w.archivePass(ctx, held))
	} else {
		clear(w.producerChecks)
	}
	// The sweep lists the whole bucket; nothing it could delete ages
	// faster than the grace period, so a quarter of it is often enough.
	if time.Since(w.lastVacuum) >= w.cfg.Grace/4 {
		if ok, err := w.lease(ctx, leaseVacuum); err != nil {
			errs = append(errs, err)
		} else if ok {
			err := w.vacuum(ctx)
			if err == nil {
				w.lastVacuum = time.Now()
			}
			errs = append(errs, err)
		}
	}
	err = errors.Join(errs...)
	if err != nil {
		w.stats.errors.Add(1)
	}
	return err
}

func (w *Worker) lease(ctx context.Context, name string) (bool, error) {
	ok, err := w.cfg.Meta.Lifecycle().AcquireLease(ctx, name, w.cfg.Holder, 3*w.cfg.Interval)
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return ok, nil
}

func (w *Worker) failpoint(name string) {
	if w.cfg.Failpoint != nil {
		w.cfg.Failpoint(name)
	}
}

// archivePass applies retention, archives and expires idle producer
// states, partition by partition. One partition's failure is logged and
// counted; the pass goes on.
func (w *Worker) archivePass(ctx context.Context, shards map[int]bool) error {
	topics, err := w.cfg.Meta.Topics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var failed int
	var first error
	for _, t := range topics {
		retMs, retBytes := w.retention(t)
		for p := int32(0); p < t.Partitions; p++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			tp := meta.TP{Topic: t.ID, Partition: p}
			if !shards[shardOf(tp, w.cfg.ArchiveShards)] {
				continue
			}
			if err := w.partitionPass(ctx, t.Name, tp, retMs, retBytes); err != nil {
				failed++
				first = cmpErr(first, err)
			}
		}
	}
	w.forgetProducerChecks()
	if failed > 0 {
		return fmt.Errorf("%d partitions failed, first: %w", failed, first)
	}
	return nil
}

// partitionPass applies retention to tp, then archives it, and expires
// its idle producer states, which depend on neither and so are expired
// even if those failed.
func (w *Worker) partitionPass(ctx context.Context, topic string, tp meta.TP, retMs, retBytes int64) error {
	var errs []error
	if err := w.applyRetention(ctx, tp, retMs, retBytes); err != nil {
		errs = append(errs, fmt.Errorf("retention of %s/%d: %w", topic, tp.Partition, err))
	} else if err := w.archive(ctx, tp); err != nil {
		if errors.Is(err, meta.ErrConflict) {
			w.stats.conflicts.Add(1)
		} else {
			errs = append(errs, fmt.Errorf("archive of %s/%d: %w", topic, tp.Partition, err))
		}
	}
	if err := w.expireProducers(ctx, tp); err != nil {
		errs = append(errs, fmt.Errorf("producer expiry of %s/%d: %w", topic, tp.Partition, err))
	}
	return errors.Join(errs...)
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// retention returns the topic's retention.ms and retention.bytes (-1:
// none).
func (w *Worker) retention(t meta.Topic) (ms, bytes int64) {
	ms, bytes = w.cfg.DefaultRetention.Milliseconds(), w.cfg.DefaultRetentionBytes
	if w.cfg.DefaultRetention < 0 {
		ms = -1
	}
	if v, ok := t.Configs["retention.ms"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			ms = n
		}
	}
	if v, ok := t.Configs["retention.bytes"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			bytes = n
		}
	}
	return ms, bytes
}
