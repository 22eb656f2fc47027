package produce

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"gocloud.dev/blob/memblob"
)

// The stores below are test doubles standing in for an SDK bug: nothing
// real panics on demand. The stores they wrap are real (memory).

// panickyObjects panics in Put while panics is set.
type panickyObjects struct {
	objstore.Store
	panics atomic.Bool
}

func (s *panickyObjects) Put(ctx context.Context, key string, data []byte) error {
	if s.panics.Load() {
		panic("object store SDK bug")
	}
	return s.Store.Put(ctx, key, data)
}

// panickyMeta panics in Commit while panics is set.
type panickyMeta struct {
	meta.Store
	panics atomic.Bool
}

func (s *panickyMeta) Commit(ctx context.Context, objs []meta.ObjectCommit) ([][]meta.BatchResult, error) {
	if s.panics.Load() {
		panic("metadata store SDK bug")
	}
	return s.Store.Commit(ctx, objs)
}

// panicCounter counts what the pipeline reports to its Observer's
// PanicObserver side, by stage.
type panicCounter struct {
	mu     sync.Mutex
	stages map[string]int
}

func (c *panicCounter) Processed(string, time.Duration, time.Duration, int, int64) {}

func (c *panicCounter) Panicked(stage string, _ *pipeline.PanicError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stages[stage]++
}

func (c *panicCounter) count(stage string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stages[stage]
}

type panicRig struct {
	p       *Pipeline
	objects *panickyObjects
	meta    *panickyMeta
	topic   meta.Topic
	panics  *panicCounter
}

func newPanicRig(t *testing.T, onCommit func(*Flush)) *panicRig {
	t.Helper()
	r := &panicRig{
		objects: &panickyObjects{Store: blobstore.New(memblob.OpenBucket(nil))},
		meta:    &panickyMeta{Store: memmeta.New()},
		panics:  &panicCounter{stages: map[string]int{}},
	}
	var err error
	if r.topic, err = r.meta.CreateTopic(context.Background(), "t", 2, nil); err != nil {
		t.Fatal(err)
	}
	r.p, err = Start(Config{Meta: r.meta, Objects: r.objects, Linger: time.Millisecond, Observer: r.panics, OnCommit: onCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.p.Close)
	return r
}

// expectPanicked checks every result failed with a panic error that the
// Kafka front end answers as a retriable storage error.
func expectPanicked(t *testing.T, res []result) {
	t.Helper()
	for i, r := range res {
		var pe *pipeline.PanicError
		if !errors.Is(r.err, pipeline.ErrPanic) || !errors.As(r.err, &pe) || r.offset != -1 {
			t.Fatalf("batch %d: offset %d err %v, want a pipeline.PanicError", i, r.offset, r.err)
		}
	}
}

func TestPipelineUploadPanicFailsItsBatches(t *testing.T) {
	r := newPanicRig(t, nil)
	r.objects.panics.Store(true)
	expectPanicked(t, submitAndWait(t, r.p, []*Batch{testBatch(t, r.topic, 0, 5, -1, -1), testBatch(t, r.topic, 1, 5, -1, -1)}))
	if n := r.panics.count("upload"); n < 1 {
		t.Fatalf("upload panics reported: %d", n)
	}
	st, _ := r.meta.PartitionState(context.Background(), meta.TP{Topic: r.topic.ID, Partition: 0})
	if st.HighWatermark != 0 {
		t.Fatalf("panicked upload committed offsets: hwm %d", st.HighWatermark)
	}
	r.objects.panics.Store(false)
	res := submitAndWait(t, r.p, []*Batch{testBatch(t, r.topic, 0, 5, -1, -1)})
	if res[0].err != nil || res[0].offset != 0 {
		t.Fatalf("after the panic: offset %d err %v, want 0", res[0].offset, res[0].err)
	}
}

func TestPipelineCommitPanicFailsItsBatches(t *testing.T) {
	r := newPanicRig(t, nil)
	r.meta.panics.Store(true)
	expectPanicked(t, submitAndWait(t, r.p, []*Batch{testBatch(t, r.topic, 0, 5, -1, -1), testBatch(t, r.topic, 1, 5, -1, -1)}))
	if n := r.panics.count("commit"); n < 1 {
		t.Fatalf("commit panics reported: %d", n)
	}
	r.meta.panics.Store(false)
	res := submitAndWait(t, r.p, []*Batch{testBatch(t, r.topic, 0, 5, -1, -1)})
	if res[0].err != nil || res[0].offset != 0 {
		t.Fatalf("after the panic: offset %d err %v, want 0 (nothing committed)", res[0].offset, res[0].err)
	}
}

// A panic in OnCommit (the ack path) fails the flush's batches; they were
// committed, so, as after a timeout, a retry may write them again.
func TestPipelineAckPanicFailsItsBatches(t *testing.T) {
	var panics atomic.Bool
	r := newPanicRig(t, func(*Flush) {
		if panics.Load() {
			panic("OnCommit callback bug")
		}
	})
	panics.Store(true)
	expectPanicked(t, submitAndWait(t, r.p, []*Batch{testBatch(t, r.topic, 0, 5, -1, -1)}))
	if n := r.panics.count("ack"); n != 1 {
		t.Fatalf("ack panics reported: %d, want 1", n)
	}
	panics.Store(false)
	res := submitAndWait(t, r.p, []*Batch{testBatch(t, r.topic, 0, 2, -1, -1)})
	if res[0].err != nil || res[0].offset != 5 {
		t.Fatalf("after the panic: offset %d err %v, want 5 (after the committed batch)", res[0].offset, res[0].err)
	}
}

// hangingObjects blocks every Put until release is closed, ignoring its
// context: a hung SDK call.
type hangingObjects struct {
	objstore.Store
	release chan struct{}
	puts    atomic.Int32
}

func (s *hangingObjects) Put(ctx context.Context, key string, data []byte) error {
	s.puts.Add(1)
	<-s.release
	return s.Store.Put(ctx, key, data)
}

// Shutdown drains until its context ends, then fails what is left with
// ErrShuttingDown, without waiting for a hung upload.
func TestPipelineShutdownIsBounded(t *testing.T) {
	store := memmeta.New()
	objs := &hangingObjects{Store: blobstore.New(memblob.OpenBucket(nil)), release: make(chan struct{})}
	topic, _ := store.CreateTopic(context.Background(), "t", 1, nil)
	p, err := Start(Config{Meta: store, Objects: objs, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		b := testBatch(t, topic, 0, 1, -1, -1)
		wg.Add(1)
		b.Done = pipeline.NewCompletion(func(_ int64, err error) { errs[i] = err; wg.Done() })
		p.Submit(context.Background(), b)
	}
	for objs.puts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	if el := time.Since(began); el > 5*time.Second {
		t.Fatalf("Shutdown took %v with a 100ms bound", el)
	}
	p.Close() // idempotent, and done
	// The batches of the hung uploads are failed once the uploads return.
	close(objs.release)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrShuttingDown) {
			t.Fatalf("batch %d: %v, want ErrShuttingDown", i, err)
		}
	}
}
