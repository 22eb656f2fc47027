// Package telemetry sets up Sluice's OpenTelemetry: the tracer and meter
// providers, their exporters, the sampler, and their shutdown. The broker
// builds one Telemetry from its config and hands its Tracer and Meter to
// the stages, which create their own spans and instruments.
//
// Traces: "none" (default) or "otlp" (the OTLP exporter, configured the
// standard way by OTEL_EXPORTER_OTLP_* environment variables: endpoint,
// headers, protocol grpc or http/protobuf), plus, in-process, any
// SpanExporter the caller passes (tests, the benchmark's breakdown).
// Sampling is parent-based with a trace-id ratio for root spans.
//
// Metrics: "none" (default), "prometheus" (a handler for /metrics on the
// admin address) or "otlp" (pushed periodically; OTEL_METRIC_EXPORT_INTERVAL).
//
// With traces and metrics off, Tracer and Meter are nil and the stages skip
// their telemetry altogether: no spans, no clock reads, no allocations.
//
// StageObserver is the pipeline.Observer that turns the stage engine's
// measurements into metrics: items, bytes, queue wait and work time
// histograms, and input queue depth, each by stage.
package telemetry
