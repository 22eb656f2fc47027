package metatest

import (
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta"
)

// checkEntry compares the fields an IndexEntry derives from its commit.
func checkEntry(t *testing.T, what string, e meta.IndexEntry, tp meta.TP, key string, base, last, maxTS, relBase, byteStart, byteEnd int64) {
	t.Helper()
	got := fmt.Sprintf("%v %s [%d,%d] ts=%d rel=%d bytes=[%d,%d)", e.TP, e.ObjectKey, e.BaseOffset, e.LastOffset, e.MaxTimestamp, e.RelBase, e.ByteStart, e.ByteEnd)
	want := fmt.Sprintf("%v %s [%d,%d] ts=%d rel=%d bytes=[%d,%d)", tp, key, base, last, maxTS, relBase, byteStart, byteEnd)
	if got != want {
		t.Fatalf("%s:\n got  %s\n want %s", what, got, want)
	}
}

func keysOf(es []meta.IndexEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ObjectKey)
	}
	return out
}

func testIndexEntries(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "i", 1)
	tp := tpOf(top, 0)
	commit(t, s,
		object("o1", plain(tp, 3, 10), plain(tp, 2, 30)), // 0-4
		object("o2", plain(tp, 4, 20)),                   // 5-8
	)
	commit(t, s, object("o3", plain(tp, 1, 5))) // 9

	all := entries(t, s, tp, 0, 0)
	if len(all) != 3 {
		t.Fatalf("entries = %+v", all)
	}
	checkEntry(t, "o1", all[0], tp, "o1", 0, 4, 30, 0, 0, 500)
	if e := all[0]; e.ObjectSize != 550 || e.IndexPos != 500 || e.IndexLen != 50 {
		t.Fatalf("o1 object fields = %+v", e)
	}
	checkEntry(t, "o2", all[1], tp, "o2", 5, 8, 20, 0, 0, 400)
	checkEntry(t, "o3", all[2], tp, "o3", 9, 9, 5, 0, 0, 100)

	cases := []struct {
		from  int64
		limit int
		want  []string
	}{
		{-5, 0, []string{"o1", "o2", "o3"}},
		{0, 0, []string{"o1", "o2", "o3"}},
		{3, 0, []string{"o1", "o2", "o3"}}, // inside o1
		{4, 0, []string{"o1", "o2", "o3"}}, // o1's last offset
		{5, 0, []string{"o2", "o3"}},       // o2's first offset
		{8, 0, []string{"o2", "o3"}},
		{9, 0, []string{"o3"}},
		{10, 0, nil}, // the high watermark
		{1000, 0, nil},
		{0, 1, []string{"o1"}},
		{0, 2, []string{"o1", "o2"}},
		{6, 1, []string{"o2"}},
		{0, 10, []string{"o1", "o2", "o3"}},
	}
	for _, c := range cases {
		got := keysOf(entries(t, s, tp, c.from, c.limit))
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Entries(from %d, limit %d) = %v, want %v", c.from, c.limit, got, c.want)
		}
	}
	_, err := s.Entries(ctx, tpOf(top, 1), 0, 0)
	wantErr(t, "Entries(unknown partition)", err, meta.ErrUnknownTopicOrPartition)
}

// testRunsInterleaved: batches of two partitions interleaved in one
// object still make one entry per partition, spanning the other's bytes.
func testRunsInterleaved(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "r", 2)
	p0, p1 := tpOf(top, 0), tpOf(top, 1)
	commit(t, s, object("o1", plain(p0, 2, 1), plain(p1, 3, 7), plain(p0, 1, 9), plain(p1, 1, 2)))
	commit(t, s, object("o2", plain(p1, 1, 1), plain(p0, 2, 1)))
	e0 := entries(t, s, p0, 0, 0)
	e1 := entries(t, s, p1, 0, 0)
	if len(e0) != 2 || len(e1) != 2 {
		t.Fatalf("entries p0 %+v p1 %+v", e0, e1)
	}
	checkEntry(t, "p0 o1", e0[0], p0, "o1", 0, 2, 9, 0, 0, 600)
	checkEntry(t, "p1 o1", e1[0], p1, "o1", 0, 3, 7, 0, 200, 700)
	checkEntry(t, "p0 o2", e0[1], p0, "o2", 3, 4, 1, 0, 100, 300)
	checkEntry(t, "p1 o2", e1[1], p1, "o2", 4, 4, 1, 0, 0, 100)
}

// testRunsSplit: a rejected or duplicate batch ends a run, because an
// entry's offsets must map one-to-one onto the object's RelOffsets.
func testRunsSplit(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "s", 1)
	tp := tpOf(top, 0)
	pid, _ := s.NextProducerID(ctx)
	res := commit(t, s, object("o",
		idem(tp, 2, pid, 0, 0), // rel 0, offsets 0-1
		idem(tp, 2, pid, 0, 5), // rel 2, gap: rejected
		idem(tp, 3, pid, 0, 2), // rel 4, offsets 2-4
		idem(tp, 3, pid, 0, 2), // rel 7, duplicate of the previous
		plain(tp, 1, 1),        // rel 10, offset 5
	))[0]
	wantResult(t, "first", res[0], 0, false, nil)
	wantResult(t, "gap", res[1], 0, false, meta.ErrOutOfOrderSequence)
	wantResult(t, "third", res[2], 2, false, nil)
	wantResult(t, "duplicate", res[3], 2, true, nil)
	wantResult(t, "plain", res[4], 5, false, nil)
	es := entries(t, s, tp, 0, 0)
	if len(es) != 3 {
		t.Fatalf("entries = %+v", es)
	}
	checkEntry(t, "run 1", es[0], tp, "o", 0, 1, 1, 0, 0, 200)
	checkEntry(t, "run 2", es[1], tp, "o", 2, 4, 1, 4, 400, 700)
	checkEntry(t, "run 3", es[2], tp, "o", 5, 5, 1, 10, 1000, 1100)
	if ps := state(t, s, tp); ps.HighWatermark != 6 {
		t.Fatalf("HWM = %d", ps.HighWatermark)
	}
}

func testDeleteRecords(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "d", 1)
	tp := tpOf(top, 0)
	commit1(t, s, "o", plain(tp, 10, 1))
	check := func(offset, want int64) {
		t.Helper()
		got, err := s.DeleteRecords(ctx, tp, offset)
		if err != nil || got != want {
			t.Fatalf("DeleteRecords(%d) = %d, %v, want %d", offset, got, err, want)
		}
		if ps := state(t, s, tp); ps.LogStart != want {
			t.Fatalf("LogStart = %d, want %d", ps.LogStart, want)
		}
	}
	check(0, 0)
	check(5, 5)
	check(3, 5) // lower: unchanged
	check(5, 5)
	_, err := s.DeleteRecords(ctx, tp, 11)
	wantErr(t, "DeleteRecords above HWM", err, meta.ErrOffsetOutOfRange)
	_, err = s.DeleteRecords(ctx, tp, -2)
	wantErr(t, "DeleteRecords(-2)", err, meta.ErrOffsetOutOfRange)
	check(10, 10) // up to the HWM is allowed
	commit1(t, s, "o2", plain(tp, 5, 1))
	check(-1, 15) // -1: the HWM
	res := commit1(t, s, "o3", plain(tp, 1, 1))
	if res.LogStart != 15 || res.BaseOffset != 15 {
		t.Fatalf("commit after DeleteRecords = %+v", res)
	}
	_, err = s.DeleteRecords(ctx, tpOf(top, 1), 0)
	wantErr(t, "DeleteRecords(unknown)", err, meta.ErrUnknownTopicOrPartition)
}

func testEntryAtTimestamp(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "ts", 1)
	tp := tpOf(top, 0)
	commit(t, s,
		object("a", plain(tp, 2, 100)), // 0-1
		object("b", plain(tp, 2, 300)), // 2-3
		object("c", plain(tp, 2, 200)), // 4-5
	)
	check := func(ts int64, want string) {
		t.Helper()
		e, ok, err := s.EntryAtTimestamp(ctx, tp, ts)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if ok {
			got = e.ObjectKey
		}
		if got != want {
			t.Fatalf("EntryAtTimestamp(%d) = %q, want %q", ts, got, want)
		}
	}
	check(-1, "a")
	check(50, "a")
	check(100, "a")
	check(150, "b")
	check(250, "b")
	check(300, "b")
	check(301, "")
	s.DeleteRecords(ctx, tp, 2) // "a" is wholly below the log start now
	check(50, "b")
	s.DeleteRecords(ctx, tp, 3) // "b" straddles the log start: still found
	check(50, "b")
	s.DeleteRecords(ctx, tp, 4)
	check(250, "")
	check(150, "c")
	_, _, err := s.EntryAtTimestamp(ctx, tpOf(top, 1), 0)
	wantErr(t, "EntryAtTimestamp(unknown)", err, meta.ErrUnknownTopicOrPartition)
}
