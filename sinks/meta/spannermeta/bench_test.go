package spannermeta

import (
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta/metatest"
)

// BenchmarkCommit: commit transactions on the emulator, one object of 16
// partitions (a plain and an idempotent batch each) per commit, from 1
// and from 4 concurrent committers. Compare with boltmeta's
// BenchmarkCommit. The emulator is a single-threaded in-memory server
// that serializes read-write transactions: its figures say nothing of
// Cloud Spanner's latency (typically 5-15 ms per commit in one region).
func BenchmarkCommit(b *testing.B) {
	for _, c := range []struct{ partitions, committers int }{{16, 1}, {16, 4}, {1, 1}} {
		b.Run(fmt.Sprintf("partitions=%d/committers=%d", c.partitions, c.committers), func(b *testing.B) {
			s := openURL(b, migratedDatabase(b))
			defer s.Close()
			metatest.BenchCommit(b, s, c.partitions, c.committers)
		})
	}
}
