// Package pipeline is Sluice's generic stage engine: typed stages connected
// by bounded channels. It knows nothing of Kafka or of any cloud.
//
// A stage reads one input channel and owns one output channel, which it
// closes once its input is closed and drained; it never closes a channel it
// does not own. Backpressure comes from the bounded channels: a slow stage
// fills its input and stalls the stage before it.
//
// Items carry their own completion (a Completion whose Done(offset, err) is
// called exactly once), so a stage that drops an item (because it failed,
// or because it was answered early) completes it there and then.
//
//	in ──► Map(decode) ──► Map(sequence) ──► Batch(cashier) ──► Map(upload, N in flight) ──► …
//
// Map runs a function over each item with a fixed number of workers and
// emits results in input order. Batch gathers items into slices, flushing
// on a count, a byte size, or a linger measured from the first item of the
// batch; a zero linger flushes whatever is ready at once (group commit).
//
// Every stage reports to an Observer (items, bytes, queue wait and work
// time) so that the broker can trace and measure it.
package pipeline
