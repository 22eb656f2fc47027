package broker_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
	"github.com/sluicedata/sluice/stages/broker"
)

// wideProduce has producers idempotent franz-go clients each produce one
// record to every partition of topic, concurrently (round is the how
// many-th time, from 0), and fails the test unless every record is
// acknowledged, each at its own offset of the round. It returns the values
// by partition.
func wideProduce(t *testing.T, clients []*kgo.Client, topic string, partitions int32, round int) map[int32]map[string]bool {
	producers := len(clients)
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	want := map[int32]map[string]bool{}
	acked := map[int32]map[int64]bool{}
	for p := range partitions {
		want[p] = map[string]bool{}
		acked[p] = map[int64]bool{}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range partitions {
				v := fmt.Sprintf("r%d-w%d-p%d", round, w, p)
				mu.Lock()
				want[p][v] = true
				mu.Unlock()
				cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err != nil:
						t.Errorf("produce %s: %v", r.Value, err)
					case r.Offset < int64(round*producers) || r.Offset >= int64((round+1)*producers) || acked[r.Partition][r.Offset]:
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

// TestSpannerWideIdempotentCommit: an idempotent producer writing to
// thousands of partitions through a broker on Spanner (the emulator). By
// Spanner's count (13 mutations per index entry, 5 per partition row, 6
// per producer state) a flush of one batch to each of 2,000 partitions is
// 48,000 mutations, over a lowered max_mutations of 20,000, and one to
// each of 3,400 is 81,600, over the default 80,000. The pipeline cuts the
// flushes to fit: every record is acknowledged (idempotent producers:
// only once committed) and a sample of partitions reads back. Without the
// cut the commit fails whole, every time, with KAFKA_STORAGE_ERROR.
func TestSpannerWideIdempotentCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Spanner emulator")
	}
	for _, tc := range []struct {
		name       string
		query      string
		partitions int32
	}{
		{"2000 partitions, max_mutations=20000", "?max_mutations=20000", 2000},
		{"3400 partitions, default limit", "", 3400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.query == "" && os.Getenv("SLUICE_LONG_TESTS") == "" {
				// Over the emulator this case takes about five minutes
				// (it reads 3,400 producer states one at a time): make
				// test-long runs it.
				t.Skip("set SLUICE_LONG_TESTS=1 (make test-long) to run it")
			}
			url := spanneremu.NewDatabase(t)
			b := startBroker(t, func(c *broker.Config) {
				c.Metadata, c.AutoMigrate = url+tc.query, true
				// Long enough for a flush to take a whole produce
				// request of every partition.
				c.Linger = 200 * time.Millisecond
			})
			createTopic(t, b.Addr(), "wide", tc.partitions, nil)
			// Idempotent is franz-go's default; a storage error is
			// retried only twice, so a commit that keeps failing fails
			// the test instead of being retried until it happens to fit.
			clients := []*kgo.Client{newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(2),
				kgo.ProducerLinger(50*time.Millisecond), kgo.MaxBufferedRecords(int(tc.partitions)+1))}
			// The first round is slow: the broker reads the producer's
			// state on each partition from the store, so its batches
			// reach the cashier a few at a time. In the second it
			// knows them, and one flush takes the whole request.
			all := map[int32]map[string]bool{}
			for round := range 2 {
				start := time.Now()
				for p, vs := range wideProduce(t, clients, "wide", tc.partitions, round) {
					if all[p] == nil {
						all[p] = map[string]bool{}
					}
					maps.Copy(all[p], vs)
				}
				t.Logf("round %d produced in %v", round, time.Since(start))
			}
			checkWide(t, b.Addr(), "wide", all, 100)
		})
	}
}
