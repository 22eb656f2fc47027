package fetch

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
)

// ErrStorage reports an object that is missing, unreadable or corrupt. The
// front end answers it with a retriable storage error for that partition.
var ErrStorage = errors.New("fetch: object storage")

// Config configures a Fetcher.
type Config struct {
	Meta    meta.Store
	Objects objstore.Store
	Logger  *slog.Logger
	// IndexCacheBytes bounds the decoded object indexes kept.
	IndexCacheBytes int64
	// DataCacheBytes bounds the object bytes kept: objects this broker
	// wrote recently and byte runs it read.
	DataCacheBytes int64
	// CatalogCacheBytes bounds the decoded segment catalogs kept (the
	// archive's object lists; immutable, so never stale).
	CatalogCacheBytes int64
	// ReadAheadBytes is the chunk size of archive segment reads: segments
	// are read and cached in aligned chunks of this size, and reading one
	// chunk starts reading the next in the background.
	ReadAheadBytes int64
	Observer       pipeline.Observer
	// Tracer, if set, traces each step (fetch.plan, fetch.index,
	// fetch.read, fetch.assemble) of reads whose context holds a sampled
	// span: the Kafka Fetch request's.
	Tracer trace.Tracer
	// SkipBatchChecks serves and copies object bytes without verifying
	// their batches (check.go). It exists only to measure what the checks
	// cost (benchmarks); a broker never sets it.
	SkipBatchChecks bool
}

// Defaults for the caches and the read-ahead.
const (
	DefaultIndexCacheBytes   = 64 << 20
	DefaultDataCacheBytes    = 128 << 20
	DefaultCatalogCacheBytes = 16 << 20
	DefaultReadAheadBytes    = 4 << 20
	entriesPerPlan           = 16
)

// Fetcher reads committed batches of partitions.
type Fetcher struct {
	cfg      Config
	index    *Cache[*codec.IntakeIndex]
	data     *Cache[[]byte]
	catalogs *Cache[*codec.Catalog]
	Waker    *Waker
	// measuring: an observer or a tracer wants the steps timed.
	measuring bool
	fetched   atomic.Int64
	sources   [numSources]sourceCounters
	// Checked reads (check.go): batches refused by source, bytes
	// verified, and the corrupt object ranges logged already.
	corrupt       [numSources]atomic.Int64
	checked       atomic.Int64
	corruptLogged *Cache[struct{}]

	// Segment chunk loads in flight (foreground or read-ahead), by chunk
	// cache key, so that each chunk is read once.
	loadMu  sync.Mutex
	loading map[string]*chunkLoad
	// Read-ahead: at most maxReadAheads background reads, ended by Close.
	aheadSlots  chan struct{}
	aheadCtx    context.Context
	aheadCancel context.CancelFunc
	aheadWG     sync.WaitGroup
}

// FetchedBytes reports the record bytes Read has returned (not counting
// reads under an Internal context).
func (f *Fetcher) FetchedBytes() int64 { return f.fetched.Load() }

// New returns a Fetcher.
func New(cfg Config) *Fetcher {
	if cfg.IndexCacheBytes <= 0 {
		cfg.IndexCacheBytes = DefaultIndexCacheBytes
	}
	if cfg.DataCacheBytes <= 0 {
		cfg.DataCacheBytes = DefaultDataCacheBytes
	}
	if cfg.CatalogCacheBytes <= 0 {
		cfg.CatalogCacheBytes = DefaultCatalogCacheBytes
	}
	if cfg.ReadAheadBytes <= 0 {
		cfg.ReadAheadBytes = DefaultReadAheadBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = pipeline.NopObserver{}
	}
	f := &Fetcher{
		cfg:        cfg,
		index:      NewCache[*codec.IntakeIndex](cfg.IndexCacheBytes),
		data:       NewCache[[]byte](cfg.DataCacheBytes),
		catalogs:   NewCache[*codec.Catalog](cfg.CatalogCacheBytes),
		Waker:      NewWaker(),
		measuring:  pipeline.Active(cfg.Observer) || cfg.Tracer != nil,
		loading:    make(map[string]*chunkLoad),
		aheadSlots: make(chan struct{}, maxReadAheads),

		corruptLogged: NewCache[struct{}](maxCorruptLogged),
	}
	f.aheadCtx, f.aheadCancel = context.WithCancel(context.Background())
	return f
}

// Close stops the background read-ahead and waits for the reads in
// flight to end. Reads still work afterwards, without read-ahead.
func (f *Fetcher) Close() {
	f.loadMu.Lock() // readAhead checks and counts under it
	f.aheadCancel()
	f.loadMu.Unlock()
	f.aheadWG.Wait()
}

// Written caches an object this broker just committed, with its index, so
// that tailing consumers read it from memory.
func (f *Fetcher) Written(key string, data []byte, rows []codec.IndexRow) {
	idx := &codec.IntakeIndex{Rows: rows}
	f.index.Put(key, idx, idx.SizeBytes())
	f.data.Put(key, data, int64(len(data)))
}

// Request is one partition of a fetch.
type Request struct {
	TP     meta.TP
	Offset int64
	// MaxBytes is the partition's max bytes.
	MaxBytes int32
}

// Result is what a fetch of one partition found.
type Result struct {
	State meta.PartitionState
	// Records holds whole batches with their assigned offsets.
	Records []byte
	Err     error
}

// Read reads tp from req.Offset: at most min(req.MaxBytes, budget) bytes,
// except that when mustProgress is set (nothing else is in the response
// yet) the first batch is returned whole however large.
func (f *Fetcher) Read(ctx context.Context, req Request, budget int32, mustProgress bool) Result {
	res := f.read(ctx, req, budget, mustProgress)
	if !isInternal(ctx) {
		f.fetched.Add(int64(len(res.Records)))
	}
	return res
}

func (f *Fetcher) read(ctx context.Context, req Request, budget int32, mustProgress bool) Result {
	// plan
	start := f.now()
	state, err := f.cfg.Meta.PartitionState(ctx, req.TP)
	if err != nil {
		return Result{Err: f.storeErr(err, req.TP)}
	}
	res := Result{State: state}
	if req.Offset < state.LogStart || req.Offset > state.HighWatermark {
		res.Err = meta.ErrOffsetOutOfRange
		return res
	}
	if req.Offset == state.HighWatermark {
		return res
	}
	limit := req.MaxBytes
	if budget < limit {
		limit = budget
	}
	entries, err := f.cfg.Meta.Entries(ctx, req.TP, req.Offset, entriesPerPlan)
	f.step(ctx, "fetch.plan", start, len(entries), 0, req.TP)
	if err != nil {
		res.Err = f.storeErr(err, req.TP)
		return res
	}
	// Size the answer once: growing it by appends would copy it several
	// times over.
	var planned int64
	for _, e := range entries {
		planned += e.ByteEnd - e.ByteStart
	}
	res.Records = make([]byte, 0, min(planned, int64(limit)))
	offset := req.Offset
	for _, e := range entries {
		if offset >= state.HighWatermark {
			break
		}
		read := f.readEntry
		if e.Kind == meta.EntryArchive {
			read = f.readArchive
		}
		out, next, full, err := read(ctx, e, offset, state.HighWatermark, res.Records, limit, mustProgress && len(res.Records) == 0)
		if err != nil {
			if !isCorrupt(err) { // logged once per range already
				f.cfg.Logger.Warn("fetch read failed", "object", e.ObjectKey, "kind", e.Kind, "partition", req.TP.Partition, "err", err)
			}
			if len(res.Records) == 0 {
				res.Err = err
			}
			return res
		}
		res.Records, offset = out, next
		if full {
			break
		}
	}
	if len(res.Records) == 0 {
		res.Records = nil
	}
	return res
}

// readEntry appends the batches of entry e at or after offset to out. It
// returns the next offset to read and whether the byte limit was reached.
func (f *Fetcher) readEntry(ctx context.Context, e meta.IndexEntry, offset, hwm int64, out []byte, limit int32, mustProgress bool) ([]byte, int64, bool, error) {
	// index
	start := f.now()
	idx, err := f.loadIndex(ctx, e)
	if err != nil {
		return out, offset, true, err
	}
	rows := idx.Partition(e.TP.Topic, e.TP.Partition)
	f.step(ctx, "fetch.index", start, len(rows), 0, e.TP)
	return f.readRows(ctx, e, rows, offset, hwm, out, limit, mustProgress)
}

// readRows is readEntry once the rows of e's partition in its object are
// known.
func (f *Fetcher) readRows(ctx context.Context, e meta.IndexEntry, rows []codec.IndexRow, offset, hwm int64, out []byte, limit int32, mustProgress bool) ([]byte, int64, bool, error) {
	// Choose the rows of this entry's run that hold offsets >= offset and
	// fit in the limit.
	start := f.now()
	last := e.RelBase + (e.LastOffset - e.BaseOffset)
	var sel []codec.IndexRow
	size := int64(len(out))
	full := false
	for _, r := range rows {
		if r.RelOffset < e.RelBase || r.RelOffset > last {
			continue
		}
		base := e.BaseOffset + (r.RelOffset - e.RelBase)
		if base+int64(r.LastOffsetDelta) < offset {
			continue
		}
		if base >= hwm {
			break
		}
		if size+int64(r.Len) > int64(limit) && !(mustProgress && len(sel) == 0) {
			full = true
			break
		}
		sel = append(sel, r)
		size += int64(r.Len)
	}
	if len(sel) == 0 {
		return out, e.LastOffset + 1, full, nil
	}
	lo, hi := sel[0].Pos, sel[len(sel)-1].Pos+int64(sel[len(sel)-1].Len)

	// read
	data, trusted, err := f.readRange(ctx, e, rows, lo, hi)
	if err != nil {
		return out, offset, true, err
	}
	f.step(ctx, "fetch.read", start, len(sel), hi-lo, e.TP)

	// assemble
	start = f.now()
	next := offset
	for k := range sel {
		r := &sel[k]
		p := r.Pos - lo
		if p < 0 || p+int64(r.Len) > int64(len(data)) || r.Len < codec.BatchHeaderSize {
			return out, offset, true, fmt.Errorf("%w: %s: batch at %d outside the bytes read", ErrStorage, e.ObjectKey, r.Pos)
		}
		batch := data[p : p+int64(r.Len)]
		if f.mustCheck(&e, r, trusted) {
			if err := f.checkServed(&e, r, batch); err != nil {
				if k == 0 {
					return out, offset, true, err
				}
				// Serve the batches before it; the next fetch, from
				// this one, gets the error.
				f.step(ctx, "fetch.assemble", start, k, hi-lo, e.TP)
				return out, next, true, nil
			}
		}
		at := len(out)
		out = append(out, batch...)
		base := e.BaseOffset + (r.RelOffset - e.RelBase)
		codec.SetBaseOffset(out[at:], base)
		codec.SetPartitionLeaderEpoch(out[at:], 0)
		next = base + int64(r.LastOffsetDelta) + 1
	}
	f.step(ctx, "fetch.assemble", start, len(sel), hi-lo, e.TP)
	return out, next, full, nil
}

// loadIndex returns an object's decoded index: from the cache, or by one
// ranged read of the index and footer.
func (f *Fetcher) loadIndex(ctx context.Context, e meta.IndexEntry) (*codec.IntakeIndex, error) {
	if idx, ok := f.index.Get(e.ObjectKey); ok {
		return idx, nil
	}
	f.got(ctx, kindSource(e.Kind))
	b, err := f.cfg.Objects.GetRange(ctx, e.ObjectKey, e.IndexPos, e.IndexLen+codec.IntakeFooterSize)
	if err != nil {
		return nil, fmt.Errorf("%w: read index of %s: %v", ErrStorage, e.ObjectKey, err)
	}
	if int64(len(b)) != e.IndexLen+codec.IntakeFooterSize {
		return nil, fmt.Errorf("%w: %s: index truncated", ErrStorage, e.ObjectKey)
	}
	pos, n, crc, err := codec.ParseIntakeFooter(b[e.IndexLen:])
	if err != nil || pos != e.IndexPos || n != e.IndexLen {
		return nil, fmt.Errorf("%w: %s: bad footer (%v)", ErrStorage, e.ObjectKey, err)
	}
	idx, err := codec.DecodeIntakeIndex(b[:e.IndexLen], crc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStorage, e.ObjectKey, err)
	}
	f.index.Put(e.ObjectKey, idx, idx.SizeBytes())
	return idx, nil
}

// readRange returns object bytes [lo, hi) of e's object, whose
// partition's rows are rows: from a cached whole object, from a cached
// run, or by reading the entry's whole run (read-ahead for the next fetch
// of a catching-up consumer). Archive segments are read in chunks instead
// (readSegment). trusted reports that the batches in the bytes were
// checked (check.go) or written by this broker; a run whose check fails
// is returned untrusted and not cached.
func (f *Fetcher) readRange(ctx context.Context, e meta.IndexEntry, rows []codec.IndexRow, lo, hi int64) (data []byte, trusted bool, err error) {
	start := f.now()
	if obj, ok := f.data.Get(e.ObjectKey); ok && int64(len(obj)) >= hi {
		f.served(ctx, srcMemory, hi-lo, start)
		return obj[lo:hi], true, nil
	}
	if e.Kind == meta.EntryArchive {
		return f.readSegment(ctx, e, rows, lo, hi)
	}
	runKey := e.ObjectKey + "@" + strconv.FormatInt(e.ByteStart, 10)
	if run, ok := f.data.Get(runKey); ok && lo >= e.ByteStart && hi-e.ByteStart <= int64(len(run)) {
		f.served(ctx, srcMemory, hi-lo, start)
		return run[lo-e.ByteStart : hi-e.ByteStart], true, nil
	}
	if lo < e.ByteStart || hi > e.ByteEnd {
		return nil, false, fmt.Errorf("%w: %s: range [%d,%d) outside run [%d,%d)", ErrStorage, e.ObjectKey, lo, hi, e.ByteStart, e.ByteEnd)
	}
	f.got(ctx, srcIntake)
	run, err := f.cfg.Objects.GetRange(ctx, e.ObjectKey, e.ByteStart, e.ByteEnd-e.ByteStart)
	if err != nil {
		return nil, false, fmt.Errorf("%w: read %s: %v", ErrStorage, e.ObjectKey, err)
	}
	if int64(len(run)) != e.ByteEnd-e.ByteStart {
		return nil, false, fmt.Errorf("%w: %s: object truncated", ErrStorage, e.ObjectKey)
	}
	trusted = f.checkRange(rows, run, e.ByteStart, e.ByteStart, e.ByteEnd)
	if trusted {
		f.data.Put(runKey, run, int64(len(run)))
	}
	f.served(ctx, srcIntake, hi-lo, start)
	return run[lo-e.ByteStart : hi-e.ByteStart], trusted, nil
}

// now reads the clock when a step is measured.
func (f *Fetcher) now() time.Time {
	if !f.measuring {
		return time.Time{}
	}
	return time.Now()
}

// step reports one step of a partition's read to the observer and, when
// ctx holds a sampled span, traces it.
func (f *Fetcher) step(ctx context.Context, stage string, start time.Time, items int, bytes int64, tp meta.TP) {
	if !f.measuring {
		return
	}
	end := time.Now()
	f.cfg.Observer.Processed(stage, 0, end.Sub(start), items, bytes)
	if f.cfg.Tracer == nil || !trace.SpanContextFromContext(ctx).IsSampled() {
		return
	}
	_, span := f.cfg.Tracer.Start(ctx, stage, trace.WithTimestamp(start), trace.WithAttributes(
		attribute.String("sluice.stage", stage),
		attribute.String("sluice.topic_id", hex.EncodeToString(tp.Topic[:])),
		attribute.Int("sluice.partition", int(tp.Partition)),
		attribute.Int("sluice.batches", items),
		attribute.Int64("sluice.bytes", bytes),
		attribute.Float64("sluice.work_ms", float64(end.Sub(start))/1e6),
	))
	span.End(trace.WithTimestamp(end))
}

// storeErr keeps the metadata store's answers a client acts on (an unknown
// partition) and turns any other failure (a timeout, an unreachable store)
// into a retriable storage error, logged once here.
func (f *Fetcher) storeErr(err error, tp meta.TP) error {
	if errors.Is(err, meta.ErrUnknownTopicOrPartition) || errors.Is(err, context.Canceled) {
		return err
	}
	f.cfg.Logger.Warn("fetch: metadata store read failed", "partition", tp.Partition, "err", err)
	return fmt.Errorf("%w: metadata store: %v", ErrStorage, err)
}
