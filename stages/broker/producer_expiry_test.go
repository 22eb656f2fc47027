package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/broker"
)

// producerID is the id of cl's idempotent producer.
func producerID(t *testing.T, cl *kgo.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, _, err := cl.ProducerID(ctx)
	if err != nil || id < 0 {
		t.Fatalf("producer id %d: %v", id, err)
	}
	return id
}

// producerPartitions returns the partitions of topic on which the store
// has a state of producer pid.
func producerPartitions(t *testing.T, b *broker.Broker, id meta.TopicID, parts int32, pid int64) []int32 {
	t.Helper()
	var out []int32
	for p := range parts {
		_, ok, err := b.Meta().ProducerState(context.Background(), pid, metaTP(id, p))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// TestProducerExpiry: the lifecycle pass deletes the state of an
// idempotent producer that stopped writing once it is older than
// --producer-id-expiration, and keeps the state of one that goes on
// writing; new producers still work, and every record reads back with
// its offset.
func TestProducerExpiry(t *testing.T) {
	const expiration = 3 * time.Second
	b := startBroker(t, func(c *broker.Config) {
		lifecycleConfig(c)
		c.ProducerIDExpiration = expiration
	})
	const topic, parts = "expiring", 2
	createTopic(t, b.Addr(), topic, parts, nil)
	id := topicID(t, b, topic)
	want := produced{}
	opts := []kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.ProducerLinger(0)}

	// A producer writes to both partitions and goes away, as a finished
	// client process does.
	gone, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	produceRound(t, gone, topic, 0, 50, want)
	gonePID := producerID(t, gone)
	gone.Close()
	if got := producerPartitions(t, b, id, parts, gonePID); len(got) != parts {
		t.Fatalf("finished producer has state on partitions %v, want all %d", got, parts)
	}

	// Another keeps writing, the last time just before the pass.
	busy := newClient(t, b.Addr(), kgo.ProducerLinger(0))
	produceRound(t, busy, topic, 1, 50, want)
	busyPID := producerID(t, busy)
	runPass(t, b) // nothing is idle yet
	if got := producerPartitions(t, b, id, parts, gonePID); len(got) != parts {
		t.Fatalf("state expired early: finished producer left with partitions %v", got)
	}
	time.Sleep(expiration + 500*time.Millisecond)
	produceRound(t, busy, topic, 2, 50, want)
	runPass(t, b)

	if got := producerPartitions(t, b, id, parts, gonePID); len(got) != 0 {
		t.Fatalf("finished producer still has state on partitions %v", got)
	}
	if got := producerPartitions(t, b, id, parts, busyPID); len(got) != parts {
		t.Fatalf("writing producer has state only on partitions %v", got)
	}
	if st := b.LifecycleStats(); st.ProducersExpired != parts {
		t.Fatalf("ProducersExpired %d, want %d: %+v", st.ProducersExpired, parts, st)
	}

	// The writing producer goes on where it was, a new one starts, and
	// everything reads back.
	produceRound(t, busy, topic, 3, 50, want)
	fresh := newClient(t, b.Addr(), kgo.ProducerLinger(0))
	produceRound(t, fresh, topic, 4, 50, want)
	if freshPID := producerID(t, fresh); freshPID == gonePID || freshPID == busyPID ||
		len(producerPartitions(t, b, id, parts, freshPID)) != parts {
		t.Fatalf("new producer %d: state on partitions %v", freshPID, producerPartitions(t, b, id, parts, freshPID))
	}
	checkAll(t, b.Addr(), topic, want)
}
