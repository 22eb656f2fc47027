package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// testSegments returns n contiguous segments from base, with sizes,
// timestamps and keys derived from seed.
func testSegments(seed int64, base int64, n int) []SegmentRef {
	rng := rand.New(rand.NewSource(seed))
	segs := make([]SegmentRef, n)
	for i := range segs {
		span := 1 + rng.Int63n(100_000)
		indexPos := IntakeHeaderSize + 61 + rng.Int63n(64<<20)
		indexLen := 200 + rng.Int63n(1<<20)
		segs[i] = SegmentRef{
			BaseOffset:   base,
			LastOffset:   base + span - 1,
			MaxTimestamp: 1_700_000_000_000 + rng.Int63n(1_000_000) - 500_000, // not monotonic
			Key:          fmt.Sprintf("archive/%x/%d/seg-%020d-ü", seed, i%3, base),
			Size:         indexPos + indexLen + IntakeFooterSize,
			IndexPos:     indexPos,
			IndexLen:     indexLen,
		}
		base += span
	}
	return segs
}

func mustEncodeCatalog(t testing.TB, segs []SegmentRef) []byte {
	t.Helper()
	b, err := EncodeCatalog(segs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrapCatalog frames index bytes as a catalog object with a matching
// footer, so that any index reaches the Arrow decoder.
func wrapCatalog(index []byte) []byte {
	out := make([]byte, 0, CatalogHeaderSize+len(index)+CatalogFooterSize)
	out = append(out, catalogMagic...)
	out = append(out, index...)
	var f [CatalogFooterSize]byte
	putIntakeFooter(f[:], CatalogHeaderSize, int64(len(index)), IntakeIndexCRC(index))
	return append(out, f[:]...)
}

// catalogIndex returns the index bytes of a catalog object.
func catalogIndex(obj []byte) []byte {
	return slices.Clone(obj[CatalogHeaderSize : len(obj)-CatalogFooterSize])
}

// decodeCatalogChecked decodes b, requiring ErrBadCatalog (and not
// ErrBadIntake) on failure and the catalog invariants on success.
func decodeCatalogChecked(t testing.TB, b []byte) (*Catalog, error) {
	t.Helper()
	c, err := DecodeCatalog(b)
	if err != nil {
		if !errors.Is(err, ErrBadCatalog) || errors.Is(err, ErrBadIntake) || c != nil {
			t.Fatalf("error %v does not wrap only ErrBadCatalog (catalog %v)", err, c)
		}
		return nil, err
	}
	if err := checkSegments(c.Segments); err != nil {
		t.Fatalf("decoded catalog violates invariants: %v", err)
	}
	return c, nil
}

func TestCatalogRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 3, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			segs := testSegments(int64(n), 1234, n)
			obj := mustEncodeCatalog(t, segs)
			if string(obj[:CatalogHeaderSize]) != catalogMagic {
				t.Fatalf("header %q", obj[:CatalogHeaderSize])
			}
			pos, l, _, err := ParseIntakeFooter(obj)
			if err != nil || pos != CatalogHeaderSize || pos+l+CatalogFooterSize != int64(len(obj)) {
				t.Fatalf("footer: pos %d len %d (object %d bytes): %v", pos, l, len(obj), err)
			}
			c, err := decodeCatalogChecked(t, obj)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Segments, segs) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v", c.Segments[:min(3, len(c.Segments))], segs[:min(3, len(segs))])
			}
			// The decoded catalog does not alias the object.
			for i := range obj {
				obj[i] = 0
			}
			if !slices.Equal(c.Segments, segs) {
				t.Fatal("decoded catalog aliases the object bytes")
			}
			if c.SizeBytes() < int64(n)*int64(len("archive/")) {
				t.Fatalf("SizeBytes %d for %d segments", c.SizeBytes(), n)
			}
		})
	}
}

func TestCatalogFind(t *testing.T) {
	segs := []SegmentRef{
		{BaseOffset: 10, LastOffset: 19, MaxTimestamp: 500},
		{BaseOffset: 20, LastOffset: 20, MaxTimestamp: 100},
		{BaseOffset: 21, LastOffset: 99, MaxTimestamp: 900},
		{BaseOffset: 100, LastOffset: 149, MaxTimestamp: 700},
	}
	c := &Catalog{Segments: segs}
	for _, tc := range []struct {
		off  int64
		want int
	}{
		{0, 0}, {10, 0}, {19, 0}, {20, 1}, {21, 2}, {50, 2}, {99, 2}, {100, 3}, {149, 3}, {150, 4}, {1 << 62, 4},
	} {
		if got := c.Find(tc.off); got != tc.want {
			t.Errorf("Find(%d) = %d, want %d", tc.off, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ts   int64
		want int
	}{
		{-1, 0}, {500, 0}, {501, 2}, {600, 2}, {900, 2}, {901, 4},
	} {
		if got := c.FindTimestamp(tc.ts); got != tc.want {
			t.Errorf("FindTimestamp(%d) = %d, want %d", tc.ts, got, tc.want)
		}
	}
	var empty Catalog
	if empty.Find(5) != 0 || empty.FindTimestamp(5) != 0 {
		t.Error("empty catalog finds something")
	}
}

func TestCatalogFindRandom(t *testing.T) {
	segs := testSegments(3, 0, 300)
	c := &Catalog{Segments: segs}
	rng := rand.New(rand.NewSource(3))
	for k := 0; k < 2000; k++ {
		off := rng.Int63n(segs[len(segs)-1].LastOffset + 10)
		i := c.Find(off)
		if i < len(segs) && (segs[i].LastOffset < off || (i > 0 && segs[i-1].LastOffset >= off)) {
			t.Fatalf("Find(%d) = %d: not the first segment ending at or after it", off, i)
		}
		if i == len(segs) && segs[len(segs)-1].LastOffset >= off {
			t.Fatalf("Find(%d) = len", off)
		}
		ts := segs[rng.Intn(len(segs))].MaxTimestamp + rng.Int63n(3) - 1
		j := c.FindTimestamp(ts)
		for x := 0; x < j; x++ {
			if segs[x].MaxTimestamp >= ts {
				t.Fatalf("FindTimestamp(%d) = %d, but segment %d qualifies", ts, j, x)
			}
		}
		if j < len(segs) && segs[j].MaxTimestamp < ts {
			t.Fatalf("FindTimestamp(%d) = %d, which does not qualify", ts, j)
		}
	}
}

func TestSegmentRefBytes(t *testing.T) {
	s := SegmentRef{IndexPos: IntakeHeaderSize + 1000}
	if s.Bytes() != 1000 {
		t.Fatalf("Bytes %d", s.Bytes())
	}
}

// segmentMods break one invariant each.
var segmentMods = map[string]func([]SegmentRef){
	"gap":             func(s []SegmentRef) { s[1].BaseOffset++ },
	"overlap":         func(s []SegmentRef) { s[2].BaseOffset-- },
	"unsorted":        func(s []SegmentRef) { s[0], s[1] = s[1], s[0] },
	"last below base": func(s []SegmentRef) { s[3].LastOffset = s[3].BaseOffset - 1 },
	"negative base":   func(s []SegmentRef) { s[0].BaseOffset = -5 },
	"empty key":       func(s []SegmentRef) { s[1].Key = "" },
	"long key":        func(s []SegmentRef) { s[1].Key = strings.Repeat("k", MaxSegmentKeyLen+1) },
	"bad utf8 key":    func(s []SegmentRef) { s[1].Key = "seg\xff" },
	"size":            func(s []SegmentRef) { s[2].Size++ },
	"no batch bytes": func(s []SegmentRef) {
		s[2].IndexPos = IntakeHeaderSize
		s[2].Size = s[2].IndexPos + s[2].IndexLen + IntakeFooterSize
	},
	"negative index":   func(s []SegmentRef) { s[2].IndexLen = -1; s[2].Size = s[2].IndexPos - 1 + IntakeFooterSize },
	"huge index pos":   func(s []SegmentRef) { s[2].IndexPos = 1<<63 - 100; s[2].Size = -1 << 63 },
	"last at max":      func(s []SegmentRef) { s[3].BaseOffset = 1<<63 - 1; s[3].LastOffset = 1<<63 - 1 },
	"base offset zero": func(s []SegmentRef) { s[1].BaseOffset = 0 },
}

func TestCatalogOrderValidation(t *testing.T) {
	segs := testSegments(4, 0, 5)
	if _, err := decodeCatalogChecked(t, mustEncodeCatalog(t, segs)); err != nil {
		t.Fatal(err)
	}
	for name, mod := range segmentMods {
		t.Run(name, func(t *testing.T) {
			s := slices.Clone(segs)
			mod(s)
			if _, err := EncodeCatalog(s); !errors.Is(err, ErrBadCatalog) {
				t.Fatalf("EncodeCatalog: %v", err)
			}
			obj, err := encodeCatalog(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeCatalogChecked(t, obj); err == nil {
				t.Fatal("inconsistent catalog decoded")
			}
		})
	}
}

func TestCatalogCorruption(t *testing.T) {
	obj := mustEncodeCatalog(t, testSegments(5, 77, 20))
	for name, mod := range map[string]func([]byte) []byte{
		"header magic":  func(b []byte) []byte { b[0] = 'X'; return b },
		"intake magic":  func(b []byte) []byte { copy(b, intakeMagic); return b },
		"footer magic":  func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"footer crc":    func(b []byte) []byte { b[len(b)-8] ^= 1; return b },
		"index pos":     func(b []byte) []byte { b[len(b)-CatalogFooterSize]++; return b },
		"index len":     func(b []byte) []byte { b[len(b)-CatalogFooterSize+8]--; return b },
		"index byte":    func(b []byte) []byte { b[CatalogHeaderSize+100] ^= 0x40; return b },
		"trailing data": func(b []byte) []byte { return append(b, 0) },
		"leading data":  func(b []byte) []byte { return append([]byte{0}, b...) },
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeCatalogChecked(t, mod(slices.Clone(obj))); err == nil {
				t.Fatal("corrupt catalog decoded")
			}
		})
	}
}

func TestCatalogTruncated(t *testing.T) {
	obj := mustEncodeCatalog(t, testSegments(6, 0, 7))
	for n := 0; n < len(obj); n++ {
		if _, err := decodeCatalogChecked(t, obj[:n]); err == nil {
			t.Fatalf("catalog truncated to %d of %d bytes decoded", n, len(obj))
		}
	}
	// Index truncated, footer recomputed so that the CRC matches.
	index := catalogIndex(obj)
	for n := 0; n < len(index); n++ {
		if _, err := decodeCatalogChecked(t, wrapCatalog(index[:n])); err == nil {
			t.Fatalf("index truncated to %d of %d bytes decoded", n, len(index))
		}
	}
	if _, err := decodeCatalogChecked(t, wrapCatalog(append(index, 0, 0, 0, 0, 0, 0, 0, 0))); err == nil {
		t.Fatal("index with trailing bytes decoded")
	}
}

func TestCatalogGarbage(t *testing.T) {
	index := catalogIndex(mustEncodeCatalog(t, testSegments(7, 0, 4)))
	rng := rand.New(rand.NewSource(7))
	// Byte and word corruptions all over the index, CRC recomputed so
	// that they reach the Arrow decoder.
	for i := range index {
		for _, v := range []byte{0x00, 0xff, 0x80, index[i] ^ 0x01, byte(rng.Intn(256))} {
			b := slices.Clone(index)
			b[i] = v
			decodeCatalogChecked(t, wrapCatalog(b))
		}
		if i+4 <= len(index) {
			b := slices.Clone(index)
			binary.LittleEndian.PutUint32(b[i:], 0x7fffffff)
			decodeCatalogChecked(t, wrapCatalog(b))
		}
	}
	for i := 0; i < 500; i++ {
		b := make([]byte, rng.Intn(2000))
		rng.Read(b)
		if len(b) >= 8 && i%2 == 0 {
			binary.LittleEndian.PutUint32(b, 0xffffffff)
			binary.LittleEndian.PutUint32(b[4:], uint32(rng.Intn(len(b))))
		}
		if _, err := decodeCatalogChecked(t, wrapCatalog(b)); err == nil {
			t.Fatal("random bytes decoded as a catalog")
		}
		if _, err := decodeCatalogChecked(t, b); err == nil {
			t.Fatal("random bytes decoded as a catalog object")
		}
	}
}

func TestCatalogOtherStreams(t *testing.T) {
	segs := testSegments(8, 0, 3)
	t.Run("intake index", func(t *testing.T) {
		if _, err := decodeCatalogChecked(t, wrapCatalog(testIndex(t, 8, 5))); err == nil {
			t.Fatal("an intake index decoded as a catalog")
		}
	})
	t.Run("catalog as intake index", func(t *testing.T) {
		index := catalogIndex(mustEncodeCatalog(t, segs))
		if _, err := DecodeIntakeIndex(index, IntakeIndexCRC(index)); !errors.Is(err, ErrBadIntake) {
			t.Fatalf("a catalog index decoded as an intake index: %v", err)
		}
	})
	rec := func() arrow.Record {
		t.Helper()
		c, err := decodeCatalogChecked(t, mustEncodeCatalog(t, segs))
		if err != nil {
			t.Fatal(err)
		}
		bld := array.NewRecordBuilder(memory.DefaultAllocator, catalogSchema)
		defer bld.Release()
		for _, s := range c.Segments {
			bld.Field(catBaseOffset).(*array.Int64Builder).Append(s.BaseOffset)
			bld.Field(catLastOffset).(*array.Int64Builder).Append(s.LastOffset)
			bld.Field(catMaxTimestamp).(*array.Int64Builder).Append(s.MaxTimestamp)
			bld.Field(catKey).(*array.StringBuilder).Append(s.Key)
			bld.Field(catSize).(*array.Int64Builder).Append(s.Size)
			bld.Field(catIndexPos).(*array.Int64Builder).Append(s.IndexPos)
			bld.Field(catIndexLen).(*array.Int64Builder).Append(s.IndexLen)
		}
		return bld.NewRecord()
	}
	t.Run("builder record decodes", func(t *testing.T) {
		r := rec()
		defer r.Release()
		c, err := decodeCatalogChecked(t, wrapCatalog(writeIPC(t, catalogSchema, r)))
		if err != nil || !slices.Equal(c.Segments, segs) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("two record batches", func(t *testing.T) {
		r := rec()
		defer r.Release()
		if _, err := decodeCatalogChecked(t, wrapCatalog(writeIPC(t, catalogSchema, r, r))); err == nil {
			t.Fatal("decoded")
		}
	})
	t.Run("no record batch", func(t *testing.T) {
		if _, err := decodeCatalogChecked(t, wrapCatalog(writeIPC(t, catalogSchema))); err == nil {
			t.Fatal("decoded")
		}
	})
	t.Run("other schema", func(t *testing.T) {
		fields := slices.Clone(catalogSchema.Fields())
		fields[catKey].Type = arrow.BinaryTypes.Binary
		schema := arrow.NewSchema(fields, nil)
		bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer bld.Release()
		r := bld.NewRecord()
		defer r.Release()
		if _, err := decodeCatalogChecked(t, wrapCatalog(writeIPC(t, schema, r))); err == nil {
			t.Fatal("decoded")
		}
	})
	t.Run("nulls", func(t *testing.T) {
		fields := slices.Clone(catalogSchema.Fields())
		for i := range fields {
			fields[i].Nullable = true
		}
		schema := arrow.NewSchema(fields, nil)
		bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer bld.Release()
		for _, f := range bld.Fields() {
			f.AppendNull()
		}
		r := bld.NewRecord()
		defer r.Release()
		if _, err := decodeCatalogChecked(t, wrapCatalog(writeIPC(t, schema, r))); err == nil {
			t.Fatal("decoded")
		}
	})
}

// TestCatalogOfRealSegments describes segments built by the intake
// builder, as the archive does, and checks the refs match the objects.
func TestCatalogOfRealSegments(t *testing.T) {
	topic := testTopic(1)
	var segs []SegmentRef
	var objs [][]byte
	base := int64(40)
	for s := 0; s < 3; s++ {
		b := NewIntakeBuilder()
		var span, maxTS int64
		for i := 0; i < 4+s; i++ {
			h, batch := testBatch(int64(s*10+i), 100+50*i, BatchHeader{LastOffsetDelta: int32(i), NumRecords: int32(i + 1), MaxTimestamp: int64(1000 + 10*s + i)})
			b.Add(topic, 0, h, batch)
			span += int64(i) + 1
			maxTS = max(maxTS, h.MaxTimestamp)
		}
		in, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, in.Data)
		segs = append(segs, SegmentRef{BaseOffset: base, LastOffset: base + span - 1, MaxTimestamp: maxTS,
			Key: fmt.Sprintf("seg-%d", s), Size: int64(len(in.Data)), IndexPos: in.IndexPos, IndexLen: in.IndexLen})
		base += span
	}
	c, err := decodeCatalogChecked(t, mustEncodeCatalog(t, segs))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range c.Segments {
		x, pos, err := ParseIntake(objs[i])
		if err != nil || pos != s.IndexPos {
			t.Fatalf("segment %d: %v (index at %d, catalog says %d)", i, err, pos, s.IndexPos)
		}
		if x.DataEnd()-IntakeHeaderSize != s.Bytes() {
			t.Fatalf("segment %d: %d batch bytes, Bytes() %d", i, x.DataEnd()-IntakeHeaderSize, s.Bytes())
		}
		last := x.Rows[len(x.Rows)-1]
		if s.BaseOffset+last.RelOffset+int64(last.LastOffsetDelta) != s.LastOffset {
			t.Fatalf("segment %d: rows end at %d, catalog says %d", i, s.BaseOffset+last.RelOffset+int64(last.LastOffsetDelta), s.LastOffset)
		}
	}
}

// FuzzDecodeCatalog feeds arbitrary bytes to DecodeCatalog, both as a
// whole object and as the index of an otherwise well-framed object (so
// that they reach the Arrow decoder): it must not panic, must fail with
// ErrBadCatalog, or must return segments that satisfy the invariants and
// survive a re-encoding round trip.
func FuzzDecodeCatalog(f *testing.F) {
	for i, n := range []int{0, 1, 2, 5} {
		f.Add(catalogIndex(mustEncodeCatalog(f, testSegments(int64(i), int64(i)*1000, n))))
	}
	f.Add(mustEncodeCatalog(f, testSegments(9, 0, 2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeCatalogChecked(t, b)
		c, err := decodeCatalogChecked(t, wrapCatalog(b))
		if err != nil {
			return
		}
		obj, err := EncodeCatalog(c.Segments)
		if err != nil {
			t.Fatalf("decoded catalog does not encode: %v", err)
		}
		d, err := decodeCatalogChecked(t, obj)
		if err != nil || !slices.Equal(c.Segments, d.Segments) {
			t.Fatalf("re-encoded catalog does not round trip: %v", err)
		}
	})
}

// BenchmarkDecodeCatalog decodes whole catalogs (one fetch-path cache
// miss). Bytes are catalog bytes.
func BenchmarkDecodeCatalog(b *testing.B) {
	for _, n := range []int{16, 1024, 16384} {
		b.Run(itoa(n)+"segments", func(b *testing.B) {
			obj := mustEncodeCatalog(b, testSegments(int64(n), 0, n))
			b.SetBytes(int64(len(obj)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := DecodeCatalog(obj); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeCatalog encodes a 1,024-segment catalog.
func BenchmarkEncodeCatalog(b *testing.B) {
	segs := testSegments(1, 0, 1024)
	obj := mustEncodeCatalog(b, segs)
	b.SetBytes(int64(len(obj)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := EncodeCatalog(segs); err != nil {
			b.Fatal(err)
		}
	}
}
