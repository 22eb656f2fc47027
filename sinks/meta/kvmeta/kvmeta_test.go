package kvmeta_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/kvmeta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
)

// flakyKV fails the n-th Put of every Update, to show that a transaction
// failing halfway through a Commit leaves nothing behind.
type flakyKV struct {
	kvmeta.KV
	failAt int // 0: never
}

type flakyTx struct {
	kvmeta.Tx
	puts, failAt int
}

var errInjected = errors.New("injected write failure")

func (t *flakyTx) Put(k, v []byte) error {
	t.puts++
	if t.failAt > 0 && t.puts == t.failAt {
		return errInjected
	}
	return t.Tx.Put(k, v)
}

func (f *flakyKV) Update(fn func(kvmeta.Tx) error) error {
	return f.KV.Update(func(tx kvmeta.Tx) error { return fn(&flakyTx{Tx: tx, failAt: f.failAt}) })
}

func TestCommitRollsBackOnWriteFailure(t *testing.T) {
	ctx := context.Background()
	kv := &flakyKV{KV: memmeta.NewKV()}
	s := kvmeta.New(kv)
	defer s.Close()
	top, err := s.CreateTopic(ctx, "t", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := meta.TP{Topic: top.ID}, meta.TP{Topic: top.ID, Partition: 1}
	pid, _ := s.NextProducerID(ctx)
	objs := []meta.ObjectCommit{
		{Key: "a", Batches: []meta.BatchCommit{{TP: p0, Records: 2, ProducerID: pid, BaseSequence: 0}, {TP: p1, Records: 1, ProducerID: -1, BaseSequence: -1}}},
		{Key: "b", Batches: []meta.BatchCommit{{TP: p0, Records: 2, ProducerID: pid, BaseSequence: 2}}},
	}
	// The Commit writes 3 index entries, 2 partition states and 1 producer
	// state; fail at each write in turn.
	for failAt := 1; failAt <= 6; failAt++ {
		kv.failAt = failAt
		if _, err := s.Commit(ctx, objs); !errors.Is(err, errInjected) {
			t.Fatalf("failAt %d: Commit err = %v", failAt, err)
		}
		kv.failAt = 0
		for _, tp := range []meta.TP{p0, p1} {
			if ps, _ := s.PartitionState(ctx, tp); ps.HighWatermark != 0 {
				t.Fatalf("failAt %d: HWM %d after failed Commit", failAt, ps.HighWatermark)
			}
			if es, _ := s.Entries(ctx, tp, 0, 0); len(es) != 0 {
				t.Fatalf("failAt %d: entries %+v after failed Commit", failAt, es)
			}
		}
		if _, ok, _ := s.ProducerState(ctx, pid, p0); ok {
			t.Fatalf("failAt %d: producer state after failed Commit", failAt)
		}
	}
	res, err := s.Commit(ctx, objs)
	if err != nil || res[1][0].BaseOffset != 2 || res[1][0].Err != nil {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
}

func TestBumpProducerEpochOverflow(t *testing.T) {
	ctx := context.Background()
	s := memmeta.New()
	defer s.Close()
	pid, _ := s.NextProducerID(ctx)
	for e := int16(0); e < math.MaxInt16; e++ {
		next, err := s.BumpProducerEpoch(ctx, pid, e)
		if err != nil || next != e+1 {
			t.Fatalf("bump %d = %d, %v", e, next, err)
		}
	}
	if _, err := s.BumpProducerEpoch(ctx, pid, math.MaxInt16); !errors.Is(err, meta.ErrInvalidProducerEpoch) {
		t.Fatalf("bump past MaxInt16: %v", err)
	}
	if _, err := s.BumpProducerEpoch(ctx, -1, 0); err == nil {
		t.Fatal("bump of a negative producer id succeeded")
	}
}

func TestClusterIDStable(t *testing.T) {
	ctx := context.Background()
	kv := memmeta.NewKV()
	a, _ := kvmeta.New(kv).ClusterID(ctx)
	// A second store over the same data sees the same id.
	b, _ := kvmeta.New(kv).ClusterID(ctx)
	if a == "" || a != b {
		t.Fatalf("cluster ids %q and %q", a, b)
	}
}

// TestExpireLegacyProducerState: a producer state written before states
// recorded their last write (the older encoding, which a zero LastWrite
// still produces) is stamped by the first expiry pass, not deleted, and
// expires after a later one.
func TestExpireLegacyProducerState(t *testing.T) {
	ctx := context.Background()
	kv := memmeta.NewKV()
	s := kvmeta.New(kv)
	defer s.Close()
	top, err := s.CreateTopic(ctx, "t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := meta.TP{Topic: top.ID}
	const pid = 1000
	legacy := meta.ProducerState{Epoch: 2, Recent: []meta.ProducerBatch{{FirstSeq: 0, LastSeq: 4, BaseOffset: 0}}}
	if err := kv.Update(func(tx kvmeta.Tx) error { return tx.Put(kvmeta.KeyProducer(tp, pid), kvmeta.EncodeProducer(&legacy)) }); err != nil {
		t.Fatal(err)
	}
	if st, ok, err := s.ProducerState(ctx, pid, tp); err != nil || !ok || !st.LastWrite.IsZero() || st.Epoch != 2 {
		t.Fatalf("legacy state reads as %+v, ok %v, %v", st, ok, err)
	}

	before := time.Now().Add(-time.Millisecond) // the stored resolution
	res, err := s.Lifecycle().ExpireProducers(ctx, tp, time.Now().Add(time.Hour))
	if err != nil || res.Removed != 0 || res.Stamped != 1 || res.More || res.KeptSince.Before(before) {
		t.Fatalf("first expiry = %+v, %v; want the legacy state stamped", res, err)
	}
	st, ok, err := s.ProducerState(ctx, pid, tp)
	if err != nil || !ok || st.LastWrite.Before(before) || st.LastWrite.After(time.Now()) || st.Epoch != 2 || len(st.Recent) != 1 {
		t.Fatalf("stamped state %+v, ok %v, %v", st, ok, err)
	}
	// Its retry is still recognised.
	res2, err := s.Commit(ctx, []meta.ObjectCommit{{Key: "o", Batches: []meta.BatchCommit{{TP: tp, Records: 5, ProducerID: pid, ProducerEpoch: 2, BaseSequence: 0}}}})
	if err != nil || !res2[0][0].Duplicate {
		t.Fatalf("retry after the stamp = %+v, %v", res2, err)
	}

	res, err = s.Lifecycle().ExpireProducers(ctx, tp, time.Now().Add(time.Hour))
	if err != nil || res.Removed != 1 || res.Stamped != 0 {
		t.Fatalf("second expiry = %+v, %v; want the state removed", res, err)
	}
	if _, ok, err := s.ProducerState(ctx, pid, tp); ok || err != nil {
		t.Fatalf("state after expiry: ok %v, %v", ok, err)
	}
}
