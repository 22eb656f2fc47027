package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
)

// archivedBatch is one batch of the archive fixture's partition 0.
type archivedBatch struct {
	base int64
	h    codec.BatchHeader
	data []byte // as produced (base offset 0)
}

// archiveFixture holds partition 0 of a topic whose first three intake
// objects were archived into three segments (the intake objects deleted)
// and whose fourth is still an intake entry; partition 1 has one intake
// entry of its own.
type archiveFixture struct {
	*fixture
	tp      meta.TP
	batches []archivedBatch // every batch of partition 0, in offset order
	groups  [][]int         // batches per segment (indexes into batches), then the intake tail
	segs    []codec.SegmentRef
	segData [][]byte
	archive meta.IndexEntry // as stored
	tail    meta.IndexEntry // the intake entry after it
	hwm     int64
}

// archiveBatch builds a batch of n records of valueBytes each, contents
// from seed, all records at timestamp ts.
func archiveBatch(t testing.TB, seed int64, n, valueBytes int, ts int64) (codec.BatchHeader, []byte) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	recs := make([]codec.Record, n)
	for i := range recs {
		v := make([]byte, valueBytes)
		rng.Read(v)
		recs[i] = codec.Record{OffsetDelta: int32(i), Value: v}
	}
	data, err := codec.AppendBatch(nil, codec.BatchHeader{LastOffsetDelta: int32(n - 1), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: ts, MaxTimestamp: ts}, recs, codec.CodecNone)
	if err != nil {
		t.Fatal(err)
	}
	h, err := codec.ParseBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	return h, data
}

// commitObject commits one intake object of the given batches of
// partition p, as the produce pipeline does.
func (f *fixture) commitObject(t testing.TB, p int32, hs []codec.BatchHeader, batches [][]byte) {
	t.Helper()
	b := codec.NewIntakeBuilder()
	for i := range batches {
		b.Add(f.topic.ID, p, hs[i], batches[i])
	}
	in, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	f.n++
	key := fmt.Sprintf("intake-%d", f.n)
	if err := f.objs.Put(context.Background(), key, in.Data); err != nil {
		t.Fatal(err)
	}
	oc := meta.ObjectCommit{Key: key, Size: int64(len(in.Data)), IndexPos: in.IndexPos, IndexLen: in.IndexLen}
	for _, r := range in.Rows {
		oc.Batches = append(oc.Batches, meta.BatchCommit{TP: meta.TP{Topic: f.topic.ID, Partition: r.Partition}, Records: r.LastOffsetDelta + 1,
			MaxTimestamp: r.MaxTimestamp, ProducerID: -1, BaseSequence: meta.NoSequence, RelOffset: r.RelOffset, Pos: r.Pos, Len: int64(r.Len)})
	}
	if _, err := f.meta.Commit(context.Background(), []meta.ObjectCommit{oc}); err != nil {
		t.Fatal(err)
	}
}

// Record counts per batch of the three segments and the intake tail, and
// the first timestamp of each group: segment 1's timestamps are below
// segment 0's, as after a producer's clock went back.
var (
	archiveCounts = [][]int{{3, 1, 4, 2}, {5, 1}, {2, 2, 2, 6}, {3, 2}}
	archiveTimes  = []int64{2000, 1500, 3000, 4000}
)

func newArchiveFixture(t testing.TB) *archiveFixture {
	t.Helper()
	ctx := context.Background()
	a := &archiveFixture{fixture: newFixture(t)}
	a.tp = meta.TP{Topic: a.topic.ID, Partition: 0}
	var base int64
	for g, counts := range archiveCounts {
		var hs []codec.BatchHeader
		var datas [][]byte
		var idx []int
		for i, n := range counts {
			h, data := archiveBatch(t, int64(100*g+i), n, 100, archiveTimes[g]+int64(10*i))
			hs, datas = append(hs, h), append(datas, data)
			idx = append(idx, len(a.batches))
			a.batches = append(a.batches, archivedBatch{base: base, h: h, data: data})
			base += int64(n)
		}
		a.groups = append(a.groups, idx)
		a.commitObject(t, 0, hs, datas)
	}
	a.hwm = base
	h1, b1 := archiveBatch(t, 999, 4, 50, 7)
	a.commitObject(t, 1, []codec.BatchHeader{h1}, [][]byte{b1})

	entries, err := a.meta.Entries(ctx, a.tp, 0, 100)
	if err != nil || len(entries) != 4 {
		t.Fatalf("entries %v, %v", entries, err)
	}
	// Copy the first three runs into segments, list them in a catalog.
	var total int64
	for g := 0; g < 3; g++ {
		b := codec.NewIntakeBuilder()
		for _, i := range a.groups[g] {
			b.Add(a.topic.ID, 0, a.batches[i].h, a.batches[i].data)
		}
		in, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("archive/seg-%d", g)
		if err := a.objs.Put(ctx, key, in.Data); err != nil {
			t.Fatal(err)
		}
		e := entries[g]
		a.segs = append(a.segs, codec.SegmentRef{BaseOffset: e.BaseOffset, LastOffset: e.LastOffset, MaxTimestamp: e.MaxTimestamp,
			Key: key, Size: int64(len(in.Data)), IndexPos: in.IndexPos, IndexLen: in.IndexLen})
		a.segData = append(a.segData, in.Data)
		total += in.IndexPos - codec.IntakeHeaderSize
	}
	cat, err := codec.EncodeCatalog(a.segs)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.objs.Put(ctx, "archive/catalog-1", cat); err != nil {
		t.Fatal(err)
	}
	a.archive = meta.IndexEntry{TP: a.tp, BaseOffset: a.segs[0].BaseOffset, LastOffset: a.segs[2].LastOffset,
		MaxTimestamp: max(a.segs[0].MaxTimestamp, a.segs[1].MaxTimestamp, a.segs[2].MaxTimestamp),
		ObjectKey:    "archive/catalog-1", ObjectSize: int64(len(cat)), IndexPos: 0, IndexLen: int64(len(cat)),
		ByteStart: 0, ByteEnd: total, Kind: meta.EntryArchive}
	if err := a.meta.Lifecycle().ReplaceEntries(ctx, a.tp, entries[:3], []meta.IndexEntry{a.archive}); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries[:3] {
		if err := a.objs.Delete(ctx, e.ObjectKey); err != nil {
			t.Fatal(err)
		}
	}
	after, err := a.meta.Entries(ctx, a.tp, 0, 100)
	if err != nil || len(after) != 2 || after[0] != a.archive || after[1] != entries[3] {
		t.Fatalf("entries after archiving: %+v, %v", after, err)
	}
	a.tail = entries[3]
	return a
}

// fetcher returns a new Fetcher over the fixture's stores, closed with
// the test.
func (a *archiveFixture) fetcher(t testing.TB, cfg Config) *Fetcher {
	cfg.Meta, cfg.Objects = a.meta, a.objs
	fe := New(cfg)
	t.Cleanup(fe.Close)
	return fe
}

// batchAt returns the index of the batch holding offset.
func (a *archiveFixture) batchAt(offset int64) int {
	i, _ := slices.BinarySearchFunc(a.batches, offset, func(b archivedBatch, off int64) int {
		if b.base+int64(b.h.LastOffsetDelta) < off {
			return -1
		}
		if b.base > off {
			return 1
		}
		return 0
	})
	return i
}

// check requires records to be whole batches of partition 0, the first
// the one holding from, then the ones after it, each byte for byte as
// produced with its base offset assigned. It returns the offset after the
// last and the batch count.
func (a *archiveFixture) check(t testing.TB, records []byte, from int64) (next int64, n int) {
	t.Helper()
	bs, err := codec.SplitBatches(records)
	if err != nil {
		t.Fatalf("from %d: %v", from, err)
	}
	i := a.batchAt(from)
	next = from
	for k, b := range bs {
		if i+k >= len(a.batches) {
			t.Fatalf("from %d: batch %d is past the last batch", from, k)
		}
		want := a.batches[i+k]
		exp := slices.Clone(want.data)
		codec.SetBaseOffset(exp, want.base)
		codec.SetPartitionLeaderEpoch(exp, 0)
		if !bytes.Equal(b, exp) {
			h, _ := codec.ParseBatch(b)
			t.Fatalf("from %d: batch %d has base %d (%d bytes), want batch at %d (%d bytes)", from, k, h.BaseOffset, len(b), want.base, len(exp))
		}
		next = want.base + int64(want.h.LastOffsetDelta) + 1
	}
	return next, len(bs)
}

func (a *archiveFixture) read(fe *Fetcher, offset int64, maxBytes int32) Result {
	return fe.Read(context.Background(), Request{TP: a.tp, Offset: offset, MaxBytes: maxBytes}, 1<<30, true)
}

// readThrough reads offsets [from, to) in fetches of maxBytes, checking
// each, and waits for each fetch's read-ahead.
func (a *archiveFixture) readThrough(t *testing.T, fe *Fetcher, from, to int64, maxBytes int32) {
	t.Helper()
	for off := from; off < to; {
		res := a.read(fe, off, maxBytes)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		off, _ = a.check(t, res.Records, off)
		fe.aheadWG.Wait()
	}
}

func TestArchiveReadEveryOffset(t *testing.T) {
	a := newArchiveFixture(t)
	for _, chunk := range []int64{0, 512, 100} { // 0: the default 4 MiB
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			fe := a.fetcher(t, Config{ReadAheadBytes: chunk})
			// Everything from each offset: across segment boundaries and
			// into the intake entry, up to the high watermark.
			for off := int64(0); off < a.hwm; off++ {
				res := a.read(fe, off, 1<<20)
				if res.Err != nil {
					t.Fatalf("from %d: %v", off, res.Err)
				}
				if next, n := a.check(t, res.Records, off); next != a.hwm || n != len(a.batches)-a.batchAt(off) {
					t.Fatalf("from %d: %d batches up to %d, want %d up to %d", off, n, next, len(a.batches)-a.batchAt(off), a.hwm)
				}
			}
			// Batch by batch, and a few at a time, as a consumer with a
			// small max bytes steps through.
			for _, maxBytes := range []int32{1, 700, 2000} {
				var count int
				for off := int64(0); off < a.hwm; {
					res := a.read(fe, off, maxBytes)
					if res.Err != nil {
						t.Fatalf("max bytes %d from %d: %v", maxBytes, off, res.Err)
					}
					next, n := a.check(t, res.Records, off)
					if n == 0 || (maxBytes == 1 && n != 1) {
						t.Fatalf("max bytes %d from %d: %d batches", maxBytes, off, n)
					}
					if n > 1 && int32(len(res.Records)) > maxBytes {
						t.Fatalf("max bytes %d from %d: %d bytes", maxBytes, off, len(res.Records))
					}
					off, count = next, count+n
				}
				if count != len(a.batches) {
					t.Fatalf("max bytes %d: %d batches, want %d", maxBytes, count, len(a.batches))
				}
			}
			if res := a.read(fe, a.hwm, 1<<20); res.Err != nil || len(res.Records) != 0 {
				t.Fatalf("at the high watermark: %v, %d bytes", res.Err, len(res.Records))
			}
			// The other partition is untouched by partition 0's archive.
			res := fe.Read(context.Background(), Request{TP: meta.TP{Topic: a.topic.ID, Partition: 1}, MaxBytes: 1 << 20}, 1<<20, true)
			if bases, counts := batches(t, res.Records); res.Err != nil || len(bases) != 1 || counts[0] != 4 {
				t.Fatalf("partition 1: %v %v %v", bases, counts, res.Err)
			}
			mem, intake, archive := fe.SourceBytes()
			if mem+intake+archive != fe.FetchedBytes() {
				t.Fatalf("sources %d+%d+%d bytes, fetched %d", mem, intake, archive, fe.FetchedBytes())
			}
		})
	}
}

func TestArchiveReadAheadServesFromMemory(t *testing.T) {
	a := newArchiveFixture(t)
	// Chunks of 512 bytes: segment 0 (10 records of 100 bytes) spans
	// several. A first fetch of one batch reads the catalog, the
	// segment's index and chunk 0, and reads chunk 1 ahead.
	fe := a.fetcher(t, Config{ReadAheadBytes: 512})
	res := a.read(fe, 0, 1)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	next, _ := a.check(t, res.Records, 0)
	if int64(len(res.Records)) > 512-codec.IntakeHeaderSize {
		t.Fatalf("fixture: first batch of %d bytes does not fit chunk 0", len(res.Records))
	}
	fe.aheadWG.Wait()
	if _, gets := fe.SourceGets(); gets != 4 {
		t.Fatalf("archive GETs after one read: %d, want catalog, index, chunk and read-ahead", gets)
	}
	mem0, intake0, archive0 := fe.SourceBytes()
	if mem0 != 0 || intake0 != 0 || archive0 != int64(len(res.Records)) {
		t.Fatalf("sources after the first read: memory %d intake %d archive %d", mem0, intake0, archive0)
	}
	// The following batches up to the end of chunk 1 come from memory,
	// without a GET of this read's own (only the next read-ahead, if any).
	_, gets0 := fe.SourceGets()
	res = a.read(fe, next, int32(1024-(codec.IntakeHeaderSize+len(res.Records)))) // what chunks 0 and 1 hold
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, n := a.check(t, res.Records, next); n == 0 {
		t.Fatal("second read returned nothing")
	}
	fe.aheadWG.Wait()
	mem1, intake1, archive1 := fe.SourceBytes()
	if mem1 != int64(len(res.Records)) || intake1 != 0 || archive1 != archive0 {
		t.Fatalf("sources after the second read: memory %d (want %d) intake %d archive %d (want %d)", mem1, len(res.Records), intake1, archive1, archive0)
	}
	if _, gets1 := fe.SourceGets(); gets1-gets0 > 1 {
		t.Fatalf("second read made %d archive GETs, want at most the next read-ahead", gets1-gets0)
	}
	// Reading the whole partition twice: the second time all from memory.
	a.readThrough(t, fe, 0, a.hwm, 700)
	mem2, intake2, archive2 := fe.SourceBytes()
	_, gets2 := fe.SourceGets()
	if intake2 == 0 || archive2 <= archive1 {
		t.Fatalf("first full pass: intake %d archive %d bytes", intake2, archive2)
	}
	res = a.read(fe, 0, 1<<20)
	if _, n := a.check(t, res.Records, 0); res.Err != nil || n != len(a.batches) {
		t.Fatalf("second pass: %d batches, %v", n, res.Err)
	}
	mem3, intake3, archive3 := fe.SourceBytes()
	_, gets3 := fe.SourceGets()
	if mem3-mem2 != int64(len(res.Records)) || intake3 != intake2 || archive3 != archive2 || gets3 != gets2 {
		t.Fatalf("second pass not from memory: memory +%d of %d, intake +%d, archive +%d, GETs +%d",
			mem3-mem2, len(res.Records), intake3-intake2, archive3-archive2, gets3-gets2)
	}
}

// TestArchiveReadAheadCrossesSegments: a read that ends in a segment's
// last chunk starts reading the next segment's index and first chunk, so
// the read that crosses into the next segment finds its bytes in memory
// and makes no GET of its own (at most the read-ahead of the chunk after).
func TestArchiveReadAheadCrossesSegments(t *testing.T) {
	a := newArchiveFixture(t)
	// Chunks of 1 KiB: each segment's first batch fits its first chunk.
	fe := a.fetcher(t, Config{ReadAheadBytes: 1024})
	for i := 1; i < len(a.segs); i++ {
		if first := a.batches[a.batchAt(a.segs[i].BaseOffset)]; codec.IntakeHeaderSize+len(first.data) > 1024 {
			t.Fatalf("fixture: segment %d's first batch (%d bytes) does not fit a 1 KiB chunk", i, len(first.data))
		}
		// Read the segment before, one batch per fetch, to its end.
		a.readThrough(t, fe, a.segs[i-1].BaseOffset, a.segs[i].BaseOffset, 1)
		mem0, _, archive0 := fe.SourceBytes()
		_, gets0 := fe.SourceGets()
		res := a.read(fe, a.segs[i].BaseOffset, 1)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if _, n := a.check(t, res.Records, a.segs[i].BaseOffset); n != 1 {
			t.Fatalf("segment %d: first read returned %d batches", i, n)
		}
		fe.aheadWG.Wait()
		mem1, _, archive1 := fe.SourceBytes()
		_, gets1 := fe.SourceGets()
		if mem1-mem0 != int64(len(res.Records)) || archive1 != archive0 {
			t.Fatalf("segment %d: first read served memory +%d archive +%d bytes, want all %d from memory", i, mem1-mem0, archive1-archive0, len(res.Records))
		}
		if gets1-gets0 > 1 {
			t.Fatalf("segment %d: first read made %d GETs, want at most the next chunk's read-ahead", i, gets1-gets0)
		}
	}
}

func TestArchiveReadAheadStopsAtClose(t *testing.T) {
	a := newArchiveFixture(t)
	fe := a.fetcher(t, Config{ReadAheadBytes: 512})
	fe.Close()
	res := a.read(fe, 0, 1)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	a.check(t, res.Records, 0)
	fe.aheadWG.Wait()
	if _, gets := fe.SourceGets(); gets != 3 {
		t.Fatalf("archive GETs after Close and one read: %d, want catalog, index and chunk", gets)
	}
}

// wantStorageErr requires res to be a storage error.
func wantStorageErr(t *testing.T, what string, res Result) {
	t.Helper()
	if !errors.Is(res.Err, ErrStorage) {
		t.Fatalf("%s: error %v (%d bytes), want ErrStorage", what, res.Err, len(res.Records))
	}
}

// otherReadsWork requires the intake tail of partition 0 and partition 1
// to read fine.
func (a *archiveFixture) otherReadsWork(t *testing.T, fe *Fetcher) {
	t.Helper()
	res := a.read(fe, a.tail.BaseOffset, 1<<20)
	if next, _ := a.check(t, res.Records, a.tail.BaseOffset); res.Err != nil || next != a.hwm {
		t.Fatalf("intake tail: %v, up to %d", res.Err, next)
	}
	res = fe.Read(context.Background(), Request{TP: meta.TP{Topic: a.topic.ID, Partition: 1}, MaxBytes: 1 << 20}, 1<<20, true)
	if res.Err != nil || len(res.Records) == 0 {
		t.Fatalf("partition 1: %v", res.Err)
	}
}

// repoint points the archive entry to a new catalog of segs.
func (a *archiveFixture) repoint(segs []codec.SegmentRef) error {
	ctx := context.Background()
	cat, err := codec.EncodeCatalog(segs)
	if err != nil {
		return err
	}
	e := a.archive
	e.ObjectKey, e.ObjectSize, e.IndexLen = "archive/catalog-2", int64(len(cat)), int64(len(cat))
	if err := a.objs.Put(ctx, e.ObjectKey, cat); err != nil {
		return err
	}
	if err := a.meta.Lifecycle().ReplaceEntries(ctx, a.tp, []meta.IndexEntry{a.archive}, []meta.IndexEntry{e}); err != nil {
		return err
	}
	a.archive = e
	return nil
}

func TestArchiveBadCatalog(t *testing.T) {
	ctx := context.Background()
	for name, mod := range map[string]func(a *archiveFixture) error{
		"missing": func(a *archiveFixture) error { return a.objs.Delete(ctx, a.archive.ObjectKey) },
		"garbage": func(a *archiveFixture) error {
			return a.objs.Put(ctx, a.archive.ObjectKey, make([]byte, a.archive.ObjectSize))
		},
		"corrupt byte": func(a *archiveFixture) error {
			b, err := a.objs.GetRange(ctx, a.archive.ObjectKey, 0, -1)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 1
			return a.objs.Put(ctx, a.archive.ObjectKey, b)
		},
		"truncated": func(a *archiveFixture) error {
			b, err := a.objs.GetRange(ctx, a.archive.ObjectKey, 0, -1)
			if err != nil {
				return err
			}
			return a.objs.Put(ctx, a.archive.ObjectKey, b[:len(b)-1])
		},
		"an intake object": func(a *archiveFixture) error {
			return a.objs.Put(ctx, a.archive.ObjectKey, a.segData[0][:min(len(a.segData[0]), int(a.archive.ObjectSize))])
		},
		"ending below the entry":   func(a *archiveFixture) error { return a.repoint(a.segs[:2]) },
		"starting above the entry": func(a *archiveFixture) error { return a.repoint(a.segs[1:]) },
	} {
		t.Run(name, func(t *testing.T) {
			a := newArchiveFixture(t)
			if err := mod(a); err != nil {
				t.Fatal(err)
			}
			fe := a.fetcher(t, Config{ReadAheadBytes: 512})
			wantStorageErr(t, "from 0", a.read(fe, 0, 1<<20))
			wantStorageErr(t, "from segment 2", a.read(fe, a.segs[2].BaseOffset+1, 1<<20))
			if _, _, err := fe.ResolveTimestamp(ctx, a.archive, 0); !errors.Is(err, ErrStorage) {
				t.Fatalf("ResolveTimestamp: %v", err)
			}
			a.otherReadsWork(t, fe)
		})
	}
}

func TestArchiveBadSegment(t *testing.T) {
	ctx := context.Background()
	for name, mod := range map[string]func(a *archiveFixture) error{
		"missing": func(a *archiveFixture) error { return a.objs.Delete(ctx, a.segs[1].Key) },
		"corrupt index": func(a *archiveFixture) error {
			b := slices.Clone(a.segData[1])
			b[a.segs[1].IndexPos+a.segs[1].IndexLen/2] ^= 1
			return a.objs.Put(ctx, a.segs[1].Key, b)
		},
		"truncated": func(a *archiveFixture) error {
			return a.objs.Put(ctx, a.segs[1].Key, a.segData[1][:a.segs[1].IndexPos-10])
		},
		"another segment": func(a *archiveFixture) error {
			return a.objs.Put(ctx, a.segs[1].Key, a.segData[0])
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := newArchiveFixture(t)
			if err := mod(a); err != nil {
				t.Fatal(err)
			}
			for _, chunk := range []int64{0, 512} {
				fe := a.fetcher(t, Config{ReadAheadBytes: chunk})
				// Segment 0 reads; a fetch running into segment 1 answers
				// what segment 0 gave, and the next one the error.
				res := a.read(fe, 0, 1<<20)
				if next, _ := a.check(t, res.Records, 0); res.Err != nil || next != a.segs[0].LastOffset+1 {
					t.Fatalf("from 0: %v, up to %d, want %d", res.Err, next, a.segs[0].LastOffset+1)
				}
				wantStorageErr(t, "from segment 1", a.read(fe, a.segs[1].BaseOffset, 1<<20))
				wantStorageErr(t, "inside segment 1", a.read(fe, a.segs[1].BaseOffset+3, 1))
				res = a.read(fe, a.segs[2].BaseOffset, 1<<20)
				if next, _ := a.check(t, res.Records, a.segs[2].BaseOffset); res.Err != nil || next != a.hwm {
					t.Fatalf("from segment 2: %v, up to %d", res.Err, next)
				}
				a.otherReadsWork(t, fe)
			}
		})
	}
}

// TestArchiveBaseAdvanced: retention moved the archive entry's base past
// the first batches of segment 0, which the segment still holds; they are
// never served.
func TestArchiveBaseAdvanced(t *testing.T) {
	ctx := context.Background()
	a := newArchiveFixture(t)
	start := a.batches[2].base // segment 0's third batch
	if _, err := a.meta.DeleteRecords(ctx, a.tp, start); err != nil {
		t.Fatal(err)
	}
	adv := a.archive
	adv.BaseOffset = start
	if err := a.meta.Lifecycle().ReplaceEntries(ctx, a.tp, []meta.IndexEntry{a.archive}, []meta.IndexEntry{adv}); err != nil {
		t.Fatal(err)
	}
	fe := a.fetcher(t, Config{ReadAheadBytes: 512})
	res := a.read(fe, start, 1<<20)
	if next, _ := a.check(t, res.Records, start); res.Err != nil || next != a.hwm {
		t.Fatalf("from the new log start: %v, up to %d", res.Err, next)
	}
	if res := a.read(fe, 0, 1<<20); !errors.Is(res.Err, meta.ErrOffsetOutOfRange) {
		t.Fatalf("below the log start: %v", res.Err)
	}
	// Asked directly for the entry from offset 0, the archive still
	// starts at its base.
	out, next, _, err := fe.readArchive(ctx, adv, 0, a.hwm, nil, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := a.check(t, out, start); n != adv.LastOffset+1 || next != n {
		t.Fatalf("readArchive from 0: up to %d, next %d, want %d", n, next, adv.LastOffset+1)
	}
}

func TestArchiveResolveTimestamp(t *testing.T) {
	ctx := context.Background()
	a := newArchiveFixture(t)
	fe := a.fetcher(t, Config{})
	// Segment max timestamps: 2030, 1510, 3030 (segment 1's are older).
	for _, tc := range []struct {
		ts   int64
		from int64 // the archive entry's base
		seg  int   // -1: none
	}{
		{0, 0, 0},
		{1510, 0, 0},
		{2030, 0, 0},
		{2031, 0, 2},
		{3030, 0, 2},
		{3031, 0, -1},
		{1500, a.segs[1].BaseOffset, 1},
		{1600, a.segs[1].BaseOffset, 2},
		{1600, a.segs[1].BaseOffset + 2, 2},
		{0, a.segs[0].LastOffset, 0},
		{0, a.segs[2].BaseOffset + 1, 2},
	} {
		e := a.archive
		e.BaseOffset = tc.from
		got, ok, err := fe.ResolveTimestamp(ctx, e, tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		if tc.seg < 0 {
			if ok {
				t.Errorf("ts %d from %d: found %s, want none", tc.ts, tc.from, got.ObjectKey)
			}
			continue
		}
		s := a.segs[tc.seg]
		want := meta.IndexEntry{TP: a.tp, BaseOffset: s.BaseOffset, LastOffset: s.LastOffset, MaxTimestamp: s.MaxTimestamp,
			ObjectKey: s.Key, ObjectSize: s.Size, IndexPos: s.IndexPos, IndexLen: s.IndexLen,
			ByteStart: codec.IntakeHeaderSize, ByteEnd: s.IndexPos, Kind: meta.EntryArchive}
		if !ok || got != want {
			t.Errorf("ts %d from %d: %+v %v, want segment %d", tc.ts, tc.from, got, ok, tc.seg)
		}
	}
	// A segment beyond the entry's last offset is not found.
	e := a.archive
	e.LastOffset = a.segs[1].LastOffset
	if got, ok, err := fe.ResolveTimestamp(ctx, e, 2500); err != nil || ok {
		t.Errorf("past the entry's last offset: %+v %v %v", got, ok, err)
	}
	// The resolved entry reads like any other.
	got, ok, err := fe.ResolveTimestamp(ctx, a.archive, 2500)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	out, next, _, err := fe.readEntry(ctx, got, got.BaseOffset, a.hwm, nil, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := a.check(t, out, got.BaseOffset); n != got.LastOffset+1 || next != n {
		t.Fatalf("resolved segment read up to %d", n)
	}
	// An intake entry is its own answer.
	if got, ok, err := fe.ResolveTimestamp(ctx, a.tail, 1); err != nil || !ok || got != a.tail {
		t.Fatalf("intake entry: %+v %v %v", got, ok, err)
	}
}

func TestArchiveConcurrentReads(t *testing.T) {
	a := newArchiveFixture(t)
	fe := a.fetcher(t, Config{ReadAheadBytes: 256})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for off := int64(g % 3); off < a.hwm; {
				res := a.read(fe, off, int32(300+100*g))
				if res.Err != nil {
					errs <- res.Err
					return
				}
				bs, err := codec.SplitBatches(res.Records)
				if err != nil || len(bs) == 0 {
					errs <- fmt.Errorf("from %d: %d batches, %v", off, len(bs), err)
					return
				}
				for _, b := range bs {
					h, _ := codec.ParseBatch(b)
					want := a.batches[a.batchAt(off)]
					if h.BaseOffset != want.base || len(b) != len(want.data) {
						errs <- fmt.Errorf("from %d: batch at %d, want %d", off, h.BaseOffset, want.base)
						return
					}
					off = want.base + int64(want.h.LastOffsetDelta) + 1
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// recordingObserver sums the bytes reported per stage.
type recordingObserver struct {
	mu    sync.Mutex
	bytes map[string]int64
}

func (o *recordingObserver) Processed(stage string, _, _ time.Duration, _ int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bytes[stage] += bytes
}

func TestArchiveSourcesObserved(t *testing.T) {
	a := newArchiveFixture(t)
	obs := &recordingObserver{bytes: map[string]int64{}}
	fe := a.fetcher(t, Config{ReadAheadBytes: 512, Observer: obs})
	for pass := 0; pass < 2; pass++ {
		res := a.read(fe, 0, 1<<20)
		if _, n := a.check(t, res.Records, 0); res.Err != nil || n != len(a.batches) {
			t.Fatalf("pass %d: %d batches, %v", pass, n, res.Err)
		}
	}
	mem, intake, archive := fe.SourceBytes()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.bytes["fetch.source.memory"] != mem || obs.bytes["fetch.source.intake"] != intake || obs.bytes["fetch.source.archive"] != archive {
		t.Fatalf("observed %v, counted memory %d intake %d archive %d", obs.bytes, mem, intake, archive)
	}
	var archived int64
	for _, s := range a.segs {
		archived += s.Bytes()
	}
	tail := a.tail.ByteEnd - a.tail.ByteStart
	if archive != archived || intake != tail || mem != archived+tail {
		t.Fatalf("memory %d intake %d archive %d, want %d %d %d", mem, intake, archive, archived+tail, tail, archived)
	}
	if ig, ag := fe.SourceGets(); ig != 2 || ag != 1+3+3 {
		t.Fatalf("GETs: intake %d (want index and run), archive %d (want catalog, 3 indexes, chunks)", ig, ag)
	}
}

// TestArchiveEntryEndsInsideCatalog: an archive entry never serves offsets
// past its last one, even when its catalog's segments hold more.
func TestArchiveEntryEndsInsideCatalog(t *testing.T) {
	ctx := context.Background()
	a := newArchiveFixture(t)
	fe := a.fetcher(t, Config{ReadAheadBytes: 512})
	e := a.archive
	e.LastOffset = a.segs[1].LastOffset - 1 // segment 1's last batch holds one record
	out, next, full, err := fe.readArchive(ctx, e, 0, a.hwm, nil, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := a.check(t, out, 0); end != e.LastOffset+1 || next != end || full {
		t.Fatalf("read up to %d, next %d, full %v; want up to %d", end, next, full, e.LastOffset+1)
	}
}

// TestInternalReadsNotCounted: the lifecycle's own reads (a context from
// Internal) are left out of the source counters and FetchedBytes; the
// same read by a consumer is counted.
func TestInternalReadsNotCounted(t *testing.T) {
	a := newArchiveFixture(t)
	for _, internal := range []bool{true, false} {
		fe := a.fetcher(t, Config{})
		ctx := context.Background()
		if internal {
			ctx = Internal(ctx)
		}
		res := fe.Read(ctx, Request{TP: a.tp, Offset: 0, MaxBytes: 1 << 20}, 1<<30, true)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if next, _ := a.check(t, res.Records, 0); next != a.hwm {
			t.Fatalf("read up to %d of %d", next, a.hwm)
		}
		fe.aheadWG.Wait()
		mem, intake, archive := fe.SourceBytes()
		gi, ga := fe.SourceGets()
		counted := mem + intake + archive + gi + ga + fe.FetchedBytes()
		if internal && counted != 0 {
			t.Fatalf("internal read counted: bytes %d/%d/%d, GETs %d/%d, fetched %d", mem, intake, archive, gi, ga, fe.FetchedBytes())
		}
		if !internal && (intake+archive != int64(len(res.Records)) || gi == 0 || ga == 0 || fe.FetchedBytes() != int64(len(res.Records))) {
			t.Fatalf("consumer read: bytes %d/%d/%d of %d, GETs %d/%d, fetched %d", mem, intake, archive, len(res.Records), gi, ga, fe.FetchedBytes())
		}
	}
}
