package boltmeta

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/kvmeta"
	"github.com/sluicedata/sluice/sinks/meta/metatest"
)

func open(t *testing.T, dir string) meta.Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return open(t, t.TempDir()) })
}

// TestReopen: everything committed survives Close and Open, and producer
// ids are never handed out again.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	cid, _ := s.ClusterID(ctx)
	top, err := s.CreateTopic(ctx, "t", 2, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	tp := meta.TP{Topic: top.ID, Partition: 1}
	pid, _ := s.NextProducerID(ctx)
	pid2, _ := s.NextProducerID(ctx)
	if _, err := s.BumpProducerEpoch(ctx, pid2, 0); err != nil {
		t.Fatal(err)
	}
	res, err := s.Commit(ctx, []meta.ObjectCommit{{
		Key: "obj", Size: 300, IndexPos: 250, IndexLen: 50,
		Batches: []meta.BatchCommit{
			{TP: tp, Records: 3, MaxTimestamp: 77, ProducerID: pid, BaseSequence: 0, Pos: 0, Len: 100},
			{TP: tp, Records: 2, MaxTimestamp: 88, ProducerID: pid, BaseSequence: 3, RelOffset: 3, Pos: 100, Len: 150},
		},
	}})
	if err != nil || res[0][1].Err != nil {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	if _, err := s.DeleteRecords(ctx, tp, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Transactions().UpdateTxn(ctx, "tx", func(tx meta.TxnTx) error {
		return tx.PutTxn(&meta.Txn{TransactionalID: "tx", ProducerID: pid2, ProducerEpoch: 4, State: meta.TxnOngoing})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	if got, _ := s.ClusterID(ctx); got != cid {
		t.Fatalf("ClusterID %q after reopen, was %q", got, cid)
	}
	got, err := s.Topic(ctx, "t")
	if err != nil || got.ID != top.ID || got.Partitions != 2 || got.Configs["k"] != "v" || !got.CreatedAt.Equal(top.CreatedAt) {
		t.Fatalf("Topic after reopen = %+v, %v", got, err)
	}
	ps, err := s.PartitionState(ctx, tp)
	if err != nil || ps != (meta.PartitionState{LogStart: 1, HighWatermark: 5, MaxTimestamp: 88, MaxTimestampOffset: 4}) {
		t.Fatalf("PartitionState after reopen = %+v, %v", ps, err)
	}
	es, err := s.Entries(ctx, tp, 0, 0)
	if err != nil || len(es) != 1 {
		t.Fatalf("Entries after reopen = %+v, %v", es, err)
	}
	want := meta.IndexEntry{TP: tp, BaseOffset: 0, LastOffset: 4, MaxTimestamp: 88, ObjectKey: "obj", ObjectSize: 300, IndexPos: 250, IndexLen: 50, RelBase: 0, ByteStart: 0, ByteEnd: 250}
	if es[0] != want {
		t.Fatalf("entry after reopen = %+v, want %+v", es[0], want)
	}
	// Producer state survives: a retry is still a duplicate.
	res, err = s.Commit(ctx, []meta.ObjectCommit{{Key: "retry", Batches: []meta.BatchCommit{
		{TP: tp, Records: 2, ProducerID: pid, BaseSequence: 3},
	}}})
	if err != nil || !res[0][0].Duplicate || res[0][0].BaseOffset != 3 || res[0][0].LogStart != 1 {
		t.Fatalf("retry after reopen = %+v, %v", res, err)
	}
	// So does the registered epoch.
	if _, err := s.BumpProducerEpoch(ctx, pid2, 0); !errors.Is(err, meta.ErrInvalidProducerEpoch) {
		t.Fatalf("stale bump after reopen: %v", err)
	}
	// And the transactional id record.
	if txns, err := s.Transactions().ListTxns(ctx); err != nil || len(txns) != 1 ||
		txns[0].ProducerID != pid2 || txns[0].ProducerEpoch != 4 || txns[0].State != meta.TxnOngoing || txns[0].Version != 1 {
		t.Fatalf("transactional ids after reopen = %+v, %v", txns, err)
	}
	next, err := s.NextProducerID(ctx)
	if err != nil || next <= pid2 {
		t.Fatalf("NextProducerID after reopen = %d, %v (handed out %d and %d before)", next, err, pid, pid2)
	}
}

// TestSecondOpenFails: bbolt locks the file; a second opener gets an
// error instead of two writers corrupting offsets.
func TestSecondOpenFails(t *testing.T) {
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 50 * time.Millisecond
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if s2, err := Open(dir); err == nil {
		s2.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	other := t.TempDir()
	for _, c := range []struct{ url, dir string }{
		{"", data},
		{"bolt://" + other, other},
		{"file://" + filepath.Join(other, "sub"), filepath.Join(other, "sub")},
	} {
		s, err := meta.Open(ctx, c.url, data)
		if err != nil {
			t.Fatalf("Open(%q): %v", c.url, err)
		}
		if _, err := os.Stat(filepath.Join(c.dir, FileName)); err != nil {
			t.Fatalf("Open(%q): %v", c.url, err)
		}
		s.Close()
	}
	for _, u := range []string{"bolt://rel/dir", "file://host/x", "bolt:relative", "etcd://x"} {
		if _, err := meta.Open(ctx, u, data); err == nil || !strings.Contains(err.Error(), u) {
			t.Errorf("Open(%q) = %v, want an error naming the URL", u, err)
		}
	}
	if _, err := meta.Open(ctx, "", ""); err == nil {
		t.Error("Open with neither URL nor data dir succeeded")
	}
}

// TestOpenFileOfFreelistSyncingVersion: a meta.db written with bbolt's
// defaults (the freelist synced on every commit, as before NoFreelistSync)
// opens with today's options, keeps its data, accepts commits, and opens
// again; commits are still synced.
func TestOpenFileOfFreelistSyncingVersion(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old, err := openKV(dir, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		t.Fatal(err)
	}
	s := kvmeta.New(old)
	top, err := s.CreateTopic(ctx, "t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := meta.TP{Topic: top.ID, Partition: 0}
	commit := func(s meta.Store, key string) {
		t.Helper()
		res, err := s.Commit(ctx, []meta.ObjectCommit{{Key: key, Size: 10, Batches: []meta.BatchCommit{{TP: tp, Records: 5, Len: 10, ProducerID: -1, ProducerEpoch: -1, BaseSequence: meta.NoSequence}}}})
		if err != nil || res[0][0].Err != nil {
			t.Fatalf("Commit %s = %+v, %v", key, res, err)
		}
	}
	commit(s, "a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for round, key := range []string{"b", "c"} {
		kv, err := OpenKV(dir)
		if err != nil {
			t.Fatal(err)
		}
		if kv.db.NoSync || !kv.db.NoFreelistSync {
			t.Fatalf("NoSync %v, NoFreelistSync %v: want commits synced, the freelist not", kv.db.NoSync, kv.db.NoFreelistSync)
		}
		s := kvmeta.New(kv)
		commit(s, key)
		ps, err := s.PartitionState(ctx, tp)
		if want := int64(5 * (round + 2)); err != nil || ps.HighWatermark != want {
			t.Fatalf("round %d: PartitionState = %+v, %v; want high watermark %d", round, ps, err, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
