package produce

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"gocloud.dev/blob/memblob"
)

// faultyStore fails Puts while fail is set: it stands in for an object
// store outage (the real stores are exercised in sinks/objstore).
type faultyStore struct {
	objstore.Store
	fail atomic.Bool
	puts atomic.Int32
}

func (f *faultyStore) Put(ctx context.Context, key string, data []byte) error {
	f.puts.Add(1)
	if f.fail.Load() {
		return errors.New("injected put failure")
	}
	return f.Store.Put(ctx, key, data)
}

func testBatch(t testing.TB, topic meta.Topic, partition int32, n int, pid int64, seq int32) *Batch {
	t.Helper()
	recs := make([]codec.Record, n)
	for i := range recs {
		recs[i] = codec.Record{OffsetDelta: int32(i), Value: []byte("value")}
	}
	epoch := int16(0)
	if pid < 0 {
		epoch = -1
	}
	h := codec.BatchHeader{Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
	data, err := codec.AppendBatch(nil, h, recs, codec.CodecNone)
	if err != nil {
		t.Fatal(err)
	}
	return &Batch{Target: Target{Topic: topic, Partition: partition, Compression: KeepCodec, TimestampBeforeMax: -1, TimestampAfterMax: -1}, Data: data, Arrived: time.Now()}
}

type result struct {
	offset int64
	err    error
}

func submitAndWait(t *testing.T, p *Pipeline, bs []*Batch) []result {
	t.Helper()
	res := make([]result, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		b.Done = pipeline.NewCompletion(func(off int64, err error) { res[i] = result{off, err}; wg.Done() })
		p.Submit(context.Background(), b)
	}
	wg.Wait()
	return res
}

func newTestPipeline(t *testing.T) (*Pipeline, meta.Store, *faultyStore, meta.Topic) {
	store := memmeta.New()
	objs := &faultyStore{Store: blobstore.New(memblob.OpenBucket(nil))}
	topic, err := store.CreateTopic(context.Background(), "t", 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Config{Meta: store, Objects: objs, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, store, objs, topic
}

func TestPipelineOffsetsFollowSubmissionOrder(t *testing.T) {
	p, store, _, topic := newTestPipeline(t)
	var bs []*Batch
	for i := 0; i < 400; i++ {
		bs = append(bs, testBatch(t, topic, int32(i%4), 1+i%3, -1, -1))
	}
	res := submitAndWait(t, p, bs)
	next := map[int32]int64{}
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("batch %d: %v", i, r.err)
		}
		part := bs[i].Partition
		if r.offset != next[part] {
			t.Fatalf("batch %d on partition %d got offset %d, want %d", i, part, r.offset, next[part])
		}
		next[part] += int64(1 + i%3)
	}
	for part, want := range next {
		st, err := store.PartitionState(context.Background(), meta.TP{Topic: topic.ID, Partition: part})
		if err != nil || st.HighWatermark != want {
			t.Fatalf("partition %d high watermark %d (%v), want %d", part, st.HighWatermark, err, want)
		}
	}
}

func TestPipelineUploadFailureAcknowledgesNothing(t *testing.T) {
	p, store, objs, topic := newTestPipeline(t)
	objs.fail.Store(true)
	res := submitAndWait(t, p, []*Batch{testBatch(t, topic, 0, 5, -1, -1), testBatch(t, topic, 1, 5, -1, -1)})
	for i, r := range res {
		if !errors.Is(r.err, ErrStorage) {
			t.Fatalf("batch %d: err %v, want ErrStorage", i, r.err)
		}
	}
	st, _ := store.PartitionState(context.Background(), meta.TP{Topic: topic.ID, Partition: 0})
	if st.HighWatermark != 0 {
		t.Fatalf("failed upload committed offsets: hwm %d", st.HighWatermark)
	}
	objs.fail.Store(false)
	res = submitAndWait(t, p, []*Batch{testBatch(t, topic, 0, 5, -1, -1)})
	if res[0].err != nil || res[0].offset != 0 {
		t.Fatalf("after recovery: offset %d err %v, want 0", res[0].offset, res[0].err)
	}
}

func TestPipelineIdempotentRetryAfterFailure(t *testing.T) {
	p, _, objs, topic := newTestPipeline(t)
	res := submitAndWait(t, p, []*Batch{testBatch(t, topic, 0, 3, 1000, 0)})
	if res[0].err != nil {
		t.Fatal(res[0].err)
	}
	// A retry of the committed batch: the original offset, nothing stored.
	puts := objs.puts.Load()
	res = submitAndWait(t, p, []*Batch{testBatch(t, topic, 0, 3, 1000, 0)})
	if res[0].err != nil || res[0].offset != 0 || objs.puts.Load() != puts {
		t.Fatalf("retry: offset %d err %v puts %d->%d", res[0].offset, res[0].err, puts, objs.puts.Load())
	}
	// A gap is refused by the store's commit.
	res = submitAndWait(t, p, []*Batch{testBatch(t, topic, 0, 3, 1000, 7)})
	if !errors.Is(res[0].err, meta.ErrOutOfOrderSequence) {
		t.Fatalf("gap: err %v", res[0].err)
	}
	res = submitAndWait(t, p, []*Batch{testBatch(t, topic, 0, 3, 1000, 3)})
	if res[0].err != nil || res[0].offset != 3 {
		t.Fatalf("next: offset %d err %v, want 3", res[0].offset, res[0].err)
	}
}

func TestPipelineCloseDrains(t *testing.T) {
	store := memmeta.New()
	objs := blobstore.New(memblob.OpenBucket(nil))
	topic, _ := store.CreateTopic(context.Background(), "t", 1, nil)
	p, err := Start(Config{Meta: store, Objects: objs, Linger: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Int32
	for i := 0; i < 100; i++ {
		b := testBatch(t, topic, 0, 1, -1, -1)
		b.Done = pipeline.NewCompletion(func(_ int64, err error) {
			if err == nil {
				done.Add(1)
			}
		})
		p.Submit(context.Background(), b)
	}
	p.Close()
	if done.Load() != 100 {
		t.Fatalf("%d of 100 batches acknowledged by Close", done.Load())
	}
	b := testBatch(t, topic, 0, 1, -1, -1)
	var got error
	b.Done = pipeline.NewCompletion(func(_ int64, err error) { got = err })
	p.Submit(context.Background(), b)
	if !errors.Is(got, ErrShuttingDown) {
		t.Fatalf("submit after close: %v", got)
	}
}
