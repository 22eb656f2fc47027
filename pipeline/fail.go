package pipeline

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
)

// Failer is implemented by items that carry completions. The engine calls
// Fail when it cannot pass an item on: the stage panicked on it (err wraps
// ErrPanic), or the stage's context ended (err is the context's cause).
// The engine then drops the item, so Fail must complete it, and everything
// it carries, with err.
//
// Fail must leave alone what is already complete (see
// Completion.DoneIfPending): after a panic the engine cannot know how far
// the stage got. A slice of Failers (a Batch stage's output) is failed
// element by element; items that are neither are dropped, and whoever
// waits on them is not told.
type Failer interface {
	Fail(err error)
}

// ErrPanic is wrapped by the error an item is failed with when a stage
// panicked on it.
var ErrPanic = errors.New("pipeline: stage panicked")

// PanicError is what a stage's panic becomes: the error its item is
// failed with, and what the OnPanic hooks and PanicObservers are given.
type PanicError struct {
	Stage string
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("%v: stage %s: %v", ErrPanic, e.Stage, e.Value)
}

// Unwrap makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Unwrap() error { return ErrPanic }

// PanicObserver is an Observer that wants to know of stage panics (to
// count them). The engine calls Panicked whether or not the Observer
// measures anything.
type PanicObserver interface {
	Panicked(stage string, err *PanicError)
}

// faults is a stage's failure path: it turns panics into item errors and
// fails the items a cancelled stage still holds.
type faults struct {
	stage   string
	onPanic func(*PanicError)
	obs     PanicObserver
}

func newFaults(stage string, o Observer, onPanic func(*PanicError)) faults {
	po, _ := o.(PanicObserver)
	return faults{stage: stage, onPanic: onPanic, obs: po}
}

// recovered handles v, a value recover returned while the stage worked on
// item: it reports the panic and fails item. An InvariantViolation is not
// recovered. It must be called from the deferred function that recovered.
func (f *faults) recovered(item any, v any) {
	if iv, ok := v.(*InvariantViolation); ok {
		panic(iv)
	}
	pe := &PanicError{Stage: f.stage, Value: v, Stack: debug.Stack()}
	f.report(pe)
	f.fail(item, pe)
}

func (f *faults) report(pe *PanicError) {
	if f.onPanic != nil {
		f.onPanic(pe)
	}
	if f.obs != nil {
		f.obs.Panicked(f.stage, pe)
	}
}

// fail fails item with err (see Failer). A panic in Fail itself is
// reported, and the item is then lost.
func (f *faults) fail(item any, err error) {
	defer func() {
		if v := recover(); v != nil {
			if iv, ok := v.(*InvariantViolation); ok {
				panic(iv)
			}
			f.report(&PanicError{Stage: f.stage + " (failing an item)", Value: v, Stack: debug.Stack()})
		}
	}()
	failItem(item, err)
}

// cancel fails item with the cause of ctx's end.
func (f *faults) cancel(ctx context.Context, item any) {
	f.fail(item, context.Cause(ctx))
}

func failItem(item any, err error) {
	// Only on the failure path: reflection finds the Failers of a batch,
	// and skips nil pointers.
	v := reflect.ValueOf(item)
	if fl, ok := item.(Failer); ok {
		if v.Kind() != reflect.Pointer || !v.IsNil() {
			fl.Fail(err)
		}
		return
	}
	if v.Kind() == reflect.Slice {
		for i := 0; i < v.Len(); i++ {
			failItem(v.Index(i).Interface(), err)
		}
	}
}

// drainCancelled fails every item still arriving on in until in is closed:
// a cancelled stage's output is closed at once, but its upstream may still
// be emitting what it held.
func drainCancelled[I any](ctx context.Context, f *faults, in <-chan I) {
	for item := range in {
		f.cancel(ctx, item)
	}
}
