package broker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/broker"
)

// startBroker starts a broker on an ephemeral port. By default it uses the
// real embedded stores (bbolt and the fsyncing local directory) under a
// temporary directory; mutate can change any setting.
func startBroker(t testing.TB, mutate func(*broker.Config)) *broker.Broker {
	t.Helper()
	b, err := tryStartBroker(t, mutate)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	return b
}

// tryStartBroker is startBroker for a start that may fail: it returns
// Start's error.
func tryStartBroker(t testing.TB, mutate func(*broker.Config)) (*broker.Broker, error) {
	t.Helper()
	cfg := broker.NewConfig()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.AdminAddr = ""
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.Default()
	}
	if mutate != nil {
		mutate(&cfg)
	}
	b, err := broker.Start(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { b.Close() })
	return b, nil
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// consumeAll reads n records of topic from the start.
func consumeAll(t testing.TB, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

func metaTP(id meta.TopicID, p int32) meta.TP { return meta.TP{Topic: id, Partition: p} }
