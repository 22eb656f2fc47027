package broker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/stages/broker"
)

// craftBatch is a producer's batch written by hand: a header claiming n
// records, payload (the records section) compressed with c, and a valid
// length and CRC, so that the broker must look inside to refuse it.
func craftBatch(t *testing.T, c codec.Codec, n int32, payload []byte) []byte {
	t.Helper()
	be := binary.BigEndian
	b := be.AppendUint64(nil, 0)          // base offset
	b = be.AppendUint32(b, 0)             // length, below
	b = be.AppendUint32(b, 0)             // partition leader epoch
	b = append(b, 2)                      // magic
	b = be.AppendUint32(b, 0)             // crc, below
	b = be.AppendUint16(b, uint16(c))     // attributes
	b = be.AppendUint32(b, uint32(n-1))   // last offset delta
	now := uint64(time.Now().UnixMilli()) //
	b = be.AppendUint64(b, now)           // first timestamp
	b = be.AppendUint64(b, now)           // max timestamp
	b = be.AppendUint64(b, ^uint64(0))    // producer id -1
	b = be.AppendUint16(b, 0xffff)        // producer epoch -1
	b = be.AppendUint32(b, 0xffffffff)    // base sequence -1
	b = be.AppendUint32(b, uint32(n))     // records
	b, err := codec.Compress(c, b, payload)
	if err != nil {
		t.Fatal(err)
	}
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := codec.ParseBatch(b); err != nil {
		t.Fatalf("crafted batch does not parse: %v", err)
	}
	return b
}

// record encodes one record; offDelta and keyLen can lie.
func record(offDelta, keyLen int64, value string) []byte {
	var body []byte
	body = append(body, 0)                     // attributes
	body = binary.AppendVarint(body, 0)        // timestamp delta
	body = binary.AppendVarint(body, offDelta) // offset delta
	body = binary.AppendVarint(body, keyLen)   // key length
	body = append(body, bytes.Repeat([]byte("k"), int(max(keyLen, 0)))...)
	body = binary.AppendVarint(body, int64(len(value)))
	body = append(body, value...)
	body = binary.AppendVarint(body, 0) // headers
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// gzipBomb is a gzip stream of size zero bytes, written in pieces so the
// test never holds them.
func gzipBomb(t *testing.T, size int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for n := 0; n < size; n += len(zeros) {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestProduceRefusesGarbageRecords sends batches whose CRC and sizes are
// right but whose records are not, over a real socket with raw kmsg:
// each gets the error Kafka gives and takes no offsets.
func TestProduceRefusesGarbageRecords(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.AutoCreateTopics = false })
	ctx := context.Background()
	tp, err := b.Meta().CreateTopic(ctx, "garbage", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr())
	two := append(record(0, 1, "a"), record(1, 1, "b")...)
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x7f}, 40)

	// A bomb: ~300 KiB of gzip that inflates to more than the broker's
	// cap on a decompressed batch (codec.MaxDecompressedBatch).
	bomb := craftBatch(t, codec.CodecNone, 1, nil)
	bomb = bomb[:codec.BatchHeaderSize]
	bomb[22] = byte(codec.CodecGzip)
	bomb = append(bomb, gzipBomb(t, codec.MaxDecompressedBatch+(32<<20))...)
	binary.BigEndian.PutUint32(bomb[8:], uint32(len(bomb)-12))
	binary.BigEndian.PutUint32(bomb[17:], crc32.Checksum(bomb[21:], crc32.MakeTable(crc32.Castagnoli)))

	for _, tc := range []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"records section garbage", craftBatch(t, codec.CodecNone, 3, garbage), kerr.InvalidRecord},
		{"more records claimed than sent", craftBatch(t, codec.CodecNone, 3, two), kerr.InvalidRecord},
		{"fewer records claimed than sent", craftBatch(t, codec.CodecNone, 1, two), kerr.InvalidRecord},
		{"wrong offset delta", craftBatch(t, codec.CodecNone, 2, append(record(0, 1, "a"), record(7, 1, "b")...)), kerr.InvalidRecord},
		{"offset deltas swapped", craftBatch(t, codec.CodecNone, 2, append(record(1, 1, "a"), record(0, 1, "b")...)), kerr.InvalidRecord},
		{"truncated record", craftBatch(t, codec.CodecNone, 2, two[:len(two)-3]), kerr.InvalidRecord},
		{"negative key length", craftBatch(t, codec.CodecNone, 1, record(0, -4, "a")), kerr.InvalidRecord},
		{"negative record length", craftBatch(t, codec.CodecNone, 1, append(binary.AppendVarint(nil, -9), record(0, 1, "a")[1:]...)), kerr.InvalidRecord},
		{"garbage inside valid zstd", craftBatch(t, codec.CodecZstd, 3, garbage), kerr.InvalidRecord},
		{"wrong offset delta inside lz4", craftBatch(t, codec.CodecLZ4, 2, append(record(0, 1, "a"), record(0, 1, "b")...)), kerr.InvalidRecord},
		{"compressed garbage", func() []byte {
			b := craftBatch(t, codec.CodecNone, 3, garbage)
			b[22] = byte(codec.CodecGzip)
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
			return b
		}(), kerr.CorruptMessage},
		{"compression bomb", bomb, kerr.CorruptMessage},
		{"truncated batch header", func() []byte {
			b := craftBatch(t, codec.CodecNone, 1, record(0, 1, "a"))[:40]
			binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
			return b
		}(), kerr.CorruptMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := produceRaw(t, cl, tp.ID, tc.batch)
			if p.ErrorCode != tc.want.Code {
				t.Fatalf("error %v (%v), want %v", kerr.ErrorForCode(p.ErrorCode), p.ErrorMessage, tc.want)
			}
			if p.BaseOffset != -1 {
				t.Fatalf("refused batch got base offset %d", p.BaseOffset)
			}
		})
	}
	// Nothing refused took an offset: the next good batch starts at 0,
	// and one after it at 2.
	for want := int64(0); want <= 2; want += 2 {
		p := produceRaw(t, cl, tp.ID, craftBatch(t, codec.CodecNone, 2, two))
		if p.ErrorCode != 0 || p.BaseOffset != want {
			t.Fatalf("good batch: error %v, base offset %d, want %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, want)
		}
	}
	ps, err := b.Meta().PartitionState(ctx, metaTP(tp.ID, 0))
	if err != nil || ps.HighWatermark != 4 {
		t.Fatalf("high watermark %d (%v), want 4", ps.HighWatermark, err)
	}
	got := consumeAll(t, b.Addr(), "garbage", 4)
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value) != []string{"a", "b"}[i%2] {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}

// TestProduceTimestampLimits: message.timestamp.before.max.ms and
// message.timestamp.after.max.ms (KIP-937), set through CreateTopics and
// IncrementalAlterConfigs, refuse records too far behind or ahead of the
// broker's clock with INVALID_TIMESTAMP and record_errors, as franz-go
// sees them; the deprecated message.timestamp.difference.max.ms stands in
// for a limit left at its default; LogAppendTime topics are not checked.
func TestProduceTimestampLimits(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.AutoCreateTopics = false })
	ctx := context.Background()
	str := kmsg.StringPtr
	createTopic(t, b.Addr(), "window", 1, map[string]*string{
		"message.timestamp.before.max.ms": str("3600000"), // 1 h behind
		"message.timestamp.after.max.ms":  str("60000"),   // 1 min ahead
	})
	createTopic(t, b.Addr(), "legacy", 1, map[string]*string{
		"message.timestamp.difference.max.ms": str("60000"),
		"message.timestamp.before.max.ms":     str("7200000"),
	})
	createTopic(t, b.Addr(), "appendtime", 1, map[string]*string{
		"message.timestamp.type":          str("LogAppendTime"),
		"message.timestamp.before.max.ms": str("1000"),
	})
	cl := newClient(t, b.Addr(), kgo.RecordRetries(1))
	now := time.Now()
	produce := func(topic string, ts time.Time) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v"), Timestamp: ts}).FirstErr()
	}
	for _, tc := range []struct {
		topic string
		ts    time.Time
		want  error
	}{
		{"window", now, nil},
		{"window", now.Add(-30 * time.Minute), nil},
		{"window", now.Add(-2 * time.Hour), kerr.InvalidTimestamp},
		{"window", now.Add(30 * time.Second), nil},
		{"window", now.Add(10 * time.Minute), kerr.InvalidTimestamp},
		{"legacy", now.Add(-90 * time.Minute), nil},                  // before.max.ms wins over the difference
		{"legacy", now.Add(-3 * time.Hour), kerr.InvalidTimestamp},   // beyond before.max.ms
		{"legacy", now.Add(10 * time.Minute), kerr.InvalidTimestamp}, // after falls back to the difference
		{"appendtime", now.Add(-24 * time.Hour), nil},
	} {
		if err := produce(tc.topic, tc.ts); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
			t.Fatalf("%s, timestamp %v from now: %v, want %v", tc.topic, tc.ts.Sub(now).Round(time.Second), err, tc.want)
		}
	}

	// record_errors name exactly the records out of range.
	topic, err := b.Meta().Topic(ctx, "window")
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]codec.Record, 4)
	base := now.UnixMilli()
	for i, d := range []int64{0, -7200_000, 1000, 600_000} {
		recs[i] = codec.Record{OffsetDelta: int32(i), TimestampDelta: d, Value: []byte("x")}
	}
	h := codec.BatchHeader{LastOffsetDelta: 3, FirstTimestamp: base, MaxTimestamp: base + 600_000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	batch, err := codec.AppendBatch(nil, h, recs, codec.CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	p := produceRaw(t, cl, topic.ID, batch)
	if p.ErrorCode != kerr.InvalidTimestamp.Code || len(p.ErrorRecords) != 2 ||
		p.ErrorRecords[0].RelativeOffset != 1 || p.ErrorRecords[1].RelativeOffset != 3 || p.BaseOffset != -1 {
		t.Fatalf("error %v, record errors %+v, base offset %d; want INVALID_TIMESTAMP for records 1 and 3", kerr.ErrorForCode(p.ErrorCode), p.ErrorRecords, p.BaseOffset)
	}

	// Altering the limit changes what is accepted.
	adm := kadm.NewClient(cl)
	r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.timestamp.after.max.ms", Value: str("3600000")}}, "window")
	if err != nil || r[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, r)
	}
	if err := produce("window", now.Add(10*time.Minute)); err != nil {
		t.Fatalf("10 minutes ahead after raising the limit: %v", err)
	}
	// Accepted: now, -30 min, +30 s, then +10 min: 4 records, nothing refused stored.
	ps, err := b.Meta().PartitionState(ctx, metaTP(topic.ID, 0))
	if err != nil || ps.HighWatermark != 4 {
		t.Fatalf("high watermark %d (%v), want 4", ps.HighWatermark, err)
	}
}
