package metatest

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

func putTxn(t *testing.T, s meta.Store, x *meta.Txn) {
	t.Helper()
	err := s.Transactions().UpdateTxn(ctx, x.TransactionalID, func(tx meta.TxnTx) error { return tx.PutTxn(x) })
	if err != nil {
		t.Fatalf("PutTxn(%q): %v", x.TransactionalID, err)
	}
}

func getTxn(t *testing.T, s meta.Store, id string) *meta.Txn {
	t.Helper()
	var x *meta.Txn
	err := s.Transactions().ViewTxn(ctx, id, func(tx meta.TxnTx) error {
		var err error
		x, err = tx.Txn()
		return err
	})
	if err != nil {
		t.Fatalf("Txn(%q): %v", id, err)
	}
	return x
}

func listTxnIDs(t *testing.T, s meta.Store) []string {
	t.Helper()
	all, err := s.Transactions().ListTxns(ctx)
	if err != nil {
		t.Fatalf("ListTxns: %v", err)
	}
	var ids []string
	for _, x := range all {
		ids = append(ids, x.TransactionalID)
	}
	return ids
}

// testTxnRecord: a transactional id record round-trips whole, Version
// counts PutTxns, a transaction sees its own write, a failed one leaves
// nothing, a read-only one cannot write, ListTxns lists by id, DeleteTxn
// removes one.
func testTxnRecord(t *testing.T, s meta.Store) {
	if x := getTxn(t, s, "tx1"); x != nil {
		t.Fatalf("fresh store has transactional id %+v", x)
	}
	top := createTopic(t, s, "txn-topic", 2)
	now := time.Now().Truncate(time.Millisecond).UTC()
	md := "meta"
	x := &meta.Txn{
		TransactionalID: "tx1", ProducerID: 7, ProducerEpoch: 3,
		LastProducerID: 7, LastProducerEpoch: 2,
		State: meta.TxnOngoing, TimeoutMs: 60000,
		Partitions: []meta.TxnPartition{{Topic: "txn-topic", TP: tpOf(top, 0)}, {Topic: "txn-topic", TP: tpOf(top, 1)}},
		Groups:     []string{"g1", "g2"},
		Offsets: []meta.TxnOffset{{Group: "g1", GroupOffset: meta.GroupOffset{
			Topic: "in", Partition: 3, Offset: 42, LeaderEpoch: -1, Metadata: &md, CommitTime: now}}},
		StartTime: now, LastUpdate: now.Add(time.Second),
	}
	putTxn(t, s, x)
	got := getTxn(t, s, "tx1")
	want := *x
	want.Version = 1
	if got == nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}

	// In one transaction: read, change, read the change back.
	err := s.Transactions().UpdateTxn(ctx, "tx1", func(tx meta.TxnTx) error {
		cur, err := tx.Txn()
		if err != nil || cur == nil {
			return errors.Join(err, errors.New("record missing"))
		}
		cur.State, cur.Partitions, cur.Groups, cur.Offsets, cur.StartTime = meta.TxnCompleteCommit, nil, nil, nil, time.Time{}
		if err := tx.PutTxn(cur); err != nil {
			return err
		}
		again, err := tx.Txn()
		if err != nil {
			return err
		}
		if again == nil || again.State != meta.TxnCompleteCommit || again.Version != 2 {
			t.Errorf("own write not visible in the transaction: %+v", again)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := getTxn(t, s, "tx1"); got == nil || got.Version != 2 || got.State != meta.TxnCompleteCommit ||
		len(got.Partitions) != 0 || got.ProducerEpoch != 3 {
		t.Fatalf("after the second PutTxn: %+v", got)
	}

	// A failed transaction writes nothing.
	boom := errors.New("boom")
	err = s.Transactions().UpdateTxn(ctx, "tx1", func(tx meta.TxnTx) error {
		cur, _ := tx.Txn()
		cur.ProducerEpoch = 99
		if err := tx.PutTxn(cur); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed UpdateTxn: %v, want boom", err)
	}
	if got := getTxn(t, s, "tx1"); got.ProducerEpoch != 3 || got.Version != 2 {
		t.Fatalf("failed UpdateTxn changed the record: %+v", got)
	}

	// ViewTxn is read-only.
	err = s.Transactions().ViewTxn(ctx, "tx1", func(tx meta.TxnTx) error {
		return tx.PutTxn(&meta.Txn{TransactionalID: "tx1"})
	})
	if err == nil {
		t.Fatal("PutTxn in ViewTxn succeeded")
	}
	// A record must be written in its own id's transaction.
	err = s.Transactions().UpdateTxn(ctx, "tx1", func(tx meta.TxnTx) error {
		return tx.PutTxn(&meta.Txn{TransactionalID: "other"})
	})
	if err == nil || getTxn(t, s, "other") != nil {
		t.Fatalf("PutTxn of another id: err %v", err)
	}

	putTxn(t, s, &meta.Txn{TransactionalID: "c", ProducerID: 9})
	putTxn(t, s, &meta.Txn{TransactionalID: "a", ProducerID: 8})
	if ids := listTxnIDs(t, s); !slices.Equal(ids, []string{"a", "c", "tx1"}) {
		t.Fatalf("ListTxns ids %v, want [a c tx1]", ids)
	}
	err = s.Transactions().UpdateTxn(ctx, "c", func(tx meta.TxnTx) error { return tx.DeleteTxn() })
	if err != nil {
		t.Fatal(err)
	}
	if got := getTxn(t, s, "c"); got != nil {
		t.Fatalf("deleted id still there: %+v", got)
	}
	if ids := listTxnIDs(t, s); !slices.Equal(ids, []string{"a", "tx1"}) {
		t.Fatalf("ListTxns after delete %v, want [a tx1]", ids)
	}
	// Deleting a missing id is not an error; re-creating starts over.
	err = s.Transactions().UpdateTxn(ctx, "c", func(tx meta.TxnTx) error { return tx.DeleteTxn() })
	if err != nil {
		t.Fatal(err)
	}
	putTxn(t, s, &meta.Txn{TransactionalID: "c", ProducerID: 10})
	if got := getTxn(t, s, "c"); got == nil || got.Version != 1 || got.ProducerID != 10 {
		t.Fatalf("re-created id: %+v", got)
	}
}

// testTxnConcurrentBumps: many goroutines fence one transactional id at
// once, as InitProducerId through many brokers does. Every bump reads the
// epoch and writes the next; each committed bump must be seen by the next
// one, so the committed epochs are exactly 1..n, each once, and the
// record ends at n. A lost update (two bumps from one read) shows as a
// repeated epoch and a lower final one.
func testTxnConcurrentBumps(t *testing.T, s meta.Store) {
	const each = 20
	var (
		mu  sync.Mutex
		got []int16
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				wrote, err := bumpTxn(ctx, s, "fenced")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, wrote)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	const n = workers * each
	slices.Sort(got)
	for i, e := range got {
		if e != int16(i+1) {
			t.Fatalf("committed epochs %v, want 1..%d each once", got, n)
		}
	}
	x := getTxn(t, s, "fenced")
	if x == nil || x.ProducerEpoch != n || x.Version != n || x.LastProducerEpoch != n-1 {
		t.Fatalf("after %d bumps: %+v", n, x)
	}
}

// testTxnExpire: expiry as the lifecycle will run it: list, then delete
// each id idle past the cutoff in a transaction that checks again, so an
// id re-initialised between the list and the delete is kept.
func testTxnExpire(t *testing.T, s meta.Store) {
	old := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	for _, id := range []string{"idle1", "idle2", "busy", "raced"} {
		putTxn(t, s, &meta.Txn{TransactionalID: id, ProducerID: 1, LastUpdate: old})
	}
	putTxn(t, s, &meta.Txn{TransactionalID: "busy", ProducerID: 1, LastUpdate: time.Now().UTC()})
	cutoff := time.Now().Add(-time.Minute)
	all, err := s.Transactions().ListTxns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// "raced" is re-initialised after the list was read.
	putTxn(t, s, &meta.Txn{TransactionalID: "raced", ProducerID: 1, ProducerEpoch: 1, LastUpdate: time.Now().UTC()})
	for _, x := range all {
		if !x.LastUpdate.Before(cutoff) {
			continue
		}
		err := s.Transactions().UpdateTxn(ctx, x.TransactionalID, func(tx meta.TxnTx) error {
			cur, err := tx.Txn()
			if err != nil || cur == nil || !cur.LastUpdate.Before(cutoff) {
				return err
			}
			return tx.DeleteTxn()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if ids := listTxnIDs(t, s); !slices.Equal(ids, []string{"busy", "raced"}) {
		t.Fatalf("after expiry %v, want [busy raced]", ids)
	}
	if x := getTxn(t, s, "raced"); x == nil || x.ProducerEpoch != 1 {
		t.Fatalf("re-initialised id: %+v", x)
	}
}
