package metatest

import (
	"errors"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta"
)

// maxLimitPartitions bounds the topic testCommitLimits creates: a store
// whose limit only a larger commit reaches is skipped (bbolt's, which
// the memmeta tests exercise through the same kvmeta code with a small
// limit).
const maxLimitPartitions = 4000

// CommitLimits is the CommitLimits case of the suite, exported so that a
// store's tests can run it on a store built with a small limit.
func CommitLimits(t *testing.T, s meta.Store) { testCommitLimits(t, s) }

// testCommitLimits checks a store's meta.CommitLimits against what it
// does: a commit the limits say is too large fails whole with
// ErrCommitTooLarge, and the largest one they say fits commits.
func testCommitLimits(t *testing.T, s meta.Store) {
	l := meta.LimitsOf(s)
	if !l.Bounded() {
		t.Skip("the store does not bound its commits")
	}
	// One batch to each partition, each from the same idempotent
	// producer: an index entry, a partition row and a producer row each.
	per := l.Entry + l.Partition + l.Producer
	if l.Entry <= 0 || l.Partition <= 0 || l.Producer <= 0 {
		t.Fatalf("limits %+v: every row a commit writes must cost something", l)
	}
	fit := l.Max / per
	if fit+1 > maxLimitPartitions {
		t.Skipf("limits %+v fit %d partitions in a commit: more than the %d this case creates", l, fit, maxLimitPartitions)
	}
	top := createTopic(t, s, "limits", int32(fit+1))
	pid, err := s.NextProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var bs []meta.BatchCommit
	for p := range int32(fit + 1) {
		bs = append(bs, idem(tpOf(top, p), 1, pid, 0, 0))
	}
	over := object("over", bs...)
	if c := l.ObjectCost(&over); c <= l.Max {
		t.Fatalf("ObjectCost of %d partitions = %d, within the limit %d", fit+1, c, l.Max)
	}
	if _, err := s.Commit(ctx, []meta.ObjectCommit{over}); !errors.Is(err, meta.ErrCommitTooLarge) {
		t.Fatalf("Commit of %d partitions over the limit %+v: %v, want ErrCommitTooLarge", fit+1, l, err)
	}
	if ps := state(t, s, tpOf(top, 0)); ps.HighWatermark != 0 {
		t.Fatalf("refused Commit moved the high watermark to %d", ps.HighWatermark)
	}
	within := object("within", bs[:fit]...)
	if c := l.ObjectCost(&within); c > l.Max {
		t.Fatalf("ObjectCost of %d partitions = %d, over the limit %d", fit, c, l.Max)
	}
	res, err := s.Commit(ctx, []meta.ObjectCommit{within})
	if err != nil {
		t.Fatalf("Commit of %d partitions within the limit %+v: %v", fit, l, err)
	}
	for j, r := range res[0] {
		if r.Err != nil || r.BaseOffset != 0 {
			t.Fatalf("batch %d: %+v", j, r)
		}
	}
}
