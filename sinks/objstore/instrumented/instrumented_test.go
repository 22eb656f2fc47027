package instrumented_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"gocloud.dev/blob/memblob"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"github.com/sluicedata/sluice/sinks/objstore/instrumented"
	"github.com/sluicedata/sluice/sinks/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		w, err := instrumented.New(blobstore.New(memblob.OpenBucket(nil)), &instrumented.Counters{}, sdkmetric.NewMeterProvider().Meter("test"))
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
	s, err := instrumented.New(blobstore.New(memblob.OpenBucket(nil)), &c, sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.GetRange(ctx, "a", 1, 3); err != nil || string(b) != "ell" {
		t.Fatalf("get: %q %v", b, err)
	}
	if _, err := s.GetRange(ctx, "missing", 0, -1); err == nil {
		t.Fatal("missing object read")
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if c.Puts.Load() != 1 || c.PutBytes.Load() != 5 || c.Gets.Load() != 2 || c.GetBytes.Load() != 3 || c.Deletes.Load() != 1 {
		t.Fatalf("counters: puts %d/%d B gets %d/%d B deletes %d", c.Puts.Load(), c.PutBytes.Load(), c.Gets.Load(), c.GetBytes.Load(), c.Deletes.Load())
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range d.DataPoints {
					op, _ := p.Attributes.Value("op")
					got[m.Name+"/"+op.AsString()] += p.Value
				}
			}
		}
	}
	want := map[string]int64{
		"sluice.objstore.calls/put": 1, "sluice.objstore.calls/get": 2, "sluice.objstore.calls/delete": 1,
		"sluice.objstore.errors/get": 1, "sluice.objstore.bytes/put": 5, "sluice.objstore.bytes/get": 3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
