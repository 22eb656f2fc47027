package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/codec"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// count reports the log lines holding s.
func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// corruptBatch flips one byte of the last record value of batch i (an
// index into a.batches) where object key holds it: a byte the batch CRC
// covers, as a disk or a store would corrupt it.
func (a *archiveFixture) corruptBatch(t *testing.T, key string, i int) {
	t.Helper()
	ctx := context.Background()
	obj, err := a.objs.GetRange(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	recs := a.batches[i].data[codec.BatchHeaderSize:]
	at := bytes.Index(obj, recs)
	if at < 0 || bytes.Contains(obj[at+1:], recs) {
		t.Fatalf("batch %d found at %d of %s, or more than once", i, at, key)
	}
	obj[at+len(recs)-10] ^= 0x20
	if err := a.objs.Put(ctx, key, obj); err != nil {
		t.Fatal(err)
	}
}

// wantCorrupt requires res to be a refusal of a corrupt batch: a storage
// error, no bytes.
func wantCorrupt(t *testing.T, what string, res Result) {
	t.Helper()
	if !errors.Is(res.Err, ErrCorrupt) || !errors.Is(res.Err, ErrStorage) || len(res.Records) != 0 {
		t.Fatalf("%s: error %v (%d bytes), want ErrCorrupt and no bytes", what, res.Err, len(res.Records))
	}
}

// TestCheckedReadIntake: a flipped byte in a batch of an intake object is
// never served. The batch before it in the same run is, the corrupt one
// gets ErrCorrupt on every retry, counted each time and logged once, and
// the rest of the partition and the other partition read fine.
func TestCheckedReadIntake(t *testing.T) {
	a := newArchiveFixture(t)
	bad := a.groups[3][1] // the intake tail's second batch
	a.corruptBatch(t, a.tail.ObjectKey, bad)
	var log lockedBuffer
	fe := a.fetcher(t, Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})

	res := a.read(fe, a.tail.BaseOffset, 1<<20)
	if next, n := a.check(t, res.Records, a.tail.BaseOffset); res.Err != nil || n != 1 || next != a.batches[bad].base {
		t.Fatalf("from the tail: %v, %d batches up to %d, want 1 up to %d", res.Err, n, next, a.batches[bad].base)
	}
	for i := 0; i < 3; i++ {
		wantCorrupt(t, fmt.Sprintf("retry %d", i), a.read(fe, a.batches[bad].base, 1<<20))
	}
	// Refused 4 times: by the first read, which stopped before it, then
	// by the 3 retries.
	if intake, archive := fe.CorruptBatches(); intake != 4 || archive != 0 {
		t.Fatalf("corrupt batches counted: intake %d, archive %d; want 4, 0", intake, archive)
	}
	if n := log.count("corrupt batch"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, log.b.String())
	}
	a.readThrough(t, fe, 0, a.tail.BaseOffset, 1<<20) // the archive
	res = fe.Read(context.Background(), Request{TP: a.tp, Offset: a.batches[bad].base, MaxBytes: 1 << 20}, 1<<20, true)
	wantCorrupt(t, "again", res)
	p1 := Request{TP: a.tp, MaxBytes: 1 << 20}
	p1.TP.Partition = 1
	if res := fe.Read(context.Background(), p1, 1<<20, true); res.Err != nil || len(res.Records) == 0 {
		t.Fatalf("partition 1: %v", res.Err)
	}
}

// TestCheckedReadArchive: a flipped byte in a batch of an archive segment
// is never served, whether the batch lies inside a read chunk or
// straddles chunks (512 and 100 byte chunks), read ahead or not.
func TestCheckedReadArchive(t *testing.T) {
	for _, chunk := range []int64{0, 512, 100} { // 0: the default 4 MiB
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			a := newArchiveFixture(t)
			bad := a.groups[1][1] // segment 1's second batch
			a.corruptBatch(t, a.segs[1].Key, bad)
			var log lockedBuffer
			fe := a.fetcher(t, Config{ReadAheadBytes: chunk, Logger: slog.New(slog.NewTextHandler(&log, nil))})

			// All at once: everything before the corrupt batch.
			res := a.read(fe, 0, 1<<20)
			if next, _ := a.check(t, res.Records, 0); res.Err != nil || next != a.batches[bad].base {
				t.Fatalf("from 0: %v, up to %d, want %d", res.Err, next, a.batches[bad].base)
			}
			fe.aheadWG.Wait()
			wantCorrupt(t, "the corrupt batch", a.read(fe, a.batches[bad].base, 1<<20))
			// Batch by batch, as a consumer with a small max bytes,
			// through the read-ahead chunks.
			fresh := a.fetcher(t, Config{ReadAheadBytes: chunk, Logger: slog.New(slog.NewTextHandler(&log, nil))})
			off := int64(0)
			for off < a.batches[bad].base {
				res := a.read(fresh, off, 1)
				if res.Err != nil {
					t.Fatalf("from %d: %v", off, res.Err)
				}
				off, _ = a.check(t, res.Records, off)
				fresh.aheadWG.Wait()
			}
			wantCorrupt(t, "batch by batch", a.read(fresh, off, 1))
			wantCorrupt(t, "inside the corrupt batch", a.read(fresh, off+int64(a.batches[bad].h.LastOffsetDelta), 1<<20))

			// After it: segment 2 and the intake tail, and partition 1.
			a.readThrough(t, fe, a.segs[2].BaseOffset, a.hwm, 1<<20)
			a.otherReadsWork(t, fe)
			// Refused by the read from 0, which stopped before it, and
			// the read of it.
			if intake, archive := fe.CorruptBatches(); intake != 0 || archive != 2 {
				t.Fatalf("corrupt batches counted: intake %d, archive %d; want 0, 2", intake, archive)
			}
			if n := log.count("corrupt batch"); n != 2 { // once per Fetcher
				t.Fatalf("logged %d times, want twice:\n%s", n, log.b.String())
			}
		})
	}
}

// TestCheckedOncePerCachedRange: the bytes read from the store are
// checked once, when they arrive; serving them again from the cache
// checks nothing, nor does serving an object this broker wrote.
func TestCheckedOncePerCachedRange(t *testing.T) {
	a := newArchiveFixture(t)
	fe := a.fetcher(t, Config{}) // 4 MiB chunks: no batch straddles two
	var total int64
	for _, b := range a.batches {
		total += int64(len(b.data))
	}
	for i := 0; i < 3; i++ {
		a.readThrough(t, fe, 0, a.hwm, 1<<20)
		if got := fe.CheckedBytes(); got != total {
			t.Fatalf("read %d: %d bytes checked, want %d (partition 0's batches, once)", i, got, total)
		}
	}

	// An object this broker wrote is served unchecked from memory.
	h, data := archiveBatch(t, 7, 3, 10, 1)
	b := codec.NewIntakeBuilder()
	b.Add(a.topic.ID, 1, h, data)
	in, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	a.commitObject(t, 1, []codec.BatchHeader{h}, [][]byte{data})
	key := fmt.Sprintf("intake-%d", a.n)
	fe.Written(key, in.Data, in.Rows)
	before := fe.CheckedBytes()
	p1 := Request{TP: a.tp, Offset: 4, MaxBytes: 1 << 20}
	p1.TP.Partition = 1
	if res := fe.Read(context.Background(), p1, 1<<20, true); res.Err != nil || len(res.Records) != len(data) {
		t.Fatalf("written object: %v, %d bytes, want %d", res.Err, len(res.Records), len(data))
	}
	if got := fe.CheckedBytes(); got != before {
		t.Fatalf("serving a written object checked %d bytes", got-before)
	}
}

// TestSkipBatchChecks: the knob benchmarks use to measure the checks'
// cost really turns them off (and so serves a corrupt batch).
func TestSkipBatchChecks(t *testing.T) {
	a := newArchiveFixture(t)
	bad := a.groups[3][1]
	a.corruptBatch(t, a.tail.ObjectKey, bad)
	fe := a.fetcher(t, Config{SkipBatchChecks: true})
	res := a.read(fe, a.batches[bad].base, 1<<20)
	if res.Err != nil || len(res.Records) != len(a.batches[bad].data) {
		t.Fatalf("unchecked read: %v, %d bytes", res.Err, len(res.Records))
	}
	if _, err := codec.ParseBatch(res.Records); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("unchecked read served %v, want the corrupt batch", err)
	}
	if fe.CheckedBytes() != 0 {
		t.Fatalf("%d bytes checked with checks off", fe.CheckedBytes())
	}
}

// FuzzCheckedRead flips one byte anywhere in an object the fixture's
// partition 0 reads from (the intake tail or segment 1) and reads the
// partition through, batch by batch from every offset the reads reach:
// every byte served must be as produced (base offsets assigned), whatever
// byte was flipped; a read may only fail with ErrStorage.
func FuzzCheckedRead(f *testing.F) {
	for _, seed := range []struct {
		segment bool
		pos     uint32
		xor     byte
	}{
		{false, 100, 1}, {false, 8, 0x80}, {false, 20, 1}, {false, 30, 4}, {false, 70, 0xff}, {false, 1 << 20, 1},
		{true, 100, 1}, {true, 8, 1}, {true, 16, 2}, {true, 25, 0x10}, {true, 300, 0x20},
	} {
		f.Add(seed.segment, seed.pos, seed.xor, uint16(0))
	}
	f.Fuzz(func(t *testing.T, segment bool, pos uint32, xor byte, chunk uint16) {
		if xor == 0 {
			return
		}
		a := newArchiveFixture(t)
		key := a.tail.ObjectKey
		if segment {
			key = a.segs[1].Key
		}
		ctx := context.Background()
		obj, err := a.objs.GetRange(ctx, key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		obj[int(pos)%len(obj)] ^= xor
		if err := a.objs.Put(ctx, key, obj); err != nil {
			t.Fatal(err)
		}
		fe := a.fetcher(t, Config{ReadAheadBytes: int64(chunk)})
		for off := int64(0); off < a.hwm; {
			res := a.read(fe, off, 1)
			fe.aheadWG.Wait()
			if res.Err != nil {
				if !errors.Is(res.Err, ErrStorage) {
					t.Fatalf("from %d: %v", off, res.Err)
				}
				off++ // past what cannot be read: the next offsets may be readable
				continue
			}
			if len(res.Records) == 0 {
				t.Fatalf("from %d: nothing, no error, below the hwm %d", off, a.hwm)
			}
			off, _ = a.check(t, res.Records, off) // byte for byte as produced
		}
	})
}
