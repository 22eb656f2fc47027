package pipeline

import "time"

// Observer learns what each stage does. The broker plugs tracing and
// metrics in here; the engine itself only measures.
type Observer interface {
	// Processed is called once per item (Map) or per batch (Batch) with the
	// time the item waited in the stage's input queue, the time the stage
	// worked on it, and how many items and bytes it covered.
	Processed(stage string, queueWait, work time.Duration, items int, bytes int64)
}

// NopObserver discards everything.
type NopObserver struct{}

// Processed implements Observer.
func (NopObserver) Processed(string, time.Duration, time.Duration, int, int64) {}
