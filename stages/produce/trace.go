package produce

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
)

// Tracing. A batch whose request is sampled (Batch.Trace) gets a span per
// per-batch stage (produce.decode, produce.sequence), children of the
// request's span. A flush gets a produce.flush span, from its first batch
// leaving the sequence stage to its acknowledgement, with children
// produce.cashier, produce.compress, produce.upload and produce.commit. The
// flush span is a child of the first sampled request span among its
// batches (or a root, sampled by ratio, when there is none), and it and
// its children link to the request span of every sampled batch it holds.
//
// The spans are made from the engine's measurements, with their start and
// end times: no stage does anything for tracing when its item is not
// sampled, beyond checking that.
//
// Every span starts when its item entered the stage's queue and carries
// sluice.queue_wait_ms and sluice.work_ms.

// tracingObserver wraps the configured observer: it passes every
// measurement on and makes spans of the sampled ones.
type tracingObserver struct {
	next   pipeline.Observer
	tracer trace.Tracer
}

// flushTrace is a traced flush's span and links.
type flushTrace struct {
	ctx   context.Context // holds the flush span
	span  trace.Span
	links []trace.Link
}

func (o *tracingObserver) Processed(stage string, queueWait, work time.Duration, items int, bytes int64) {
	if pipeline.Active(o.next) {
		o.next.Processed(stage, queueWait, work, items, bytes)
	}
}

func (o *tracingObserver) Queue(stage string, depth func() int) {
	if qo, ok := o.next.(pipeline.QueueObserver); ok {
		qo.Queue(stage, depth)
	}
}

// Panicked forwards a stage panic to the next observer, which counts it.
func (o *tracingObserver) Panicked(stage string, err *pipeline.PanicError) {
	if po, ok := o.next.(pipeline.PanicObserver); ok {
		po.Panicked(stage, err)
	}
}

func (o *tracingObserver) Item(stage string, item any, m pipeline.Measure) {
	if io, ok := o.next.(pipeline.ItemObserver); ok {
		io.Item(stage, item, m)
	} else if pipeline.Active(o.next) {
		o.next.Processed(stage, m.QueueWait(), m.Work(), m.Items, m.Bytes)
	}
	switch it := item.(type) {
	case *Batch:
		if it.Trace.IsSampled() {
			o.batchSpan(stage, it, m)
		}
	case []*Batch:
		if stage == "cashier" {
			o.cashier(it, m)
		}
	case *Flush:
		if it.trace != nil {
			o.flushSpan(stage, it, m)
		}
	case []*Flush:
		if stage == "commit" {
			for _, f := range it {
				if f.trace != nil {
					o.commitSpan(f, len(it), m)
				}
			}
		}
	}
}

func spanStart(m pipeline.Measure) time.Time {
	if !m.Queued.IsZero() && m.Queued.Before(m.Start) {
		return m.Queued
	}
	return m.Start
}

func timingAttrs(stage string, m pipeline.Measure) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("sluice.stage", stage),
		attribute.Float64("sluice.queue_wait_ms", float64(m.QueueWait())/1e6),
		attribute.Float64("sluice.work_ms", float64(m.Work())/1e6),
	}
}

func (o *tracingObserver) batchSpan(stage string, b *Batch, m pipeline.Measure) {
	ctx := trace.ContextWithSpanContext(context.Background(), b.Trace)
	attrs := append(timingAttrs(stage, m),
		attribute.String("sluice.topic", b.Topic.Name),
		attribute.Int("sluice.partition", int(b.Partition)),
		attribute.Int64("sluice.bytes", m.Bytes),
		attribute.Int("sluice.batches", 1),
		attribute.Int("sluice.records", int(b.Header.NumRecords)),
	)
	if m.Dropped {
		// Rejected, or (sequence) answered as a duplicate.
		attrs = append(attrs, attribute.Bool("sluice.dropped", true))
	}
	_, span := o.tracer.Start(ctx, "produce."+stage, trace.WithTimestamp(spanStart(m)), trace.WithAttributes(attrs...))
	span.End(trace.WithTimestamp(m.End))
}

// cashier starts a flush's trace when the cashier closes it.
func (o *tracingObserver) cashier(batches []*Batch, m pipeline.Measure) {
	parent := context.Background()
	var links []trace.Link
	var last trace.SpanID
	for _, b := range batches {
		if !b.Trace.IsSampled() || b.Trace.SpanID() == last {
			continue
		}
		last = b.Trace.SpanID()
		if links == nil {
			parent = trace.ContextWithSpanContext(parent, b.Trace)
		}
		links = append(links, trace.Link{SpanContext: b.Trace})
	}
	start := spanStart(m)
	ctx, span := o.tracer.Start(parent, "produce.flush", trace.WithTimestamp(start), trace.WithLinks(links...))
	if !span.IsRecording() {
		return
	}
	parts := make(map[meta.TP]struct{})
	for _, b := range batches {
		parts[b.TP()] = struct{}{}
	}
	span.SetAttributes(
		attribute.Int("sluice.batches", len(batches)),
		attribute.Int64("sluice.bytes", m.Bytes),
		attribute.Int("sluice.partitions", len(parts)),
		attribute.Int("sluice.requests", len(links)),
	)
	ft := &flushTrace{ctx: ctx, span: span, links: links}
	_, cs := o.tracer.Start(ctx, "produce.cashier", trace.WithTimestamp(start), trace.WithLinks(links...),
		trace.WithAttributes(append(timingAttrs("cashier", m),
			attribute.Int("sluice.batches", len(batches)),
			attribute.Int64("sluice.bytes", m.Bytes),
			attribute.Int("sluice.partitions", len(parts)))...))
	cs.End(trace.WithTimestamp(m.End))
	batches[0].flushTrace = ft
}

func (o *tracingObserver) flushSpan(stage string, f *Flush, m pipeline.Measure) {
	if stage == "flush" {
		return // only makes the Flush; covered by the flush span
	}
	ft := f.trace
	attrs := append(timingAttrs(stage, m),
		attribute.Int("sluice.batches", len(f.Batches)),
		attribute.Int64("sluice.bytes", m.Bytes),
		attribute.String("sluice.object", f.Key),
	)
	if stage == "compress" || stage == "upload" {
		attrs = append(attrs, attribute.Int("sluice.object_bytes", len(f.Intake.Data)))
	}
	_, span := o.tracer.Start(ft.ctx, "produce."+stage, trace.WithTimestamp(spanStart(m)),
		trace.WithLinks(ft.links...), trace.WithAttributes(attrs...))
	if stage == "upload" && f.Err != nil {
		span.SetStatus(codes.Error, f.Err.Error())
	}
	span.End(trace.WithTimestamp(m.End))
	if m.Dropped {
		// compress failed every batch: the flush goes no further.
		f.trace = nil
		ft.span.SetStatus(codes.Error, "every batch failed")
		ft.span.End(trace.WithTimestamp(m.End))
	}
}

// commitSpan covers one flush of a commit group, from the end of its
// upload (so it includes waiting for the group) to the commit's end.
func (o *tracingObserver) commitSpan(f *Flush, group int, m pipeline.Measure) {
	ft := f.trace
	if !f.queued.IsZero() {
		m.Queued = f.queued
	}
	attrs := append(timingAttrs("commit", m),
		attribute.Int("sluice.batches", len(f.Batches)),
		attribute.Int64("sluice.bytes", f.Bytes()),
		attribute.Int("sluice.group_flushes", group),
		attribute.Int("sluice.partitions", len(f.Committed)),
		attribute.String("sluice.object", f.Key),
	)
	_, span := o.tracer.Start(ft.ctx, "produce.commit", trace.WithTimestamp(spanStart(m)),
		trace.WithLinks(ft.links...), trace.WithAttributes(attrs...))
	if f.Err != nil {
		span.SetStatus(codes.Error, f.Err.Error())
	}
	span.End(trace.WithTimestamp(m.End))
}

// end ends the flush span once its batches are acknowledged.
func (ft *flushTrace) end(f *Flush) {
	if f.Err != nil {
		ft.span.SetStatus(codes.Error, f.Err.Error())
	}
	ft.span.End()
}
