package boltmeta

import (
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta/metatest"
)

// BenchmarkCommit: the embedded store's commit rate and latency, for
// comparison with spannermeta's BenchmarkCommit (same workload). Every
// commit is an fsynced bbolt transaction.
func BenchmarkCommit(b *testing.B) {
	for _, c := range []struct{ partitions, committers int }{{16, 1}, {16, 4}, {1, 1}} {
		b.Run(fmt.Sprintf("partitions=%d/committers=%d", c.partitions, c.committers), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			metatest.BenchCommit(b, s, c.partitions, c.committers)
		})
	}
}
