package lifecycle

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/fetch"
)

// countingStore counts the ExpireProducers calls that reach the store.
type countingStore struct {
	meta.Store
	calls atomic.Int64
}

type countingLifecycle struct {
	meta.Lifecycle
	s *countingStore
}

func (s *countingStore) Lifecycle() meta.Lifecycle {
	return countingLifecycle{s.Store.Lifecycle(), s}
}

func (l countingLifecycle) ExpireProducers(ctx context.Context, tp meta.TP, idleBefore time.Time) (meta.ProducerExpiry, error) {
	l.s.calls.Add(1)
	return l.Lifecycle.ExpireProducers(ctx, tp, idleBefore)
}

// TestExpireProducersWhenDue: a pass expires producer states idle past
// ProducerExpiration and keeps the others, and asks the store only about
// partitions where something can have become idle since it last looked.
// The worker's clock is set by the test; the store's is the real one.
func TestExpireProducersWhenDue(t *testing.T) {
	ctx := context.Background()
	ms := &countingStore{Store: memmeta.New()}
	defer ms.Close()
	objs, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	top, err := ms.CreateTopic(ctx, "t", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp0, tp1 := meta.TP{Topic: top.ID}, meta.TP{Topic: top.ID, Partition: 1}
	produce := func(pid int64, tp meta.TP, seq int32) {
		t.Helper()
		res, err := ms.Commit(ctx, []meta.ObjectCommit{{Key: "o", Batches: []meta.BatchCommit{
			{TP: tp, Records: 1, MaxTimestamp: 1, ProducerID: pid, BaseSequence: seq, Len: 10}}}})
		if err != nil || res[0][0].Err != nil {
			t.Fatalf("commit: %v %v", res, err)
		}
	}
	lastWrite := func(pid int64, tp meta.TP) (time.Time, bool) {
		t.Helper()
		st, ok, err := ms.ProducerState(ctx, pid, tp)
		if err != nil {
			t.Fatal(err)
		}
		return st.LastWrite, ok
	}
	// The store's clock is the real one: the pauses put the idle
	// producer's last write, the later one's and the passes' looks at the
	// store apart by more than its millisecond resolution.
	produce(1000, tp0, 0)
	idleWrite, _ := lastWrite(1000, tp0)
	time.Sleep(20 * time.Millisecond)
	produce(1001, tp1, 0)
	laterWrite, _ := lastWrite(1001, tp1)
	time.Sleep(20 * time.Millisecond)

	const expiration = time.Hour
	var clock atomic.Pointer[time.Time] // the worker's
	at := func(t time.Time) { clock.Store(&t) }
	w, err := New(Config{Meta: ms, Objects: objs, Fetcher: fetch.New(fetch.Config{Meta: ms, Objects: objs}),
		Holder: "b", ArchiveShards: 1, DefaultRetention: -1, ProducerExpiration: expiration,
		Now: func() time.Time { return *clock.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pass := func(wantCalls int64) {
		t.Helper()
		before := ms.calls.Load()
		if err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := ms.calls.Load() - before; got != wantCalls {
			t.Fatalf("pass asked the store %d times, want %d", got, wantCalls)
		}
	}

	// The first pass looks at every partition; nothing is idle yet.
	at(idleWrite)
	pass(3)
	// Nothing can expire within the expiration: no partition is looked
	// at again.
	pass(0)
	at(idleWrite.Add(expiration / 2))
	pass(0)

	// Just past the expiration of the idle producer's write only its
	// partition is due: its state goes, the later producer's stays.
	at(idleWrite.Add(expiration + time.Millisecond))
	time.Sleep(20 * time.Millisecond)
	pass(1)
	if _, ok := lastWrite(1000, tp0); ok {
		t.Fatal("idle producer's state kept")
	}
	if _, ok := lastWrite(1001, tp1); !ok {
		t.Fatal("later producer's state expired before its expiration")
	}
	if st := w.Stats(); st.ProducersExpired != 1 {
		t.Fatalf("ProducersExpired %d, want 1", st.ProducersExpired)
	}
	// An expiration after the later producer's write, its state goes too.
	at(laterWrite.Add(expiration + time.Millisecond))
	pass(1)
	if _, ok := lastWrite(1001, tp1); ok || w.Stats().ProducersExpired != 2 {
		t.Fatalf("later state not expired an expiration after its last write: %+v", w.Stats())
	}

	// A negative expiration keeps every state.
	produce(1002, tp0, 0)
	keep, err := New(Config{Meta: ms, Objects: objs, Fetcher: fetch.New(fetch.Config{Meta: ms, Objects: objs}),
		Holder: "k", ArchiveShards: 1, DefaultRetention: -1, ProducerExpiration: -1,
		Now: func() time.Time { return time.Now().Add(100 * expiration) }})
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	w.Close() // gives the shard lease to keep
	before := ms.calls.Load()
	if err := keep.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := lastWrite(1002, tp0); ms.calls.Load() != before || !ok {
		t.Fatalf("negative expiration: %d calls, state kept %v", ms.calls.Load()-before, ok)
	}
}
