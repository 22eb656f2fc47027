// Package pipeline is Sluice's generic stage engine: typed stages connected
// by bounded channels. It knows nothing of Kafka or of any cloud (the
// layering test in internal/layering fails if it imports them).
//
// A stage reads one input channel and owns one output channel, which it
// closes once its input is closed and drained; it never closes a channel it
// does not own. Backpressure comes from the bounded channels: a slow stage
// fills its input and stalls the stage before it.
//
// Items carry their own completion (a Completion[T] whose Done(T, error)
// is called exactly once), so a stage that drops an item (because it
// failed, or because it was answered early) completes it there and then.
// A second Done is a bug: counted, and a panic under the invariants build
// tag, which make test sets.
//
//	in ──► Map(decode) ──► Map(sequence) ──► Batch(cashier) ──► Map(upload, N in flight) ──► …
//
// Map runs a function over each item with a fixed number of workers and
// emits results in input order. Batch gathers items into slices, flushing
// on a count, a byte size, or a linger measured from the first item of the
// batch; a zero linger flushes whatever is ready at once (group commit).
// Sink (or Go) consumes the last stage's output.
//
// # Failures
//
// A stage's panic (a store SDK's bug, a callback's) is not the broker's
// death: Map, Batch and Sink recover it, fail the item the stage held with
// a *PanicError (errors.Is(err, ErrPanic); it carries the stage's name and
// the stack), report it to the stage's OnPanic hook and PanicObserver, and
// go on with the next item. Failing an item goes through its Fail method
// (see Failer); a batch ([]I) is failed item by item.
//
// Every stage honours the context given to Run: once it ends, the stage
// takes no new work, fails what it holds and whatever still reaches its
// input with context.Cause(ctx), and closes its output at once. Closing the
// first input instead drains the graph: every item goes through.
//
// Every stage reports to an Observer (items, bytes, queue wait and work
// time) so that the broker can trace and measure it.
//
// # Why the fetch path is not a stage graph
//
// The produce path is a graph because its stages gather work across
// requests: the cashier merges the batches of every connection into one
// object and one commit, so the stages between requests and storage are
// shared, and channels are the way to share them. The fetch path
// (stages/fetch) has nothing to gather: each Fetch request is answered by
// plan → index → read → assemble for each of its partitions, in order, in
// the request's own goroutine. Each step decides the next's input (the
// plan's entries, the index's rows, then one byte range sized by what is
// left of the request's byte budget), and each partition's budget depends
// on the bytes the partitions before it took, so the steps of one request
// cannot overlap anyway. Run as shared stages, every fetch would pay four
// channel hand-offs per entry and queue behind other requests: a consumer
// catching up on archive segments from the object store would delay a
// tailing consumer served from memory in the same stage (head-of-line
// blocking), where today the two run in parallel, one goroutine per
// connection, bounded by their requests' byte limits and max wait. So the
// fetch path uses the engine's parts that fit a request-scoped call, the
// Observer (each step is measured like a stage), and handles its failures
// where the request is: a fetch's context is its request's, and a panic
// in it is recovered by the Kafka front end, which answers the request
// with an error (or closes that connection with a log line).
package pipeline
