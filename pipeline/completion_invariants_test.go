//go:build invariants

package pipeline

import (
	"errors"
	"sync/atomic"
	"testing"
)

// With the invariants tag (make test) a second Done panics.
func TestCompletionTwicePanics(t *testing.T) {
	var calls atomic.Int32
	c := NewCompletion(func(int64, error) { calls.Add(1) })
	c.Done(1, nil)
	defer func() {
		v := recover()
		var iv *InvariantViolation
		if err, ok := v.(error); !ok || !errors.As(err, &iv) {
			t.Fatalf("second Done: recovered %v, want an *InvariantViolation", v)
		}
		if calls.Load() != 1 || c.Extra() != 1 {
			t.Fatalf("calls=%d extra=%d", calls.Load(), c.Extra())
		}
	}()
	c.Done(2, nil)
	t.Fatal("second Done returned")
}

// A stage does not recover an invariant violation: it must fail the test
// that found it, not become an item's error.
func TestInvariantViolationNotRecovered(t *testing.T) {
	f := newFaults("s", nil, func(*PanicError) { t.Error("invariant violation reported as a stage panic") })
	item := newTestItem(1)
	defer func() {
		if _, ok := recover().(*InvariantViolation); !ok {
			t.Fatal("invariant violation not re-panicked")
		}
		if item.done.Completed() {
			t.Fatal("item failed by an invariant violation")
		}
	}()
	func() {
		defer func() { f.recovered(item, recover()) }()
		panic(&InvariantViolation{What: "test"})
	}()
}
