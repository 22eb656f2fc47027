// Package faulty wraps an object store to inject failures and latency,
// for tests of what happens above the store when it misbehaves (produce
// acknowledgements, retries, timeouts).
//
//	f := faulty.New(store, faulty.Config{
//		Put:     faulty.Rule{Count: 2},     // the next two Puts fail
//		Get:     faulty.Rule{Prob: 0.1},    // then one Get in ten fails
//		Latency: 5 * time.Millisecond,      // every call takes 5 ms more
//	})
//
// The injected error is ErrInjected unless a Rule says otherwise; it is
// transient to objstore.WithRetry. A Rule with After set fails a Put
// after the wrapped store has stored the object, the case of a reply
// lost on the way back, so a caller cannot tell it from a failed write.
// Latency waits on the call's context, so it can make a call time out.
// The configuration can be changed while the store is in use (Set,
// FailPuts, FailGets).
package faulty
