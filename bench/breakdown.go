package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluicedata/sluice/stages/broker"
)

// Breakdown says where a produce's time and the process's CPU went, from
// the broker's per-stage spans collected in process (sluice-bench
// --breakdown).
type Breakdown struct {
	// Available is false when the broker could not give its spans; Reason
	// then says why, and there are no stage figures.
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// Spans is the number of spans collected in the measured window.
	Spans  int64        `json:"spans"`
	Stages []StageStats `json:"stages,omitempty"`
	// CPUProfile is the pprof CPU profile of the measured window (the
	// whole process: broker and load generator).
	CPUProfile string `json:"cpu_profile,omitempty"`
	// CPUTop is `go tool pprof -top` of it, when the go tool was found.
	CPUTop string `json:"cpu_top,omitempty"`
}

// StageStats is one stage's queue wait and work over its spans.
type StageStats struct {
	Stage string `json:"stage"`
	Spans int64  `json:"spans"`
	// QueueSource and WorkSource name the span attribute the figures come
	// from ("span duration" for work taken as the span's length; empty
	// queue source: the spans carry no queue wait).
	QueueSource string        `json:"queue_source,omitempty"`
	WorkSource  string        `json:"work_source"`
	QueueP50    time.Duration `json:"queue_p50_ns"`
	QueueP99    time.Duration `json:"queue_p99_ns"`
	WorkP50     time.Duration `json:"work_p50_ns"`
	WorkP99     time.Duration `json:"work_p99_ns"`
}

// stageOrder is the order stages are printed in: the produce path, then
// the fetch path, then anything else by name.
var stageOrder = []string{
	"kafka.Produce", "produce.decode", "produce.sequence", "produce.cashier", "produce.flush",
	"produce.compress", "produce.upload", "produce.commit",
	"kafka.Fetch", "fetch.plan", "fetch.index", "fetch.read", "fetch.assemble",
}

// SpanCollector is an OpenTelemetry span exporter that keeps, per span
// name, histograms of the queue wait and work the spans report. Give it to
// the broker (Config.SpanExporter) and read Breakdown after the run.
type SpanCollector struct {
	mu     sync.Mutex
	on     bool
	spans  int64
	stages map[string]*stageAgg
}

type stageAgg struct {
	n           int64
	queue, work Histogram
	queueSrc    string
	workSrc     string
}

var _ sdktrace.SpanExporter = (*SpanCollector)(nil)

// NewSpanCollector returns a collector that ignores spans until Start.
func NewSpanCollector() *SpanCollector { return &SpanCollector{stages: map[string]*stageAgg{}} }

// Start drops what was collected and starts collecting (the measured
// window begins).
func (c *SpanCollector) Start() {
	c.mu.Lock()
	c.on, c.spans, c.stages = true, 0, map[string]*stageAgg{}
	c.mu.Unlock()
}

// Stop stops collecting (the window ends).
func (c *SpanCollector) Stop() {
	c.mu.Lock()
	c.on = false
	c.mu.Unlock()
}

// ExportSpans implements sdktrace.SpanExporter.
func (c *SpanCollector) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return nil
	}
	for _, s := range spans {
		c.add(s.Name(), s.StartTime(), s.EndTime(), s.Attributes())
	}
	return nil
}

// add records one span; c.mu is held and c.on is true.
func (c *SpanCollector) add(name string, start, end time.Time, attrs []attribute.KeyValue) {
	c.spans++
	a := c.stages[name]
	if a == nil {
		a = &stageAgg{}
		c.stages[name] = a
	}
	a.n++
	queue, qsrc, work, wsrc := spanTimes(attrs)
	if wsrc == "" {
		work, wsrc = end.Sub(start), "span duration"
	}
	a.work.Record(work)
	a.workSrc = wsrc
	if qsrc != "" {
		a.queue.Record(queue)
		a.queueSrc = qsrc
	}
}

// Shutdown implements sdktrace.SpanExporter.
func (c *SpanCollector) Shutdown(context.Context) error { return nil }

// The span attributes Sluice's stages put their measurements in
// (stages/produce/trace.go, stages/fetch): milliseconds, as floats.
const (
	queueWaitAttr = "sluice.queue_wait_ms"
	workAttr      = "sluice.work_ms"
)

// spanTimes reads queue wait and work from a span's attributes; a source
// is empty when the span does not carry that figure.
func spanTimes(attrs []attribute.KeyValue) (queue time.Duration, qsrc string, work time.Duration, wsrc string) {
	ms := func(v attribute.Value) (time.Duration, bool) {
		switch v.Type() {
		case attribute.FLOAT64:
			return time.Duration(v.AsFloat64() * float64(time.Millisecond)), true
		case attribute.INT64:
			return time.Duration(v.AsInt64()) * time.Millisecond, true
		}
		return 0, false
	}
	for _, kv := range attrs {
		switch kv.Key {
		case queueWaitAttr:
			if d, ok := ms(kv.Value); ok {
				queue, qsrc = d, queueWaitAttr
			}
		case workAttr:
			if d, ok := ms(kv.Value); ok {
				work, wsrc = d, workAttr
			}
		}
	}
	return
}

// Breakdown returns the per-stage figures collected so far.
func (c *SpanCollector) Breakdown() *Breakdown {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &Breakdown{Available: true, Spans: c.spans}
	for name, a := range c.stages {
		st := StageStats{Stage: name, Spans: a.n, WorkSource: a.workSrc, QueueSource: a.queueSrc,
			WorkP50: a.work.Quantile(0.5), WorkP99: a.work.Quantile(0.99)}
		if a.queueSrc != "" {
			st.QueueP50, st.QueueP99 = a.queue.Quantile(0.5), a.queue.Quantile(0.99)
		}
		b.Stages = append(b.Stages, st)
	}
	rank := func(s string) int {
		if i := slices.Index(stageOrder, s); i >= 0 {
			return i
		}
		return len(stageOrder)
	}
	slices.SortFunc(b.Stages, func(x, y StageStats) int {
		if d := rank(x.Stage) - rank(y.Stage); d != 0 {
			return d
		}
		return strings.Compare(x.Stage, y.Stage)
	})
	if c.spans == 0 {
		b.Available = false
		b.Reason = "the broker exported no spans in the measured window"
	}
	return b
}

// EnableTracing makes the broker export its sampled spans to exp, in
// process, sampling ratio (0 to 1) of the requests.
func EnableTracing(cfg *broker.Config, exp sdktrace.SpanExporter, ratio float64) {
	cfg.SpanExporter = exp
	cfg.TraceSampleRatio = ratio
}

// WriteBreakdown prints a breakdown as a table.
func WriteBreakdown(out io.Writer, target string, b *Breakdown) {
	if b == nil {
		return
	}
	fmt.Fprintf(out, "\n%s: where a produce's time goes, stage by stage\n", target)
	if !b.Available {
		fmt.Fprintf(out, "  not available: %s\n", b.Reason)
	} else {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "stage\tspans\tqueue p50\tqueue p99\twork p50\twork p99\twork from\t")
		for _, s := range b.Stages {
			q50, q99 := "n/a", "n/a"
			if s.QueueSource != "" {
				q50, q99 = fmtLatency(s.QueueP50), fmtLatency(s.QueueP99)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", s.Stage, s.Spans, q50, q99, fmtLatency(s.WorkP50), fmtLatency(s.WorkP99), s.WorkSource)
		}
		tw.Flush()
		fmt.Fprintf(out, "  %d spans; queue wait and work from the spans' %s and %s attributes (work: the span's length where it has none; queue n/a: the span has no queue)\n", b.Spans, queueWaitAttr, workAttr)
	}
	if b.CPUProfile != "" {
		fmt.Fprintf(out, "CPU profile of the measured window (whole process): %s\n", b.CPUProfile)
		if b.CPUTop != "" {
			fmt.Fprintln(out, b.CPUTop)
		} else {
			fmt.Fprintf(out, "  see it with: go tool pprof -top %s\n", b.CPUProfile)
		}
	}
}
