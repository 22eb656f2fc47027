package broker_test

import (
	"context"
	"crypto/rand"
	"os"
	"strconv"
	"syscall"
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
// produced, archived and consumed. Each read runs twice, with the checks
// of the batches read (stages/fetch/check.go) and without
// (SkipBatchChecks), in alternating order: intake-check-cost-% and
// archive-check-cost-% are the checked reads' extra time over the
// unchecked ones, intake-check-cpu-% and archive-check-cpu-% their extra
// CPU time (less disturbed by other load on the machine than wall time),
// each from the fastest read of each kind (other load on the machine
// makes single reads up to twice as slow at random, which a mean or even
// a median of a few reads does not hide); the rates are the checked
// reads' mean.
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
	// The producer, and later the archiver, run with this configuration.
	producerConfig := func(c *broker.Config) {
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
	}
	producer := startBroker(b, producerConfig)
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
	// Gone before the reads: a live producer would serve some partitions
	// (clients pick a broker per partition) from the objects it keeps in
	// memory.
	producer.Close()
	gib := float64(catchUpBytes) / (1 << 30)

	// consume reads everything through a fresh broker and returns the
	// seconds it took and the broker's stats.
	consume := func(checked bool) (float64, float64, broker.Stats) {
		fresh := startBroker(b, func(c *broker.Config) {
			shared(c)
			c.LifecycleInterval = -1
			c.SkipBatchChecks = !checked
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
		start, startCPU := time.Now(), cpuSeconds(b)
		got := 0
		for got < n {
			fs := cc.PollFetches(cctx)
			if cctx.Err() != nil {
				b.Fatalf("consumed %d of %d", got, n)
			}
			fs.EachError(func(_ string, _ int32, err error) { b.Fatalf("fetch: %v", err) })
			got += fs.NumRecords()
		}
		sec, cpu := time.Since(start).Seconds(), cpuSeconds(b)-startCPU
		st := fresh.Stats()
		if st.FetchedBytes < catchUpBytes {
			b.Fatalf("the fresh broker served %d bytes, want all %d", st.FetchedBytes, catchUpBytes)
		}
		if checked != (st.FetchCheckedBytes >= catchUpBytes) {
			b.Fatalf("checks on: %v, but %d bytes checked of the %d read", checked, st.FetchCheckedBytes, catchUpBytes)
		}
		return sec, cpu, st
	}
	// both runs a checked and an unchecked read, the checked one first in
	// even iterations, adds the checked one's seconds to t.sec and keeps
	// the fastest seconds and CPU seconds (the whole process's: broker and
	// client) of each.
	type times struct {
		sec float64
		// best wall and CPU seconds, checked and unchecked
		wall, cpu [2]float64
	}
	best := func(old *float64, v float64) {
		if *old == 0 || v < *old {
			*old = v
		}
	}
	both := func(i int, t *times) broker.Stats {
		var st broker.Stats
		for k := 0; k < 2; k++ {
			if (k == 0) == (i%2 == 0) {
				s, c, cst := consume(true)
				t.sec, st = t.sec+s, cst
				best(&t.wall[0], s)
				best(&t.cpu[0], c)
			} else {
				s, c, _ := consume(false)
				best(&t.wall[1], s)
				best(&t.cpu[1], c)
			}
		}
		return st
	}

	var intake, archive times
	var intakeStats, archiveStats broker.Stats
	b.SetBytes(4 * catchUpBytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		intakeStats = both(i, &intake)
	}
	b.StopTimer()
	archiver := startBroker(b, producerConfig)
	if err := archiver.RunLifecycle(ctx); err != nil {
		b.Fatal(err)
	}
	archived := archiver.Stats()
	if ls := archiver.LifecycleStats(); ls.ArchivedBytes < catchUpBytes {
		b.Fatalf("archived %d bytes of %d", ls.ArchivedBytes, catchUpBytes)
	}
	archiver.Close()
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		archiveStats = both(i, &archive)
	}
	b.StopTimer()
	if archiveStats.FetchArchiveBytes == 0 || intakeStats.FetchIntakeBytes == 0 {
		b.Fatalf("reads did not come from where they should: intake run %+v, archive run %+v", intakeStats, archiveStats)
	}
	mb := float64(catchUpBytes) / 1e6 * float64(b.N)
	b.ReportMetric(mb/intake.sec, "intake-MB/s")
	b.ReportMetric(mb/archive.sec, "archive-MB/s")
	b.ReportMetric(intake.sec/archive.sec, "archive/intake")
	b.ReportMetric(100*(intake.wall[0]/intake.wall[1]-1), "intake-check-cost-%")
	b.ReportMetric(100*(archive.wall[0]/archive.wall[1]-1), "archive-check-cost-%")
	b.ReportMetric(100*(intake.cpu[0]/intake.cpu[1]-1), "intake-check-cpu-%")
	b.ReportMetric(100*(archive.cpu[0]/archive.cpu[1]-1), "archive-check-cpu-%")
	b.ReportMetric(float64(produced.ObjectPuts-before.ObjectPuts)/gib, "produce-PUTs/GiB")
	b.ReportMetric(float64(archived.ObjectPuts)/gib, "archive-PUTs/GiB")
	b.ReportMetric(float64(archived.ObjectGets)/gib, "archive-GETs/GiB")
	b.ReportMetric(float64(intakeStats.ObjectGets)/gib, "intake-read-GETs/GiB")
	b.ReportMetric(float64(archiveStats.ObjectGets)/gib, "archive-read-GETs/GiB")
}

// cpuSeconds returns the user and system CPU time this process used.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
