package lifecycle

import (
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
)

// The vacuum's safety rests on reading an object's age from its key: a
// key it cannot date must never be deleted.
func TestObjectTime(t *testing.T) {
	now := time.Unix(1_800_000_000, 123456789)
	tp := meta.TP{Topic: meta.TopicID{1, 2}, Partition: 7}
	for _, key := range []string{
		newArchiveKey(tp, now, "seg"),
		newArchiveKey(tp, now, "cat"),
		"intake/2027-01-15/" + hexNanos(now) + "-0011223344556677",
	} {
		got, ok := objectTime(key)
		if !ok || !got.Equal(now) {
			t.Errorf("objectTime(%q) = %v, %v; want %v", key, got, ok, now)
		}
		if !sluiceKey(key) {
			t.Errorf("sluiceKey(%q) = false", key)
		}
	}
	for _, key := range []string{"", "intake/", "intake/x/notahexnumber0-1", "archive/a/0/123-x.seg", "other/0000000000000001-x"} {
		if _, ok := objectTime(key); ok && sluiceKey(key) {
			t.Errorf("objectTime(%q) dated a key Sluice did not name", key)
		}
	}
	// The cluster marker is Sluice's, but never the vacuum's to delete.
	if _, ok := objectTime(objstore.MarkerKey); ok || sluiceKey(objstore.MarkerKey) {
		t.Errorf("the vacuum takes the cluster marker %q for one of its objects", objstore.MarkerKey)
	}
	if got := partitionPrefix(tp); got != "archive/01020000000000000000000000000000/7/" {
		t.Errorf("partitionPrefix = %q", got)
	}
	if CommitDeadline(time.Hour) != 30*time.Minute || CommitDeadline(0) != DefaultGrace/2 {
		t.Error("CommitDeadline is not half the grace period")
	}
}

func hexNanos(t time.Time) string {
	const digits = "0123456789abcdef"
	n := uint64(t.UnixNano())
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[n&15]
		n >>= 4
	}
	return string(b)
}
