package kafka_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/stages/broker"
)

// startBroker starts a broker on a free port with in-memory stores and
// returns its address and clients connected to it, all closed when the
// test ends.
func startBroker(t *testing.T) (addr string, adm *kadm.Client, cl *kgo.Client) {
	t.Helper()
	return startBrokerWith(t, nil)
}

// startBrokerWith is startBroker with a hook to adjust the config.
func startBrokerWith(t *testing.T, adjust func(*broker.Config)) (addr string, adm *kadm.Client, cl *kgo.Client) {
	t.Helper()
	cfg := broker.NewConfig()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.AdminAddr = ""
	cfg.DataDir = t.TempDir()
	cfg.Objects = "mem://"
	cfg.Metadata = "mem://"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if adjust != nil {
		adjust(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	addr = b.Addr()
	cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(5*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Records of one ProduceSync share a batch (tests rely on it).
		kgo.ProducerLinger(20*time.Millisecond))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return addr, kadm.NewClient(cl), cl
}

// testCtx is a context bounded to a test's reasonable duration.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails the test unless err is the Kafka error want (nil for no
// error).
func wantCode(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// createTopic creates a topic and fails the test if that fails.
func createTopic(t *testing.T, adm *kadm.Client, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(testCtx(t), partitions, -1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v (%s)", name, err, resp.Err, resp.ErrMessage)
	}
}

// produce produces recs synchronously (each to its Partition) and fails the
// test on any error.
func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// topicErr asks the broker's metadata (uncached, never auto-creating) for
// a topic and returns its error (nil if it exists).
func topicErr(t *testing.T, cl *kgo.Client, name string) error {
	t.Helper()
	_, err := topicMeta(t, cl, name)
	return err
}

// topicMeta is topicErr that also returns the topic's partition count.
func topicMeta(t *testing.T, cl *kgo.Client, name string) (int, error) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = false
	resp, err := req.RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata: %d topics", len(resp.Topics))
	}
	return len(resp.Topics[0].Partitions), kerr.ErrorForCode(resp.Topics[0].ErrorCode)
}
