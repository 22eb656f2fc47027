// Package bench is Sluice's produce benchmark harness.
//
// It drives the same franz-go (kgo) producer workload against any Kafka
// compatible bootstrap address and reports acknowledged throughput and
// produce-ack latency. The targets it starts itself (see
// [StartTargetWith]) let one run compare Sluice with franz-go's in-memory
// fake cluster (kfake) on the same machine: kfake and Sluice in process,
// or Sluice as a `sluice serve` child process ([ProcessTarget]), whose CPU,
// peak RSS and store counters (GET /debug/stats) are then the broker's
// alone; cmd/sluice-bench is the command line front end (`make bench`).
//
// Method, in brief (details on [Workload] and [Result]):
//
//   - The topic is created first (CreateTopics, or auto-creation through a
//     Metadata request when the broker has no CreateTopics), and the run
//     fails if it does not end up with exactly Workload.Partitions
//     partitions, so every target gets the same partition layout.
//   - Each of Workload.Producers kgo clients produces as fast as it can:
//     Produce blocks only when the client's buffer (MaxBufferedBytes) is
//     full, so the load is closed-loop and saturating.
//   - Nothing is measured during Warmup. Over the following Duration a
//     record counts when its acknowledgement (the promise callback) arrives
//     inside the window; records acknowledged later, or failed, never
//     count. Latency is Produce call to promise callback, so under
//     saturation it includes the wait in the client's buffer.
//   - Latencies go into a log-linear histogram (HDR style, 128 sub-buckets
//     per power of two: relative error under 0.8%, exact maximum).
//   - Errors are counted over the whole run: warm-up, window and drain.
//
// The package is the start of a fuller OpenMessaging-style tool: Workload,
// Result and the target registry are meant to grow (rates, consumers,
// multiple topics) without changing what exists.
package bench
