package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// testBatch builds a Kafka v2 record batch look-alike: a correct 61-byte
// header (CRC not computed) followed by size-61 bytes of payload derived
// from seed. Only the header fields matter to the intake code.
func testBatch(seed int64, size int, h BatchHeader) (BatchHeader, []byte) {
	if size < 61 {
		size = 61
	}
	b := make([]byte, size)
	rng := rand.New(rand.NewSource(seed))
	rng.Read(b[61:])
	h.Length = int32(size - 12)
	h.Magic = 2
	binary.BigEndian.PutUint64(b[0:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[8:], uint32(h.Length))
	binary.BigEndian.PutUint32(b[12:], uint32(h.PartitionLeaderEpoch))
	b[16] = byte(h.Magic)
	binary.BigEndian.PutUint32(b[17:], h.CRC)
	binary.BigEndian.PutUint16(b[21:], uint16(h.Attributes))
	binary.BigEndian.PutUint32(b[23:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[27:], uint64(h.FirstTimestamp))
	binary.BigEndian.PutUint64(b[35:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[43:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[51:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[53:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[57:], uint32(h.NumRecords))
	return h, b
}

func testTopic(i int) [16]byte {
	var id [16]byte
	// Topic ids whose byte order differs from their creation order.
	id[0] = byte(0xC0 - 0x40*i)
	id[15] = byte(i)
	return id
}

type addedBatch struct {
	topic [16]byte
	part  int32
	h     BatchHeader
	b     []byte
}

// interleavedBatches returns n batches over topics×parts partitions in a
// random interleaved arrival order.
func interleavedBatches(seed int64, topics, parts, n, maxSize int) []addedBatch {
	rng := rand.New(rand.NewSource(seed))
	out := make([]addedBatch, 0, n)
	for i := 0; i < n; i++ {
		t := rng.Intn(topics)
		p := int32(rng.Intn(parts))
		nrec := int32(1 + rng.Intn(20))
		h, b := testBatch(int64(i)+seed*1000, 61+rng.Intn(maxSize), BatchHeader{
			Attributes:      int16(rng.Intn(5)),
			LastOffsetDelta: nrec - 1,
			FirstTimestamp:  1_700_000_000_000 + int64(i),
			MaxTimestamp:    1_700_000_000_000 + int64(i) + int64(rng.Intn(100)),
			ProducerID:      int64(rng.Intn(3)) - 1,
			ProducerEpoch:   int16(rng.Intn(3)),
			BaseSequence:    int32(i),
			NumRecords:      nrec,
		})
		out = append(out, addedBatch{testTopic(t), p, h, b})
	}
	return out
}

func buildIntake(t testing.TB, bs []addedBatch) Intake {
	t.Helper()
	b := NewIntakeBuilder()
	for i, x := range bs {
		if id := b.Add(x.topic, x.part, x.h, x.b); id != i {
			t.Fatalf("Add returned id %d, want %d", id, i)
		}
	}
	in, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return in
}

type tpKey struct {
	topic [16]byte
	part  int32
}

func TestIntakeLayout(t *testing.T) {
	bs := interleavedBatches(1, 3, 4, 120, 2000)
	b := NewIntakeBuilder()
	var total int64
	for i, x := range bs {
		b.Add(x.topic, x.part, x.h, x.b)
		total += int64(len(x.b))
		if b.Len() != i+1 || b.Bytes() != total {
			t.Fatalf("after %d adds: Len %d Bytes %d, want %d %d", i+1, b.Len(), b.Bytes(), i+1, total)
		}
	}
	in, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}

	// Overall layout.
	if got := string(in.Data[:IntakeHeaderSize]); got != "SLUICE\x00\x01" {
		t.Fatalf("header %q", got)
	}
	if want := IntakeHeaderSize + total + in.IndexLen + IntakeFooterSize; int64(len(in.Data)) != want {
		t.Fatalf("len(Data) = %d, want %d", len(in.Data), want)
	}
	if cap(in.Data) != len(in.Data) {
		t.Errorf("cap(Data) = %d, len %d", cap(in.Data), len(in.Data))
	}
	if in.IndexPos != IntakeHeaderSize+total {
		t.Fatalf("IndexPos = %d, want %d", in.IndexPos, IntakeHeaderSize+total)
	}
	if len(in.Rows) != len(bs) || len(in.RowOf) != len(bs) {
		t.Fatalf("%d rows, %d RowOf, want %d", len(in.Rows), len(in.RowOf), len(bs))
	}

	// Every batch is at its row's position, byte for byte, and its row
	// describes it.
	seen := make([]bool, len(in.Rows))
	for id, x := range bs {
		ri := in.RowOf[id]
		if ri < 0 || ri >= len(in.Rows) || seen[ri] {
			t.Fatalf("RowOf[%d] = %d: not a permutation", id, ri)
		}
		seen[ri] = true
		r := in.Rows[ri]
		if !bytes.Equal(in.Data[r.Pos:r.Pos+int64(r.Len)], x.b) || int(r.Len) != len(x.b) {
			t.Fatalf("batch %d: bytes at row %d (pos %d len %d) differ", id, ri, r.Pos, r.Len)
		}
		want := IndexRow{
			TopicID: x.topic, Partition: x.part, RelOffset: r.RelOffset,
			LastOffsetDelta: x.h.LastOffsetDelta, FirstTimestamp: x.h.FirstTimestamp,
			MaxTimestamp: x.h.MaxTimestamp, ProducerID: x.h.ProducerID,
			ProducerEpoch: x.h.ProducerEpoch, BaseSequence: x.h.BaseSequence,
			Pos: r.Pos, Len: int32(len(x.b)), Codec: x.h.Codec(), NumRecords: x.h.NumRecords,
		}
		if r != want {
			t.Fatalf("batch %d: row %+v, want %+v", id, r, want)
		}
	}

	// Rows: packed back to back, grouped and sorted by (topic bytes,
	// partition), arrival order within a partition.
	addID := make([]int, len(in.Rows))
	for id, ri := range in.RowOf {
		addID[ri] = id
	}
	pos := int64(IntakeHeaderSize)
	for i, r := range in.Rows {
		if r.Pos != pos {
			t.Fatalf("row %d at %d, want %d (packed)", i, r.Pos, pos)
		}
		pos += int64(r.Len)
		if i == 0 {
			continue
		}
		p := in.Rows[i-1]
		c := bytes.Compare(p.TopicID[:], r.TopicID[:])
		switch {
		case c > 0, c == 0 && p.Partition > r.Partition:
			t.Fatalf("rows %d,%d not sorted: %x/%d then %x/%d", i-1, i, p.TopicID, p.Partition, r.TopicID, r.Partition)
		case c == 0 && p.Partition == r.Partition && addID[i-1] > addID[i]:
			t.Fatalf("rows %d,%d of one partition out of arrival order", i-1, i)
		}
	}
	if pos != in.IndexPos {
		t.Fatalf("batches end at %d, IndexPos %d", pos, in.IndexPos)
	}

	// RelOffset: running sum of LastOffsetDelta+1 per partition, in arrival order.
	next := map[tpKey]int64{}
	for id, x := range bs {
		k := tpKey{x.topic, x.part}
		if got := in.Rows[in.RowOf[id]].RelOffset; got != next[k] {
			t.Fatalf("batch %d: RelOffset %d, want %d", id, got, next[k])
		}
		next[k] += int64(x.h.LastOffsetDelta) + 1
	}
	if len(next) != 12 {
		t.Fatalf("%d partitions, want 12 (test setup)", len(next))
	}

	// Footer.
	ip, il, crc, err := ParseIntakeFooter(in.Data[len(in.Data)-IntakeFooterSize:])
	if err != nil {
		t.Fatal(err)
	}
	index := in.Data[in.IndexPos : in.IndexPos+in.IndexLen]
	if ip != in.IndexPos || il != in.IndexLen || crc != IntakeIndexCRC(index) || crc != in.IndexCRC() {
		t.Fatalf("footer %d %d %#x, want %d %d %#x", ip, il, crc, in.IndexPos, in.IndexLen, IntakeIndexCRC(index))
	}
	// The footer parses from a longer tail too (index + footer in one read).
	if ip2, il2, crc2, err := ParseIntakeFooter(in.Data[in.IndexPos:]); err != nil || ip2 != ip || il2 != il || crc2 != crc {
		t.Fatalf("ParseIntakeFooter(index+footer) = %d %d %#x %v", ip2, il2, crc2, err)
	}

	// Index round trip.
	x, err := DecodeIntakeIndex(index, crc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Rows, in.Rows) {
		t.Fatal("decoded rows differ from Finish's rows")
	}
	if x.DataEnd() != in.IndexPos {
		t.Fatalf("DataEnd %d, want %d", x.DataEnd(), in.IndexPos)
	}
	if x.SizeBytes() < int64(len(x.Rows))*64 {
		t.Fatalf("SizeBytes %d too small for %d rows", x.SizeBytes(), len(x.Rows))
	}
	px, pip, err := ParseIntake(in.Data)
	if err != nil || pip != in.IndexPos || !slices.Equal(px.Rows, in.Rows) {
		t.Fatalf("ParseIntake: %v (index pos %d)", err, pip)
	}

	// Partition lookup.
	for k := range next {
		var want []IndexRow
		for id, x := range bs {
			if x.topic == k.topic && x.part == k.part {
				want = append(want, in.Rows[in.RowOf[id]])
			}
		}
		got := x.Partition(k.topic, k.part)
		if !slices.Equal(got, want) {
			t.Fatalf("Partition(%x, %d): %d rows, want %d", k.topic, k.part, len(got), len(want))
		}
		if cap(got) != len(got) {
			t.Fatalf("Partition result has spare capacity %d > %d", cap(got), len(got))
		}
	}
	for _, k := range []tpKey{{testTopic(0), 4}, {testTopic(0), -1}, {testTopic(3), 0}, {[16]byte{}, 0}, {[16]byte{0: 0xff}, 0}} {
		if got := x.Partition(k.topic, k.part); got != nil {
			t.Fatalf("Partition(%x, %d) = %d rows, want none", k.topic, k.part, len(got))
		}
	}

	// Finish copied the batches: the object does not alias them.
	snapshot := slices.Clone(in.Data)
	for _, x := range bs {
		x.b[len(x.b)-1] ^= 0xff
	}
	if !bytes.Equal(snapshot, in.Data) {
		t.Fatal("Data aliases the added batches")
	}
}

func TestIntakeBuilderReuse(t *testing.T) {
	b := NewIntakeBuilder()
	first := interleavedBatches(2, 3, 5, 80, 500)
	for _, x := range first {
		b.Add(x.topic, x.part, x.h, x.b)
	}
	in1, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	data1 := slices.Clone(in1.Data)

	b.Reset()
	if b.Len() != 0 || b.Bytes() != 0 {
		t.Fatalf("after Reset: Len %d Bytes %d", b.Len(), b.Bytes())
	}
	second := interleavedBatches(3, 2, 3, 30, 300)
	for i, x := range second {
		if id := b.Add(x.topic, x.part, x.h, x.b); id != i {
			t.Fatalf("Add after Reset returned %d, want %d", id, i)
		}
	}
	in2, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in1.Data, data1) {
		t.Fatal("second Finish modified the first object")
	}
	fresh := buildIntake(t, second)
	if !bytes.Equal(in2.Data, fresh.Data) || !slices.Equal(in2.Rows, fresh.Rows) || !slices.Equal(in2.RowOf, fresh.RowOf) {
		t.Fatal("reused builder produced a different object than a fresh one")
	}
	// Finish is repeatable.
	in3, err := b.Finish()
	if err != nil || !bytes.Equal(in3.Data, in2.Data) {
		t.Fatalf("second Finish differs: %v", err)
	}
}

func TestIntakeAlreadyGrouped(t *testing.T) {
	// Batches added already in object order take the no-sort path.
	bs := interleavedBatches(4, 3, 3, 50, 300)
	slices.SortStableFunc(bs, func(a, b addedBatch) int { return compareKey(a.topic, a.part, b.topic, b.part) })
	in := buildIntake(t, bs)
	for id, ri := range in.RowOf {
		if ri != id {
			t.Fatalf("RowOf[%d] = %d, want identity", id, ri)
		}
	}
	if _, _, err := ParseIntake(in.Data); err != nil {
		t.Fatal(err)
	}
}

func TestIntakeEmpty(t *testing.T) {
	in, err := NewIntakeBuilder().Finish()
	if err != nil {
		t.Fatal(err)
	}
	if in.IndexPos != IntakeHeaderSize || len(in.Rows) != 0 || len(in.RowOf) != 0 {
		t.Fatalf("empty intake: IndexPos %d, %d rows", in.IndexPos, len(in.Rows))
	}
	x, _, err := ParseIntake(in.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Rows) != 0 || x.Partition(testTopic(0), 0) != nil {
		t.Fatalf("empty index has rows")
	}
}

func TestIntakeFinishRejects(t *testing.T) {
	for name, h := range map[string]BatchHeader{
		"negative delta":   {LastOffsetDelta: -1, NumRecords: 1},
		"negative records": {LastOffsetDelta: 0, NumRecords: -1},
		"unknown codec":    {Attributes: 5, NumRecords: 1},
	} {
		t.Run(name, func(t *testing.T) {
			b := NewIntakeBuilder()
			hh, batch := testBatch(1, 100, BatchHeader{NumRecords: 1})
			b.Add(testTopic(0), 0, hh, batch)
			hh, batch = testBatch(2, 100, h)
			b.Add(testTopic(0), 0, hh, batch)
			if _, err := b.Finish(); err == nil {
				t.Fatal("Finish accepted a bad batch")
			}
		})
	}
}

func TestParseIntakeFooterErrors(t *testing.T) {
	in := buildIntake(t, interleavedBatches(5, 1, 2, 5, 100))
	foot := slices.Clone(in.Data[len(in.Data)-IntakeFooterSize:])
	if _, _, _, err := ParseIntakeFooter(foot[1:]); !errors.Is(err, ErrBadIntake) {
		t.Errorf("short footer: %v", err)
	}
	bad := slices.Clone(foot)
	bad[IntakeFooterSize-1] = 'X'
	if _, _, _, err := ParseIntakeFooter(bad); !errors.Is(err, ErrBadIntake) {
		t.Errorf("bad magic: %v", err)
	}
	bad = slices.Clone(foot)
	binary.LittleEndian.PutUint64(bad, 3) // inside the header
	if _, _, _, err := ParseIntakeFooter(bad); !errors.Is(err, ErrBadIntake) {
		t.Errorf("index inside header: %v", err)
	}
	bad = slices.Clone(foot)
	binary.LittleEndian.PutUint64(bad[8:], 1<<63)
	if _, _, _, err := ParseIntakeFooter(bad); !errors.Is(err, ErrBadIntake) {
		t.Errorf("huge index length: %v", err)
	}

	obj := slices.Clone(in.Data)
	obj[0] = 'X'
	if _, _, err := ParseIntake(obj); !errors.Is(err, ErrBadIntake) {
		t.Errorf("ParseIntake with bad header magic: %v", err)
	}
	obj = slices.Clone(in.Data)
	obj[in.IndexPos+3] ^= 1
	if _, _, err := ParseIntake(obj); !errors.Is(err, ErrBadIntake) {
		t.Errorf("ParseIntake with corrupt index: %v", err)
	}
	if _, _, err := ParseIntake(in.Data[:len(in.Data)-1]); !errors.Is(err, ErrBadIntake) {
		t.Errorf("ParseIntake of truncated object: %v", err)
	}
}

func testIndex(t testing.TB, seed int64, n int) []byte {
	in := buildIntake(t, interleavedBatches(seed, 3, 4, n, 300))
	return slices.Clone(in.Data[in.IndexPos : in.IndexPos+in.IndexLen])
}

func TestDecodeIntakeIndexBadCRC(t *testing.T) {
	index := testIndex(t, 6, 40)
	crc := IntakeIndexCRC(index)
	if _, err := DecodeIntakeIndex(index, crc^1); !errors.Is(err, ErrBadIntake) {
		t.Fatalf("wrong CRC: %v", err)
	}
	index[len(index)/2] ^= 0x10
	if _, err := DecodeIntakeIndex(index, crc); !errors.Is(err, ErrBadIntake) {
		t.Fatalf("corrupt byte: %v", err)
	}
}

// decodeChecked decodes b with its own CRC, requiring ErrBadIntake on
// failure and the layout invariants on success.
func decodeChecked(t testing.TB, b []byte) (*IntakeIndex, error) {
	t.Helper()
	x, err := DecodeIntakeIndex(b, IntakeIndexCRC(b))
	if err != nil {
		if !errors.Is(err, ErrBadIntake) || x != nil {
			t.Fatalf("error %v does not wrap ErrBadIntake (index %v)", err, x)
		}
		return nil, err
	}
	if err := checkIndexRows(x.Rows); err != nil {
		t.Fatalf("decoded index violates invariants: %v", err)
	}
	return x, nil
}

func TestDecodeIntakeIndexTruncated(t *testing.T) {
	index := testIndex(t, 7, 25)
	for n := 0; n < len(index); n++ {
		if _, err := decodeChecked(t, index[:n]); err == nil {
			t.Fatalf("index truncated to %d of %d bytes decoded", n, len(index))
		}
	}
	if _, err := decodeChecked(t, append(slices.Clone(index), 0, 0, 0, 0, 0, 0, 0, 0)); err == nil {
		t.Fatal("index with trailing bytes decoded")
	}
}

func TestDecodeIntakeIndexGarbage(t *testing.T) {
	index := testIndex(t, 8, 10)
	rng := rand.New(rand.NewSource(8))
	// Single byte and word corruptions all over the index, CRC recomputed
	// so that they reach the Arrow decoder.
	for i := 0; i < len(index); i++ {
		for _, v := range []byte{0x00, 0xff, 0x80, index[i] ^ 0x01, byte(rng.Intn(256))} {
			b := slices.Clone(index)
			b[i] = v
			decodeChecked(t, b)
		}
		if i+4 <= len(index) {
			b := slices.Clone(index)
			binary.LittleEndian.PutUint32(b[i:], 0x7fffffff)
			decodeChecked(t, b)
		}
	}
	for i := 0; i < 500; i++ {
		b := make([]byte, rng.Intn(2000))
		rng.Read(b)
		if len(b) >= 8 && i%2 == 0 {
			binary.LittleEndian.PutUint32(b, 0xffffffff) // a plausible first message
			binary.LittleEndian.PutUint32(b[4:], uint32(rng.Intn(len(b))))
		}
		if _, err := decodeChecked(t, b); err == nil {
			t.Fatalf("random bytes decoded as an index")
		}
	}
}

// writeIPC encodes records with schema as an Arrow IPC stream.
func writeIPC(t testing.TB, schema *arrow.Schema, recs ...arrow.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeIntakeIndexInconsistent(t *testing.T) {
	rows := buildIntake(t, interleavedBatches(9, 2, 2, 12, 200)).Rows
	if _, err := decodeChecked(t, mustEncode(t, rows)); err != nil {
		t.Fatalf("unmodified rows: %v", err)
	}
	for name, mod := range map[string]func([]IndexRow){
		"rel offset":       func(r []IndexRow) { r[len(r)-1].RelOffset++ },
		"first rel offset": func(r []IndexRow) { r[0].RelOffset = 5 },
		"unsorted":         func(r []IndexRow) { r[0], r[len(r)-1] = r[len(r)-1], r[0] },
		"negative pos":     func(r []IndexRow) { r[0].Pos = -1 },
		"pos in header":    func(r []IndexRow) { r[0].Pos = 2 },
		"overlap":          func(r []IndexRow) { r[3].Pos-- },
		"negative len":     func(r []IndexRow) { r[len(r)-1].Len = -5 },
		"negative delta":   func(r []IndexRow) { r[len(r)-1].LastOffsetDelta = -1 },
		"negative records": func(r []IndexRow) { r[2].NumRecords = -1 },
		"codec":            func(r []IndexRow) { r[1].Codec = 7 },
		"huge pos":         func(r []IndexRow) { r[len(r)-1].Pos = 1<<63 - 10 },
	} {
		t.Run(name, func(t *testing.T) {
			rs := slices.Clone(rows)
			mod(rs)
			if _, err := decodeChecked(t, mustEncode(t, rs)); err == nil {
				t.Fatal("inconsistent index decoded")
			}
		})
	}

	t.Run("two record batches", func(t *testing.T) {
		rec := indexRecord(t, rows)
		defer rec.Release()
		if _, err := decodeChecked(t, writeIPC(t, intakeSchema, rec, rec)); err == nil {
			t.Fatal("decoded")
		}
	})
	t.Run("no record batch", func(t *testing.T) {
		if _, err := decodeChecked(t, writeIPC(t, intakeSchema)); err == nil {
			t.Fatal("decoded")
		}
	})
	t.Run("other schema", func(t *testing.T) {
		fields := slices.Clone(intakeSchema.Fields())
		fields[colPartition].Type = arrow.PrimitiveTypes.Int64
		schema := arrow.NewSchema(fields, nil)
		bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer bld.Release()
		rec := bld.NewRecord()
		defer rec.Release()
		if _, err := decodeChecked(t, writeIPC(t, schema, rec)); err == nil {
			t.Fatal("decoded")
		}
	})
	t.Run("nulls", func(t *testing.T) {
		fields := slices.Clone(intakeSchema.Fields())
		for i := range fields {
			fields[i].Nullable = true
		}
		schema := arrow.NewSchema(fields, nil)
		bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer bld.Release()
		for _, f := range bld.Fields() {
			f.AppendNull()
		}
		rec := bld.NewRecord()
		defer rec.Release()
		if _, err := decodeChecked(t, writeIPC(t, schema, rec)); err == nil {
			t.Fatal("decoded")
		}
	})
	t.Run("file format", func(t *testing.T) {
		rec := indexRecord(t, rows)
		defer rec.Release()
		f, err := os.Create(filepath.Join(t.TempDir(), "index.arrow"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := ipc.NewFileWriter(f, ipc.WithSchema(intakeSchema))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeChecked(t, b); err == nil {
			t.Fatal("decoded")
		}
	})
}

func mustEncode(t testing.TB, rows []IndexRow) []byte {
	t.Helper()
	b, err := EncodeIntakeIndex(rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// indexRecord decodes the encoding of rows back into an Arrow record.
func indexRecord(t testing.TB, rows []IndexRow) arrow.Record {
	t.Helper()
	r, err := ipc.NewReader(bytes.NewReader(mustEncode(t, rows)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Next() {
		t.Fatal(fmt.Errorf("no record: %v", r.Err()))
	}
	rec := r.Record()
	rec.Retain()
	return rec
}
