package instrumented_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/instrumented"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/meta/metatest"
)

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		w, err := instrumented.New(memmeta.New(), &instrumented.Counters{}, sdkmetric.NewMeterProvider().Meter("test"))
		if err != nil {
			t.Fatal(err)
		}
		return w
	})
}

func TestCounts(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	var c instrumented.Counters
	s, err := instrumented.New(memmeta.New(), &c, sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := s.CreateTopic(ctx, "t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Topic(ctx, "nope"); err == nil {
		t.Fatal("unknown topic found")
	}
	oc := meta.ObjectCommit{Key: "k", Size: 10, Batches: []meta.BatchCommit{{
		TP: meta.TP{Topic: top.ID}, Records: 1, ProducerID: -1, BaseSequence: meta.NoSequence, Len: 10}}}
	if _, err := s.Commit(ctx, []meta.ObjectCommit{oc}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PartitionState(ctx, meta.TP{Topic: top.ID}); err != nil {
		t.Fatal(err)
	}
	if c.Commits.Load() != 1 || c.Writes.Load() != 1 || c.Reads.Load() != 2 {
		t.Fatalf("commits %d writes %d reads %d, want 1 1 2", c.Commits.Load(), c.Writes.Load(), c.Reads.Load())
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	errs := map[string]int64{}
	hist := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					op, _ := p.Attributes.Value("op")
					switch m.Name {
					case "sluice.meta.calls":
						calls[op.AsString()] += p.Value
					case "sluice.meta.errors":
						errs[op.AsString()] += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				hist = hist || m.Name == "sluice.meta.duration"
			}
		}
	}
	if calls["commit"] != 1 || calls["create_topic"] != 1 || calls["topic"] != 1 || errs["topic"] != 1 || errs["commit"] != 0 {
		t.Fatalf("calls %v errors %v", calls, errs)
	}
	if !hist {
		t.Fatal("no sluice.meta.duration histogram")
	}
}

func TestNoMeterOnlyCounts(t *testing.T) {
	var c instrumented.Counters
	s, err := instrumented.New(memmeta.New(), &c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClusterID(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Reads.Load() != 1 || s.Unwrap() == nil {
		t.Fatalf("reads %d", c.Reads.Load())
	}
}
