package metatest

import (
	"math"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

func producerState(t *testing.T, s meta.Store, pid int64, tp meta.TP) meta.ProducerState {
	t.Helper()
	st, ok, err := s.ProducerState(ctx, pid, tp)
	if err != nil || !ok {
		t.Fatalf("ProducerState(%d, %v) = ok %v, %v", pid, tp, ok, err)
	}
	return st
}

func hwm(t *testing.T, s meta.Store, tp meta.TP) int64 {
	t.Helper()
	return state(t, s, tp).HighWatermark
}

func testIdempotent(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "idem", 2)
	tp, tp1 := tpOf(top, 0), tpOf(top, 1)
	pid, err := s.NextProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ProducerState(ctx, pid, tp); ok || err != nil {
		t.Fatalf("ProducerState before any batch: ok %v, %v", ok, err)
	}
	wantResult(t, "seq 0-2", commit1(t, s, "a", idem(tp, 3, pid, 0, 0)), 0, false, nil)
	wantResult(t, "seq 3-4", commit1(t, s, "b", idem(tp, 2, pid, 0, 3)), 3, false, nil)

	// Retries of either batch are duplicates with their original offsets.
	r := commit1(t, s, "b2", idem(tp, 2, pid, 0, 3))
	wantResult(t, "retry seq 3-4", r, 3, true, nil)
	if r.LogStart != 0 {
		t.Fatalf("duplicate LogStart = %d", r.LogStart)
	}
	wantResult(t, "retry seq 0-2", commit1(t, s, "a2", idem(tp, 3, pid, 0, 0)), 0, true, nil)
	if got := hwm(t, s, tp); got != 5 {
		t.Fatalf("HWM after duplicates = %d, want 5", got)
	}
	if es := entries(t, s, tp, 0, 0); len(es) != 2 {
		t.Fatalf("duplicates wrote index entries: %+v", keysOf(es))
	}

	wantResult(t, "gap", commit1(t, s, "c", idem(tp, 1, pid, 0, 6)), 0, false, meta.ErrOutOfOrderSequence)
	wantResult(t, "overlap", commit1(t, s, "c", idem(tp, 2, pid, 0, 4)), 0, false, meta.ErrOutOfOrderSequence)
	wantResult(t, "behind", commit1(t, s, "c", idem(tp, 1, pid, 0, 1)), 0, false, meta.ErrOutOfOrderSequence)
	if got := hwm(t, s, tp); got != 5 {
		t.Fatalf("HWM after rejected batches = %d, want 5", got)
	}
	wantResult(t, "seq 5", commit1(t, s, "d", idem(tp, 1, pid, 0, 5)), 5, false, nil)
	st := producerState(t, s, pid, tp)
	want := []meta.ProducerBatch{{FirstSeq: 0, LastSeq: 2, BaseOffset: 0}, {FirstSeq: 3, LastSeq: 4, BaseOffset: 3}, {FirstSeq: 5, LastSeq: 5, BaseOffset: 5}}
	if st.Epoch != 0 || len(st.Recent) != len(want) {
		t.Fatalf("ProducerState = %+v", st)
	}
	for i := range want {
		if st.Recent[i] != want[i] {
			t.Fatalf("Recent[%d] = %+v, want %+v", i, st.Recent[i], want[i])
		}
	}

	// Sequences are per partition.
	wantResult(t, "other partition seq 0", commit1(t, s, "e", idem(tp1, 4, pid, 0, 0)), 0, false, nil)
	wantResult(t, "other partition seq 6", commit1(t, s, "e", idem(tp1, 1, pid, 0, 6)), 0, false, meta.ErrOutOfOrderSequence)

	// A producer new to the partition must start at 0.
	pid2, _ := s.NextProducerID(ctx)
	wantResult(t, "new producer seq 5", commit1(t, s, "f", idem(tp, 1, pid2, 0, 5)), 0, false, meta.ErrOutOfOrderSequence)
	if _, ok, _ := s.ProducerState(ctx, pid2, tp); ok {
		t.Fatal("rejected batch created producer state")
	}

	// Without a sequence no checks apply, whatever the producer id.
	nb := idem(tp, 1, pid, 0, meta.NoSequence)
	wantResult(t, "no sequence", commit1(t, s, "g", nb), 6, false, nil)
	wantResult(t, "no sequence again", commit1(t, s, "g", nb), 7, false, nil)
}

// testIdempotentSameCommit: checks see batches accepted earlier in the same
// Commit call, across objects.
func testIdempotentSameCommit(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "same", 1)
	tp := tpOf(top, 0)
	pid, _ := s.NextProducerID(ctx)
	res := commit(t, s,
		object("o1", idem(tp, 2, pid, 0, 0), idem(tp, 2, pid, 0, 2), idem(tp, 2, pid, 0, 2)),
		object("o2", idem(tp, 2, pid, 0, 0), idem(tp, 1, pid, 0, 9), idem(tp, 1, pid, 0, 4)),
	)
	wantResult(t, "o1[0]", res[0][0], 0, false, nil)
	wantResult(t, "o1[1]", res[0][1], 2, false, nil)
	wantResult(t, "o1[2]", res[0][2], 2, true, nil)
	wantResult(t, "o2[0]", res[1][0], 0, true, nil)
	wantResult(t, "o2[1]", res[1][1], 0, false, meta.ErrOutOfOrderSequence)
	wantResult(t, "o2[2]", res[1][2], 4, false, nil)
	if got := hwm(t, s, tp); got != 5 {
		t.Fatalf("HWM = %d, want 5", got)
	}
	if st := producerState(t, s, pid, tp); len(st.Recent) != 3 || st.Recent[2] != (meta.ProducerBatch{FirstSeq: 4, LastSeq: 4, BaseOffset: 4}) {
		t.Fatalf("ProducerState = %+v", st)
	}
}

// testRecentWindow: only the last RecentBatches batches are recognised as
// duplicates; an older retry is out of order.
func testRecentWindow(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "win", 1)
	tp := tpOf(top, 0)
	pid, _ := s.NextProducerID(ctx)
	n := meta.RecentBatches + 2
	for i := range n {
		wantResult(t, "fill", commit1(t, s, "o", idem(tp, 1, pid, 0, int32(i))), int64(i), false, nil)
	}
	st := producerState(t, s, pid, tp)
	if len(st.Recent) != meta.RecentBatches || st.Recent[0].FirstSeq != int32(n-meta.RecentBatches) || st.Recent[len(st.Recent)-1].FirstSeq != int32(n-1) {
		t.Fatalf("Recent = %+v", st.Recent)
	}
	oldest := int32(n - meta.RecentBatches)
	wantResult(t, "oldest remembered", commit1(t, s, "r", idem(tp, 1, pid, 0, oldest)), int64(oldest), true, nil)
	wantResult(t, "forgotten", commit1(t, s, "r", idem(tp, 1, pid, 0, oldest-1)), 0, false, meta.ErrOutOfOrderSequence)
}

func testProducerEpochs(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "ep", 1)
	tp := tpOf(top, 0)
	pid, _ := s.NextProducerID(ctx)
	wantResult(t, "e0 s0", commit1(t, s, "a", idem(tp, 3, pid, 0, 0)), 0, false, nil)
	wantResult(t, "e1 must start at 0", commit1(t, s, "b", idem(tp, 1, pid, 1, 3)), 0, false, meta.ErrOutOfOrderSequence)
	wantResult(t, "e1 s0", commit1(t, s, "b", idem(tp, 1, pid, 1, 0)), 3, false, nil)
	wantResult(t, "old epoch", commit1(t, s, "c", idem(tp, 1, pid, 0, 3)), 0, false, meta.ErrInvalidProducerEpoch)
	wantResult(t, "old epoch retry", commit1(t, s, "c", idem(tp, 3, pid, 0, 0)), 0, false, meta.ErrInvalidProducerEpoch)
	st := producerState(t, s, pid, tp)
	if st.Epoch != 1 || len(st.Recent) != 1 || st.Recent[0] != (meta.ProducerBatch{FirstSeq: 0, LastSeq: 0, BaseOffset: 3}) {
		t.Fatalf("ProducerState = %+v", st)
	}
	wantResult(t, "e1 s1", commit1(t, s, "d", idem(tp, 1, pid, 1, 1)), 4, false, nil)
	// Epochs may jump (a new producer session), always from sequence 0.
	wantResult(t, "e7 s0", commit1(t, s, "e", idem(tp, 2, pid, 7, 0)), 5, false, nil)
	if got := hwm(t, s, tp); got != 7 {
		t.Fatalf("HWM = %d", got)
	}
}

func testSequenceWrap(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "wrap", 2)
	tp, tp1 := tpOf(top, 0), tpOf(top, 1)
	pid, _ := s.NextProducerID(ctx)
	const maxSeq = math.MaxInt32

	// One huge batch takes sequences 0..MaxInt32-5; the next one crosses
	// MaxInt32 and ends at 4.
	wantResult(t, "big", commit1(t, s, "a", idem(tp, maxSeq-4, pid, 0, 0)), 0, false, nil)
	wantResult(t, "crossing", commit1(t, s, "b", idem(tp, 10, pid, 0, maxSeq-4)), maxSeq-4, false, nil)
	st := producerState(t, s, pid, tp)
	if last := st.Recent[len(st.Recent)-1]; last.FirstSeq != maxSeq-4 || last.LastSeq != 4 {
		t.Fatalf("last batch = %+v, want seq %d..4", last, maxSeq-4)
	}
	wantResult(t, "crossing retry", commit1(t, s, "b2", idem(tp, 10, pid, 0, maxSeq-4)), maxSeq-4, true, nil)
	wantResult(t, "after wrap bad", commit1(t, s, "c", idem(tp, 1, pid, 0, 0)), 0, false, meta.ErrOutOfOrderSequence)
	wantResult(t, "after wrap", commit1(t, s, "c", idem(tp, 1, pid, 0, 5)), maxSeq+6, false, nil)

	// A batch ending exactly at MaxInt32 is followed by sequence 0.
	wantResult(t, "to max-1", commit1(t, s, "d", idem(tp1, maxSeq, pid, 0, 0)), 0, false, nil)
	wantResult(t, "max", commit1(t, s, "e", idem(tp1, 1, pid, 0, maxSeq)), maxSeq, false, nil)
	wantResult(t, "zero", commit1(t, s, "f", idem(tp1, 1, pid, 0, 0)), maxSeq+1, false, nil)
}

func testBumpEpoch(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "bump", 1)
	tp := tpOf(top, 0)
	pid, _ := s.NextProducerID(ctx)
	wantResult(t, "e0 s0", commit1(t, s, "a", idem(tp, 1, pid, 0, 0)), 0, false, nil)

	_, err := s.BumpProducerEpoch(ctx, pid, 3)
	wantErr(t, "bump from wrong epoch", err, meta.ErrInvalidProducerEpoch)
	next, err := s.BumpProducerEpoch(ctx, pid, 0)
	if err != nil || next != 1 {
		t.Fatalf("BumpProducerEpoch(0) = %d, %v", next, err)
	}
	_, err = s.BumpProducerEpoch(ctx, pid, 0)
	wantErr(t, "bump stale epoch", err, meta.ErrInvalidProducerEpoch)

	// The old epoch is fenced even though no batch of epoch 1 came yet.
	wantResult(t, "fenced", commit1(t, s, "b", idem(tp, 1, pid, 0, 1)), 0, false, meta.ErrInvalidProducerEpoch)
	wantResult(t, "fenced retry", commit1(t, s, "b", idem(tp, 1, pid, 0, 0)), 0, false, meta.ErrInvalidProducerEpoch)
	wantResult(t, "e1 s0", commit1(t, s, "c", idem(tp, 1, pid, 1, 0)), 1, false, nil)

	// Bumping again fences epoch 1, which the partition's state still has.
	if next, err = s.BumpProducerEpoch(ctx, pid, 1); err != nil || next != 2 {
		t.Fatalf("BumpProducerEpoch(1) = %d, %v", next, err)
	}
	wantResult(t, "e1 fenced", commit1(t, s, "d", idem(tp, 1, pid, 1, 1)), 0, false, meta.ErrInvalidProducerEpoch)
	wantResult(t, "e2 s0", commit1(t, s, "e", idem(tp, 1, pid, 2, 0)), 2, false, nil)

	// Producers are independent.
	pid2, _ := s.NextProducerID(ctx)
	if next, err := s.BumpProducerEpoch(ctx, pid2, 0); err != nil || next != 1 {
		t.Fatalf("BumpProducerEpoch(pid2, 0) = %d, %v", next, err)
	}
	wantResult(t, "pid unaffected", commit1(t, s, "f", idem(tp, 1, pid, 2, 1)), 3, false, nil)
}

// expire runs ExpireProducers and checks what it reports.
func expire(t *testing.T, s meta.Store, tp meta.TP, idleBefore time.Time, removed int) meta.ProducerExpiry {
	t.Helper()
	res, err := s.Lifecycle().ExpireProducers(ctx, tp, idleBefore)
	if err != nil {
		t.Fatalf("ExpireProducers(%v, %v): %v", tp, idleBefore, err)
	}
	if res.Removed != removed || res.Stamped != 0 || res.More || res.KeptSince.IsZero() {
		t.Fatalf("ExpireProducers(%v, %v) = %+v, want %d removed", tp, idleBefore, res, removed)
	}
	return res
}

func wantNoProducerState(t *testing.T, s meta.Store, pid int64, tp meta.TP) {
	t.Helper()
	if st, ok, err := s.ProducerState(ctx, pid, tp); ok || err != nil {
		t.Fatalf("ProducerState(%d, %v) = %+v, ok %v, %v; want none", pid, tp, st, ok, err)
	}
}

// testExpireProducers: producer states last written before the idle limit
// go, others stay; a producer whose state went starts over at sequence 0,
// as Kafka answers one whose state expired.
func testExpireProducers(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "expire", 2)
	tp, tp1 := tpOf(top, 0), tpOf(top, 1)
	idle, _ := s.NextProducerID(ctx)
	busy, _ := s.NextProducerID(ctx)

	// The store's clock may be another machine's (Spanner): compare
	// LastWrite with this one's only up to a tolerance.
	const skew = 2 * time.Second
	before := time.Now()
	wantResult(t, "idle seq 0-2", commit1(t, s, "a", idem(tp, 3, idle, 0, 0)), 0, false, nil)
	wantResult(t, "idle on p1", commit1(t, s, "b", idem(tp1, 1, idle, 0, 0)), 0, false, nil)
	after := time.Now()
	idleSt := producerState(t, s, idle, tp)
	if lw := idleSt.LastWrite; lw.Before(before.Add(-skew)) || lw.After(after.Add(skew)) {
		t.Fatalf("LastWrite %v, want between %v and %v", lw, before, after)
	}

	// Nothing was written before a limit earlier than the writes.
	res := expire(t, s, tp, before.Add(-time.Minute), 0)
	if res.KeptSince.After(idleSt.LastWrite) {
		t.Fatalf("KeptSince %v after the kept state's LastWrite %v", res.KeptSince, idleSt.LastWrite)
	}
	producerState(t, s, idle, tp)

	// The busy producer writes after the limit, the idle one not.
	time.Sleep(50 * time.Millisecond)
	limit := time.Now()
	time.Sleep(50 * time.Millisecond)
	wantResult(t, "busy seq 0", commit1(t, s, "c", idem(tp, 2, busy, 0, 0)), 3, false, nil)
	busySt := producerState(t, s, busy, tp)
	if !busySt.LastWrite.After(idleSt.LastWrite) {
		t.Fatalf("busy LastWrite %v not after idle LastWrite %v", busySt.LastWrite, idleSt.LastWrite)
	}
	res = expire(t, s, tp, limit, 1)
	if res.KeptSince.After(busySt.LastWrite) {
		t.Fatalf("KeptSince %v after the kept state's LastWrite %v", res.KeptSince, busySt.LastWrite)
	}
	wantNoProducerState(t, s, idle, tp)
	if st := producerState(t, s, busy, tp); len(st.Recent) != 1 || st.Recent[0].BaseOffset != 3 {
		t.Fatalf("busy producer's state changed: %+v", st)
	}
	// Other partitions' states are untouched, even when as old.
	producerState(t, s, idle, tp1)
	expire(t, s, tp, limit, 0) // already gone

	// The expired producer continuing its sequence is out of order; its
	// retry of the old batch cannot be recognised any more, so it is a new
	// batch with sequence 0, and starts the state afresh.
	wantResult(t, "continued after expiry", commit1(t, s, "d", idem(tp, 1, idle, 0, 3)), 0, false, meta.ErrOutOfOrderSequence)
	wantNoProducerState(t, s, idle, tp)
	wantResult(t, "fresh start after expiry", commit1(t, s, "e", idem(tp, 3, idle, 0, 0)), 5, false, nil)
	if st := producerState(t, s, idle, tp); len(st.Recent) != 1 || st.Recent[0] != (meta.ProducerBatch{FirstSeq: 0, LastSeq: 2, BaseOffset: 5}) ||
		st.LastWrite.Before(busySt.LastWrite) {
		t.Fatalf("state after the fresh start: %+v", st)
	}
	wantResult(t, "retry of the fresh start", commit1(t, s, "e2", idem(tp, 3, idle, 0, 0)), 5, true, nil)
	wantResult(t, "next after the fresh start", commit1(t, s, "f", idem(tp, 1, idle, 0, 3)), 8, false, nil)

	// A limit after every write takes all of the partition's states, and
	// only them.
	expire(t, s, tp, time.Now().Add(skew), 2)
	wantNoProducerState(t, s, idle, tp)
	wantNoProducerState(t, s, busy, tp)
	producerState(t, s, idle, tp1)
	if got := hwm(t, s, tp); got != 9 {
		t.Fatalf("HWM %d, want 9: expiry moved offsets", got)
	}

	// An epoch fenced by BumpProducerEpoch stays fenced: that is not
	// partition state.
	if _, err := s.BumpProducerEpoch(ctx, busy, 0); err != nil {
		t.Fatal(err)
	}
	wantResult(t, "fenced epoch after expiry", commit1(t, s, "g", idem(tp, 1, busy, 0, 0)), 0, false, meta.ErrInvalidProducerEpoch)
	wantResult(t, "new epoch after expiry", commit1(t, s, "g", idem(tp, 1, busy, 1, 0)), 9, false, nil)

	// A partition without states, or an unknown one, has nothing to expire.
	expire(t, s, tpOf(createTopic(t, s, "empty", 1), 0), time.Now(), 0)
	expire(t, s, tpOf(top, 9), time.Now(), 0)
}
