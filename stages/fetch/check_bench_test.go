package fetch

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
)

// BenchmarkCheckedCatchUp measures what checked reads cost a consumer
// catching up, without the network and client that dilute it in the
// broker benchmark (BenchmarkCatchUpArchiveVsIntake): each iteration
// reads a 32 MiB partition (16 KiB batches of 1 KiB records) from offset
// 0 to its end in 1 MiB fetches through a fresh Fetcher (empty caches:
// every byte comes from the in-memory object store), once with the checks
// and once without (SkipBatchChecks), in alternating order.
// check-cost-% is the checked reads' extra time, fastest read against
// fastest read (other load on the machine makes single reads slow at
// random); check-cpu-% the same of the process's CPU time, less
// disturbed by other load than wall time. Sub-benchmarks read the
// intake objects and, archived, the segments.
//
//	go test ./stages/fetch -run '^$' -bench CheckedCatchUp -benchtime 20x
func BenchmarkCheckedCatchUp(b *testing.B) {
	for _, archived := range []bool{false, true} {
		name := "intake"
		if archived {
			name = "archive"
		}
		b.Run(name, func(b *testing.B) {
			f := newFixture(b)
			counts := make([]int, 64)
			for i := range counts {
				counts[i] = 16
			}
			const objects = 32
			for i := 0; i < objects; i++ {
				f.commit(b, 0, counts, 1024) // 64 batches of 16 KiB per object
			}
			if archived {
				archiveAll(b, f, 8<<20)
			}
			tp := meta.TP{Topic: f.topic.ID}
			read := func(checked bool) (wall, cpu time.Duration, n int64) {
				fe := New(Config{Meta: f.meta, Objects: f.objs, SkipBatchChecks: !checked})
				defer fe.Close()
				start, startCPU := time.Now(), cpuTime(b)
				for off := int64(0); ; {
					res := fe.Read(context.Background(), Request{TP: tp, Offset: off, MaxBytes: 1 << 20}, 1<<20, true)
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					if len(res.Records) == 0 {
						break
					}
					n += int64(len(res.Records))
					bs, err := codec.SplitBatches(res.Records)
					if err != nil {
						b.Fatal(err)
					}
					last := bs[len(bs)-1]
					h, err := codec.ParseBatch(last)
					if err != nil {
						b.Fatal(err)
					}
					off = h.BaseOffset + int64(h.LastOffsetDelta) + 1
				}
				fe.Close() // read-ahead done
				wall, cpu = time.Since(start), cpuTime(b)-startCPU
				if checked != (fe.CheckedBytes() >= n) {
					b.Fatalf("checks on: %v, %d bytes checked of %d read", checked, fe.CheckedBytes(), n)
				}
				return wall, cpu, n
			}
			_, _, total := read(true)
			b.SetBytes(2 * total)
			b.ReportAllocs()
			b.ResetTimer()
			var on time.Duration
			var wall, cpu [2]time.Duration // fastest checked, unchecked
			best := func(old *time.Duration, d time.Duration) {
				if *old == 0 || d < *old {
					*old = d
				}
			}
			for i := 0; i < b.N; i++ {
				for k := 0; k < 2; k++ {
					checked := (k == 0) == (i%2 == 0)
					w, c, _ := read(checked)
					j := 1
					if checked {
						j, on = 0, on+w
					}
					best(&wall[j], w)
					best(&cpu[j], c)
				}
			}
			b.ReportMetric(100*(float64(wall[0])/float64(wall[1])-1), "check-cost-%")
			b.ReportMetric(100*(float64(cpu[0])/float64(cpu[1])-1), "check-cpu-%")
			b.ReportMetric(float64(total)*float64(b.N)/1e6/on.Seconds(), "checked-MB/s")
		})
	}
}

// archiveAll replaces partition 0's intake entries of f by one archive
// entry whose segments (of about segBytes) hold the same batches, as the
// lifecycle's archive does.
func archiveAll(b *testing.B, f *fixture, segBytes int64) {
	ctx := context.Background()
	tp := meta.TP{Topic: f.topic.ID}
	entries, err := f.meta.Entries(ctx, tp, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	fe := New(Config{Meta: f.meta, Objects: f.objs})
	defer fe.Close()
	var segs []codec.SegmentRef
	var total int64
	bld := codec.NewIntakeBuilder()
	cur := codec.SegmentRef{MaxTimestamp: -1}
	flush := func() {
		in, err := bld.Finish()
		if err != nil {
			b.Fatal(err)
		}
		cur.Key = fmt.Sprintf("archive/seg-%d", len(segs))
		cur.Size, cur.IndexPos, cur.IndexLen = int64(len(in.Data)), in.IndexPos, in.IndexLen
		if err := f.objs.Put(ctx, cur.Key, in.Data); err != nil {
			b.Fatal(err)
		}
		total += in.IndexPos - codec.IntakeHeaderSize
		segs = append(segs, cur)
		bld.Reset()
	}
	for off := int64(0); ; {
		res := fe.Read(ctx, Request{TP: tp, Offset: off, MaxBytes: 8 << 20}, 8<<20, true)
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		if len(res.Records) == 0 {
			break
		}
		bs, err := codec.SplitBatches(res.Records)
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range bs {
			h, err := codec.ParseBatch(batch)
			if err != nil {
				b.Fatal(err)
			}
			if bld.Len() == 0 {
				cur = codec.SegmentRef{BaseOffset: h.BaseOffset, MaxTimestamp: -1}
			}
			bld.Add(f.topic.ID, 0, h, batch)
			cur.LastOffset = h.BaseOffset + int64(h.LastOffsetDelta)
			cur.MaxTimestamp = max(cur.MaxTimestamp, h.MaxTimestamp)
			off = cur.LastOffset + 1
			if bld.Bytes() >= segBytes {
				flush()
			}
		}
	}
	if bld.Len() > 0 {
		flush()
	}
	cat, err := codec.EncodeCatalog(segs)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.objs.Put(ctx, "archive/catalog", cat); err != nil {
		b.Fatal(err)
	}
	a := meta.IndexEntry{TP: tp, BaseOffset: 0, LastOffset: segs[len(segs)-1].LastOffset, MaxTimestamp: segs[0].MaxTimestamp,
		ObjectKey: "archive/catalog", ObjectSize: int64(len(cat)), IndexLen: int64(len(cat)), ByteEnd: total, Kind: meta.EntryArchive}
	if err := f.meta.Lifecycle().ReplaceEntries(ctx, tp, entries, []meta.IndexEntry{a}); err != nil {
		b.Fatal(err)
	}
}

// cpuTime returns the user and system CPU time this process used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
