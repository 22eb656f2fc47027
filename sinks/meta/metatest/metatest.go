package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Run runs the suite. open must return a fresh, empty store; Run closes
// it (except in the Close subtest, which closes it itself).
func Run(t *testing.T, open func(t *testing.T) meta.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"ClusterID", testClusterID},
		{"Topics", testTopics},
		{"DeleteTopic", testDeleteTopic},
		{"PartitionState", testPartitionState},
		{"CommitOffsets", testCommitOffsets},
		{"CommitUnknownPartition", testCommitUnknown},
		{"CommitErrorIsAtomic", testCommitAtomic},
		{"CommitLimits", testCommitLimits},
		{"IndexEntries", testIndexEntries},
		{"RunsInterleaved", testRunsInterleaved},
		{"RunsSplitByRejected", testRunsSplit},
		{"Idempotent", testIdempotent},
		{"IdempotentSameCommit", testIdempotentSameCommit},
		{"IdempotentRecentWindow", testRecentWindow},
		{"ProducerEpochs", testProducerEpochs},
		{"SequenceWrap", testSequenceWrap},
		{"BumpProducerEpoch", testBumpEpoch},
		{"ExpireProducers", testExpireProducers},
		{"DeleteRecords", testDeleteRecords},
		{"EntryAtTimestamp", testEntryAtTimestamp},
		{"NextProducerID", testNextProducerID},
		{"ConcurrentCommits", testConcurrentCommits},
		{"GroupRecord", testGroupRecord},
		{"GroupOffsets", testGroupOffsets},
		{"GroupRollback", testGroupRollback},
		{"GroupWatch", testGroupWatch},
		{"GroupConcurrentUpdates", testGroupConcurrentUpdates},
		{"BrokerRegistry", testBrokerRegistry},
		{"BrokerConcurrentRegister", testBrokerConcurrentRegister},
		{"ReplaceEntries", testReplaceEntries},
		{"ReplaceEntriesRace", testReplaceEntriesRace},
		{"DeleteRecordsDropsEntries", testDeleteRecordsDropsEntries},
		{"CommitDeadline", testCommitDeadline},
		{"Leases", testLeases},
		{"TxnRecord", testTxnRecord},
		{"TxnConcurrentBumps", testTxnConcurrentBumps},
		{"TxnExpire", testTxnExpire},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			tc.fn(t, s)
		})
	}
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

var ctx = context.Background()

// noProducer is the ProducerID of a non-idempotent batch.
const noProducer = -1

func createTopic(t *testing.T, s meta.Store, name string, parts int32) meta.Topic {
	t.Helper()
	tp, err := s.CreateTopic(ctx, name, parts, nil)
	if err != nil {
		t.Fatalf("CreateTopic(%q): %v", name, err)
	}
	return tp
}

func tpOf(top meta.Topic, p int32) meta.TP { return meta.TP{Topic: top.ID, Partition: p} }

// plain is a non-idempotent batch of n records.
func plain(tp meta.TP, n int32, maxTS int64) meta.BatchCommit {
	return meta.BatchCommit{TP: tp, Records: n, MaxTimestamp: maxTS, ProducerID: noProducer, ProducerEpoch: -1, BaseSequence: meta.NoSequence}
}

// idem is an idempotent batch.
func idem(tp meta.TP, n int32, pid int64, epoch int16, seq int32) meta.BatchCommit {
	return meta.BatchCommit{TP: tp, Records: n, MaxTimestamp: 1, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
}

// object lays batches out as an intake object would: Pos/Len in order,
// 100 bytes per record, RelOffset per partition, the index after them.
func object(key string, batches ...meta.BatchCommit) meta.ObjectCommit {
	rel := map[meta.TP]int64{}
	var pos int64
	for i := range batches {
		b := &batches[i]
		b.RelOffset = rel[b.TP]
		rel[b.TP] += int64(b.Records)
		b.Pos, b.Len = pos, 100*int64(b.Records)
		pos += b.Len
	}
	return meta.ObjectCommit{Key: key, Size: pos + 50, IndexPos: pos, IndexLen: 50, Batches: batches}
}

func commit(t *testing.T, s meta.Store, objs ...meta.ObjectCommit) [][]meta.BatchResult {
	t.Helper()
	res, err := s.Commit(ctx, objs)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if len(res) != len(objs) {
		t.Fatalf("Commit returned %d object results for %d objects", len(res), len(objs))
	}
	for i := range objs {
		if len(res[i]) != len(objs[i].Batches) {
			t.Fatalf("object %d: %d results for %d batches", i, len(res[i]), len(objs[i].Batches))
		}
	}
	return res
}

// commit1 commits one batch in its own object and returns its result.
func commit1(t *testing.T, s meta.Store, key string, b meta.BatchCommit) meta.BatchResult {
	t.Helper()
	return commit(t, s, object(key, b))[0][0]
}

func state(t *testing.T, s meta.Store, tp meta.TP) meta.PartitionState {
	t.Helper()
	ps, err := s.PartitionState(ctx, tp)
	if err != nil {
		t.Fatalf("PartitionState(%v): %v", tp, err)
	}
	return ps
}

func entries(t *testing.T, s meta.Store, tp meta.TP, from int64, limit int) []meta.IndexEntry {
	t.Helper()
	es, err := s.Entries(ctx, tp, from, limit)
	if err != nil {
		t.Fatalf("Entries(%v, %d, %d): %v", tp, from, limit, err)
	}
	return es
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func wantResult(t *testing.T, what string, got meta.BatchResult, base int64, dup bool, err error) {
	t.Helper()
	if !errors.Is(got.Err, err) || (err == nil && got.Err != nil) {
		t.Fatalf("%s: Err = %v, want %v", what, got.Err, err)
	}
	if err == nil && (got.BaseOffset != base || got.Duplicate != dup) {
		t.Fatalf("%s: BaseOffset %d Duplicate %v, want %d %v", what, got.BaseOffset, got.Duplicate, base, dup)
	}
}

func testClusterID(t *testing.T, s meta.Store) {
	a, err := s.ClusterID(ctx)
	if err != nil || a == "" {
		t.Fatalf("ClusterID = %q, %v", a, err)
	}
	b, _ := s.ClusterID(ctx)
	if a != b {
		t.Fatalf("ClusterID changed: %q then %q", a, b)
	}
}

func testTopics(t *testing.T, s meta.Store) {
	cfg := map[string]string{"retention.ms": "1000"}
	top, err := s.CreateTopic(ctx, "orders", 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg["retention.ms"] = "changed by caller"
	if top.Name != "orders" || top.Partitions != 3 || top.ID.IsZero() || top.CreatedAt.IsZero() {
		t.Fatalf("CreateTopic = %+v", top)
	}
	if top.Configs["retention.ms"] != "1000" {
		t.Fatalf("configs = %v (store must copy the caller's map)", top.Configs)
	}
	_, err = s.CreateTopic(ctx, "orders", 1, nil)
	wantErr(t, "CreateTopic duplicate", err, meta.ErrTopicExists)
	for _, n := range []int32{0, -1} {
		_, err = s.CreateTopic(ctx, "bad", n, nil)
		wantErr(t, fmt.Sprintf("CreateTopic(%d partitions)", n), err, meta.ErrInvalidPartitions)
	}
	if _, err := s.Topic(ctx, "bad"); !errors.Is(err, meta.ErrUnknownTopicOrPartition) {
		t.Fatalf("failed CreateTopic left a topic: %v", err)
	}

	got, err := s.Topic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != top.ID || got.Partitions != 3 || got.Configs["retention.ms"] != "1000" || !got.CreatedAt.Equal(top.CreatedAt) {
		t.Fatalf("Topic = %+v, created %+v", got, top)
	}
	got.Configs["x"] = "y" // must not leak into the store
	byID, err := s.TopicByID(ctx, top.ID)
	if err != nil || byID.Name != "orders" || len(byID.Configs) != 1 {
		t.Fatalf("TopicByID = %+v, %v", byID, err)
	}
	_, err = s.Topic(ctx, "nope")
	wantErr(t, "Topic(missing)", err, meta.ErrUnknownTopicOrPartition)
	_, err = s.TopicByID(ctx, meta.TopicID{1, 2, 3})
	wantErr(t, "TopicByID(missing)", err, meta.ErrUnknownTopicOrPartition)

	b := createTopic(t, s, "b", 1)
	createTopic(t, s, "a", 1)
	createTopic(t, s, "zz", 1)
	if b.ID == top.ID {
		t.Fatal("two topics share an id")
	}
	all, err := s.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range all {
		names = append(names, tp.Name)
	}
	if want := []string{"a", "b", "orders", "zz"}; !slices.Equal(names, want) {
		t.Fatalf("Topics = %v, want %v", names, want)
	}

	// CreatePartitions.
	wantErr(t, "CreatePartitions(equal)", s.CreatePartitions(ctx, "orders", 3), meta.ErrInvalidPartitions)
	wantErr(t, "CreatePartitions(lower)", s.CreatePartitions(ctx, "orders", 2), meta.ErrInvalidPartitions)
	wantErr(t, "CreatePartitions(missing)", s.CreatePartitions(ctx, "nope", 5), meta.ErrUnknownTopicOrPartition)
	_, err = s.PartitionState(ctx, tpOf(top, 3))
	wantErr(t, "PartitionState(3) before CreatePartitions", err, meta.ErrUnknownTopicOrPartition)
	commit1(t, s, "o1", plain(tpOf(top, 0), 4, 10))
	if err := s.CreatePartitions(ctx, "orders", 5); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Topic(ctx, "orders"); got.Partitions != 5 {
		t.Fatalf("partitions after CreatePartitions = %d", got.Partitions)
	}
	if ps := state(t, s, tpOf(top, 4)); ps != (meta.PartitionState{MaxTimestamp: -1, MaxTimestampOffset: -1}) {
		t.Fatalf("new partition state = %+v", ps)
	}
	if ps := state(t, s, tpOf(top, 0)); ps.HighWatermark != 4 {
		t.Fatalf("CreatePartitions disturbed partition 0: %+v", ps)
	}

	// SetTopicConfigs replaces the whole map.
	if err := s.SetTopicConfigs(ctx, "orders", map[string]string{"cleanup.policy": "delete"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Topic(ctx, "orders")
	if len(got.Configs) != 1 || got.Configs["cleanup.policy"] != "delete" {
		t.Fatalf("configs after set = %v", got.Configs)
	}
	if err := s.SetTopicConfigs(ctx, "orders", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.Topic(ctx, "orders"); len(got.Configs) != 0 {
		t.Fatalf("configs after clearing = %v", got.Configs)
	}
	wantErr(t, "SetTopicConfigs(missing)", s.SetTopicConfigs(ctx, "nope", nil), meta.ErrUnknownTopicOrPartition)
}

func testDeleteTopic(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "t", 2)
	other := createTopic(t, s, "u", 1)
	pid, _ := s.NextProducerID(ctx)
	commit(t, s,
		object("o1", plain(tpOf(top, 0), 3, 5), idem(tpOf(top, 1), 2, pid, 0, 0), plain(tpOf(other, 0), 1, 5)),
	)
	if err := s.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Topic(ctx, "t")
	wantErr(t, "Topic after delete", err, meta.ErrUnknownTopicOrPartition)
	_, err = s.TopicByID(ctx, top.ID)
	wantErr(t, "TopicByID after delete", err, meta.ErrUnknownTopicOrPartition)
	_, err = s.PartitionState(ctx, tpOf(top, 0))
	wantErr(t, "PartitionState after delete", err, meta.ErrUnknownTopicOrPartition)
	_, err = s.Entries(ctx, tpOf(top, 0), 0, 0)
	wantErr(t, "Entries after delete", err, meta.ErrUnknownTopicOrPartition)
	if _, ok, err := s.ProducerState(ctx, pid, tpOf(top, 1)); ok || err != nil {
		t.Fatalf("ProducerState after delete: ok=%v err=%v", ok, err)
	}
	wantErr(t, "DeleteTopic twice", s.DeleteTopic(ctx, "t"), meta.ErrUnknownTopicOrPartition)
	res := commit1(t, s, "o2", plain(tpOf(top, 0), 1, 5))
	wantResult(t, "commit to deleted topic", res, 0, false, meta.ErrUnknownTopicOrPartition)

	// The other topic is untouched.
	if es := entries(t, s, tpOf(other, 0), 0, 0); len(es) != 1 {
		t.Fatalf("other topic's entries = %v", es)
	}
	// A new topic of the same name starts empty, with a new id.
	again := createTopic(t, s, "t", 2)
	if again.ID == top.ID {
		t.Fatal("recreated topic reuses the old id")
	}
	if es := entries(t, s, tpOf(again, 0), 0, 0); len(es) != 0 {
		t.Fatalf("recreated topic has entries: %v", es)
	}
	if ps := state(t, s, tpOf(again, 0)); ps.HighWatermark != 0 {
		t.Fatalf("recreated topic HWM = %d", ps.HighWatermark)
	}
}

func testPartitionState(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "p", 2)
	for p := range int32(2) {
		if ps := state(t, s, tpOf(top, p)); ps != (meta.PartitionState{LogStart: 0, HighWatermark: 0, MaxTimestamp: -1, MaxTimestampOffset: -1}) {
			t.Fatalf("fresh partition %d = %+v", p, ps)
		}
	}
	for _, tp := range []meta.TP{tpOf(top, 2), tpOf(top, -1), {Topic: meta.TopicID{9}, Partition: 0}} {
		_, err := s.PartitionState(ctx, tp)
		wantErr(t, fmt.Sprintf("PartitionState(%v)", tp), err, meta.ErrUnknownTopicOrPartition)
	}
	// MaxTimestamp follows the largest batch timestamp, ties move the offset.
	tp := tpOf(top, 0)
	commit1(t, s, "a", plain(tp, 2, 100)) // offsets 0-1
	commit1(t, s, "b", plain(tp, 3, 50))  // 2-4
	if ps := state(t, s, tp); ps.MaxTimestamp != 100 || ps.MaxTimestampOffset != 1 || ps.HighWatermark != 5 {
		t.Fatalf("state = %+v", ps)
	}
	commit1(t, s, "c", plain(tp, 1, 100)) // 5
	if ps := state(t, s, tp); ps.MaxTimestamp != 100 || ps.MaxTimestampOffset != 5 {
		t.Fatalf("state after tie = %+v", ps)
	}
}

func testCommitOffsets(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "c", 3)
	p0, p1, p2 := tpOf(top, 0), tpOf(top, 1), tpOf(top, 2)
	res := commit(t, s,
		object("o1", plain(p0, 3, 1), plain(p1, 2, 1), plain(p0, 1, 1)),
		object("o2", plain(p1, 5, 1), plain(p0, 2, 1)),
		object("o3", plain(p2, 1, 1)),
	)
	want := [][]int64{{0, 0, 3}, {2, 4}, {0}}
	for i := range want {
		for j, base := range want[i] {
			r := res[i][j]
			wantResult(t, fmt.Sprintf("obj %d batch %d", i, j), r, base, false, nil)
			if r.LogStart != 0 {
				t.Fatalf("obj %d batch %d: LogStart %d", i, j, r.LogStart)
			}
		}
	}
	for tp, hwm := range map[meta.TP]int64{p0: 6, p1: 7, p2: 1} {
		if ps := state(t, s, tp); ps.HighWatermark != hwm {
			t.Fatalf("HWM(%d) = %d, want %d", tp.Partition, ps.HighWatermark, hwm)
		}
	}
	// The next call continues where this one stopped.
	res = commit(t, s, object("o4", plain(p1, 1, 1), plain(p0, 4, 1)))
	wantResult(t, "next call p1", res[0][0], 7, false, nil)
	wantResult(t, "next call p0", res[0][1], 6, false, nil)
	if ps := state(t, s, p0); ps.HighWatermark != 10 {
		t.Fatalf("HWM = %d", ps.HighWatermark)
	}
	// An empty commit is fine.
	if res, err := s.Commit(ctx, nil); err != nil || len(res) != 0 {
		t.Fatalf("empty Commit = %v, %v", res, err)
	}
}

func testCommitUnknown(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "u", 1)
	res := commit(t, s, object("o",
		plain(tpOf(top, 0), 2, 1),
		plain(tpOf(top, 1), 2, 1),
		plain(meta.TP{Topic: meta.TopicID{7}}, 2, 1),
		plain(tpOf(top, 0), 2, 1),
	))
	wantResult(t, "known", res[0][0], 0, false, nil)
	wantResult(t, "partition too high", res[0][1], 0, false, meta.ErrUnknownTopicOrPartition)
	wantResult(t, "unknown topic", res[0][2], 0, false, meta.ErrUnknownTopicOrPartition)
	wantResult(t, "known after unknown", res[0][3], 2, false, nil)
	// Another partition's failure does not split this partition's run.
	if es := entries(t, s, tpOf(top, 0), 0, 0); len(es) != 1 || es[0].LastOffset != 3 {
		t.Fatalf("entries = %+v", es)
	}
}

// testCommitAtomic: a Commit that fails as a whole leaves nothing behind,
// not even the batches before the bad one.
func testCommitAtomic(t *testing.T, s meta.Store) {
	top := createTopic(t, s, "a", 1)
	tp := tpOf(top, 0)
	bad := object("bad", plain(tp, 0, 1))
	bad.Batches[0].Records = 0
	_, err := s.Commit(ctx, []meta.ObjectCommit{object("good", plain(tp, 5, 1)), bad})
	if err == nil {
		t.Fatal("Commit of a zero-record batch succeeded")
	}
	if ps := state(t, s, tp); ps.HighWatermark != 0 {
		t.Fatalf("failed Commit moved HWM to %d", ps.HighWatermark)
	}
	if es := entries(t, s, tp, 0, 0); len(es) != 0 {
		t.Fatalf("failed Commit left entries %+v", es)
	}
	// A cancelled context commits nothing either.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Commit(cctx, []meta.ObjectCommit{object("c", plain(tp, 1, 1))}); err == nil {
		t.Fatal("Commit with a cancelled context succeeded")
	}
	if ps := state(t, s, tp); ps.HighWatermark != 0 {
		t.Fatalf("cancelled Commit moved HWM to %d", ps.HighWatermark)
	}
}
