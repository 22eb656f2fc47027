package metatest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// archiveOf is the archive entry an archiver would write for es.
func archiveOf(key string, es []meta.IndexEntry) meta.IndexEntry {
	a := meta.IndexEntry{
		TP: es[0].TP, BaseOffset: es[0].BaseOffset, LastOffset: es[len(es)-1].LastOffset,
		ObjectKey: key, ObjectSize: 1000, IndexPos: 0, IndexLen: 1000, Kind: meta.EntryArchive,
	}
	for _, e := range es {
		a.MaxTimestamp = max(a.MaxTimestamp, e.MaxTimestamp)
		a.ByteEnd += e.ByteEnd - e.ByteStart
	}
	return a
}

func testReplaceEntries(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "arch", 2)
	tp := tpOf(top, 0)
	for i, k := range []string{"a", "b", "c", "d"} {
		commit1(t, s, k, plain(tp, 5, int64(10*(i+1))))
	}
	es := entries(t, s, tp, 0, 0)
	if len(es) != 4 {
		t.Fatalf("%d entries, want 4", len(es))
	}
	lc := s.Lifecycle()

	// Archive the first three: one archive entry then the intake "d".
	arch := archiveOf("cat-1", es[:3])
	if err := lc.ReplaceEntries(ctx, tp, es[:3], []meta.IndexEntry{arch}); err != nil {
		t.Fatalf("ReplaceEntries: %v", err)
	}
	got := entries(t, s, tp, 0, 0)
	if len(got) != 2 || got[0] != arch || got[1] != es[3] {
		t.Fatalf("after archive: %+v", got)
	}
	// Reading from an archived offset finds the archive entry.
	if got := entries(t, s, tp, 7, 1); len(got) != 1 || got[0].Kind != meta.EntryArchive || got[0].ObjectKey != "cat-1" {
		t.Fatalf("Entries(7) = %+v", got)
	}
	if e, ok, err := s.EntryAtTimestamp(ctx, tp, 25); err != nil || !ok || e.ObjectKey != "cat-1" {
		t.Fatalf("EntryAtTimestamp(25) = %+v %v %v", e, ok, err)
	}

	// A second replace of the same (now gone) entries conflicts and
	// changes nothing.
	err := lc.ReplaceEntries(ctx, tp, es[:3], []meta.IndexEntry{archiveOf("cat-x", es[:3])})
	wantErr(t, "stale ReplaceEntries", err, meta.ErrConflict)
	// So does one whose old entry differs in its object.
	stale := arch
	stale.ObjectKey = "cat-0"
	err = lc.ReplaceEntries(ctx, tp, []meta.IndexEntry{stale, es[3]}, []meta.IndexEntry{archiveOf("cat-2", []meta.IndexEntry{stale, es[3]})})
	wantErr(t, "ReplaceEntries of a changed entry", err, meta.ErrConflict)
	if got := entries(t, s, tp, 0, 0); len(got) != 2 || got[0] != arch {
		t.Fatalf("after conflicts: %+v", got)
	}

	// Extending the archive: the old archive entry and "d" become one.
	arch2 := archiveOf("cat-2", []meta.IndexEntry{arch, es[3]})
	if err := lc.ReplaceEntries(ctx, tp, []meta.IndexEntry{arch, es[3]}, []meta.IndexEntry{arch2}); err != nil {
		t.Fatalf("extend archive: %v", err)
	}
	if got := entries(t, s, tp, 0, 0); len(got) != 1 || got[0] != arch2 {
		t.Fatalf("after extend: %+v", got)
	}
	// New commits still go after it.
	if r := commit1(t, s, "e", plain(tp, 2, 1)); r.BaseOffset != 20 {
		t.Fatalf("commit after archive at %d, want 20", r.BaseOffset)
	}

	// Invalid replacements are refused without a conflict error and
	// change nothing: a gap, a different end, losing readable offsets,
	// another partition.
	cur := entries(t, s, tp, 0, 0)
	bad := func(what string, repl ...meta.IndexEntry) {
		t.Helper()
		err := lc.ReplaceEntries(ctx, tp, cur, repl)
		if err == nil || errors.Is(err, meta.ErrConflict) {
			t.Fatalf("%s: err = %v, want a validation error", what, err)
		}
		if got := entries(t, s, tp, 0, 0); len(got) != len(cur) || got[0] != cur[0] {
			t.Fatalf("%s changed the index: %+v", what, got)
		}
	}
	whole := archiveOf("cat-3", cur)
	short := whole
	short.LastOffset--
	bad("ends early", short)
	late := whole
	late.BaseOffset = 3
	bad("starts above the log start", late)
	left, right := whole, whole
	left.LastOffset, right.BaseOffset = 9, 11
	bad("gap", left, right)
	bad("drop readable offsets")
	other := whole
	other.TP = tpOf(top, 1)
	bad("other partition", other)
	err = lc.ReplaceEntries(ctx, tp, nil, []meta.IndexEntry{whole})
	if err == nil {
		t.Fatal("ReplaceEntries with nothing old: no error")
	}

	// Once the log start passes offsets, the replacement may start at the
	// log start (retention pruning the archive's oldest segments).
	if _, err := s.DeleteRecords(ctx, tp, 12); err != nil {
		t.Fatal(err)
	}
	cur = entries(t, s, tp, 0, 0)
	pruned := cur[0]
	pruned.BaseOffset, pruned.ObjectKey = 10, "cat-4"
	if err := lc.ReplaceEntries(ctx, tp, cur[:1], []meta.IndexEntry{pruned}); err != nil {
		t.Fatalf("prune archive below the log start: %v", err)
	}
	wantErr(t, "ReplaceEntries(unknown partition)", lc.ReplaceEntries(ctx, meta.TP{Topic: top.ID, Partition: 9}, cur[:1], []meta.IndexEntry{pruned}), meta.ErrUnknownTopicOrPartition)
}

// testReplaceEntriesRace runs archivers that all try to replace the same
// entries: exactly one wins, the rest conflict.
func testReplaceEntriesRace(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "race", 1)
	tp := tpOf(top, 0)
	for _, k := range []string{"a", "b", "c"} {
		commit1(t, s, k, plain(tp, 3, 1))
	}
	es := entries(t, s, tp, 0, 0)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Lifecycle().ReplaceEntries(ctx, tp, es, []meta.IndexEntry{archiveOf("cat-"+string(rune('a'+i)), es)})
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, meta.ErrConflict):
			t.Fatalf("archiver %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d archivers won, want 1", wins)
	}
	if got := entries(t, s, tp, 0, 0); len(got) != 1 || got[0].Kind != meta.EntryArchive || got[0].LastOffset != 8 {
		t.Fatalf("after race: %+v", got)
	}
}

// testDeleteRecordsDropsEntries: entries wholly below the log start go
// with it, the one straddling it stays.
func testDeleteRecordsDropsEntries(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "drop", 1)
	tp := tpOf(top, 0)
	for _, k := range []string{"a", "b", "c", "d"} {
		commit1(t, s, k, plain(tp, 5, 1))
	}
	if _, err := s.DeleteRecords(ctx, tp, 12); err != nil {
		t.Fatal(err)
	}
	got := entries(t, s, tp, 0, 0)
	if keys := keysOf(got); len(keys) != 2 || keys[0] != "c" || keys[1] != "d" {
		t.Fatalf("entries after DeleteRecords(12): %v", keys)
	}
	if _, err := s.DeleteRecords(ctx, tp, -1); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, s, tp, 0, 0); len(got) != 0 {
		t.Fatalf("entries after DeleteRecords(HWM): %v", keysOf(got))
	}
	if ps := state(t, s, tp); ps.LogStart != 20 || ps.HighWatermark != 20 {
		t.Fatalf("state %+v", ps)
	}
}

// testCommitDeadline: an object committed past its deadline takes no
// offsets; one within it commits.
func testCommitDeadline(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "dl", 1)
	tp := tpOf(top, 0)
	late := object("late", plain(tp, 3, 1), plain(tp, 2, 1))
	late.Deadline = time.Now().Add(-time.Second)
	res := commit(t, s, late)
	for j, r := range res[0] {
		wantErr(t, "expired batch", r.Err, meta.ErrObjectExpired)
		_ = j
	}
	if ps := state(t, s, tp); ps.HighWatermark != 0 {
		t.Fatalf("expired object took offsets: HWM %d", ps.HighWatermark)
	}
	if es := entries(t, s, tp, 0, 0); len(es) != 0 {
		t.Fatalf("expired object indexed: %v", keysOf(es))
	}
	ok := object("ok", plain(tp, 3, 1))
	ok.Deadline = time.Now().Add(time.Minute)
	wantResult(t, "in-time batch", commit(t, s, ok)[0][0], 0, false, nil)
}

func testLeases(t *testing.T, s meta.Store) {
	lc := s.Lifecycle()
	acquire := func(name, holder string, ttl time.Duration, want bool) {
		t.Helper()
		ok, err := lc.AcquireLease(ctx, name, holder, ttl)
		if err != nil || ok != want {
			t.Fatalf("AcquireLease(%s, %s) = %v, %v, want %v", name, holder, ok, err, want)
		}
	}
	acquire("vacuum", "b1", time.Minute, true)
	acquire("vacuum", "b2", time.Minute, false) // held
	acquire("vacuum", "b1", time.Minute, true)  // renew
	acquire("archive", "b2", time.Minute, true) // leases are independent
	if err := lc.ReleaseLease(ctx, "vacuum", "b2"); err != nil {
		t.Fatal(err)
	}
	acquire("vacuum", "b2", time.Minute, false) // not b2's to release
	if err := lc.ReleaseLease(ctx, "vacuum", "b1"); err != nil {
		t.Fatal(err)
	}
	acquire("vacuum", "b2", 300*time.Millisecond, true) // released: free
	acquire("vacuum", "b1", time.Minute, false)
	time.Sleep(600 * time.Millisecond)
	acquire("vacuum", "b1", time.Minute, true) // lapsed: taken over
	acquire("vacuum", "b2", time.Minute, false)
	if err := lc.ReleaseLease(ctx, "nothing", "b1"); err != nil {
		t.Fatalf("ReleaseLease of a missing lease: %v", err)
	}

	// Racing takers of a free lease: exactly one wins.
	var wg sync.WaitGroup
	wins := make([]bool, 8)
	for i := range wins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := lc.AcquireLease(ctx, "race", string(rune('a'+i)), time.Minute)
			if err != nil {
				t.Errorf("AcquireLease: %v", err)
			}
			wins[i] = ok
		}()
	}
	wg.Wait()
	n := 0
	for _, w := range wins {
		if w {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d racing takers won the lease, want 1", n)
	}
}
