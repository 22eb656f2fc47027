package instrumented_test

import (
	"context"
	"testing"
	"time"

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

// TestLifecycleCounted: the lifecycle's transactions count as writes
// (ExpireProducers as a read, and a write only when it changed a state).
func TestLifecycleCounted(t *testing.T) {
	ctx := context.Background()
	var c instrumented.Counters
	s, err := instrumented.New(memmeta.New(), &c, nil)
	if err != nil {
		t.Fatal(err)
	}
	top, err := s.CreateTopic(ctx, "t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	w0, r0 := c.Writes.Load(), c.Reads.Load()
	l := s.Lifecycle()
	if ok, err := l.AcquireLease(ctx, "x", "me", time.Minute); err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	if err := l.ReleaseLease(ctx, "x", "me"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ExpireProducers(ctx, meta.TP{Topic: top.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if w, r := c.Writes.Load()-w0, c.Reads.Load()-r0; w != 2 || r != 1 {
		t.Fatalf("lease and empty expiry: writes +%d reads +%d, want +2 +1", w, r)
	}
	// An idempotent producer's state, then an expiry that deletes it.
	oc := meta.ObjectCommit{Key: "k", Size: 10, Batches: []meta.BatchCommit{{
		TP: meta.TP{Topic: top.ID}, Records: 1, ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0, Len: 10}}}
	if _, err := s.Commit(ctx, []meta.ObjectCommit{oc}); err != nil {
		t.Fatal(err)
	}
	w1 := c.Writes.Load()
	res, err := l.ExpireProducers(ctx, meta.TP{Topic: top.ID}, time.Now().Add(time.Hour))
	if err != nil || res.Removed != 1 {
		t.Fatalf("expiry removed %d (%v), want 1", res.Removed, err)
	}
	if c.Writes.Load()-w1 != 1 {
		t.Fatalf("expiry that removed a state counted %d writes, want 1", c.Writes.Load()-w1)
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

// TestTransactionsCounted: UpdateTxn counts as a write, ViewTxn and
// ListTxns as reads, and each reaches the wrapped store.
func TestTransactionsCounted(t *testing.T) {
	ctx := context.Background()
	var c instrumented.Counters
	s, err := instrumented.New(memmeta.New(), &c, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := s.Transactions()
	if err := x.UpdateTxn(ctx, "t1", func(tx meta.TxnTx) error {
		return tx.PutTxn(&meta.Txn{TransactionalID: "t1", ProducerID: 5})
	}); err != nil {
		t.Fatal(err)
	}
	var got *meta.Txn
	if err := x.ViewTxn(ctx, "t1", func(tx meta.TxnTx) error {
		got, err = tx.Txn()
		return err
	}); err != nil || got == nil || got.ProducerID != 5 {
		t.Fatalf("ViewTxn: %+v %v", got, err)
	}
	if all, err := x.ListTxns(ctx); err != nil || len(all) != 1 {
		t.Fatalf("ListTxns: %v %v", all, err)
	}
	if w, r := c.Writes.Load(), c.Reads.Load(); w != 1 || r != 2 {
		t.Fatalf("writes %d reads %d, want 1 2", w, r)
	}
}
