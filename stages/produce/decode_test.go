package produce

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sluicedata/sluice/codec"
)

// decodeTestBatch is a batch of records with the given timestamp deltas,
// whose header claims maxTS and, with lat, LogAppendTime.
func decodeTestBatch(t *testing.T, deltas []int64, maxTS int64, lat bool) *Batch {
	t.Helper()
	recs := make([]codec.Record, len(deltas))
	for i, d := range deltas {
		recs[i] = codec.Record{OffsetDelta: int32(i), TimestampDelta: d, Value: []byte("v")}
	}
	h := codec.BatchHeader{LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: 1_000_000, MaxTimestamp: maxTS, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if lat {
		h.Attributes = 1 << 3
	}
	data, err := codec.AppendBatch(nil, h, recs, codec.CodecLZ4)
	if err != nil {
		t.Fatal(err)
	}
	return &Batch{Target: Target{Compression: KeepCodec, TimestampBeforeMax: -1, TimestampAfterMax: -1}, Data: data, Arrived: time.Now()}
}

// TestDecodeSetsMaxTimestamp: under CreateTime the stored batch's max
// timestamp is its records' largest, as Kafka's validator writes it,
// whatever the producer claimed; a batch that is right is left as sent.
func TestDecodeSetsMaxTimestamp(t *testing.T) {
	deltas := []int64{5, 40, -3}
	for _, tc := range []struct {
		name  string
		claim int64
		lat   bool
	}{
		{"too high", 9_999_999, false},
		{"too low", 0, false},
		{"log append time bit from the producer", 1_000_040, true},
	} {
		b := decodeTestBatch(t, deltas, tc.claim, tc.lat)
		if err := decodeBatch(b); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		h, err := codec.ParseBatch(b.Data)
		if err != nil {
			t.Fatalf("%s: stored batch does not parse: %v", tc.name, err)
		}
		if h.MaxTimestamp != 1_000_040 || h.LogAppendTime() || b.Header.MaxTimestamp != 1_000_040 || b.Header.LogAppendTime() {
			t.Fatalf("%s: stored max timestamp %d (append time %v), header %d", tc.name, h.MaxTimestamp, h.LogAppendTime(), b.Header.MaxTimestamp)
		}
	}
	b := decodeTestBatch(t, deltas, 1_000_040, false)
	sent := bytes.Clone(b.Data)
	if err := decodeBatch(b); err != nil || !bytes.Equal(b.Data, sent) {
		t.Fatalf("a correct batch was changed (%v)", err)
	}
}

// TestDecodeChecksEveryRecord: with no timestamp limit configured (the
// default), a batch whose records do not decode is still refused.
func TestDecodeChecksEveryRecord(t *testing.T) {
	b := decodeTestBatch(t, []int64{0, 1}, 1_000_001, false)
	recs := []codec.Record{{OffsetDelta: 0}, {OffsetDelta: 0}}
	h := codec.BatchHeader{LastOffsetDelta: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	var err error
	if b.Data, err = codec.AppendBatch(nil, h, recs, codec.CodecZstd); err != nil {
		t.Fatal(err)
	}
	if err := decodeBatch(b); !errors.Is(err, codec.ErrInvalidRecord) {
		t.Fatalf("repeated offset delta: %v", err)
	}
}

// TestDecodeBoundsRecordErrors: a batch of many records all out of range
// lists MaxRecordErrors of them and counts the rest.
func TestDecodeBoundsRecordErrors(t *testing.T) {
	const n = MaxRecordErrors + 500
	b := decodeTestBatch(t, make([]int64, n), 1_000_000, false)
	b.TimestampBeforeMax = 1000 // the records are from 1970
	var ire *InvalidRecordsError
	if err := decodeBatch(b); !errors.As(err, &ire) || !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("decode: %v", err)
	}
	if len(ire.Records) != MaxRecordErrors || ire.Omitted != 500 || ire.Records[MaxRecordErrors-1].Index != MaxRecordErrors-1 {
		t.Fatalf("%d record errors listed, %d omitted", len(ire.Records), ire.Omitted)
	}
}
