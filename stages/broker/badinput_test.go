package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/broker"
)

// rawConn sends raw bytes to the broker and reports whether it closed the
// connection (rather than answering or hanging).
func expectClosed(t *testing.T, addr string, frame []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	n, err := c.Read(buf)
	if err == nil {
		t.Fatalf("broker answered %d bytes instead of closing", n)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("broker neither answered nor closed the connection")
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		t.Logf("read: %v", err)
	}
}

func frameOf(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

func requestFrame(key, version int16, corr int32, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	return frameOf(append(b, body...))
}

func TestBadFramesCloseTheConnection(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.MaxRequestBytes = 1 << 20 })
	t.Run("oversized", func(t *testing.T) {
		expectClosed(t, b.Addr(), binary.BigEndian.AppendUint32(nil, 200<<20))
	})
	t.Run("negative size", func(t *testing.T) {
		expectClosed(t, b.Addr(), binary.BigEndian.AppendUint32(nil, 0xfffffff0))
	})
	t.Run("truncated header", func(t *testing.T) {
		expectClosed(t, b.Addr(), frameOf([]byte{0, 3}))
	})
	t.Run("unknown api key", func(t *testing.T) {
		expectClosed(t, b.Addr(), requestFrame(999, 0, 1, nil))
	})
	t.Run("unsupported produce version", func(t *testing.T) {
		expectClosed(t, b.Addr(), requestFrame(0, 1, 1, nil))
	})
	t.Run("garbage body", func(t *testing.T) {
		// Metadata v1 announcing 5 topics and ending there.
		expectClosed(t, b.Addr(), requestFrame(3, 1, 1, []byte{0, 0, 0, 5}))
	})
	// The broker still serves.
	cl := newClient(t, b.Addr())
	if err := cl.Ping(context.Background()); err != nil {
		t.Fatalf("broker stopped serving: %v", err)
	}
}

func TestApiVersionsUnknownVersion(t *testing.T) {
	b := startBroker(t, nil)
	c, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A client that speaks a newer ApiVersions sends a flexible header (an
	// empty tagged-field section after the client id).
	if _, err := c.Write(requestFrame(18, 99, 7, []byte{0})); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	frame, err := codec.ReadFrame(c, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if corr := int32(binary.BigEndian.Uint32(frame)); corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(frame[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d with %d keys, want UNSUPPORTED_VERSION and the list", resp.ErrorCode, len(resp.ApiKeys))
	}
}

// rawBatch encodes one batch of n small records with codec.AppendBatch.
func rawBatch(t *testing.T, n int, ts int64) []byte {
	t.Helper()
	recs := make([]codec.Record, n)
	for i := range recs {
		recs[i] = codec.Record{OffsetDelta: int32(i), Value: []byte("hello")}
	}
	h := codec.BatchHeader{Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	out, err := codec.AppendBatch(nil, h, recs, codec.CodecNone)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// produceRaw sends one partition's records; kgo speaks Produce v13, which
// names topics by id.
func produceRaw(t *testing.T, cl *kgo.Client, topic meta.TopicID, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return produceRawTimeout(t, cl, topic, records, 10000)
}

// produceRawTimeout is produceRaw with the request's timeout_ms.
func produceRawTimeout(t *testing.T, cl *kgo.Client, topic meta.TopicID, records []byte, timeoutMs int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = timeoutMs
	rt := kmsg.NewProduceRequestTopic()
	rt.TopicID = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestProduceErrors(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.AutoCreateTopics = false })
	ctx := context.Background()
	ids := map[string]meta.TopicID{}
	for name, cfg := range map[string]map[string]string{
		"plain":  nil,
		"small":  {"max.message.bytes": "200"},
		"strict": {"message.timestamp.difference.max.ms": "60000"},
	} {
		tp, err := b.Meta().CreateTopic(ctx, name, 1, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = tp.ID
	}
	cl := newClient(t, b.Addr())
	now := time.Now().UnixMilli()

	t.Run("bad crc", func(t *testing.T) {
		batch := rawBatch(t, 3, now)
		batch[20] ^= 0xff // inside the CRC field
		if p := produceRaw(t, cl, ids["plain"], batch); p.ErrorCode != kerr.CorruptMessage.Code {
			t.Fatalf("error %d, want CORRUPT_MESSAGE", p.ErrorCode)
		}
	})
	t.Run("truncated batch", func(t *testing.T) {
		batch := rawBatch(t, 3, now)
		if p := produceRaw(t, cl, ids["plain"], batch[:len(batch)-5]); p.ErrorCode != kerr.CorruptMessage.Code && p.ErrorCode != kerr.InvalidRecord.Code {
			t.Fatalf("error %d, want CORRUPT_MESSAGE or INVALID_RECORD", p.ErrorCode)
		}
	})
	t.Run("two batches", func(t *testing.T) {
		batch := append(rawBatch(t, 1, now), rawBatch(t, 1, now)...)
		if p := produceRaw(t, cl, ids["plain"], batch); p.ErrorCode != kerr.InvalidRecord.Code {
			t.Fatalf("error %d, want INVALID_RECORD", p.ErrorCode)
		}
	})
	t.Run("too large", func(t *testing.T) {
		if p := produceRaw(t, cl, ids["small"], rawBatch(t, 20, now)); p.ErrorCode != kerr.MessageTooLarge.Code {
			t.Fatalf("error %d, want MESSAGE_TOO_LARGE", p.ErrorCode)
		}
	})
	t.Run("bad timestamp", func(t *testing.T) {
		p := produceRaw(t, cl, ids["strict"], rawBatch(t, 2, now-3600_000))
		if p.ErrorCode != kerr.InvalidTimestamp.Code || len(p.ErrorRecords) != 2 {
			t.Fatalf("error %d with %d record errors, want INVALID_TIMESTAMP for 2 records", p.ErrorCode, len(p.ErrorRecords))
		}
	})
	t.Run("unknown topic", func(t *testing.T) {
		if p := produceRaw(t, cl, meta.TopicID{1, 2, 3}, rawBatch(t, 1, now)); p.ErrorCode != kerr.UnknownTopicID.Code {
			t.Fatalf("error %d, want UNKNOWN_TOPIC_ID", p.ErrorCode)
		}
	})
	t.Run("good batch still works", func(t *testing.T) {
		if p := produceRaw(t, cl, ids["plain"], rawBatch(t, 3, now)); p.ErrorCode != 0 || p.BaseOffset != 0 {
			t.Fatalf("error %d base offset %d, want 0/0 (no rejected batch took offsets)", p.ErrorCode, p.BaseOffset)
		}
	})
	// Nothing rejected was stored.
	st, err := b.Meta().Topic(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := b.Meta().PartitionState(ctx, metaTP(st.ID, 0))
	if err != nil || ps.HighWatermark != 3 {
		t.Fatalf("high watermark %d (%v), want 3", ps.HighWatermark, err)
	}
}

func TestMetadataErrors(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.AutoCreateTopics = false })
	cl := newClient(t, b.Addr())
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{"missing", "bad/name"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code || resp.Topics[1].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("topics %+v", resp.Topics)
	}
}

func TestFetchOffsetOutOfRange(t *testing.T) {
	b := startBroker(t, nil)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("oor"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 10
	topic, err := b.Meta().Topic(context.Background(), "oor")
	if err != nil {
		t.Fatal(err)
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "oor", topic.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset = 5
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 1 {
		t.Fatalf("error %d hwm %d, want OFFSET_OUT_OF_RANGE and 1", p.ErrorCode, p.HighWatermark)
	}
}
