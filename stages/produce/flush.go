package produce

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
)

// Flush is one cashier flush: the batches of many requests and partitions
// that become one intake object and one metadata commit.
type Flush struct {
	Seq     uint64
	Key     string
	Batches []*Batch
	Intake  codec.Intake
	// Err, once set, fails every batch of the flush (upload or commit).
	Err error
	// Results, one per batch (aligned with Batches), set by commit.
	results []meta.BatchResult
	// Committed lists the partitions that got new offsets.
	Committed []meta.TP

	queued   time.Time   // when the flush entered its current stage's queue
	trace    *flushTrace // nil unless the flush is traced
	deadline time.Time   // commit deadline (zero: none)
}

// QueuedAt implements pipeline.Stamped.
func (f *Flush) QueuedAt() time.Time { return f.queued }

// SetQueuedAt implements pipeline.Stamped.
func (f *Flush) SetQueuedAt(t time.Time) { f.queued = t }

// Fail implements pipeline.Failer: it fails the flush's batches not yet
// completed (a stage panicked on the flush, or was cancelled).
func (f *Flush) Fail(err error) {
	for _, b := range f.Batches {
		b.Fail(err)
	}
}

// Bytes is the flush's batch bytes.
func (f *Flush) Bytes() int64 {
	var n int64
	for _, b := range f.Batches {
		n += int64(len(b.Data))
	}
	return n
}

// newObjectKey names an intake object: time-ordered (so listing finds the
// oldest first, for vacuum) and random (so brokers never collide).
func newObjectKey(now time.Time) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("intake/%s/%016x-%s", now.UTC().Format("2006-01-02"), now.UnixNano(), hex.EncodeToString(r[:]))
}

// compress re-encodes the batches whose topic asks for another codec than
// the producer used, then lays the flush out as an intake object.
func compress(_ context.Context, f *Flush) (*Flush, bool) {
	builder := codec.NewIntakeBuilder()
	kept := f.Batches[:0]
	for _, b := range f.Batches {
		if b.Compression != KeepCodec && b.Compression != b.Header.Codec() {
			data, err := safeRecompress(b.Data, b.Compression)
			if err == nil {
				var h codec.BatchHeader
				h, err = codec.ParseBatch(data)
				if err == nil {
					b.Data, b.Header = data, h
				}
			}
			if err != nil {
				b.fail(err)
				continue
			}
		}
		b.addID = builder.Add(b.Topic.ID, b.Partition, b.Header, b.Data)
		kept = append(kept, b)
	}
	f.Batches = kept
	if len(kept) == 0 {
		return nil, false
	}
	in, err := builder.Finish()
	if err != nil {
		for _, b := range kept {
			b.fail(err)
		}
		return nil, false
	}
	f.Intake = in
	return f, true
}

// objectCommit describes the flush's object to the metadata store.
func (f *Flush) objectCommit() meta.ObjectCommit {
	oc := meta.ObjectCommit{
		Key:      f.Key,
		Size:     int64(len(f.Intake.Data)),
		IndexPos: f.Intake.IndexPos,
		IndexLen: f.Intake.IndexLen,
		Batches:  make([]meta.BatchCommit, len(f.Batches)),
		Deadline: f.deadline,
	}
	for i, b := range f.Batches {
		row := f.Intake.Rows[f.Intake.RowOf[b.addID]]
		seq := b.Header.BaseSequence
		if b.Header.ProducerID < 0 {
			seq = meta.NoSequence
		}
		oc.Batches[i] = meta.BatchCommit{
			TP:            b.TP(),
			Records:       b.Header.LastOffsetDelta + 1,
			MaxTimestamp:  b.Header.MaxTimestamp,
			ProducerID:    b.Header.ProducerID,
			ProducerEpoch: b.Header.ProducerEpoch,
			BaseSequence:  seq,
			RelOffset:     row.RelOffset,
			Pos:           row.Pos,
			Len:           int64(row.Len),
		}
	}
	// The store wants a partition's batches in offset order, which is
	// object order; the flush holds them in arrival order, the same order
	// within a partition, so only the interleaving differs.
	sort.Slice(oc.Batches, func(i, j int) bool { return oc.Batches[i].Pos < oc.Batches[j].Pos })
	return oc
}

// safeRecompress is Recompress with a panic (a codec bug on hostile bytes)
// turned into an error for that batch alone.
func safeRecompress(data []byte, to codec.Codec) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: recompress panic: %v", codec.ErrInvalidRecord, p)
		}
	}()
	return codec.Recompress(data, to)
}
