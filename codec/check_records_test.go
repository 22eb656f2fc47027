package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// rawBatchOf wraps payload (the records section, written by hand) in a
// batch with a valid CRC and length, compressed with c, claiming n
// records: the shape of a hostile producer's batch that passes ParseBatch.
func rawBatchOf(tb testing.TB, c Codec, n int32, payload []byte) []byte {
	tb.Helper()
	h := BatchHeader{LastOffsetDelta: max(n-1, 0), NumRecords: n, FirstTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	b := appendBatchHeader(nil, h, c)
	b, err := Compress(c, b, payload)
	if err != nil {
		tb.Fatal(err)
	}
	b, err = finishBatch(b, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := ParseBatch(b); err != nil {
		tb.Fatalf("crafted batch does not parse: %v", err)
	}
	return b
}

// rec is one record's fields, encoded by hand so that any of them can lie.
type rec struct {
	tsDelta, offDelta int64
	keyLen, valueLen  int64 // -1 null; the bytes written are max(len, 0)
	headers           [][2]int64
	extra             []byte // appended inside the body, after the headers
	lengthAdjust      int64  // added to the true body length
	rawLength         []byte // if set, replaces the length prefix
}

func (r rec) append(dst []byte) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, r.tsDelta)
	body = binary.AppendVarint(body, r.offDelta)
	body = binary.AppendVarint(body, r.keyLen)
	body = append(body, bytes.Repeat([]byte("k"), int(max(r.keyLen, 0)))...)
	body = binary.AppendVarint(body, r.valueLen)
	body = append(body, bytes.Repeat([]byte("v"), int(max(r.valueLen, 0)))...)
	body = binary.AppendVarint(body, int64(len(r.headers)))
	for _, h := range r.headers {
		body = binary.AppendVarint(body, h[0])
		body = append(body, bytes.Repeat([]byte("h"), int(max(h[0], 0)))...)
		body = binary.AppendVarint(body, h[1])
		body = append(body, bytes.Repeat([]byte("x"), int(max(h[1], 0)))...)
	}
	body = append(body, r.extra...)
	if r.rawLength != nil {
		dst = append(dst, r.rawLength...)
	} else {
		dst = binary.AppendVarint(dst, int64(len(body))+r.lengthAdjust)
	}
	return append(dst, body...)
}

func good(i int) rec {
	return rec{tsDelta: int64(i) * 10, offDelta: int64(i), keyLen: 3, valueLen: 5, headers: [][2]int64{{2, 4}, {1, -1}}}
}

func records(rs ...rec) []byte {
	var out []byte
	for _, r := range rs {
		out = r.append(out)
	}
	return out
}

func with(i int, f func(*rec)) rec {
	r := good(i)
	f(&r)
	return r
}

type checkCase struct {
	name  string
	codec Codec
	n     int32
	body  []byte
	want  error // nil: accepted
}

// checkRecordsCases are the hand-made batches CheckRecords must judge
// (also the FuzzCheckRecords seeds).
func checkRecordsCases() []checkCase {
	three := records(good(0), good(1), good(2))
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x7f}, 20)
	return []checkCase{
		{"valid", CodecNone, 3, three, nil},
		{"valid zstd", CodecZstd, 3, three, nil},
		{"valid gzip", CodecGzip, 3, three, nil},
		{"null key and value, no headers", CodecNone, 1, records(rec{keyLen: -1, valueLen: -1}), nil},
		{"garbage records section", CodecNone, 3, garbage, ErrInvalidRecord},
		{"zeros as records", CodecNone, 3, make([]byte, 64), ErrInvalidRecord},
		{"count above records", CodecNone, 4, three, ErrInvalidRecord},
		{"count below records", CodecNone, 2, three, ErrInvalidRecord},
		{"count cannot fit", CodecNone, 1000, three, ErrInvalidRecord},
		{"offset deltas out of order", CodecNone, 3, records(good(0), with(1, func(r *rec) { r.offDelta = 2 }), with(2, func(r *rec) { r.offDelta = 1 })), ErrInvalidRecord},
		{"offset deltas from 1", CodecNone, 2, records(with(0, func(r *rec) { r.offDelta = 1 }), with(1, func(r *rec) { r.offDelta = 2 })), ErrInvalidRecord},
		{"repeated offset delta", CodecLZ4, 2, records(good(0), with(1, func(r *rec) { r.offDelta = 0 })), ErrInvalidRecord},
		{"negative offset delta", CodecNone, 1, records(with(0, func(r *rec) { r.offDelta = -1 })), ErrInvalidRecord},
		{"record length too long", CodecNone, 1, records(with(0, func(r *rec) { r.lengthAdjust = 1 })), ErrInvalidRecord},
		{"record length too short", CodecNone, 1, records(with(0, func(r *rec) { r.lengthAdjust = -1 })), ErrInvalidRecord},
		{"record length past the payload", CodecNone, 2, records(good(0), with(1, func(r *rec) { r.lengthAdjust = 100 })), ErrInvalidRecord},
		{"bytes left in record body", CodecNone, 1, records(with(0, func(r *rec) { r.extra = []byte{0} })), ErrInvalidRecord},
		{"negative record length", CodecNone, 1, records(with(0, func(r *rec) { r.rawLength = binary.AppendVarint(nil, -5) })), ErrInvalidRecord},
		{"overlong length varint", CodecNone, 1, records(with(0, func(r *rec) { r.rawLength = bytes.Repeat([]byte{0xff}, 11) })), ErrInvalidRecord},
		{"negative key length", CodecNone, 1, records(with(0, func(r *rec) { r.keyLen = -2 })), ErrInvalidRecord},
		{"negative value length", CodecNone, 1, records(with(0, func(r *rec) { r.valueLen = -7 })), ErrInvalidRecord},
		{"key length past the record", CodecNone, 2, append(keyLenBody(40), records(good(1))...), ErrInvalidRecord},
		{"null header key", CodecNone, 1, records(with(0, func(r *rec) { r.headers = [][2]int64{{-1, 2}} })), ErrInvalidRecord},
		{"negative header value length", CodecNone, 1, records(with(0, func(r *rec) { r.headers = [][2]int64{{2, -3}} })), ErrInvalidRecord},
		{"header count above headers", CodecNone, 1, headerCountBody(5), ErrInvalidRecord},
		{"header count negative", CodecNone, 1, headerCountBody(-1), ErrInvalidRecord},
		{"compressed garbage", CodecGzip, 3, nil, ErrCorrupt},
		{"garbage inside zstd", CodecZstd, 3, garbage, ErrInvalidRecord},
		{"garbage inside snappy", CodecSnappy, 3, garbage, ErrInvalidRecord},
	}
}

// headerCountBody is one record with no headers whose header count says n.
func headerCountBody(n int64) []byte {
	var body []byte
	body = append(body, 0, 0, 0) // attributes, timestamp delta, offset delta
	body = binary.AppendVarint(body, -1)
	body = binary.AppendVarint(body, -1)
	body = binary.AppendVarint(body, n)
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// keyLenBody is one record holding a 3 byte key whose length says n.
func keyLenBody(n int64) []byte {
	var body []byte
	body = append(body, 0, 0, 0)
	body = binary.AppendVarint(body, n)
	body = append(body, "key"...)
	body = binary.AppendVarint(body, -1)
	body = append(body, 0)
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

func (c checkCase) batch(tb testing.TB) []byte {
	if c.name == "compressed garbage" {
		// gzip codec bits over bytes that are not gzip.
		b := appendBatchHeader(nil, BatchHeader{LastOffsetDelta: c.n - 1, NumRecords: c.n}, CodecGzip)
		b = append(b, bytes.Repeat([]byte{0x1f, 0x8b, 0x08, 0, 0xff}, 10)...)
		b, _ = finishBatch(b, 0)
		return b
	}
	return rawBatchOf(tb, c.codec, c.n, c.body)
}

func TestCheckRecords(t *testing.T) {
	for _, tc := range checkRecordsCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.batch(t)
			h, err := ParseBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			var stamps []int64
			maxTS, err := CheckRecords(h, b, MaxDecompressedBatch, func(i int32, ts int64) {
				if int(i) != len(stamps) {
					t.Fatalf("visited record %d after %d", i, len(stamps))
				}
				stamps = append(stamps, ts)
			})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(stamps) != int(tc.n) {
					t.Fatalf("visited %d records, want %d", len(stamps), tc.n)
				}
				for i, ts := range stamps {
					if ts != h.FirstTimestamp+int64(i)*10 {
						t.Fatalf("record %d timestamp %d", i, ts)
					}
				}
				if maxTS != stamps[len(stamps)-1] {
					t.Fatalf("max timestamp %d, want %d", maxTS, stamps[len(stamps)-1])
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.want == ErrInvalidRecord && errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is both invalid and corrupt", err)
			}
		})
	}
}

// TestCheckRecordsStricterThanValidate: wrong offset deltas decode fine
// (ValidateRecords, used on stored data, accepts them) but a producer's
// batch must number its records 0..n-1.
func TestCheckRecordsStricterThanValidate(t *testing.T) {
	b := rawBatchOf(t, CodecNone, 2, records(good(0), with(1, func(r *rec) { r.offDelta = 5 })))
	h, _ := ParseBatch(b)
	if err := ValidateRecords(h, b); err != nil {
		t.Fatalf("ValidateRecords: %v", err)
	}
	if _, err := CheckRecords(h, b, MaxDecompressedBatch, nil); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("CheckRecords: %v", err)
	}
}

// TestCheckRecordsBomb: a gzip bomb fails at the limit as ErrCorrupt,
// allocating about the limit, not the bomb's size; a legitimate payload
// just under the limit passes.
func TestCheckRecordsBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	for _, c := range []Codec{CodecGzip, CodecZstd, CodecLZ4, CodecSnappy} {
		b := rawBatchOf(t, c, 1, zeros)
		h, _ := ParseBatch(b)
		grew := heapGrowth(func() {
			_, err := CheckRecords(h, b, 1<<20, nil)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrDecompressLimit) {
				t.Fatalf("%s bomb: %v", c, err)
			}
		})
		// zstd's decoder floor is 8 MiB (see zstdDecoder); others ~2*limit.
		if grew > 24<<20 {
			t.Fatalf("%s bomb of %d bytes allocated %d MiB before failing", c, len(b), grew>>20)
		}
	}
	one := records(rec{keyLen: -1, valueLen: 1000})
	b := rawBatchOf(t, CodecGzip, 1, one)
	h, _ := ParseBatch(b)
	if _, err := CheckRecords(h, b, len(one), nil); err != nil {
		t.Fatalf("payload of exactly the limit: %v", err)
	}
	if _, err := CheckRecords(h, b, len(one)-1, nil); !errors.Is(err, ErrDecompressLimit) {
		t.Fatalf("payload one byte over the limit: %v", err)
	}
}

// TestCheckRecordsAllocations: an uncompressed batch is walked in place,
// a compressed one decompressed into a pooled buffer, and neither
// changes the batch's bytes.
func TestCheckRecordsAllocations(t *testing.T) {
	for _, c := range allCodecs {
		b, err := AppendBatch(nil, testHeader(100), testRecords(100, 7), c)
		if err != nil {
			t.Fatal(err)
		}
		before := append([]byte(nil), b...)
		h, _ := ParseBatch(b)
		n := testing.AllocsPerRun(50, func() {
			if _, err := CheckRecords(h, b, MaxDecompressedBatch, func(int32, int64) {}); err != nil {
				t.Fatal(err)
			}
		})
		if c == CodecNone && n != 0 {
			t.Fatalf("uncompressed: %v allocations per check", n)
		}
		t.Logf("%s: %v allocations per check", c, n)
		if !bytes.Equal(b, before) {
			t.Fatalf("%s: CheckRecords changed the batch", c)
		}
	}
}
