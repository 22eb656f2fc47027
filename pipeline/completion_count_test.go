//go:build !invariants

package pipeline

import (
	"sync/atomic"
	"testing"
)

// Without the invariants tag a second Done is ignored and counted.
func TestCompletionExactlyOnce(t *testing.T) {
	var calls atomic.Int32
	before := ExtraCompletions()
	c := NewCompletion(func(int64, error) { calls.Add(1) })
	for i := 0; i < 3; i++ {
		c.Done(int64(i), nil)
	}
	if calls.Load() != 1 || c.Extra() != 2 || !c.Completed() {
		t.Fatalf("calls=%d extra=%d", calls.Load(), c.Extra())
	}
	if got := ExtraCompletions() - before; got != 2 {
		t.Fatalf("process-wide extra completions +%d, want +2", got)
	}
}
