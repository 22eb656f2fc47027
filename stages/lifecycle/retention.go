package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
)

// unit is what retention deletes whole: an archived segment or an intake
// entry (as Kafka deletes whole log segments).
type unit struct {
	last, maxTS, bytes int64
}

// applyRetention advances tp's log start past the oldest units that are
// older than retention.ms or beyond retention.bytes, then rewrites the
// archive's catalog without the segments that fell below the log start.
func (w *Worker) applyRetention(ctx context.Context, tp meta.TP, retMs, retBytes int64) error {
	st, _, arch, intake, err := w.readPartition(ctx, tp)
	if err != nil {
		return err
	}
	var cat *codec.Catalog
	if arch != nil {
		if cat, err = w.loadCatalog(ctx, arch); err != nil {
			return err
		}
	}
	if retMs >= 0 || retBytes >= 0 {
		var units []unit
		if cat != nil {
			for _, s := range cat.Segments {
				if s.LastOffset >= st.LogStart && s.BaseOffset <= arch.LastOffset {
					units = append(units, unit{s.LastOffset, s.MaxTimestamp, s.Bytes()})
				}
			}
		}
		for _, e := range intake {
			units = append(units, unit{e.LastOffset, e.MaxTimestamp, e.ByteEnd - e.ByteStart})
		}
		var total int64
		for _, u := range units {
			total += u.bytes
		}
		cutoff := w.cfg.Now().UnixMilli() - retMs
		newStart := st.LogStart
		for _, u := range units {
			byTime := retMs >= 0 && u.maxTS < cutoff
			bySize := retBytes >= 0 && total-u.bytes >= retBytes
			if !byTime && !bySize {
				break
			}
			newStart = u.last + 1
			total -= u.bytes
		}
		if newStart > st.LogStart {
			ls, err := w.cfg.Meta.DeleteRecords(ctx, tp, newStart)
			if err != nil {
				return fmt.Errorf("advance log start to %d: %w", newStart, err)
			}
			st.LogStart = ls
			w.stats.retention.Add(1)
			w.log.Debug("retention advanced the log start", "topic_id", fmt.Sprintf("%x", tp.Topic), "partition", tp.Partition, "log_start", ls)
		}
	}
	// DeleteRecords (ours or a client's) may leave the archive's oldest
	// segments below the log start: rewrite the catalog without them so
	// the vacuum deletes them.
	if arch == nil || arch.LastOffset < st.LogStart {
		return nil // none, or deleted whole with the entries below the log start
	}
	drop := 0
	for drop < len(cat.Segments)-1 && cat.Segments[drop].LastOffset < st.LogStart {
		drop++
	}
	if drop == 0 {
		return nil
	}
	return w.pruneCatalog(ctx, tp, arch, cat.Segments[drop:])
}

// pruneCatalog replaces arch by an archive entry over a catalog of keep.
func (w *Worker) pruneCatalog(ctx context.Context, tp meta.TP, arch *meta.IndexEntry, keep []codec.SegmentRef) error {
	data, err := codec.EncodeCatalog(keep)
	if err != nil {
		return err
	}
	key := newArchiveKey(tp, w.cfg.Now(), "cat")
	if err := w.cfg.Objects.Put(ctx, key, data); err != nil {
		return fmt.Errorf("put catalog: %w", err)
	}
	repl := meta.IndexEntry{
		TP: tp, BaseOffset: keep[0].BaseOffset, LastOffset: arch.LastOffset, Kind: meta.EntryArchive,
		ObjectKey: key, ObjectSize: int64(len(data)), IndexLen: int64(len(data)),
	}
	for _, s := range keep {
		repl.MaxTimestamp = max(repl.MaxTimestamp, s.MaxTimestamp)
		repl.ByteEnd += s.Bytes()
	}
	if err := w.cfg.Meta.Lifecycle().ReplaceEntries(ctx, tp, []meta.IndexEntry{*arch}, []meta.IndexEntry{repl}); err != nil {
		if errors.Is(err, meta.ErrConflict) {
			_ = w.cfg.Objects.Delete(context.WithoutCancel(ctx), key)
			w.stats.conflicts.Add(1)
			return nil
		}
		return err
	}
	w.stats.prunes.Add(1)
	return nil
}
