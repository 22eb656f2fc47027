package produce

import (
	"context"
	"fmt"

	"github.com/sluicedata/sluice/codec"
)

// decode validates a batch; a batch it rejects is completed here and
// dropped. It is the only stage that looks at a batch's records, and only
// when a timestamp check asks for it.
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
	b.AppendTime = -1
	if b.LogAppendTime {
		now := b.Arrived.UnixMilli()
		codec.SetLogAppendTime(b.Data, now)
		h.MaxTimestamp = now
		h.Attributes |= 1 << 3
		b.AppendTime = now
	} else if b.MaxTimestampDiff >= 0 {
		if err := checkTimestamps(b, h); err != nil {
			return err
		}
	}
	b.Header = h
	return nil
}

// checkTimestamps applies message.timestamp.difference.max.ms to every
// record, as Kafka does under CreateTime.
func checkTimestamps(b *Batch, h codec.BatchHeader) error {
	recs, err := codec.DecodeRecords(h, b.Data)
	if err != nil {
		return err
	}
	now := b.Arrived.UnixMilli()
	var bad []RecordError
	for i, r := range recs {
		ts := h.FirstTimestamp + r.TimestampDelta
		d := now - ts
		if d < 0 {
			d = -d
		}
		if d > b.MaxTimestampDiff {
			bad = append(bad, RecordError{Index: int32(i), Message: fmt.Sprintf(
				"timestamp %d of record %d is out of range; the difference to the broker time %d exceeds %d ms", ts, i, now, b.MaxTimestampDiff)})
		}
	}
	if len(bad) > 0 {
		return &InvalidRecordsError{Err: ErrInvalidTimestamp, Records: bad}
	}
	return nil
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
