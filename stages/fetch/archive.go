package fetch

// Archive reads.
//
// A partition's oldest index entry may be an archive entry (meta
// EntryArchive): its object is a segment catalog (codec/archive_catalog.go)
// listing segment objects, intake-format objects holding batches of that
// partition only. A read resolves it segment by segment: each segment the
// read needs becomes a synthetic intake-like entry (RelBase 0, batches in
// [IntakeHeaderSize, IndexPos)) read like any other, except that its bytes
// are read in aligned chunks of Config.ReadAheadBytes, cached in the data
// cache, and that reading a chunk starts reading the next one in the
// background: a consumer catching up through the archive finds its next
// fetch's bytes in memory.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
)

const (
	// maxReadAheads bounds the background chunk reads in flight per
	// Fetcher; further read-ahead is skipped, not queued.
	maxReadAheads = 2
	// readAheadTimeout bounds one background chunk read.
	readAheadTimeout = 30 * time.Second
)

// loadCatalog returns the decoded segment catalog of archive entry a, from
// the catalog cache or by reading the whole catalog object, and checks it
// covers a's offsets.
func (f *Fetcher) loadCatalog(ctx context.Context, a meta.IndexEntry) (*codec.Catalog, error) {
	c, ok := f.catalogs.Get(a.ObjectKey)
	if !ok {
		if a.ObjectSize < codec.CatalogHeaderSize+codec.CatalogFooterSize {
			return nil, fmt.Errorf("%w: catalog %s: archive entry gives size %d", ErrStorage, a.ObjectKey, a.ObjectSize)
		}
		f.got(ctx, srcArchive)
		b, err := f.cfg.Objects.GetRange(ctx, a.ObjectKey, 0, a.ObjectSize)
		if err != nil {
			return nil, fmt.Errorf("%w: read catalog %s: %v", ErrStorage, a.ObjectKey, err)
		}
		if int64(len(b)) != a.ObjectSize {
			return nil, fmt.Errorf("%w: catalog %s: %d bytes, want %d", ErrStorage, a.ObjectKey, len(b), a.ObjectSize)
		}
		if c, err = codec.DecodeCatalog(b); err != nil {
			return nil, fmt.Errorf("%w: catalog %s: %v", ErrStorage, a.ObjectKey, err)
		}
		f.catalogs.Put(a.ObjectKey, c, c.SizeBytes())
	}
	segs := c.Segments
	if len(segs) == 0 || segs[0].BaseOffset > a.BaseOffset || segs[len(segs)-1].LastOffset < a.LastOffset {
		first, last := int64(-1), int64(-1)
		if len(segs) > 0 {
			first, last = segs[0].BaseOffset, segs[len(segs)-1].LastOffset
		}
		return nil, fmt.Errorf("%w: catalog %s lists offsets [%d, %d], its archive entry [%d, %d]", ErrStorage, a.ObjectKey, first, last, a.BaseOffset, a.LastOffset)
	}
	return c, nil
}

// segmentEntry is the entry through which segment s of archive entry a is
// read: the segment's own offsets (clipped to a's last offset), RelBase 0,
// its batch bytes [IntakeHeaderSize, IndexPos).
func segmentEntry(a meta.IndexEntry, s *codec.SegmentRef) meta.IndexEntry {
	return meta.IndexEntry{
		TP:           a.TP,
		BaseOffset:   s.BaseOffset,
		LastOffset:   min(s.LastOffset, a.LastOffset),
		MaxTimestamp: s.MaxTimestamp,
		ObjectKey:    s.Key,
		ObjectSize:   s.Size,
		IndexPos:     s.IndexPos,
		IndexLen:     s.IndexLen,
		RelBase:      0,
		ByteStart:    codec.IntakeHeaderSize,
		ByteEnd:      s.IndexPos,
		Kind:         meta.EntryArchive,
	}
}

// readArchive is readEntry for an archive entry a: it reads the segments
// holding offsets from max(offset, a.BaseOffset) on (offsets below the
// entry's base were deleted, even if its segments still hold them), one
// after another, until the limit, a.LastOffset or hwm.
func (f *Fetcher) readArchive(ctx context.Context, a meta.IndexEntry, offset, hwm int64, out []byte, limit int32, mustProgress bool) ([]byte, int64, bool, error) {
	cat, err := f.loadCatalog(ctx, a)
	if err != nil {
		return out, offset, true, err
	}
	offset = max(offset, a.BaseOffset)
	startLen := len(out)
	full := false
	for i := cat.Find(offset); i < len(cat.Segments) && offset <= a.LastOffset && offset < hwm && !full; i++ {
		s := &cat.Segments[i]
		e := segmentEntry(a, s)
		rows, err := f.segmentRows(ctx, e, s)
		if err == nil {
			var got []byte
			var next int64
			got, next, full, err = f.readRows(ctx, e, rows, max(offset, s.BaseOffset), hwm, out, limit, mustProgress && len(out) == startLen)
			if err == nil {
				out, offset = got, next
				if full && i+1 < len(cat.Segments) && f.nearSegmentEnd(e, rows, offset) {
					f.readAheadSegment(segmentEntry(a, &cat.Segments[i+1]))
				}
				continue
			}
		}
		if len(out) > startLen {
			// Answer what the earlier segments gave; the next fetch, from
			// this segment, reports the error.
			if isCorrupt(err) { // logged once per range already
				return out, offset, true, nil
			}
			f.cfg.Logger.Warn("fetch: archive segment read failed", "object", s.Key, "catalog", a.ObjectKey, "partition", a.TP.Partition, "err", err)
			return out, offset, true, nil
		}
		return out, offset, true, err
	}
	return out, offset, full, nil
}

// segmentRows returns the rows of segment entry e, checking that they hold
// exactly the offsets the catalog gives segment s.
func (f *Fetcher) segmentRows(ctx context.Context, e meta.IndexEntry, s *codec.SegmentRef) ([]codec.IndexRow, error) {
	start := f.now()
	idx, err := f.loadIndex(ctx, e)
	if err != nil {
		return nil, err
	}
	rows := idx.Partition(e.TP.Topic, e.TP.Partition)
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: segment %s holds no batch of the partition", ErrStorage, s.Key)
	}
	last := &rows[len(rows)-1]
	if rows[0].RelOffset != 0 || last.RelOffset+int64(last.LastOffsetDelta) != s.LastOffset-s.BaseOffset || idx.DataEnd() > s.IndexPos {
		return nil, fmt.Errorf("%w: segment %s holds %d offsets in %d bytes, its catalog says [%d, %d] in %d bytes",
			ErrStorage, s.Key, last.RelOffset+int64(last.LastOffsetDelta)+1, idx.DataEnd(), s.BaseOffset, s.LastOffset, s.IndexPos)
	}
	f.step(ctx, "fetch.index", start, len(rows), 0, e.TP)
	return rows, nil
}

// ResolveTimestamp narrows an index entry found by Meta.EntryAtTimestamp
// to one whose batches can be read and searched: an intake entry is
// returned as is (with true). For an archive entry it returns the entry of
// the first segment holding offsets at or after e.BaseOffset whose max
// timestamp is >= ts (its LastOffset clipped to e's; its BaseOffset is the
// segment's, which may lie below e.BaseOffset), or false if no such
// segment holds offsets up to e.LastOffset: the search goes on after it.
// A catalog that cannot be read is ErrStorage.
func (f *Fetcher) ResolveTimestamp(ctx context.Context, e meta.IndexEntry, ts int64) (meta.IndexEntry, bool, error) {
	if e.Kind != meta.EntryArchive {
		return e, true, nil
	}
	cat, err := f.loadCatalog(ctx, e)
	if err != nil {
		f.cfg.Logger.Warn("fetch: timestamp lookup failed", "object", e.ObjectKey, "partition", e.TP.Partition, "err", err)
		return meta.IndexEntry{}, false, err
	}
	from := cat.Find(e.BaseOffset)
	rest := codec.Catalog{Segments: cat.Segments[from:]}
	i := rest.FindTimestamp(ts)
	if i == len(rest.Segments) || rest.Segments[i].BaseOffset > e.LastOffset {
		return meta.IndexEntry{}, false, nil
	}
	return segmentEntry(e, &rest.Segments[i]), true, nil
}

// chunkLoad is a read of one segment chunk in flight.
type chunkLoad struct {
	done chan struct{} // closed when data or err is set
	data []byte
	err  error
	// trusted: the batches wholly inside the chunk passed their check
	// (then the chunk is cached).
	trusted bool
}

func chunkKey(key string, i int64) string { return key + "#" + strconv.FormatInt(i, 10) }

// chunkBounds returns the object bytes of chunk i of segment entry e:
// [i*ReadAheadBytes, (i+1)*ReadAheadBytes) within its batch bytes.
func (f *Fetcher) chunkBounds(e meta.IndexEntry, i int64) (lo, hi int64) {
	c := f.cfg.ReadAheadBytes
	return max(i*c, e.ByteStart), min((i+1)*c, e.ByteEnd)
}

// readSegment returns bytes [lo, hi) of segment entry e's batches (whose
// rows are rows) from the chunks holding them: cached, being read
// (read-ahead or another fetch), or read now, one GET per run of missing
// chunks. Then it starts reading the next chunk in the background.
// trusted reports that every chunk passed its check (check.go).
func (f *Fetcher) readSegment(ctx context.Context, e meta.IndexEntry, rows []codec.IndexRow, lo, hi int64) (data []byte, trusted bool, err error) {
	if lo < e.ByteStart || hi > e.ByteEnd || lo >= hi {
		return nil, false, fmt.Errorf("%w: %s: range [%d,%d) outside the segment's batches [%d,%d)", ErrStorage, e.ObjectKey, lo, hi, e.ByteStart, e.ByteEnd)
	}
	start := f.now()
	first, last := lo/f.cfg.ReadAheadBytes, (hi-1)/f.cfg.ReadAheadBytes
	var (
		chunks [][]byte
		mine   []bool
	)
	// A chunk another read was loading may have failed with that read's
	// context: then try once more, loading it here.
	for attempt := 0; attempt < 2; attempt++ {
		var othersFailed bool
		chunks, mine, trusted, othersFailed, err = f.chunks(ctx, e, rows, first, last)
		if err == nil || !othersFailed {
			break
		}
	}
	if err != nil {
		return nil, false, err
	}
	for k, c := range chunks {
		if clo, chi := f.chunkBounds(e, first+int64(k)); int64(len(c)) != chi-clo {
			return nil, false, fmt.Errorf("%w: %s: chunk %d holds %d bytes, want %d", ErrStorage, e.ObjectKey, first+int64(k), len(c), chi-clo)
		}
	}
	if len(chunks) == 1 {
		clo, _ := f.chunkBounds(e, first)
		data = chunks[0][lo-clo : hi-clo]
	} else {
		data = make([]byte, 0, hi-lo)
	}
	for k, c := range chunks {
		clo, chi := f.chunkBounds(e, first+int64(k))
		a, z := max(lo, clo), min(hi, chi)
		if len(chunks) > 1 {
			data = append(data, c[a-clo:z-clo]...)
		}
		if mine[k] {
			f.served(ctx, srcArchive, z-a, start)
		} else {
			f.served(ctx, srcMemory, z-a, f.now())
		}
	}
	f.readAhead(e, rows, last+1)
	return data, trusted, nil
}

// chunks returns chunks [first, last] of segment entry e, which of them
// this call read from the object store, and whether all of them passed
// their check (cached chunks did). othersFailed reports that a chunk
// being loaded by another read failed.
func (f *Fetcher) chunks(ctx context.Context, e meta.IndexEntry, rows []codec.IndexRow, first, last int64) (chunks [][]byte, mine []bool, trusted, othersFailed bool, err error) {
	trusted = true
	n := int(last - first + 1)
	chunks = make([][]byte, n)
	mine = make([]bool, n)
	loads := make([]*chunkLoad, n)
	f.loadMu.Lock()
	for k := range chunks {
		key := chunkKey(e.ObjectKey, first+int64(k))
		if b, ok := f.data.Get(key); ok {
			chunks[k] = b
			continue
		}
		if l, ok := f.loading[key]; ok {
			loads[k] = l
			continue
		}
		loads[k] = &chunkLoad{done: make(chan struct{})}
		f.loading[key] = loads[k]
		mine[k] = true
	}
	f.loadMu.Unlock()

	// Read each run of chunks to load with one GET.
	for k := 0; k < n; {
		if !mine[k] {
			k++
			continue
		}
		z := k
		for z+1 < n && mine[z+1] {
			z++
		}
		f.loadChunks(ctx, e, rows, first+int64(k), loads[k:z+1])
		k = z + 1
	}
	for k, l := range loads {
		if l == nil {
			continue
		}
		select {
		case <-l.done:
		case <-ctx.Done():
			return nil, nil, false, false, fmt.Errorf("%w: read %s: %v", ErrStorage, e.ObjectKey, ctx.Err())
		}
		if l.err != nil {
			return nil, nil, false, !mine[k], l.err
		}
		chunks[k] = l.data
		trusted = trusted && l.trusted
	}
	return chunks, mine, trusted, false, nil
}

// loadChunks reads chunks first, first+1, ... of segment entry e (whose
// rows are rows) with one GET, checks them, caches those that passed and
// completes their loads.
func (f *Fetcher) loadChunks(ctx context.Context, e meta.IndexEntry, rows []codec.IndexRow, first int64, loads []*chunkLoad) {
	last := first + int64(len(loads)) - 1
	lo, _ := f.chunkBounds(e, first)
	_, hi := f.chunkBounds(e, last)
	f.got(ctx, srcArchive)
	b, err := f.cfg.Objects.GetRange(ctx, e.ObjectKey, lo, hi-lo)
	if err != nil {
		err = fmt.Errorf("%w: read %s: %v", ErrStorage, e.ObjectKey, err)
	} else if int64(len(b)) != hi-lo {
		err = fmt.Errorf("%w: %s: segment truncated (%d bytes at %d, want %d)", ErrStorage, e.ObjectKey, len(b), lo, hi-lo)
	}
	for k, l := range loads {
		l.err = err
		if err != nil {
			continue
		}
		clo, chi := f.chunkBounds(e, first+int64(k))
		l.data = b[clo-lo : chi-lo : chi-lo]
		// Cached before the load is forgotten, so that a read finds the
		// chunk in one place or the other. A chunk that fails its check
		// is not: its readers check each batch they serve.
		if l.trusted = f.checkRange(rows, l.data, clo, clo, chi); l.trusted {
			f.data.Put(chunkKey(e.ObjectKey, first+int64(k)), l.data, int64(len(l.data)))
		}
	}
	f.loadMu.Lock()
	for k := range loads {
		delete(f.loading, chunkKey(e.ObjectKey, first+int64(k)))
	}
	f.loadMu.Unlock()
	for _, l := range loads {
		close(l.done)
	}
}

// nearSegmentEnd reports whether the next read of segment entry e, from
// offset, starts in the segment's last chunk (or after the segment).
func (f *Fetcher) nearSegmentEnd(e meta.IndexEntry, rows []codec.IndexRow, offset int64) bool {
	if offset > e.LastOffset {
		return true
	}
	rel := offset - e.BaseOffset
	i, _ := slices.BinarySearchFunc(rows, rel, func(r codec.IndexRow, rel int64) int {
		return cmp.Compare(r.RelOffset+int64(r.LastOffsetDelta), rel)
	})
	if i == len(rows) {
		return true
	}
	return rows[i].Pos/f.cfg.ReadAheadBytes >= (e.ByteEnd-1)/f.cfg.ReadAheadBytes
}

// readAheadSegment reads segment entry e's index and first chunk in the
// background. readSegment's read-ahead stops at a segment's end, so a
// consumer catching up would otherwise wait at every segment boundary for
// two GETs (index, then first chunk): on a cloud store a stall of the
// order of a 64 MiB segment's transfer time. It is started once a read
// ends in the last chunk of the segment before e. An index read here may
// race a fetch's own read of it (the index cache does not deduplicate
// loads): at worst one extra small GET.
func (f *Fetcher) readAheadSegment(e meta.IndexEntry) {
	first := e.ByteStart / f.cfg.ReadAheadBytes
	if idx, ok := f.index.Peek(e.ObjectKey); ok {
		f.readAhead(e, idx.Partition(e.TP.Topic, e.TP.Partition), first)
		return
	}
	select {
	case f.aheadSlots <- struct{}{}:
	default:
		return
	}
	f.loadMu.Lock()
	if f.aheadCtx.Err() != nil {
		f.loadMu.Unlock()
		<-f.aheadSlots
		return
	}
	f.aheadWG.Add(1) // under loadMu: Close cancels under it too
	f.loadMu.Unlock()
	go func() {
		defer f.aheadWG.Done()
		ctx, cancel := context.WithTimeout(f.aheadCtx, readAheadTimeout)
		defer cancel()
		idx, err := f.loadIndex(ctx, e)
		<-f.aheadSlots // before readAhead, which takes a slot of its own
		if err != nil {
			if f.aheadCtx.Err() == nil {
				f.cfg.Logger.Warn("fetch: read-ahead of the next segment failed", "object", e.ObjectKey, "partition", e.TP.Partition, "err", err)
			}
			return
		}
		f.readAhead(e, idx.Partition(e.TP.Topic, e.TP.Partition), first)
	}()
}

// readAhead starts reading chunk i of segment entry e (whose rows are
// rows) in the background, unless it is past the segment's batches,
// cached or being read, the Fetcher is closed, or maxReadAheads reads are
// in flight already.
func (f *Fetcher) readAhead(e meta.IndexEntry, rows []codec.IndexRow, i int64) {
	if lo, hi := f.chunkBounds(e, i); lo >= hi {
		return
	}
	select {
	case f.aheadSlots <- struct{}{}:
	default:
		return
	}
	key := chunkKey(e.ObjectKey, i)
	f.loadMu.Lock()
	_, loading := f.loading[key]
	if loading || f.aheadCtx.Err() != nil || f.data.Contains(key) {
		f.loadMu.Unlock()
		<-f.aheadSlots
		return
	}
	l := &chunkLoad{done: make(chan struct{})}
	f.loading[key] = l
	f.aheadWG.Add(1) // under loadMu: Close cancels under it too
	f.loadMu.Unlock()
	go func() {
		defer f.aheadWG.Done()
		defer func() { <-f.aheadSlots }()
		ctx, cancel := context.WithTimeout(f.aheadCtx, readAheadTimeout)
		defer cancel()
		f.loadChunks(ctx, e, rows, i, []*chunkLoad{l})
		if l.err != nil && f.aheadCtx.Err() == nil {
			f.cfg.Logger.Warn("fetch: read-ahead failed", "object", e.ObjectKey, "partition", e.TP.Partition, "err", l.err)
		}
	}()
}
