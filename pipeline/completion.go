package pipeline

import "sync/atomic"

// Completion is the completion an item carries: Done is called exactly once
// with the item's result (a T, or an error). The engine gives T no meaning;
// the produce pipeline's is the batch's base offset.
//
// A second call to Done is a bug in a stage. It is counted (Extra, and
// process-wide in ExtraCompletions) and ignored; built with the invariants
// tag (make test), it panics with an *InvariantViolation instead, which no
// stage recovers.
type Completion[T any] struct {
	fn    func(T, error)
	done  atomic.Bool
	extra atomic.Int32
}

// NewCompletion returns a Completion that calls fn once.
func NewCompletion[T any](fn func(T, error)) *Completion[T] {
	return &Completion[T]{fn: fn}
}

// Done completes the item. Only the first call has an effect.
func (c *Completion[T]) Done(v T, err error) {
	if !c.done.CompareAndSwap(false, true) {
		c.extra.Add(1)
		extraCompletions.Add(1)
		if Invariants {
			panic(&InvariantViolation{What: "completion called twice"})
		}
		return
	}
	if c.fn != nil {
		c.fn(v, err)
	}
}

// DoneIfPending completes the item unless it is already complete, and
// reports whether it did. It is for a Failer's Fail: after a panic the
// engine cannot know how far the stage got, so a failure path may meet
// items already completed; that is not a second completion.
func (c *Completion[T]) DoneIfPending(v T, err error) bool {
	if !c.done.CompareAndSwap(false, true) {
		return false
	}
	if c.fn != nil {
		c.fn(v, err)
	}
	return true
}

// Completed reports whether Done has been called.
func (c *Completion[T]) Completed() bool { return c.done.Load() }

// Extra reports how many calls to Done came after the first (a bug).
func (c *Completion[T]) Extra() int { return int(c.extra.Load()) }

var extraCompletions atomic.Int64

// ExtraCompletions reports how many second calls to a Completion's Done
// this process has seen (each a bug), for a metric.
func ExtraCompletions() int64 { return extraCompletions.Load() }

// InvariantViolation is the panic value of a broken engine invariant
// under the invariants build tag. Stages do not recover it: it is meant
// to fail the test that found it.
type InvariantViolation struct{ What string }

func (v *InvariantViolation) Error() string { return "pipeline: invariant violated: " + v.What }
