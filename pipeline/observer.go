package pipeline

import "time"

// Observer learns what each stage does. The broker plugs tracing and
// metrics in here; the engine itself only measures.
//
// A nil Observer or NopObserver turns measuring off: the engine then does
// not even read the clock. Any other Observer makes every stage read the
// clock twice per item (Map) or per batch (Batch).
type Observer interface {
	// Processed is called once per item (Map) or per batch (Batch) with the
	// time the item waited in the stage's input queue, the time the stage
	// worked on it, and how many items and bytes it covered.
	Processed(stage string, queueWait, work time.Duration, items int, bytes int64)
}

// ItemObserver is an Observer that also wants the item a measurement is
// about, to trace it. The engine calls Item instead of Processed for an
// Observer that implements it. item is the stage's input: the item (Map)
// or the batch, a []I (Batch). It is called before the item is passed on,
// from the stage's goroutines, and must not keep item.
type ItemObserver interface {
	Observer
	Item(stage string, item any, m Measure)
}

// Measure is what the engine measured of one item (Map) or one batch
// (Batch).
type Measure struct {
	// Queued is when the item (for Batch, the batch's first item) was put
	// in the stage's input, for items that carry it (see Stamped); zero
	// otherwise.
	Queued time.Time
	// Start and End bound the stage's work on the item: for Batch, from
	// the first item taken to the batch's flush (the linger).
	Start, End time.Time
	Items      int
	Bytes      int64
	// Dropped reports that a Map function returned ok=false.
	Dropped bool
}

// QueueWait is the time the item waited in the stage's input, 0 if
// unknown.
func (m Measure) QueueWait() time.Duration {
	if m.Queued.IsZero() || m.Start.Before(m.Queued) {
		return 0
	}
	return m.Start.Sub(m.Queued)
}

// Work is the time the stage spent on the item.
func (m Measure) Work() time.Duration { return m.End.Sub(m.Start) }

// QueueObserver is an Observer that wants to watch each stage's input
// queue (to report its depth). The engine calls Queue once per stage, when
// the stage starts; depth may be called at any time after that.
type QueueObserver interface {
	Queue(stage string, depth func() int)
}

// Stamped is implemented by items that remember when they were queued.
// When measuring is on, a Map stage stamps each item it emits with the time
// its work on it ended, and every stage reports the time from an item's
// stamp to the start of its own work as the item's queue wait.
type Stamped interface {
	QueuedAt() time.Time
	SetQueuedAt(time.Time)
}

// NopObserver discards everything.
type NopObserver struct{}

// Processed implements Observer.
func (NopObserver) Processed(string, time.Duration, time.Duration, int, int64) {}

// Active reports whether o measures anything: false for nil and
// NopObserver.
func Active(o Observer) bool {
	if o == nil {
		return false
	}
	_, nop := o.(NopObserver)
	return !nop
}

// observer is a stage's view of its Observer, decided once.
type observer struct {
	on   bool
	obs  Observer
	item ItemObserver
}

func newObserver(o Observer) observer {
	if !Active(o) {
		return observer{}
	}
	io, _ := o.(ItemObserver)
	return observer{on: true, obs: o, item: io}
}

func (o *observer) queue(stage string, depth func() int) {
	if !o.on {
		return
	}
	if qo, ok := o.obs.(QueueObserver); ok {
		qo.Queue(stage, depth)
	}
}

func (o *observer) report(stage string, item any, m Measure) {
	if m.Queued.IsZero() {
		if s, ok := item.(Stamped); ok {
			m.Queued = s.QueuedAt()
		}
	}
	if o.item != nil {
		o.item.Item(stage, item, m)
		return
	}
	o.obs.Processed(stage, m.QueueWait(), m.Work(), m.Items, m.Bytes)
}

func stamp(item any, t time.Time) {
	if s, ok := item.(Stamped); ok {
		s.SetQueuedAt(t)
	}
}
