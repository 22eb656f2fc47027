package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/fetch"
)

// catalogRef is a decoded catalog, cached by key (catalogs never change).
type catalogRef struct {
	cat  *codec.Catalog
	size int64
}

// loadCatalog reads and decodes the catalog an archive entry names.
func (w *Worker) loadCatalog(ctx context.Context, e *meta.IndexEntry) (*codec.Catalog, error) {
	if c, ok := w.catalogs.Get(e.ObjectKey); ok {
		return c.cat, nil
	}
	b, err := w.cfg.Objects.GetRange(ctx, e.ObjectKey, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("read catalog %s: %w", e.ObjectKey, err)
	}
	cat, err := codec.DecodeCatalog(b)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", e.ObjectKey, err)
	}
	w.catalogs.Put(e.ObjectKey, &catalogRef{cat, int64(len(b))}, cat.SizeBytes())
	return cat, nil
}

// readPartition reads tp's state and all its index entries, split into
// the archive entry (nil if none) and the intake entries.
func (w *Worker) readPartition(ctx context.Context, tp meta.TP) (st meta.PartitionState, es []meta.IndexEntry, arch *meta.IndexEntry, intake []meta.IndexEntry, err error) {
	if st, err = w.cfg.Meta.PartitionState(ctx, tp); err != nil {
		return
	}
	if es, err = w.cfg.Meta.Entries(ctx, tp, 0, 0); err != nil {
		return
	}
	arch, intake = splitEntries(es)
	return
}

// splitEntries separates a partition's archive entry (always first, if
// any) from its intake entries.
func splitEntries(es []meta.IndexEntry) (arch *meta.IndexEntry, intake []meta.IndexEntry) {
	if len(es) > 0 && es[0].Kind == meta.EntryArchive {
		return &es[0], es[1:]
	}
	return nil, es
}

// readChunk is how much archive asks the fetcher for at a time.
const readChunk = 8 << 20

// archive archives tp's intake if it passed a threshold.
func (w *Worker) archive(ctx context.Context, tp meta.TP) error {
	st, es, arch, intake, err := w.readPartition(ctx, tp)
	if err != nil {
		return err
	}
	if len(intake) == 0 {
		return nil
	}
	var pending int64
	for _, e := range intake {
		pending += e.ByteEnd - e.ByteStart
	}
	now := w.cfg.Now()
	born, ok := objectTime(intake[0].ObjectKey)
	w.log.Debug("archive check", "partition", tp.Partition, "pending", pending, "entries", len(intake), "archived", arch != nil)
	if pending < w.cfg.ArchiveBytes && (!ok || now.Sub(born) < w.cfg.ArchiveAge) {
		return nil
	}
	started := time.Now()

	var segs []codec.SegmentRef
	if arch != nil {
		cat, err := w.loadCatalog(ctx, arch)
		if err != nil {
			return err
		}
		segs = append(segs, cat.Segments...)
	}
	from := intake[0].BaseOffset
	if arch == nil {
		from = max(from, st.LogStart)
	}
	merged := false
	// A small last segment (an archive by age) is rewritten together
	// with the new batches, so a catalog holds at most one segment under
	// half of SegmentBytes: catch-up reads stay large.
	if n := len(segs); n > 0 && segs[n-1].Bytes() < w.cfg.SegmentBytes/2 {
		from = max(segs[n-1].BaseOffset, arch.BaseOffset)
		segs = segs[:n-1]
		merged = true
	}
	to := intake[len(intake)-1].LastOffset
	written, err := w.writeSegments(ctx, tp, from, to)
	// On any failure after uploads, the new objects are orphans: delete
	// what we can now (the vacuum gets the rest).
	cleanup := func() {
		for _, s := range written {
			_ = w.cfg.Objects.Delete(context.WithoutCancel(ctx), s.Key)
		}
	}
	if err != nil {
		cleanup()
		if errors.Is(err, fetch.ErrCorrupt) || errors.Is(err, codec.ErrCorrupt) {
			// Never copy a corrupt batch: the intake rows stay, so
			// nothing is lost, and the next pass tries again (the fetch
			// logged the object range once).
			w.stats.corrupt.Add(1)
			return fmt.Errorf("refusing to archive a corrupt batch, intake left in place: %w", err)
		}
		return err
	}
	segs = append(segs, written...)

	repl := meta.IndexEntry{
		TP:         tp,
		BaseOffset: written[0].BaseOffset, // when first archived
		LastOffset: to,
		Kind:       meta.EntryArchive,
	}
	old := intake
	if arch != nil {
		repl.BaseOffset = arch.BaseOffset
		old = es
	}
	// The catalog lists only segments with readable offsets.
	for len(segs) > 1 && segs[0].LastOffset < repl.BaseOffset {
		segs = segs[1:]
	}
	for _, s := range segs {
		repl.MaxTimestamp = max(repl.MaxTimestamp, s.MaxTimestamp)
		repl.ByteEnd += s.Bytes()
	}
	catData, err := codec.EncodeCatalog(segs)
	if err != nil {
		cleanup()
		return err
	}
	catKey := newArchiveKey(tp, w.cfg.Now(), "cat")
	if err := w.cfg.Objects.Put(ctx, catKey, catData); err != nil {
		cleanup()
		return fmt.Errorf("put catalog: %w", err)
	}
	written = append(written, codec.SegmentRef{Key: catKey})
	repl.ObjectKey, repl.ObjectSize, repl.IndexLen = catKey, int64(len(catData)), int64(len(catData))
	w.failpoint(FailAfterSegments)

	// The vacuum may delete our uploads as orphans once they are older
	// than its grace period; past half of it, give up rather than swap
	// in objects that may be gone.
	if time.Since(started) > CommitDeadline(w.cfg.Grace) {
		cleanup()
		return fmt.Errorf("archive took %v, past the commit deadline", time.Since(started))
	}
	if err := w.cfg.Meta.Lifecycle().ReplaceEntries(ctx, tp, old, []meta.IndexEntry{repl}); err != nil {
		// Only a definite refusal allows deleting our uploads: after an
		// ambiguous failure (a timeout) the swap may have happened, and
		// the vacuum, which deletes only what nothing refers to, decides.
		if errors.Is(err, meta.ErrConflict) {
			cleanup()
		}
		return err
	}
	w.failpoint(FailAfterSwap)
	var bytes int64
	for _, s := range written[:len(written)-1] {
		bytes += s.Bytes()
	}
	w.stats.archives.Add(1)
	if merged {
		w.stats.merges.Add(1)
	}
	w.stats.segments.Add(int64(len(written) - 1))
	w.stats.archivedBytes.Add(bytes)
	w.log.Debug("archived", "topic_id", fmt.Sprintf("%x", tp.Topic), "partition", tp.Partition,
		"from", from, "to", to, "segments", len(written)-1, "bytes", bytes, "catalog", catKey)
	return nil
}

// writeSegments copies the batches holding offsets [from, to] into new
// segment objects of at most SegmentBytes each and returns them in order.
// The Fetcher refuses batches whose stored bytes fail their check
// (fetch.ErrCorrupt); writeSegments checks every batch's CRC once more
// (the Fetcher trusts objects this broker wrote) and that offsets run
// without a gap.
func (w *Worker) writeSegments(ctx context.Context, tp meta.TP, from, to int64) ([]codec.SegmentRef, error) {
	var (
		out     []codec.SegmentRef
		b       = codec.NewIntakeBuilder()
		cur     codec.SegmentRef
		next    = int64(-1) // the offset the next batch must start at
		flushed = func() error {
			if b.Len() == 0 {
				return nil
			}
			in, err := b.Finish()
			if err != nil {
				return err
			}
			cur.Key = newArchiveKey(tp, w.cfg.Now(), "seg")
			cur.Size, cur.IndexPos, cur.IndexLen = int64(len(in.Data)), in.IndexPos, in.IndexLen
			if err := w.cfg.Objects.Put(ctx, cur.Key, in.Data); err != nil {
				return fmt.Errorf("put segment: %w", err)
			}
			out = append(out, cur)
			b.Reset()
			return nil
		}
	)
	off := from
	for off <= to {
		res := w.cfg.Fetcher.Read(fetch.Internal(ctx), fetch.Request{TP: tp, Offset: off, MaxBytes: readChunk}, readChunk, true)
		if res.Err != nil {
			return out, fmt.Errorf("read offset %d: %w", off, res.Err)
		}
		batches, err := codec.SplitBatches(res.Records)
		if err != nil {
			return out, fmt.Errorf("read offset %d: %w", off, err)
		}
		if len(batches) == 0 {
			return out, fmt.Errorf("read offset %d: no batches below the high watermark %d", off, res.State.HighWatermark)
		}
		for _, batch := range batches {
			h, err := codec.ParseBatch(batch)
			if err != nil {
				return out, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
			}
			last := h.BaseOffset + int64(h.LastOffsetDelta)
			if h.BaseOffset > to {
				off = last + 1
				break
			}
			if next >= 0 && h.BaseOffset != next {
				return out, fmt.Errorf("batch at offset %d, want %d", h.BaseOffset, next)
			}
			if b.Len() == 0 {
				cur = codec.SegmentRef{BaseOffset: h.BaseOffset, MaxTimestamp: -1}
			}
			b.Add(tp.Topic, tp.Partition, h, batch)
			cur.LastOffset = last
			cur.MaxTimestamp = max(cur.MaxTimestamp, h.MaxTimestamp)
			next, off = last+1, last+1
			if b.Bytes() >= w.cfg.SegmentBytes {
				if err := flushed(); err != nil {
					return out, err
				}
			}
		}
	}
	if err := flushed(); err != nil {
		return out, err
	}
	if len(out) == 0 {
		return out, fmt.Errorf("no batches in [%d, %d]", from, to)
	}
	if got := out[len(out)-1].LastOffset; got != to {
		return out, fmt.Errorf("segments end at %d, want %d", got, to)
	}
	return out, nil
}
