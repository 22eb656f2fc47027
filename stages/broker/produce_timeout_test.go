package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/faulty"
	"github.com/sluicedata/sluice/stages/broker"
)

// TestProduceTimeout: a produce whose upload outlasts the request's
// timeout_ms is answered REQUEST_TIMED_OUT when the timeout passes, not
// when the upload ends; the batch stays in the pipeline and commits, as a
// Kafka write that timed out waiting for replicas may still land. A
// request with a longer timeout on the same slow store is acknowledged.
func TestProduceTimeout(t *testing.T) {
	objs, err := objstore.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const uploadDelay = 3 * time.Second
	fs := faulty.New(objs, faulty.Config{Put: faulty.Rule{Latency: uploadDelay}})
	b := startBroker(t, func(c *broker.Config) { c.ObjectStore = fs })
	ctx := context.Background()
	tp, err := b.Meta().CreateTopic(ctx, "slow", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr())
	now := time.Now().UnixMilli()

	began := time.Now()
	p := produceRawTimeout(t, cl, tp.ID, rawBatch(t, 2, now), 300)
	answered := time.Since(began)
	if p.ErrorCode != kerr.RequestTimedOut.Code || p.BaseOffset != -1 {
		t.Fatalf("error %d base offset %d, want REQUEST_TIMED_OUT and -1", p.ErrorCode, p.BaseOffset)
	}
	// The answer came from the timeout, not from the end of the upload.
	if answered >= uploadDelay {
		t.Fatalf("answered after %v, not before the %v upload ended", answered, uploadDelay)
	}
	t.Logf("timed out after %v (timeout 300ms, upload %v)", answered.Round(time.Millisecond), uploadDelay)

	// The same store with time enough: acknowledged after the timed-out
	// batch, which therefore committed first.
	p = produceRawTimeout(t, cl, tp.ID, rawBatch(t, 3, now), 30000)
	if p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("error %d base offset %d, want 0 and 2 (after the timed-out batch's two records)", p.ErrorCode, p.BaseOffset)
	}
	ps, err := b.Meta().PartitionState(ctx, metaTP(tp.ID, 0))
	if err != nil || ps.HighWatermark != 5 {
		t.Fatalf("high watermark %d (%v), want 5", ps.HighWatermark, err)
	}
}
