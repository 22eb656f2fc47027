package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// testRecords returns n records exercising null/empty keys and values,
// headers with null values, negative timestamp deltas and multi-byte
// varints.
func testRecords(n int, seed uint64) []Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	recs := make([]Record, n)
	for i := range recs {
		r := Record{
			TimestampDelta: int64(i*37) - 5,
			OffsetDelta:    int32(i),
			Value:          []byte(fmt.Sprintf(`{"id":%d,"user":"u%03d","amount":%d,"pad":"%s"}`, i, rng.IntN(500), rng.IntN(1e6), bytes.Repeat([]byte{'x'}, rng.IntN(300)))),
		}
		switch i % 4 {
		case 0:
			r.Key = []byte(fmt.Sprintf("key-%d", i))
		case 1:
			r.Key = nil // null key
		case 2:
			r.Key = []byte{} // empty, not null
		case 3:
			r.Key = []byte("k")
			r.Value = nil // tombstone
		}
		if i%3 == 0 {
			r.Headers = []Header{{Key: "trace", Value: []byte("abc")}, {Key: "nullv", Value: nil}, {Key: "", Value: []byte{}}}
		}
		recs[i] = r
	}
	return recs
}

func testHeader(n int) BatchHeader {
	return BatchHeader{
		BaseOffset:           1000,
		PartitionLeaderEpoch: 7,
		Magic:                2,
		Attributes:           attrTransactional,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       1700000000000,
		MaxTimestamp:         1700000000000 + int64(n*37),
		ProducerID:           42,
		ProducerEpoch:        3,
		BaseSequence:         11,
	}
}

// kgoCodec maps our codec onto franz-go's default compressor.
func kgoCodec(c Codec) kgo.CompressionCodec {
	switch c {
	case CodecGzip:
		return kgo.GzipCompression()
	case CodecSnappy:
		return kgo.SnappyCompression()
	case CodecLZ4:
		return kgo.Lz4Compression()
	case CodecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// franzBatch builds a batch entirely with franz-go: kmsg.Record encoding,
// kgo's default compressor and kmsg.RecordBatch, with the Length and CRC
// computed the way kgo's sink does.
func franzBatch(t testing.TB, h BatchHeader, recs []Record, c Codec) []byte {
	t.Helper()
	var raw []byte
	for _, r := range recs {
		kr := kmsg.Record{
			Attributes:       r.Attributes,
			TimestampDelta64: r.TimestampDelta,
			OffsetDelta:      r.OffsetDelta,
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, hd := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: hd.Key, Value: hd.Value})
		}
		// Length is the size of everything after the length varint.
		body := kr.AppendTo(nil)
		_, n := binary.Varint(body)
		kr.Length = int32(len(body) - n)
		raw = kr.AppendTo(raw)
	}
	payload := raw
	if c != CodecNone {
		comp, err := kgo.DefaultCompressor(kgoCodec(c))
		if err != nil {
			t.Fatal(err)
		}
		out, used := comp.Compress(new(bytes.Buffer), raw)
		if used != kgo.CompressionCodecType(c) {
			t.Fatalf("kgo compressed with %v, want %v", used, c)
		}
		payload = append([]byte(nil), out...)
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Magic:                2,
		Attributes:           h.Attributes&^7 | int16(c),
		LastOffsetDelta:      h.LastOffsetDelta,
		FirstTimestamp:       h.FirstTimestamp,
		MaxTimestamp:         h.MaxTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		FirstSequence:        h.BaseSequence,
		NumRecords:           int32(len(recs)),
		Records:              payload,
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// normRecords maps empty header slices to nil so that reflect.DeepEqual
// compares only what the wire can express.
func normRecords(rs []Record) []Record {
	out := append([]Record(nil), rs...)
	for i := range out {
		if len(out[i].Headers) == 0 {
			out[i].Headers = nil
		}
	}
	return out
}

func requireRecordsEqual(t testing.TB, got, want []Record) {
	t.Helper()
	got, want = normRecords(got), normRecords(want)
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func requireHeaderMatches(t testing.TB, got, want BatchHeader, c Codec, n int) {
	t.Helper()
	want.Magic = 2
	want.Attributes = want.Attributes&^7 | int16(c)
	want.NumRecords = int32(n)
	got.Length, got.CRC = 0, 0
	want.Length, want.CRC = 0, 0
	if got != want {
		t.Fatalf("header:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseFranzBatches(t *testing.T) {
	recs := testRecords(50, 1)
	h := testHeader(len(recs))
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := franzBatch(t, h, recs, c)
			got, err := ParseBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			requireHeaderMatches(t, got, h, c, len(recs))
			if got.Size() != len(b) || got.Codec() != c || !got.Transactional() || got.Control() || got.LogAppendTime() {
				t.Fatalf("accessors wrong: %+v", got)
			}
			dec, err := DecodeRecords(got, b)
			if err != nil {
				t.Fatal(err)
			}
			requireRecordsEqual(t, dec, recs)
			if err := ValidateRecords(got, b); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAppendBatchRoundTrip checks our encoder against our decoder and
// against franz-go's decoders (kmsg.RecordBatch, kgo's decompressor,
// kmsg.Record).
func TestAppendBatchRoundTrip(t *testing.T) {
	recs := testRecords(200, 2)
	h := testHeader(len(recs))
	dec := kgo.DefaultDecompressor()
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			prefix := []byte("prefix")
			out, err := AppendBatch(prefix, h, recs, c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out[:len(prefix)], prefix) {
				t.Fatal("prefix clobbered")
			}
			b := out[len(prefix):]
			got, err := ParseBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			requireHeaderMatches(t, got, h, c, len(recs))
			rs, err := DecodeRecords(got, b)
			if err != nil {
				t.Fatal(err)
			}
			requireRecordsEqual(t, rs, recs)

			// franz-go's view of the same bytes.
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			if kb.Length != int32(len(b)-12) || kb.NumRecords != int32(len(recs)) || kb.ProducerID != h.ProducerID || kb.FirstSequence != h.BaseSequence {
				t.Fatalf("kmsg header mismatch: %+v", kb)
			}
			if crc := uint32(kb.CRC); crc != crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)) {
				t.Fatal("kmsg sees a bad crc")
			}
			raw, err := dec.Decompress(kb.Records, kgo.CompressionCodecType(c))
			if err != nil {
				t.Fatalf("kgo cannot decompress our %s: %v", c, err)
			}
			for i := range recs {
				var kr kmsg.Record
				l, n := binary.Varint(raw)
				if n <= 0 {
					t.Fatalf("record %d: bad length", i)
				}
				if err := kr.ReadFrom(raw[:n+int(l)]); err != nil {
					t.Fatalf("record %d: kmsg: %v", i, err)
				}
				raw = raw[n+int(l):]
				if kr.TimestampDelta64 != recs[i].TimestampDelta || kr.OffsetDelta != recs[i].OffsetDelta ||
					!bytes.Equal(kr.Key, recs[i].Key) || (kr.Key == nil) != (recs[i].Key == nil) ||
					!bytes.Equal(kr.Value, recs[i].Value) || (kr.Value == nil) != (recs[i].Value == nil) ||
					len(kr.Headers) != len(recs[i].Headers) {
					t.Fatalf("record %d: kmsg decoded %+v, want %+v", i, kr, recs[i])
				}
			}
			if len(raw) != 0 {
				t.Fatalf("%d trailing bytes", len(raw))
			}
		})
	}
}

func TestAppendBatchEmptyAndBadCodec(t *testing.T) {
	for _, c := range allCodecs {
		b, err := AppendBatch(nil, BatchHeader{LastOffsetDelta: 0}, nil, c)
		if err != nil {
			t.Fatal(c, err)
		}
		h, err := ParseBatch(b)
		if err != nil {
			t.Fatal(c, err)
		}
		if rs, err := DecodeRecords(h, b); err != nil || len(rs) != 0 {
			t.Fatal(c, rs, err)
		}
	}
	if _, err := AppendBatch(nil, BatchHeader{}, nil, 5); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("codec 5: %v", err)
	}
}

func mustBatch(t testing.TB, c Codec, n int) []byte {
	t.Helper()
	b, err := AppendBatch(nil, testHeader(n), testRecords(n, 3), c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseBatchErrors(t *testing.T) {
	good := mustBatch(t, CodecNone, 5)
	mod := func(f func(b []byte), crc bool) []byte {
		b := append([]byte(nil), good...)
		f(b)
		if crc {
			fixCRC(b)
		}
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"crc byte flipped", mod(func(b []byte) { b[offCRC+2] ^= 0x10 }, false), ErrCorrupt},
		{"payload byte flipped", mod(func(b []byte) { b[len(b)-3] ^= 1 }, false), ErrCorrupt},
		{"attributes flipped", mod(func(b []byte) { b[offAttributes+1] ^= 1 }, false), ErrCorrupt},
		{"length too big", mod(func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], uint32(len(b))) }, false), ErrCorrupt},
		{"length too small", mod(func(b []byte) { binary.BigEndian.PutUint32(b[offLength:], 49) }, false), ErrCorrupt},
		{"magic 1", mod(func(b []byte) { b[offMagic] = 1 }, false), ErrUnsupportedMagic},
		{"magic 3", mod(func(b []byte) { b[offMagic] = 3 }, false), ErrUnsupportedMagic},
		{"negative count", mod(func(b []byte) { binary.BigEndian.PutUint32(b[offNumRecords:], 0xffffffff) }, true), ErrInvalidRecord},
		{"negative last delta", mod(func(b []byte) { binary.BigEndian.PutUint32(b[offLastOffsetDelta:], 0x80000000) }, true), ErrInvalidRecord},
		{"codec 5", mod(func(b []byte) { b[offAttributes+1] |= 5 }, true), ErrInvalidRecord},
		{"codec 7", mod(func(b []byte) { b[offAttributes+1] |= 7 }, true), ErrInvalidRecord},
		{"empty", nil, ErrCorrupt},
		{"16 bytes", good[:16], ErrCorrupt},
	}
	for _, tc := range cases {
		if _, err := ParseBatch(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := ParseBatch(good); err != nil {
		t.Fatal(err)
	}
}

func TestParseBatchNoAlloc(t *testing.T) {
	b := mustBatch(t, CodecNone, 20)
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseBatch(b) }); n != 0 {
		t.Fatalf("ParseBatch allocates %v times", n)
	}
	h, _ := ParseBatch(b)
	if n := testing.AllocsPerRun(100, func() { _ = ValidateRecords(h, b) }); n != 0 {
		t.Fatalf("ValidateRecords allocates %v times", n)
	}
}

// TestTruncations cuts batches of every codec at every length, both as-is
// (size check) and with Length and CRC patched so that the truncated
// payload reaches the record decoder.
func TestTruncations(t *testing.T) {
	for _, c := range allCodecs {
		good := mustBatch(t, c, 8)
		for n := 0; n < len(good); n++ {
			b := append([]byte(nil), good[:n]...)
			if _, err := ParseBatch(b); err == nil {
				t.Fatalf("%s: truncated to %d parsed", c, n)
			}
			if _, err := SplitBatches(b); n > 0 && err == nil {
				t.Fatalf("%s: split of %d bytes succeeded", c, n)
			}
			if n < BatchHeaderSize {
				continue
			}
			binary.BigEndian.PutUint32(b[offLength:], uint32(n-12))
			fixCRC(b)
			h, err := ParseBatch(b)
			if err != nil {
				t.Fatalf("%s/%d: %v", c, n, err)
			}
			_, err = DecodeRecords(h, b)
			if !errors.Is(err, ErrInvalidRecord) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: payload truncated to %d: %v", c, n-BatchHeaderSize, err)
			}
			if err := ValidateRecords(h, b); err == nil {
				t.Fatalf("%s: validate of truncated payload succeeded", c)
			}
		}
	}
}

func TestDecodeRecordsCountMismatch(t *testing.T) {
	for _, c := range allCodecs {
		good := mustBatch(t, c, 6)
		for _, n := range []uint32{0, 5, 7, 1 << 30} {
			b := append([]byte(nil), good...)
			binary.BigEndian.PutUint32(b[offNumRecords:], n)
			fixCRC(b)
			h, err := ParseBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeRecords(h, b); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("%s count %d: %v", c, n, err)
			}
		}
	}
}

func TestDecodeRecordsBadFields(t *testing.T) {
	// A hand-built record with a negative header key length.
	var rec []byte
	rec = append(rec, 0)               // attributes
	rec = binary.AppendVarint(rec, 0)  // ts delta
	rec = binary.AppendVarint(rec, 0)  // offset delta
	rec = binary.AppendVarint(rec, -1) // null key
	rec = binary.AppendVarint(rec, 1)  // value len
	rec = append(rec, 'v')             // value
	rec = binary.AppendVarint(rec, 1)  // one header
	rec = binary.AppendVarint(rec, -1) // null header key: invalid
	rec = binary.AppendVarint(rec, -1) // null value
	full := binary.AppendVarint(nil, int64(len(rec)))
	full = append(full, rec...)
	b := appendBatchHeader(nil, BatchHeader{NumRecords: 1}, CodecNone)
	b = append(b, full...)
	b, _ = finishBatch(b, 0)
	h, err := ParseBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeRecords(h, b); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("null header key: %v", err)
	}
	// Record length that overstates its body by one byte.
	b2 := appendBatchHeader(nil, BatchHeader{NumRecords: 1}, CodecNone)
	b2 = binary.AppendVarint(b2, int64(len(rec)+1))
	b2 = append(b2, rec...)
	b2 = append(b2, 0)
	b2, _ = finishBatch(b2, 0)
	h, _ = ParseBatch(b2)
	if _, err := DecodeRecords(h, b2); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("long record: %v", err)
	}
}

func TestDecodeRecordsAliasing(t *testing.T) {
	b := mustBatch(t, CodecNone, 4)
	h, _ := ParseBatch(b)
	rs, err := DecodeRecords(h, b)
	if err != nil {
		t.Fatal(err)
	}
	// Appending to a key must not overwrite the bytes that follow it.
	before := append([]byte(nil), b...)
	_ = append(rs[0].Key, "XXXXXXXX"...)
	if !bytes.Equal(before, b) {
		t.Fatal("append to a decoded key modified the batch")
	}
}

func TestSplitBatches(t *testing.T) {
	var all []byte
	var want [][]byte
	for i, c := range allCodecs {
		b := mustBatch(t, c, i+1)
		want = append(want, b)
		all = append(all, b...)
	}
	got, err := SplitBatches(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d batches", len(got))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) || cap(got[i]) != len(got[i]) {
			t.Fatalf("batch %d differs or has spare capacity", i)
		}
		if _, err := ParseBatch(got[i]); err != nil {
			t.Fatal(err)
		}
	}
	if &got[0][0] != &all[0] {
		t.Fatal("SplitBatches copied")
	}
	if got, err := SplitBatches(nil); got != nil || err != nil {
		t.Fatal(got, err)
	}
	if _, err := SplitBatches(all[:len(all)-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("partial: %v", err)
	}
	if _, err := SplitBatches(append(append([]byte(nil), all...), 1, 2, 3)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing bytes: %v", err)
	}
	short := append([]byte(nil), want[0]...)
	binary.BigEndian.PutUint32(short[offLength:], 48)
	if _, err := SplitBatches(short); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("length 48: %v", err)
	}
	binary.BigEndian.PutUint32(short[offLength:], 0x80000000)
	if _, err := SplitBatches(short); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("negative length: %v", err)
	}
}

func TestSetters(t *testing.T) {
	b := mustBatch(t, CodecLZ4, 3)
	SetBaseOffset(b, 123456789)
	SetPartitionLeaderEpoch(b, 99)
	h, err := ParseBatch(b)
	if err != nil {
		t.Fatal("setters outside the CRC broke it:", err)
	}
	if h.BaseOffset != 123456789 || h.PartitionLeaderEpoch != 99 {
		t.Fatalf("%+v", h)
	}
	SetLogAppendTime(b, 1800000000000)
	h, err = ParseBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != 1800000000000 || h.Codec() != CodecLZ4 || !h.Transactional() {
		t.Fatalf("%+v", h)
	}
	// franz-go agrees on the timestamp type bit.
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil || kb.Attributes&0x08 == 0 {
		t.Fatalf("kmsg: %v %#x", err, kb.Attributes)
	}
}

func TestRecompress(t *testing.T) {
	recs := testRecords(64, 4)
	h := testHeader(len(recs))
	h.Attributes |= attrControl | attrLogAppendTime
	for _, from := range allCodecs {
		src, err := AppendBatch(nil, h, recs, from)
		if err != nil {
			t.Fatal(err)
		}
		srcH, _ := ParseBatch(src)
		for _, to := range allCodecs {
			out, err := Recompress(src, to)
			if err != nil {
				t.Fatalf("%s->%s: %v", from, to, err)
			}
			got, err := ParseBatch(out)
			if err != nil {
				t.Fatalf("%s->%s: %v", from, to, err)
			}
			requireHeaderMatches(t, got, srcH, to, len(recs))
			rs, err := DecodeRecords(got, out)
			if err != nil {
				t.Fatal(err)
			}
			requireRecordsEqual(t, rs, recs)
			if from == to && &out[0] == &src[0] {
				t.Fatal("Recompress to the same codec must return a new slice")
			}
		}
	}
	bad := append([]byte(nil), mustBatch(t, CodecNone, 2)...)
	bad[len(bad)-1] ^= 1
	if _, err := Recompress(bad, CodecZstd); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt input: %v", err)
	}
	if _, err := Recompress(mustBatch(t, CodecNone, 2), 6); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("bad codec: %v", err)
	}
}

func TestCodecNames(t *testing.T) {
	for _, c := range allCodecs {
		got, ok := ParseCodec(c.String())
		if !ok || got != c {
			t.Fatalf("%s round trip: %v %v", c, got, ok)
		}
	}
	if c, ok := ParseCodec("uncompressed"); !ok || c != CodecNone {
		t.Fatal("uncompressed")
	}
	if c, ok := ParseCodec("ZSTD"); !ok || c != CodecZstd {
		t.Fatal("case-insensitive")
	}
	if _, ok := ParseCodec("producer"); ok {
		t.Fatal("producer is not a codec")
	}
	if s := Codec(6).String(); s != "codec(6)" {
		t.Fatal(s)
	}
}

func TestVarintLen(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, 64, -64, -65, 1 << 20, -(1 << 40), 1<<63 - 1, -1 << 63} {
		if got, want := varintLen(v), len(binary.AppendVarint(nil, v)); got != want {
			t.Fatalf("varintLen(%d) = %d, want %d", v, got, want)
		}
	}
}

func TestDecodeRecordsHeaderVariety(t *testing.T) {
	var recs []Record
	for i := 0; i < 300; i++ {
		var hs []Header
		for j := 0; j < i%20; j++ {
			k := fmt.Sprintf("h%d", j)
			if i%7 == 0 {
				k = fmt.Sprintf("x%d-%d", i, j)
			}
			hs = append(hs, Header{Key: k, Value: []byte{byte(i), byte(j)}})
		}
		recs = append(recs, Record{OffsetDelta: int32(i), Headers: hs})
	}
	b, err := AppendBatch(nil, BatchHeader{LastOffsetDelta: 299}, recs, CodecNone)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ParseBatch(b)
	got, err := DecodeRecords(h, b)
	if err != nil {
		t.Fatal(err)
	}
	requireRecordsEqual(t, got, recs)
	// Header slices are clipped: appending to one leaves the next intact.
	_ = append(got[1].Headers, Header{Key: "evil"})
	requireRecordsEqual(t, got, recs)
}
