package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/stages/broker"
)

// testRecord builds record i deterministically so that a consumer can check
// every field it gets back.
func testRecord(topic string, i int) *kgo.Record {
	return &kgo.Record{
		Topic:     topic,
		Key:       []byte("key-" + strconv.Itoa(i)),
		Value:     bytes.Repeat([]byte(fmt.Sprintf("value %d ", i)), 1+i%7),
		Headers:   []kgo.RecordHeader{{Key: "n", Value: []byte(strconv.Itoa(i))}, {Key: "empty", Value: nil}},
		Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i)),
	}
}

func checkRecord(t testing.TB, r *kgo.Record) int {
	t.Helper()
	if len(r.Headers) != 2 || r.Headers[0].Key != "n" {
		t.Fatalf("record at %d/%d: headers %v", r.Partition, r.Offset, r.Headers)
	}
	i, err := strconv.Atoi(string(r.Headers[0].Value))
	if err != nil {
		t.Fatalf("record at %d/%d: bad header %q", r.Partition, r.Offset, r.Headers[0].Value)
	}
	want := testRecord(r.Topic, i)
	if !bytes.Equal(r.Key, want.Key) || !bytes.Equal(r.Value, want.Value) || !r.Timestamp.Equal(want.Timestamp) ||
		r.Headers[1].Key != "empty" || len(r.Headers[1].Value) != 0 {
		t.Fatalf("record %d at %d/%d differs: key %q ts %v", i, r.Partition, r.Offset, r.Key, r.Timestamp)
	}
	return i
}

// produceAll produces n records with an idempotent producer (kgo's
// default) and returns, per partition, the record numbers in offset order.
func produceAll(t testing.TB, cl *kgo.Client, topic string, n int) map[int32][]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	byPart := map[int32]map[int64]int{}
	results := make(chan *kgo.Record, n)
	for i := 0; i < n; i++ {
		cl.Produce(ctx, testRecord(topic, i), func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
			results <- r
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	close(results)
	for r := range results {
		if byPart[r.Partition] == nil {
			byPart[r.Partition] = map[int64]int{}
		}
		i, _ := strconv.Atoi(string(r.Headers[0].Value))
		if prev, dup := byPart[r.Partition][r.Offset]; dup {
			t.Fatalf("offset %d/%d given to records %d and %d", r.Partition, r.Offset, prev, i)
		}
		byPart[r.Partition][r.Offset] = i
	}
	out := map[int32][]int{}
	for p, m := range byPart {
		for off := int64(0); off < int64(len(m)); off++ {
			i, ok := m[off]
			if !ok {
				t.Fatalf("partition %d: offsets not contiguous, %d missing", p, off)
			}
			out[p] = append(out[p], i)
		}
	}
	return out
}

// checkConsumed consumes everything and compares with what was produced.
func checkConsumed(t testing.TB, addr, topic string, produced map[int32][]int, n int) {
	t.Helper()
	recs := consumeAll(t, addr, topic, n)
	if len(recs) != n {
		t.Fatalf("consumed %d records, want %d", len(recs), n)
	}
	next := map[int32]int64{}
	for _, r := range recs {
		i := checkRecord(t, r)
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: got offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		if want := produced[r.Partition][r.Offset]; want != i {
			t.Fatalf("partition %d offset %d: record %d, produced %d", r.Partition, r.Offset, i, want)
		}
		next[r.Partition]++
	}
}

func TestProduceConsumeEveryCodec(t *testing.T) {
	const n = 100_000
	b := startBroker(t, nil)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "codec-" + c.name
			createTopic(t, b.Addr(), topic, 8, nil)
			cl := newClient(t, b.Addr(), kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(5*time.Millisecond),
				kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
			produced := produceAll(t, cl, topic, n)
			if len(produced) != 8 {
				t.Fatalf("records went to %d partitions, want 8", len(produced))
			}
			checkConsumed(t, b.Addr(), topic, produced, n)
		})
	}
}

func TestTopicCompressionRecompresses(t *testing.T) {
	const n = 5000
	b := startBroker(t, nil)
	zstd := "zstd"
	createTopic(t, b.Addr(), "recompress", 2, map[string]*string{"compression.type": &zstd})
	cl := newClient(t, b.Addr(), kgo.ProducerBatchCompression(kgo.GzipCompression()))
	produced := produceAll(t, cl, "recompress", n)
	checkConsumed(t, b.Addr(), "recompress", produced, n)
}

func TestRestartKeepsEverything(t *testing.T) {
	const n = 20_000
	dir := t.TempDir()
	b := startBroker(t, func(c *broker.Config) { c.DataDir = dir })
	createTopic(t, b.Addr(), "durable", 4, nil)
	produced := produceAll(t, newClient(t, b.Addr()), "durable", n)
	checkConsumed(t, b.Addr(), "durable", produced, n)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close() // idempotent

	b2 := startBroker(t, func(c *broker.Config) { c.DataDir = dir })
	checkConsumed(t, b2.Addr(), "durable", produced, n)
	// New offsets continue after the old ones, never reusing one.
	cl := newClient(t, b2.Addr())
	r := testRecord("durable", n)
	r.Partition = 0
	res := cl.ProduceSync(context.Background(), r)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	got, _ := res.First()
	if want := int64(len(produced[got.Partition])); got.Offset != want {
		t.Fatalf("offset after restart %d, want %d", got.Offset, want)
	}
}

func TestListOffsets(t *testing.T) {
	b := startBroker(t, nil)
	createTopic(t, b.Addr(), "offsets", 1, nil)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("offsets"))
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 50; i++ {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	start, err := adm.ListStartOffsets(ctx, "offsets")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "offsets")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup("offsets", 0); o.Offset != 0 {
		t.Fatalf("earliest %d, want 0", o.Offset)
	}
	if o, _ := end.Lookup("offsets", 0); o.Offset != 50 {
		t.Fatalf("latest %d, want 50", o.Offset)
	}
	for _, c := range []struct {
		ts   time.Time
		want int64
	}{{base.Add(-time.Hour), 0}, {base, 0}, {base.Add(17 * time.Second), 17}, {base.Add(17*time.Second + time.Millisecond), 18}, {base.Add(49 * time.Second), 49}, {base.Add(time.Hour), -1}} {
		got, err := adm.ListOffsetsAfterMilli(ctx, c.ts.UnixMilli(), "offsets")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := got.Lookup("offsets", 0)
		if o.Err != nil || o.Offset != c.want {
			// Kafka answers "no such offset" with -1; kadm may map it to the end offset.
			if !(c.want == -1 && o.Offset == 50) {
				t.Fatalf("offset for time %v: %d (%v), want %d", c.ts, o.Offset, o.Err, c.want)
			}
		}
	}
}
