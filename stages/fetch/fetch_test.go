package fetch

import (
	"context"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
)

// fixture commits objects of batches to real in-memory stores the way the
// produce pipeline does, so that the fetch path can be tested alone.
type fixture struct {
	meta  meta.Store
	objs  objstore.Store
	topic meta.Topic
	n     int
}

func newFixture(t testing.TB) *fixture {
	store := memmeta.New()
	topic, err := store.CreateTopic(context.Background(), "t", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{meta: store, objs: blobstore.New(memblob.OpenBucket(nil)), topic: topic}
}

// commit writes one object holding, for partition p, batches of the given
// record counts with valueBytes-sized values.
func (f *fixture) commit(t testing.TB, p int32, counts []int, valueBytes int) {
	t.Helper()
	b := codec.NewIntakeBuilder()
	for _, n := range counts {
		recs := make([]codec.Record, n)
		for i := range recs {
			recs[i] = codec.Record{OffsetDelta: int32(i), Value: make([]byte, valueBytes)}
		}
		data, err := codec.AppendBatch(nil, codec.BatchHeader{LastOffsetDelta: int32(n - 1), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: 5, MaxTimestamp: 5}, recs, codec.CodecNone)
		if err != nil {
			t.Fatal(err)
		}
		h, err := codec.ParseBatch(data)
		if err != nil {
			t.Fatal(err)
		}
		b.Add(f.topic.ID, p, h, data)
	}
	in, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	f.n++
	key := "obj-" + string(rune('a'+f.n))
	if err := f.objs.Put(context.Background(), key, in.Data); err != nil {
		t.Fatal(err)
	}
	oc := meta.ObjectCommit{Key: key, Size: int64(len(in.Data)), IndexPos: in.IndexPos, IndexLen: in.IndexLen}
	for _, r := range in.Rows {
		oc.Batches = append(oc.Batches, meta.BatchCommit{TP: meta.TP{Topic: f.topic.ID, Partition: r.Partition}, Records: r.LastOffsetDelta + 1,
			MaxTimestamp: r.MaxTimestamp, ProducerID: -1, BaseSequence: meta.NoSequence, RelOffset: r.RelOffset, Pos: r.Pos, Len: int64(r.Len)})
	}
	if _, err := f.meta.Commit(context.Background(), []meta.ObjectCommit{oc}); err != nil {
		t.Fatal(err)
	}
}

// batches splits records into batches and returns their base offsets and
// record counts.
func batches(t testing.TB, records []byte) (bases []int64, counts []int32) {
	t.Helper()
	bs, err := codec.SplitBatches(records)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		h, err := codec.ParseBatch(b)
		if err != nil {
			t.Fatalf("fetched batch: %v", err)
		}
		bases = append(bases, h.BaseOffset)
		counts = append(counts, h.NumRecords)
	}
	return bases, counts
}

func TestReadAssignsOffsetsAcrossObjects(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 0, []int{3, 2}, 10)
	f.commit(t, 1, []int{7}, 10)
	f.commit(t, 0, []int{4}, 10)
	fe := New(Config{Meta: f.meta, Objects: f.objs})
	tp := meta.TP{Topic: f.topic.ID, Partition: 0}

	res := fe.Read(context.Background(), Request{TP: tp, Offset: 0, MaxBytes: 1 << 20}, 1<<20, true)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	bases, counts := batches(t, res.Records)
	if len(bases) != 3 || bases[0] != 0 || bases[1] != 3 || bases[2] != 5 || counts[2] != 4 {
		t.Fatalf("bases %v counts %v, want [0 3 5] with 4 records last", bases, counts)
	}
	if res.State.HighWatermark != 9 {
		t.Fatalf("hwm %d", res.State.HighWatermark)
	}
	// From inside a batch: the batch holding the offset comes first.
	res = fe.Read(context.Background(), Request{TP: tp, Offset: 4, MaxBytes: 1 << 20}, 1<<20, true)
	if bases, _ := batches(t, res.Records); len(bases) != 2 || bases[0] != 3 {
		t.Fatalf("from 4: bases %v, want [3 5]", bases)
	}
	// At the high watermark: nothing, no error. Past it or below the log
	// start: out of range.
	if res := fe.Read(context.Background(), Request{TP: tp, Offset: 9, MaxBytes: 1 << 20}, 1<<20, true); res.Err != nil || len(res.Records) != 0 {
		t.Fatalf("at hwm: %v, %d bytes", res.Err, len(res.Records))
	}
	if res := fe.Read(context.Background(), Request{TP: tp, Offset: 10, MaxBytes: 1 << 20}, 1<<20, true); res.Err != meta.ErrOffsetOutOfRange {
		t.Fatalf("past hwm: %v", res.Err)
	}
	if _, err := f.meta.DeleteRecords(context.Background(), tp, 5); err != nil {
		t.Fatal(err)
	}
	if res := fe.Read(context.Background(), Request{TP: tp, Offset: 2, MaxBytes: 1 << 20}, 1<<20, true); res.Err != meta.ErrOffsetOutOfRange {
		t.Fatalf("below log start: %v", res.Err)
	}
}

func TestReadHonoursMaxBytes(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 0, []int{10, 10, 10}, 100) // three batches of about 1.1 KiB
	fe := New(Config{Meta: f.meta, Objects: f.objs})
	tp := meta.TP{Topic: f.topic.ID, Partition: 0}
	one := fe.Read(context.Background(), Request{TP: tp, MaxBytes: 1 << 20}, 1<<20, true)
	size := len(one.Records) / 3

	res := fe.Read(context.Background(), Request{TP: tp, MaxBytes: int32(2*size + 10)}, 1<<20, true)
	if bases, _ := batches(t, res.Records); len(bases) != 2 {
		t.Fatalf("partition max bytes for two batches gave %d", len(bases))
	}
	// A limit below one batch still returns the first batch whole when
	// the response must progress, and nothing otherwise.
	res = fe.Read(context.Background(), Request{TP: tp, MaxBytes: 10}, 1<<20, true)
	if bases, _ := batches(t, res.Records); len(bases) != 1 {
		t.Fatalf("first batch over the limit: got %d batches", len(bases))
	}
	res = fe.Read(context.Background(), Request{TP: tp, MaxBytes: 1 << 20}, 10, false)
	if len(res.Records) != 0 {
		t.Fatalf("over the response budget, not first: %d bytes", len(res.Records))
	}
}

func TestReadCorruptObjectIsAnError(t *testing.T) {
	f := newFixture(t)
	f.commit(t, 0, []int{3}, 10)
	// Overwrite the object with garbage of the same size.
	entries, _ := f.meta.Entries(context.Background(), meta.TP{Topic: f.topic.ID}, 0, 1)
	if err := f.objs.Put(context.Background(), entries[0].ObjectKey, make([]byte, entries[0].ObjectSize)); err != nil {
		t.Fatal(err)
	}
	fe := New(Config{Meta: f.meta, Objects: f.objs})
	res := fe.Read(context.Background(), Request{TP: meta.TP{Topic: f.topic.ID}, MaxBytes: 1 << 20}, 1<<20, true)
	if res.Err == nil {
		t.Fatal("corrupt object read without error")
	}
}

func TestWakerWakesOnlyInterested(t *testing.T) {
	w := NewWaker()
	a, b := meta.TP{Partition: 1}, meta.TP{Partition: 2}
	ch, cancel := w.Wait([]meta.TP{a})
	defer cancel()
	w.Notify([]meta.TP{b})
	select {
	case <-ch:
		t.Fatal("woken by another partition")
	default:
	}
	w.Notify([]meta.TP{a, a})
	select {
	case <-ch:
	default:
		t.Fatal("not woken")
	}
}

func TestCacheEvictsByBytes(t *testing.T) {
	c := NewCache[int](100)
	c.Put("a", 1, 60)
	c.Put("b", 2, 30)
	c.Get("a")
	c.Put("c", 3, 30) // evicts b, the least recently used
	if _, ok := c.Get("b"); ok {
		t.Fatal("b not evicted")
	}
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a evicted")
	}
	c.Put("huge", 4, 1000)
	if _, ok := c.Get("huge"); ok {
		t.Fatal("value larger than the cache was cached")
	}
	if _, _, used := c.Stats(); used != 90 {
		t.Fatalf("used %d", used)
	}
}

// BenchmarkFetchAssemble reads 1 MiB of a partition from cached objects:
// the cost of planning, index lookup and assembly without storage I/O.
func BenchmarkFetchAssemble(b *testing.B) {
	f := newFixture(b)
	counts := make([]int, 64)
	for i := range counts {
		counts[i] = 16
	}
	for i := 0; i < 4; i++ {
		f.commit(b, 0, counts, 1024) // 64 batches of 16 KiB per object
	}
	fe := New(Config{Meta: f.meta, Objects: f.objs})
	req := Request{TP: meta.TP{Topic: f.topic.ID}, MaxBytes: 1 << 20}
	res := fe.Read(context.Background(), req, 1<<20, true)
	if res.Err != nil || len(res.Records) == 0 {
		b.Fatal(res.Err)
	}
	b.SetBytes(int64(len(res.Records)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := fe.Read(context.Background(), req, 1<<20, true)
		if res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}
