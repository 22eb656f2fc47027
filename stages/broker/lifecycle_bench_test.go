package broker_test

import (
	"context"
	"crypto/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/objstore/faulty"
	"github.com/sluicedata/sluice/stages/broker"
)

// BenchmarkCatchUpArchiveVsIntake produces catchUpBytes (1 KiB records
// that do not compress, 8 partitions) into the local object store, then
// measures a catch-up consumer reading all of it through a fresh broker
// (empty caches, so every byte comes from object storage): first from the
// intake objects, then, after one archive pass, from the archive segments.
// It reports both rates, their ratio, and the object PUTs and GETs per GiB
// produced, archived and consumed.
//
//	go test ./stages/broker -run '^$' -bench CatchUpArchiveVsIntake -benchtime 3x
//
// SLUICE_BENCH_SEGMENT_BYTES sets the archive's segment size (default 64
// MiB, so each partition's 16 MiB fits one segment) and
// SLUICE_BENCH_GET_LATENCY adds a latency to every GET of the consuming
// broker (e.g. 20ms, the first-byte latency of a cloud store): together
// they show what segment boundaries cost a catch-up reader.
func BenchmarkCatchUpArchiveVsIntake(b *testing.B) {
	const (
		topic        = "catchup"
		parts        = 8
		recordSize   = 1024
		catchUpBytes = 128 << 20
	)
	b.ReportAllocs()
	shared := sharedStores(b)
	producer := startBroker(b, func(c *broker.Config) {
		shared(c)
		c.LifecycleInterval = time.Hour // passes only when asked
		c.ArchiveBytes = 1              // a pass archives everything
		c.ArchiveShards = 1             // all of it, whoever else is registered
		c.SegmentBytes = 64 << 20
		if v := os.Getenv("SLUICE_BENCH_SEGMENT_BYTES"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("SLUICE_BENCH_SEGMENT_BYTES=%q: %v", v, err)
			}
			c.SegmentBytes = n
		}
	})
	var getLatency time.Duration
	if v := os.Getenv("SLUICE_BENCH_GET_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("SLUICE_BENCH_GET_LATENCY=%q: %v", v, err)
		}
		getLatency = d
	}
	createTopic(b, producer.Addr(), topic, parts, nil)
	cl := newClient(b, producer.Addr(), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(5*time.Millisecond))
	ctx := context.Background()
	value := make([]byte, recordSize)
	n := catchUpBytes / recordSize
	before := producer.Stats()
	for i := 0; i < n; i++ {
		_, _ = rand.Read(value[:64])
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: append([]byte(nil), value...)}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	produced := producer.Stats()
	gib := float64(catchUpBytes) / (1 << 30)

	// consume reads everything through a fresh broker and returns the
	// seconds it took and the broker's stats.
	consume := func() (float64, broker.Stats) {
		fresh := startBroker(b, func(c *broker.Config) {
			shared(c)
			c.LifecycleInterval = -1
			if getLatency > 0 {
				c.ObjectStore = faulty.New(c.ObjectStore, faulty.Config{Get: faulty.Rule{Latency: getLatency}})
			}
		})
		defer fresh.Close()
		cc := newClient(b, fresh.Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20), kgo.FetchMaxWait(100*time.Millisecond))
		defer cc.Close()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		start := time.Now()
		got := 0
		for got < n {
			fs := cc.PollFetches(cctx)
			if cctx.Err() != nil {
				b.Fatalf("consumed %d of %d", got, n)
			}
			fs.EachError(func(_ string, _ int32, err error) { b.Fatalf("fetch: %v", err) })
			got += fs.NumRecords()
		}
		return time.Since(start).Seconds(), fresh.Stats()
	}

	var intakeSec, archiveSec float64
	var intakeStats, archiveStats broker.Stats
	b.SetBytes(2 * catchUpBytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, st := consume()
		intakeSec += s
		intakeStats = st
	}
	b.StopTimer()
	if err := producer.RunLifecycle(ctx); err != nil {
		b.Fatal(err)
	}
	archived := producer.Stats()
	if ls := producer.LifecycleStats(); ls.ArchivedBytes < catchUpBytes {
		b.Fatalf("archived %d bytes of %d", ls.ArchivedBytes, catchUpBytes)
	}
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		s, st := consume()
		archiveSec += s
		archiveStats = st
	}
	b.StopTimer()
	if archiveStats.FetchArchiveBytes == 0 || intakeStats.FetchIntakeBytes == 0 {
		b.Fatalf("reads did not come from where they should: intake run %+v, archive run %+v", intakeStats, archiveStats)
	}
	mb := float64(catchUpBytes) / 1e6 * float64(b.N)
	b.ReportMetric(mb/intakeSec, "intake-MB/s")
	b.ReportMetric(mb/archiveSec, "archive-MB/s")
	b.ReportMetric(intakeSec/archiveSec, "archive/intake")
	b.ReportMetric(float64(produced.ObjectPuts-before.ObjectPuts)/gib, "produce-PUTs/GiB")
	b.ReportMetric(float64(archived.ObjectPuts-produced.ObjectPuts)/gib, "archive-PUTs/GiB")
	b.ReportMetric(float64(archived.ObjectGets-produced.ObjectGets)/gib, "archive-GETs/GiB")
	b.ReportMetric(float64(intakeStats.ObjectGets)/gib, "intake-read-GETs/GiB")
	b.ReportMetric(float64(archiveStats.ObjectGets)/gib, "archive-read-GETs/GiB")
}
