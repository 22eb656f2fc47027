package fetch

// Checked reads.
//
// Every batch read from an object store is verified before it is served
// or copied: its length, magic and CRC-32C (codec.ParseBatch), and its
// last offset delta against the index row that locates it. The check
// costs one CRC pass over the bytes, so it is done once per range the
// data cache holds, when the range arrives from the store:
//
//   - an intake run (one partition's batches in one object) is checked
//     whole when it is read, and cached only if every batch passed;
//   - an archive chunk is checked when it is read for the batches lying
//     wholly inside it, and cached only if they all passed; a batch
//     straddling two chunks is checked each time it is served;
//   - objects this broker wrote (Written) are trusted: their batches were
//     checked when they were produced and never left memory since.
//
// Bytes that failed, or were read while a check failed, are never cached,
// and every batch of them is checked again as it is served: the corrupt
// one is refused (ErrCorrupt, a retriable storage error for the client),
// the batches before it still go out. A refusal is counted
// (CorruptBatches) each time; it is logged once per object range, so that
// a consumer retrying a corrupt batch does not flood the log.

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
)

// ErrCorrupt reports a batch whose bytes in object storage fail their
// check. It is an ErrStorage, so the client gets a retriable storage error.
var ErrCorrupt = fmt.Errorf("%w: corrupt batch", ErrStorage)

// maxCorruptLogged bounds the object ranges remembered as logged.
const maxCorruptLogged = 4096

// checkBatch verifies batch b, located by index row r.
func checkBatch(r *codec.IndexRow, b []byte) error {
	h, err := codec.ParseBatch(b)
	if err != nil {
		return err
	}
	if h.LastOffsetDelta != r.LastOffsetDelta {
		return fmt.Errorf("%w: last offset delta %d, the index gives %d", codec.ErrCorrupt, h.LastOffsetDelta, r.LastOffsetDelta)
	}
	return nil
}

// checkRange verifies the batches of rows (one partition's rows of an
// object, in object order) lying wholly inside object bytes [lo, hi),
// held by data, which starts at object position at. It reports whether
// all passed. With SkipBatchChecks it checks nothing and reports true.
func (f *Fetcher) checkRange(rows []codec.IndexRow, data []byte, at, lo, hi int64) bool {
	if f.cfg.SkipBatchChecks {
		return true
	}
	var n int64
	for i := sort.Search(len(rows), func(i int) bool { return rows[i].Pos >= lo }); i < len(rows) && rows[i].Pos < hi; i++ {
		r := &rows[i]
		end := r.Pos + int64(r.Len)
		if end > hi {
			continue // straddles hi: checked when served
		}
		if r.Pos < at || end > at+int64(len(data)) || checkBatch(r, data[r.Pos-at:end-at]) != nil {
			f.checked.Add(n)
			return false
		}
		n += int64(r.Len)
	}
	f.checked.Add(n)
	return true
}

// mustCheck reports whether the batch of row r of entry e must be checked
// as it is served: always when the bytes were not trusted (not all
// checked when read), and for an archive batch straddling two chunks.
func (f *Fetcher) mustCheck(e *meta.IndexEntry, r *codec.IndexRow, trusted bool) bool {
	if f.cfg.SkipBatchChecks {
		return false
	}
	if !trusted {
		return true
	}
	c := f.cfg.ReadAheadBytes
	return e.Kind == meta.EntryArchive && r.Pos/c != (r.Pos+int64(r.Len)-1)/c
}

// checkServed checks batch b of row r of entry e as it is served. A
// failure is counted, logged once per object range and returned as
// ErrCorrupt.
func (f *Fetcher) checkServed(e *meta.IndexEntry, r *codec.IndexRow, b []byte) error {
	err := checkBatch(r, b)
	f.checked.Add(int64(len(b)))
	if err == nil {
		return nil
	}
	f.corrupt[kindSource(e.Kind)].Add(1)
	key := e.ObjectKey + "@" + strconv.FormatInt(r.Pos, 10) + "+" + strconv.FormatInt(int64(r.Len), 10)
	if !f.corruptLogged.Contains(key) {
		f.corruptLogged.Put(key, struct{}{}, 1)
		f.cfg.Logger.Error("fetch: corrupt batch in object storage, not served", "object", e.ObjectKey,
			"kind", e.Kind, "pos", r.Pos, "len", r.Len, "partition", e.TP.Partition,
			"offset", e.BaseOffset+(r.RelOffset-e.RelBase), "err", err)
	}
	return fmt.Errorf("%w: %s bytes [%d, %d): %v", ErrCorrupt, e.ObjectKey, r.Pos, r.Pos+int64(r.Len), err)
}

// isCorrupt reports a read error already logged by checkServed.
func isCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }

// CorruptBatches reports how many times a batch was refused because its
// bytes in an intake object or an archive segment failed their check
// (each refusal counts, including retries of the same batch and the
// broker's own reads).
func (f *Fetcher) CorruptBatches() (intake, archive int64) {
	return f.corrupt[srcIntake].Load(), f.corrupt[srcArchive].Load()
}

// CheckedBytes reports the batch bytes verified so far: about the bytes
// read from object storage, not the bytes served, since cached ranges are
// checked once.
func (f *Fetcher) CheckedBytes() int64 { return f.checked.Load() }
