package pipeline

import "sync/atomic"

// Completion is the completion an item carries: Done is called exactly once
// with the item's result (an offset, or an error). Later calls are ignored
// and counted in Completion.Extra so that a test can catch a double call.
type Completion struct {
	fn    func(offset int64, err error)
	done  atomic.Bool
	extra atomic.Int32
}

// NewCompletion returns a Completion that calls fn once.
func NewCompletion(fn func(offset int64, err error)) *Completion {
	return &Completion{fn: fn}
}

// Done completes the item. Only the first call has an effect.
func (c *Completion) Done(offset int64, err error) {
	if !c.done.CompareAndSwap(false, true) {
		c.extra.Add(1)
		return
	}
	if c.fn != nil {
		c.fn(offset, err)
	}
}

// Completed reports whether Done has been called.
func (c *Completion) Completed() bool { return c.done.Load() }

// Extra reports how many calls to Done came after the first (a bug).
func (c *Completion) Extra() int { return int(c.extra.Load()) }
