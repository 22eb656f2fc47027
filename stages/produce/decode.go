package produce

import (
	"context"
	"fmt"
	"math"

	"github.com/sluicedata/sluice/codec"
)

// decode validates a batch as Kafka's log validator does; a batch it
// rejects is completed here and dropped, before it can take offsets. It is
// the only stage that looks at every record of a batch: it walks them all
// (decompressing once into a pooled buffer, so the stored bytes stay as
// produced) and applies the topic's timestamp limits on the way.
func decode(_ context.Context, b *Batch) (*Batch, bool) {
	if err := safeDecode(b); err != nil {
		b.fail(err)
		return nil, false
	}
	return b, true
}

func decodeBatch(b *Batch) error {
	if b.MaxMessageBytes > 0 && len(b.Data) > int(b.MaxMessageBytes) {
		return ErrMessageTooLarge
	}
	batches, err := codec.SplitBatches(b.Data)
	if err != nil {
		return err
	}
	if len(batches) != 1 {
		// Kafka allows exactly one batch per partition for magic v2.
		return fmt.Errorf("%w: %d batches for one partition, want 1", codec.ErrInvalidRecord, len(batches))
	}
	h, err := codec.ParseBatch(b.Data)
	if err != nil {
		return err
	}
	if h.NumRecords == 0 || h.NumRecords != h.LastOffsetDelta+1 {
		return fmt.Errorf("%w: %d records, last offset delta %d", codec.ErrInvalidRecord, h.NumRecords, h.LastOffsetDelta)
	}
	if h.Control() {
		return fmt.Errorf("%w: control batch from a client", codec.ErrInvalidRecord)
	}
	if h.Transactional() {
		return ErrTransactional
	}
	maxTS, err := checkRecords(b, h)
	if err != nil {
		return err
	}
	b.AppendTime = -1
	switch {
	case b.LogAppendTime:
		now := b.Arrived.UnixMilli()
		codec.SetLogAppendTime(b.Data, now)
		h.MaxTimestamp = now
		h.Attributes |= 1 << 3
		b.AppendTime = now
	case h.MaxTimestamp != maxTS || h.LogAppendTime():
		// As Kafka under CreateTime: the batch's max timestamp is the
		// records' largest (ListOffsets by time relies on it), not
		// whatever the producer wrote. Clients get it right, so the
		// CRC is recomputed only for the odd batch.
		codec.SetCreateTime(b.Data, maxTS)
		h.MaxTimestamp = maxTS
		h.Attributes &^= 1 << 3
	}
	b.Header = h
	return nil
}

// checkRecords decodes every record of the batch and, under CreateTime,
// applies message.timestamp.before.max.ms and .after.max.ms to each, as
// Kafka does: records without a timestamp (-1) are not checked, and the
// records out of range are named in record_errors.
// It returns the records' largest timestamp.
func checkRecords(b *Batch, h codec.BatchHeader) (int64, error) {
	if b.LogAppendTime || (b.TimestampBeforeMax < 0 && b.TimestampAfterMax < 0) {
		return codec.CheckRecords(h, b.Data, codec.MaxDecompressedBatch, nil)
	}
	now := b.Arrived.UnixMilli()
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if b.TimestampBeforeMax >= 0 && now-b.TimestampBeforeMax <= now {
		lo = now - b.TimestampBeforeMax
	}
	if b.TimestampAfterMax >= 0 && now+b.TimestampAfterMax >= now {
		hi = now + b.TimestampAfterMax
	}
	var bad []RecordError
	omitted := 0
	maxTS, err := codec.CheckRecords(h, b.Data, codec.MaxDecompressedBatch, func(i int32, ts int64) {
		if ts == -1 || (ts >= lo && ts <= hi) {
			return
		}
		if len(bad) == MaxRecordErrors {
			omitted++
			return
		}
		bad = append(bad, RecordError{Index: i, Message: fmt.Sprintf(
			"Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]", ts, i, lo, hi)})
	})
	if err != nil {
		return maxTS, err
	}
	if len(bad) > 0 {
		return maxTS, &InvalidRecordsError{Err: ErrInvalidTimestamp, Records: bad, Omitted: omitted}
	}
	return maxTS, nil
}

// safeDecode turns a panic on hostile bytes (a codec bug) into an invalid
// record error for that batch alone, instead of a crash of the broker.
func safeDecode(b *Batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decoder panic: %v", codec.ErrInvalidRecord, p)
		}
	}()
	return decodeBatch(b)
}
