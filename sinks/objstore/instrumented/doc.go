// Package instrumented wraps an object store to count its calls: always,
// in cheap atomic counters (the broker's Stats), and, when given a meter,
// as OpenTelemetry metrics: sluice.objstore.calls, sluice.objstore.errors,
// sluice.objstore.bytes and sluice.objstore.duration (a histogram, s), each
// by operation (put, get, delete, list).
package instrumented
