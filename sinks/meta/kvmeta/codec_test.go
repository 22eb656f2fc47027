package kvmeta

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, ps := range []meta.PartitionState{
		{MaxTimestamp: -1, MaxTimestampOffset: -1},
		{LogStart: 5, HighWatermark: math.MaxInt64, MaxTimestamp: math.MinInt64, MaxTimestampOffset: 1 << 40},
	} {
		got, err := decodePartition(encodePartition(ps))
		if err != nil || got != ps {
			t.Fatalf("partition %+v -> %+v, %v", ps, got, err)
		}
	}

	tp := meta.TP{Topic: meta.TopicID{1, 2, 3, 255}, Partition: math.MaxInt32}
	e := meta.IndexEntry{TP: tp, BaseOffset: 1 << 50, LastOffset: 1<<50 + 9, MaxTimestamp: -1, ObjectKey: "a/b/c.obj",
		ObjectSize: 1 << 30, IndexPos: 12345, IndexLen: 77, RelBase: 3, ByteStart: 10, ByteEnd: 1 << 29}
	got, err := decodeIndex(keyIndex(tp, e.LastOffset), encodeIndex(&e))
	if err != nil || got != e {
		t.Fatalf("index %+v -> %+v, %v", e, got, err)
	}

	for _, st := range []meta.ProducerState{
		{Epoch: 3},
		{Epoch: math.MaxInt16, Recent: []meta.ProducerBatch{{FirstSeq: math.MaxInt32 - 1, LastSeq: 3, BaseOffset: 99}, {FirstSeq: 4, LastSeq: 4, BaseOffset: 1 << 40}}},
		{Epoch: 1, Recent: []meta.ProducerBatch{{FirstSeq: 0, LastSeq: 0, BaseOffset: 7}}, LastWrite: time.UnixMilli(1_790_000_000_123).UTC()},
		{LastWrite: time.UnixMilli(0).UTC()},
	} {
		got, err := decodeProducer(encodeProducer(&st))
		if err != nil || !reflect.DeepEqual(got, st) {
			t.Fatalf("producer %+v -> %+v, %v", st, got, err)
		}
	}
	// The last write is kept to the millisecond, Kafka's resolution.
	lw := time.Date(2026, 5, 1, 12, 0, 0, 123_456_789, time.Local)
	if got, err := decodeProducer(encodeProducer(&meta.ProducerState{LastWrite: lw})); err != nil || !got.LastWrite.Equal(lw.Truncate(time.Millisecond)) {
		t.Fatalf("LastWrite %v -> %v, %v", lw, got.LastWrite, err)
	}
}

// TestCodecProducerWithoutLastWrite: a producer state in the encoding
// before LastWrite (version byte, epoch, count, triples) decodes with a
// zero LastWrite.
func TestCodecProducerWithoutLastWrite(t *testing.T) {
	old := []byte{codecVersion}
	old = binary.AppendVarint(old, 3) // epoch
	old = binary.AppendVarint(old, 1) // one batch
	for _, v := range []int64{0, 4, 100} {
		old = binary.AppendVarint(old, v)
	}
	got, err := decodeProducer(old)
	want := meta.ProducerState{Epoch: 3, Recent: []meta.ProducerBatch{{FirstSeq: 0, LastSeq: 4, BaseOffset: 100}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("old producer state -> %+v, %v; want %+v", got, err, want)
	}
	if enc := encodeProducer(&want); !bytes.Equal(enc, old) {
		t.Fatalf("a zero LastWrite encodes as %v, not the old %v", enc, old)
	}
}

func TestCodecRejectsCorrupt(t *testing.T) {
	good := encodePartition(meta.PartitionState{HighWatermark: 300})
	for _, b := range [][]byte{nil, {}, {9}, good[:len(good)-1], append(good, 0)} {
		if _, err := decodePartition(b); err == nil {
			t.Errorf("decodePartition(%v) succeeded", b)
		}
	}
	st := encodeProducer(&meta.ProducerState{Recent: []meta.ProducerBatch{{FirstSeq: 1, LastSeq: 2, BaseOffset: 3}}})
	if _, err := decodeProducer(st[:len(st)-1]); err == nil {
		t.Error("truncated producer state decoded")
	}
	if _, err := decodeIndex([]byte("short"), nil); err == nil {
		t.Error("short index key decoded")
	}
}

// TestIndexKeyOrder: big-endian offsets sort numerically, so one seek finds
// the first entry with LastOffset >= from.
func TestIndexKeyOrder(t *testing.T) {
	tp := meta.TP{Partition: 1}
	offs := []int64{0, 1, 255, 256, 1 << 32, math.MaxInt64}
	for i := 1; i < len(offs); i++ {
		a, b := keyIndex(tp, offs[i-1]), keyIndex(tp, offs[i])
		if string(a) >= string(b) {
			t.Fatalf("key(%d) >= key(%d)", offs[i-1], offs[i])
		}
	}
	// Partition 1's keys all sort before partition 2's.
	if string(keyIndex(tp, math.MaxInt64)) >= string(keyIndex(meta.TP{Partition: 2}, 0)) {
		t.Fatal("partitions interleave")
	}
}

// FuzzDecodeTxn: a stored transactional id record, however damaged,
// decodes or fails with an error, never a panic; what decodes encodes
// to a value that decodes and encodes to the same bytes again.
func FuzzDecodeTxn(f *testing.F) {
	good, err := json.Marshal(&meta.Txn{TransactionalID: "t", ProducerID: 3, ProducerEpoch: 2, State: meta.TxnOngoing,
		Partitions: []meta.TxnPartition{{Topic: "a", TP: meta.TP{Partition: 1}}}, Groups: []string{"g"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("{"))
	f.Add([]byte(`{"state":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := decodeTxn("t", b)
		if err != nil {
			return
		}
		again, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", x, err)
		}
		y, err := decodeTxn("t", again)
		if err != nil {
			t.Fatalf("decode own encoding %q: %v", again, err)
		}
		if third, err := json.Marshal(y); err != nil || !bytes.Equal(third, again) {
			t.Fatalf("round trip of %q: %q then %q (%v)", b, again, third, err)
		}
	})
}
