// Package instrumented wraps a metadata store to count its calls: always,
// in cheap atomic counters (the broker's Stats: Commit transactions, other
// writes, reads), and, when given a meter, as OpenTelemetry metrics:
// sluice.meta.calls, sluice.meta.errors and sluice.meta.duration (a
// histogram, s), each by operation (the method name). Lifecycle() is
// wrapped too (lifecycle.go), so archive, lease and expiry transactions
// count among the writes.
//
// The wrapper embeds the store, so methods added to meta.Store later pass
// through uncounted until they are added here.
package instrumented
