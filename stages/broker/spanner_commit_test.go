package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
	"github.com/sluicedata/sluice/stages/broker"
)

// wideProduce has producers idempotent franz-go clients each produce one
// record to every partition of topic, concurrently, and fails the test
// unless every record is acknowledged, each at its own offset below
// producers. It returns the values by partition.
func wideProduce(t *testing.T, addr, topic string, partitions int32, producers int) map[int32]map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	want := map[int32]map[string]bool{}
	acked := map[int32]map[int64]bool{}
	for p := range partitions {
		want[p] = map[string]bool{}
		acked[p] = map[int64]bool{}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range producers {
		// Idempotent is franz-go's default; a storage error is retried
		// only twice, so a commit that keeps failing fails the test
		// instead of being retried until it happens to fit.
		cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(2),
			kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(int(partitions)+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range partitions {
				v := fmt.Sprintf("w%d-p%d", w, p)
				mu.Lock()
				want[p][v] = true
				mu.Unlock()
				cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						t.Errorf("produce %s: %v", r.Value, err)
					case r.Offset < 0 || r.Offset >= int64(producers) || acked[r.Partition][r.Offset]:
						t.Errorf("record %s acknowledged at offset %d of partition %d: out of range or given twice", r.Value, r.Offset, r.Partition)
					default:
						acked[r.Partition][r.Offset] = true
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Errorf("flush: %v", err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return want
}

// checkWide reads back, through a consumer, every record of the
// partitions p of topic with p%every == 0, and compares with want. Not all
// of them: the emulator serves one read at a time, so reading 2,000
// partitions takes minutes; every acknowledgement was checked instead.
func checkWide(t *testing.T, addr, topic string, want map[int32]map[string]bool, every int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	parts := map[int32]kgo.Offset{}
	n := 0
	for p := int32(0); p < int32(len(want)); p += every {
		parts[p] = kgo.NewOffset().AtStart()
		n += len(want[p])
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}), kgo.FetchMaxWait(200*time.Millisecond))
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", got, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		for _, r := range fs.Records() {
			if !want[r.Partition][string(r.Value)] {
				t.Fatalf("record %q on partition %d (offset %d) was not produced there, or read twice", r.Value, r.Partition, r.Offset)
			}
			delete(want[r.Partition], string(r.Value))
			got++
		}
	}
}

// TestSpannerWideIdempotentCommit: idempotent producers writing to 2,000
// partitions through a broker on Spanner (the emulator). A flush to all
// of them is 48,000 mutations by Spanner's count (13 per index entry, 5
// per partition row, 6 per producer state), so two flushes in one commit
// group exceed the 80,000 a transaction may hold, and with max_mutations
// lowered to 20,000 a single flush does. The pipeline cuts flushes and
// splits groups to fit: every record is acknowledged (idempotent
// producers: only once committed) and a sample of partitions reads back.
func TestSpannerWideIdempotentCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Spanner emulator")
	}
	const partitions = 2000
	for _, tc := range []struct {
		name      string
		query     string
		producers int
	}{
		{"default limit, groups of flushes", "", 2},
		{"one flush over the limit", "?max_mutations=20000", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := spanneremu.NewDatabase(t)
			b := startBroker(t, func(c *broker.Config) {
				c.Metadata, c.AutoMigrate = url+tc.query, true
			})
			createTopic(t, b.Addr(), "wide", partitions, nil)
			start := time.Now()
			want := wideProduce(t, b.Addr(), "wide", partitions, tc.producers)
			t.Logf("produced in %v", time.Since(start))
			start = time.Now()
			checkWide(t, b.Addr(), "wide", want, 100)
			t.Logf("read back in %v", time.Since(start))
		})
	}
}
