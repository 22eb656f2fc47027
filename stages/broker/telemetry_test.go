package broker_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/stages/broker"
)

// produceSome produces n small records to topic, one request each.
func produceSome(t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("telemetry record")}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

func attrOf(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestTelemetrySpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	b := startBroker(t, func(c *broker.Config) {
		c.SpanExporter = exp
		c.TraceSampleRatio = 1
	})
	createTopic(t, b.Addr(), "traced", 1, nil)
	produceSome(t, b.Addr(), "traced", 3)
	consumeAll(t, b.Addr(), "traced", 3)

	spans := exp.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
		byName[s.Name] = append(byName[s.Name], s)
	}
	produces := map[trace.SpanID]bool{}
	for _, s := range byName["kafka.Produce"] {
		produces[s.SpanContext.SpanID()] = true
		if v, _ := attrOf(s, "kafka.api_key"); v.AsInt64() != 0 {
			t.Errorf("kafka.Produce api key %v", v)
		}
		if _, ok := attrOf(s, "kafka.client_id"); !ok {
			t.Error("kafka.Produce without kafka.client_id")
		}
	}
	if len(produces) < 3 {
		t.Fatalf("%d kafka.Produce spans, want at least 3 (names: %v)", len(produces), names(byName))
	}
	for _, stage := range []string{"decode", "sequence"} {
		ss := byName["produce."+stage]
		if len(ss) < 3 {
			t.Fatalf("%d produce.%s spans, want 3", len(ss), stage)
		}
		for _, s := range ss {
			if !produces[s.Parent.SpanID()] {
				t.Errorf("produce.%s is not a child of a kafka.Produce span", stage)
			}
			if v, _ := attrOf(s, "sluice.topic"); v.AsString() != "traced" {
				t.Errorf("produce.%s topic %q", stage, v.AsString())
			}
			if v, _ := attrOf(s, "sluice.bytes"); v.AsInt64() <= 0 {
				t.Errorf("produce.%s bytes %v", stage, v.AsInt64())
			}
			for _, k := range []string{"sluice.queue_wait_ms", "sluice.work_ms", "sluice.partition"} {
				if _, ok := attrOf(s, k); !ok {
					t.Errorf("produce.%s without %s", stage, k)
				}
			}
		}
	}
	flushes := byName["produce.flush"]
	if len(flushes) == 0 {
		t.Fatalf("no produce.flush span (names: %v)", names(byName))
	}
	linked := map[trace.SpanID]bool{}
	flushIDs := map[trace.SpanID]bool{}
	for _, f := range flushes {
		flushIDs[f.SpanContext.SpanID()] = true
		if !produces[f.Parent.SpanID()] {
			t.Error("produce.flush is not a child of a kafka.Produce span")
		}
		if len(f.Links) == 0 {
			t.Error("produce.flush has no links")
		}
		for _, l := range f.Links {
			linked[l.SpanContext.SpanID()] = true
		}
	}
	for id := range produces {
		if !linked[id] {
			// Every produce request's batch was in some flush.
			t.Errorf("kafka.Produce span %v not linked from any flush", id)
		}
	}
	for _, stage := range []string{"cashier", "compress", "upload", "commit"} {
		ss := byName["produce."+stage]
		if len(ss) == 0 {
			t.Fatalf("no produce.%s span (names: %v)", stage, names(byName))
		}
		for _, s := range ss {
			if !flushIDs[s.Parent.SpanID()] {
				t.Errorf("produce.%s is not a child of a produce.flush span", stage)
			}
			if len(s.Links) == 0 || !produces[s.Links[0].SpanContext.SpanID()] {
				t.Errorf("produce.%s does not link to a request span", stage)
			}
			if v, _ := attrOf(s, "sluice.batches"); v.AsInt64() < 1 {
				t.Errorf("produce.%s batches %v", stage, v.AsInt64())
			}
			if v, _ := attrOf(s, "sluice.bytes"); v.AsInt64() <= 0 {
				t.Errorf("produce.%s bytes %v", stage, v.AsInt64())
			}
			if _, ok := attrOf(s, "sluice.work_ms"); !ok {
				t.Errorf("produce.%s without sluice.work_ms", stage)
			}
		}
	}
	fetches := map[trace.SpanID]bool{}
	for _, s := range byName["kafka.Fetch"] {
		fetches[s.SpanContext.SpanID()] = true
	}
	for _, stage := range []string{"fetch.plan", "fetch.index", "fetch.read", "fetch.assemble"} {
		ss := byName[stage]
		if len(ss) == 0 {
			t.Fatalf("no %s span (names: %v)", stage, names(byName))
		}
		for _, s := range ss {
			if !fetches[s.Parent.SpanID()] {
				t.Errorf("%s is not a child of a kafka.Fetch span", stage)
			}
		}
	}
	for _, s := range byName["fetch.assemble"] {
		if v, _ := attrOf(s, "sluice.bytes"); v.AsInt64() <= 0 {
			t.Errorf("fetch.assemble bytes %v", v.AsInt64())
		}
	}
}

func names(m map[string][]tracetest.SpanStub) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}

func TestTelemetryOffSendsNothing(t *testing.T) {
	// A global provider must not be picked up: telemetry off is off.
	global := tracetest.NewInMemoryExporter()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(global)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	b := startBroker(t, nil)
	// Sampling at ratio 0 with an exporter: nothing is sampled.
	unsampled := tracetest.NewInMemoryExporter()
	b0 := startBroker(t, func(c *broker.Config) {
		c.SpanExporter = unsampled
		c.TraceSampleRatio = 0
	})
	for _, br := range []*broker.Broker{b, b0} {
		createTopic(t, br.Addr(), "quiet", 1, nil)
		produceSome(t, br.Addr(), "quiet", 2)
		consumeAll(t, br.Addr(), "quiet", 2)
	}
	if n := len(global.GetSpans()); n != 0 {
		t.Fatalf("%d spans reached the global provider with telemetry off", n)
	}
	if n := len(unsampled.GetSpans()); n != 0 {
		t.Fatalf("%d spans exported at sample ratio 0", n)
	}
	resp, err := http.Get("http://" + startBroker(t, func(c *broker.Config) { c.AdminAddr = "127.0.0.1:0" }).AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics with metrics off: %s, want 404", resp.Status)
	}
}

func TestTelemetryPrometheus(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) {
		c.Metrics = "prometheus"
		c.AdminAddr = "127.0.0.1:0"
	})
	createTopic(t, b.Addr(), "measured", 1, nil)
	produceSome(t, b.Addr(), "measured", 3)
	consumeAll(t, b.Addr(), "measured", 3)

	resp, err := http.Get("http://" + b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s %v", resp.Status, err)
	}
	text := string(body)
	want := []string{
		`sluice_stage_items_total{`, `stage="decode"`, `stage="cashier"`, `stage="upload"`, `stage="commit"`, `stage="fetch.assemble"`,
		`sluice_stage_work_duration_seconds_bucket{`, `sluice_stage_queue_wait_seconds_bucket{`, `sluice_stage_queue_depth{`,
		`sluice_objstore_calls_total{`, `op="put"`, `sluice_objstore_duration_seconds_bucket{`,
		`sluice_meta_calls_total{`, `op="commit"`, `sluice_meta_duration_seconds_bucket{`,
		`sluice_kafka_requests_total{`, `api="Produce"`, `api="Fetch"`, `sluice_kafka_request_duration_seconds_bucket{`,
		`sluice_consumer_lag{`, `topic="measured"`,
		`go_goroutines`,
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if t.Failed() {
		var lines []string
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "sluice_") {
				lines = append(lines, l)
			}
		}
		t.Logf("sluice metrics:\n%s", strings.Join(lines, "\n"))
	}
}

func TestTelemetryConfigValidation(t *testing.T) {
	for _, mutate := range []func(*broker.Config){
		func(c *broker.Config) { c.Traces = "jaeger" },
		func(c *broker.Config) { c.Metrics = "statsd" },
		func(c *broker.Config) { c.TraceSampleRatio = 1.5 },
		func(c *broker.Config) { c.TraceSampleRatio = -0.1 },
		func(c *broker.Config) { c.Metrics = "prometheus"; c.AdminAddr = "" },
	} {
		cfg := broker.NewConfig()
		cfg.DataDir = t.TempDir()
		mutate(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	cfg := broker.NewConfig()
	if cfg.Traces != "none" || cfg.Metrics != "none" || cfg.TraceSampleRatio != 0.01 {
		t.Fatalf("defaults: traces %q metrics %q ratio %v", cfg.Traces, cfg.Metrics, cfg.TraceSampleRatio)
	}
}

func TestStatsCount(t *testing.T) {
	b := startBroker(t, nil)
	createTopic(t, b.Addr(), "counted", 1, nil)
	before := b.Stats()
	produceSome(t, b.Addr(), "counted", 1)
	mid := b.Stats()
	if mid.ObjectPuts < before.ObjectPuts+1 || mid.ObjectPutBytes <= before.ObjectPutBytes {
		t.Fatalf("object puts %d -> %d (bytes %d -> %d), want at least one more", before.ObjectPuts, mid.ObjectPuts, before.ObjectPutBytes, mid.ObjectPutBytes)
	}
	if mid.MetaCommits < before.MetaCommits+1 {
		t.Fatalf("meta commits %d -> %d, want at least one more", before.MetaCommits, mid.MetaCommits)
	}
	if mid.ProducedBatches != before.ProducedBatches+1 || mid.ProducedBytes <= before.ProducedBytes {
		t.Fatalf("produced batches %d -> %d (bytes %d -> %d), want one more", before.ProducedBatches, mid.ProducedBatches, before.ProducedBytes, mid.ProducedBytes)
	}
	if mid.MetaReads <= 0 || before.MetaWrites < 1 {
		t.Fatalf("meta reads %d, writes %d (CreateTopic is one)", mid.MetaReads, before.MetaWrites)
	}
	consumeAll(t, b.Addr(), "counted", 1)
	if after := b.Stats(); after.FetchedBytes <= 0 {
		t.Fatalf("fetched bytes %d after a consume", after.FetchedBytes)
	}
}
