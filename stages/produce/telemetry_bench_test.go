package produce

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"gocloud.dev/blob/memblob"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"github.com/sluicedata/sluice/stages/telemetry"
)

// countingExporter stands in for a span exporter: it only counts.
type countingExporter struct{ spans atomic.Int64 }

func (e *countingExporter) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	e.spans.Add(int64(len(s)))
	return nil
}
func (e *countingExporter) Shutdown(context.Context) error { return nil }

// BenchmarkPipelineTelemetry measures the produce pipeline's cost per
// batch (4 records of 1 KiB, 8 partitions, flushes of 64 batches,
// in-memory stores, so that the pipeline's own work dominates) with telemetry off, with stage metrics,
// and with tracing at ratios 0.01 and 1 (a request span per batch, as the
// Kafka front end makes, and every stage and flush span).
func BenchmarkPipelineTelemetry(b *testing.B) {
	for _, mode := range []struct {
		name    string
		metrics bool
		ratio   float64 // < 0: no tracing
	}{
		{"off", false, -1},
		{"metrics", true, -1},
		{"traces=0.01", false, 0.01},
		{"metrics+traces=0.01", true, 0.01},
		{"traces=1", false, 1},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var obs pipeline.Observer
			if mode.metrics {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				so, err := telemetry.NewStageObserver(mp.Meter("bench"))
				if err != nil {
					b.Fatal(err)
				}
				obs = so
			}
			var tracer trace.Tracer
			exp := &countingExporter{}
			if mode.ratio >= 0 {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
					sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(mode.ratio))))
				tracer = tp.Tracer("bench")
			}
			benchPipeline(b, obs, tracer)
			if tracer != nil {
				b.ReportMetric(float64(exp.spans.Load())/float64(b.N), "spans/op")
			}
		})
	}
}

func benchPipeline(b *testing.B, obs pipeline.Observer, tracer trace.Tracer) {
	benchPipelineOn(b, memmeta.New(), obs, tracer)
}

// benchPipelineOn is benchPipeline over store.
func benchPipelineOn(b *testing.B, store meta.Store, obs pipeline.Observer, tracer trace.Tracer) {
	topic, err := store.CreateTopic(context.Background(), "t", 8, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Flushes of exactly 64 batches, so that every mode does the same work
	// per batch whatever the timing.
	p, err := Start(Config{Meta: store, Objects: blobstore.New(memblob.OpenBucket(nil)), Observer: obs, Tracer: tracer,
		FlushBatches: 64, Linger: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	value := make([]byte, 1024)
	recs := make([]codec.Record, 4)
	for i := range recs {
		recs[i] = codec.Record{OffsetDelta: int32(i), Value: value}
	}
	h := codec.BatchHeader{Magic: 2, LastOffsetDelta: 3, FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	data, err := codec.AppendBatch(nil, h, recs, codec.CodecNone)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var wg sync.WaitGroup
	var failed atomic.Int64
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	n := (b.N + 63) / 64 * 64
	for i := 0; i < n; i++ {
		bt := &Batch{Target: Target{Topic: topic, Partition: int32(i % 8), Compression: KeepCodec, TimestampBeforeMax: -1, TimestampAfterMax: -1},
			Data: data, Arrived: time.Now()}
		var span trace.Span
		if tracer != nil {
			// What the Kafka front end does per request.
			_, span = tracer.Start(ctx, "kafka.Produce")
			if span.IsRecording() {
				bt.Trace = span.SpanContext()
			}
		}
		wg.Add(1)
		bt.Done = pipeline.NewCompletion(func(_ int64, err error) {
			if err != nil {
				failed.Add(1)
			}
			if span != nil {
				span.End()
			}
			wg.Done()
		})
		p.Submit(ctx, bt)
	}
	wg.Wait()
	b.StopTimer()
	// CPU time per batch: unlike wall time, hardly moved by other load on
	// the machine or by how the cashier happened to batch.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d batches failed", n)
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStagesTelemetry isolates what telemetry adds per batch: the
// produce pipeline's topology (decode, sequence, cashier of 64, flush,
// compress, upload, commit-group, commit) with stages that do no work,
// plus the request span the Kafka front end starts per request. ns/op is
// the engine's and the telemetry's cost per batch, to set against the
// pipeline's real cost per batch (BenchmarkPipelineTelemetry).
func BenchmarkStagesTelemetry(b *testing.B) {
	for _, mode := range []struct {
		name    string
		metrics bool
		ratio   float64
	}{
		{"off", false, -1},
		{"metrics", true, -1},
		{"traces=0.01", false, 0.01},
		{"metrics+traces=0.01", true, 0.01},
		{"traces=1", false, 1},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var obs pipeline.Observer = pipeline.NopObserver{}
			if mode.metrics {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				so, err := telemetry.NewStageObserver(mp.Meter("bench"))
				if err != nil {
					b.Fatal(err)
				}
				obs = so
			}
			var tracer trace.Tracer
			if mode.ratio >= 0 {
				tracer = sdktrace.NewTracerProvider(sdktrace.WithSyncer(&countingExporter{}),
					sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(mode.ratio)))).Tracer("bench")
				obs = &tracingObserver{next: obs, tracer: tracer}
			}
			size := func(v any) int64 { return v.(*Batch).Size() }
			fsize := func(v any) int64 { return v.(*Flush).Bytes() }
			ctx := context.Background()
			in := make(chan *Batch, 256)
			idB := func(_ context.Context, bt *Batch) (*Batch, bool) { return bt, true }
			idF := func(_ context.Context, f *Flush) (*Flush, bool) { return f, true }
			st := pipeline.Map("decode", pipeline.MapConfig{Workers: 2, Buffer: 256, Observer: obs, Size: size}, idB).Run(ctx, in)
			st = pipeline.Map("sequence", pipeline.MapConfig{Buffer: 256, Observer: obs, Size: size}, idB).Run(ctx, st)
			gathered := pipeline.Batch[*Batch]("cashier", pipeline.BatchConfig{MaxCount: 64, Linger: time.Hour, Buffer: 2, Observer: obs, Size: size}).Run(ctx, st)
			p := &Pipeline{}
			fl := pipeline.Map("flush", pipeline.MapConfig{Buffer: 2, Observer: obs}, p.newFlush).Run(ctx, gathered)
			fl = pipeline.Map("compress", pipeline.MapConfig{Workers: 2, Buffer: 2, Observer: obs, Size: fsize}, idF).Run(ctx, fl)
			fl = pipeline.Map("upload", pipeline.MapConfig{Workers: 4, Buffer: 4, Observer: obs, Size: fsize}, idF).Run(ctx, fl)
			groups := pipeline.Batch[*Flush]("commit-group", pipeline.BatchConfig{MaxCount: 8, Observer: obs, Size: fsize}).Run(ctx, fl)
			committed := pipeline.Map("commit", pipeline.MapConfig{Observer: obs}, func(_ context.Context, g []*Flush) ([]*Flush, bool) { return g, true }).Run(ctx, groups)
			done := pipeline.Go(committed, func(g []*Flush) {
				for _, f := range g {
					if f.trace != nil {
						f.trace.end(f)
					}
					for _, bt := range f.Batches {
						bt.Done.Done(0, nil)
					}
				}
			})
			data := make([]byte, 4096)
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			n := (b.N + 63) / 64 * 64
			for i := 0; i < n; i++ {
				bt := &Batch{Data: data, Target: Target{Partition: int32(i % 8)}}
				var span trace.Span
				if tracer != nil {
					_, span = tracer.Start(ctx, "kafka.Produce")
					if span.IsRecording() {
						bt.Trace = span.SpanContext()
					}
				}
				bt.Done = pipeline.NewCompletion(func(int64, error) {
					if span != nil {
						span.End()
					}
				})
				if pipeline.Active(obs) {
					bt.queued = time.Now()
				}
				in <- bt
			}
			close(in)
			<-done
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
