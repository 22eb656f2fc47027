package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Index columns, in schema order.
const (
	colTopicID = iota
	colPartition
	colRelOffset
	colLastOffsetDelta
	colFirstTimestamp
	colMaxTimestamp
	colProducerID
	colProducerEpoch
	colBaseSequence
	colPosition
	colLength
	colCodec
	colNumRecords
	numIndexCols
)

var topicIDType = &arrow.FixedSizeBinaryType{ByteWidth: 16}

// intakeSchema is the schema of the index of a v1 intake object.
var intakeSchema = arrow.NewSchema([]arrow.Field{
	colTopicID:         {Name: "topic_id", Type: topicIDType},
	colPartition:       {Name: "partition", Type: arrow.PrimitiveTypes.Int32},
	colRelOffset:       {Name: "rel_offset", Type: arrow.PrimitiveTypes.Int64},
	colLastOffsetDelta: {Name: "last_offset_delta", Type: arrow.PrimitiveTypes.Int32},
	colFirstTimestamp:  {Name: "first_timestamp", Type: arrow.PrimitiveTypes.Int64},
	colMaxTimestamp:    {Name: "max_timestamp", Type: arrow.PrimitiveTypes.Int64},
	colProducerID:      {Name: "producer_id", Type: arrow.PrimitiveTypes.Int64},
	colProducerEpoch:   {Name: "producer_epoch", Type: arrow.PrimitiveTypes.Int16},
	colBaseSequence:    {Name: "base_sequence", Type: arrow.PrimitiveTypes.Int32},
	colPosition:        {Name: "position", Type: arrow.PrimitiveTypes.Int64},
	colLength:          {Name: "length", Type: arrow.PrimitiveTypes.Int32},
	colCodec:           {Name: "codec", Type: arrow.PrimitiveTypes.Int8},
	colNumRecords:      {Name: "num_records", Type: arrow.PrimitiveTypes.Int32},
}, nil)

// indexEncoder encodes index rows as an Arrow IPC stream. Its column and
// output buffers are reused across calls; the result of encode is valid
// until the next call.
type indexEncoder struct {
	topic    []byte
	part     []int32
	rel      []int64
	lod      []int32
	firstTS  []int64
	maxTS    []int64
	pid      []int64
	epoch    []int16
	baseSeq  []int32
	pos      []int64
	length   []int32
	codec    []int8
	nrecords []int32

	out bytes.Buffer
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// wrapColumn makes an Arrow array without nulls over the values in b (no copy).
func wrapColumn(dt arrow.DataType, n int, b []byte) arrow.Array {
	d := array.NewData(dt, n, []*memory.Buffer{nil, memory.NewBufferBytes(b)}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

func (e *indexEncoder) encode(rows []IndexRow) ([]byte, error) {
	n := len(rows)
	e.topic = resize(e.topic, 16*n)
	e.part = resize(e.part, n)
	e.rel = resize(e.rel, n)
	e.lod = resize(e.lod, n)
	e.firstTS = resize(e.firstTS, n)
	e.maxTS = resize(e.maxTS, n)
	e.pid = resize(e.pid, n)
	e.epoch = resize(e.epoch, n)
	e.baseSeq = resize(e.baseSeq, n)
	e.pos = resize(e.pos, n)
	e.length = resize(e.length, n)
	e.codec = resize(e.codec, n)
	e.nrecords = resize(e.nrecords, n)
	for i := range rows {
		r := &rows[i]
		copy(e.topic[16*i:], r.TopicID[:])
		e.part[i] = r.Partition
		e.rel[i] = r.RelOffset
		e.lod[i] = r.LastOffsetDelta
		e.firstTS[i] = r.FirstTimestamp
		e.maxTS[i] = r.MaxTimestamp
		e.pid[i] = r.ProducerID
		e.epoch[i] = r.ProducerEpoch
		e.baseSeq[i] = r.BaseSequence
		e.pos[i] = r.Pos
		e.length[i] = r.Len
		e.codec[i] = int8(r.Codec)
		e.nrecords[i] = r.NumRecords
	}

	cols := [numIndexCols]arrow.Array{
		colTopicID:         wrapColumn(topicIDType, n, e.topic),
		colPartition:       wrapColumn(arrow.PrimitiveTypes.Int32, n, arrow.Int32Traits.CastToBytes(e.part)),
		colRelOffset:       wrapColumn(arrow.PrimitiveTypes.Int64, n, arrow.Int64Traits.CastToBytes(e.rel)),
		colLastOffsetDelta: wrapColumn(arrow.PrimitiveTypes.Int32, n, arrow.Int32Traits.CastToBytes(e.lod)),
		colFirstTimestamp:  wrapColumn(arrow.PrimitiveTypes.Int64, n, arrow.Int64Traits.CastToBytes(e.firstTS)),
		colMaxTimestamp:    wrapColumn(arrow.PrimitiveTypes.Int64, n, arrow.Int64Traits.CastToBytes(e.maxTS)),
		colProducerID:      wrapColumn(arrow.PrimitiveTypes.Int64, n, arrow.Int64Traits.CastToBytes(e.pid)),
		colProducerEpoch:   wrapColumn(arrow.PrimitiveTypes.Int16, n, arrow.Int16Traits.CastToBytes(e.epoch)),
		colBaseSequence:    wrapColumn(arrow.PrimitiveTypes.Int32, n, arrow.Int32Traits.CastToBytes(e.baseSeq)),
		colPosition:        wrapColumn(arrow.PrimitiveTypes.Int64, n, arrow.Int64Traits.CastToBytes(e.pos)),
		colLength:          wrapColumn(arrow.PrimitiveTypes.Int32, n, arrow.Int32Traits.CastToBytes(e.length)),
		colCodec:           wrapColumn(arrow.PrimitiveTypes.Int8, n, arrow.Int8Traits.CastToBytes(e.codec)),
		colNumRecords:      wrapColumn(arrow.PrimitiveTypes.Int32, n, arrow.Int32Traits.CastToBytes(e.nrecords)),
	}
	rec := array.NewRecord(intakeSchema, cols[:], int64(n))
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()

	e.out.Reset()
	w := ipc.NewWriter(&e.out, ipc.WithSchema(intakeSchema), ipc.WithAllocator(memory.DefaultAllocator))
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, fmt.Errorf("codec: intake: encoding index: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("codec: intake: encoding index: %w", err)
	}
	return e.out.Bytes(), nil
}

// EncodeIntakeIndex encodes rows as an intake index (Arrow IPC stream), as
// Finish does. Rows must already be in object order for the result to
// decode; it is exposed for tools and tests that rewrite objects.
func EncodeIntakeIndex(rows []IndexRow) ([]byte, error) {
	var e indexEncoder
	b, err := e.encode(rows)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// IntakeIndex is a decoded index, cached by the fetch path. It is immutable
// once decoded and safe for concurrent readers.
type IntakeIndex struct {
	Rows []IndexRow // sorted as in the object
}

// Partition returns the rows of one partition, in RelOffset (= object)
// order, or nil if the object holds no batch of it. It uses binary search.
// The result aliases x.Rows and must not be modified.
func (x *IntakeIndex) Partition(topicID [16]byte, partition int32) []IndexRow {
	rows := x.Rows
	i := sort.Search(len(rows), func(i int) bool {
		return compareKey(rows[i].TopicID, rows[i].Partition, topicID, partition) >= 0
	})
	j := i + sort.Search(len(rows)-i, func(k int) bool {
		return compareKey(rows[i+k].TopicID, rows[i+k].Partition, topicID, partition) > 0
	})
	if i == j {
		return nil
	}
	return rows[i:j:j]
}

// DataEnd returns the end of the last batch (IntakeHeaderSize if there is
// none). In a well-formed object it equals the index position.
func (x *IntakeIndex) DataEnd() int64 {
	if len(x.Rows) == 0 {
		return IntakeHeaderSize
	}
	r := &x.Rows[len(x.Rows)-1]
	return r.Pos + int64(r.Len)
}

// SizeBytes estimates the memory held by the decoded index, for a bounded
// cache.
func (x *IntakeIndex) SizeBytes() int64 {
	return int64(unsafe.Sizeof(*x)) + int64(cap(x.Rows))*int64(unsafe.Sizeof(IndexRow{}))
}

// DecodeIntakeIndex decodes the index bytes of an intake object
// (Data[IndexPos:IndexPos+IndexLen]). crc is the CRC-32C recorded for the
// index (from the footer or the metadata store); a mismatch fails. Any
// failure wraps ErrBadIntake: bad CRC, undecodable Arrow IPC (the decoder
// never panics on arbitrary input), unexpected schema, nulls, column length
// mismatch, or rows violating the layout invariants: rows sorted by (topic,
// partition), rel_offset the running sum of (last_offset_delta+1) within a
// partition starting at 0, batches non-overlapping in increasing position
// order after the header, non-negative lengths, deltas and record counts,
// and known codecs.
func DecodeIntakeIndex(b []byte, crc uint32) (x *IntakeIndex, err error) {
	if got := IntakeIndexCRC(b); got != crc {
		return nil, badIntake("index: CRC-32C %#08x, want %#08x", got, crc)
	}
	defer func() {
		if p := recover(); p != nil {
			x, err = nil, badIntake("index: decoding: %v", p)
		}
	}()
	rows, err := decodeIndexRows(b)
	if err != nil {
		if errors.Is(err, ErrBadIntake) {
			return nil, err
		}
		return nil, badIntake("index: %v", err)
	}
	if err := checkIndexRows(rows); err != nil {
		return nil, err
	}
	return &IntakeIndex{Rows: rows}, nil
}

func decodeIndexRows(b []byte) ([]IndexRow, error) {
	mr := &sliceMessageReader{b: b, refs: 1}
	return readOneRecord(mr, len(b), intakeSchema, recordRows, badIntake, func() (bool, int) { return mr.eos, len(mr.b) })
}

// readOneRecord reads the one record batch of the Arrow IPC stream mr
// serves (n bytes long) and converts it with rows; bad makes the format's
// errors and rest reports whether the end-of-stream marker was read and
// how many bytes follow it.
func readOneRecord[T any](mr ipc.MessageReader, n int, schema *arrow.Schema, rows func(arrow.Record) (T, error),
	bad func(format string, args ...any) error, rest func() (eos bool, left int)) (T, error) {
	var zero T
	// Arrow copies each buffer through the allocator, with sizes taken from
	// the (untrusted) metadata. Bound the total so garbage cannot make it
	// allocate more than a few times the input.
	mem := &boundedAllocator{mem: memory.DefaultAllocator, budget: 2*int64(n) + 4096}
	rdr, err := ipc.NewReaderFromMessageReader(mr, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		mr.Release()
		return zero, err
	}
	defer rdr.Release()

	if !rdr.Next() {
		if err := rdr.Err(); err != nil {
			return zero, err
		}
		return zero, bad("index: no record batch")
	}
	out, err := rows(rdr.Record())
	if err != nil {
		return zero, err
	}
	if rdr.Next() {
		return zero, bad("index: more than one record batch")
	}
	if err := rdr.Err(); err != nil {
		return zero, err
	}
	if eos, left := rest(); !eos || left != 0 {
		return zero, bad("index: %d bytes after the record batch", left)
	}
	return out, nil
}

// column returns column i of rec as T, checking it has n values and no
// nulls. On failure it sets *err (if not yet set).
func column[T arrow.Array](rec arrow.Record, i int, n int, err *error) T {
	return checkedColumn[T](rec, i, n, err, badIntake)
}

// checkedColumn is column with the format's error maker.
func checkedColumn[T arrow.Array](rec arrow.Record, i, n int, err *error, bad func(string, ...any) error) T {
	c, ok := rec.Column(i).(T)
	switch {
	case *err != nil:
	case !ok:
		*err = bad("index: column %s has type %s", rec.ColumnName(i), rec.Column(i).DataType())
	case c.Len() != n || c.NullN() != 0:
		*err = bad("index: column %s has %d values (%d null), want %d", rec.ColumnName(i), c.Len(), c.NullN(), n)
	}
	return c
}

func recordRows(rec arrow.Record) ([]IndexRow, error) {
	if rec.NumCols() != numIndexCols {
		return nil, badIntake("index: %d columns, want %d", rec.NumCols(), numIndexCols)
	}
	nr := rec.NumRows()
	if nr < 0 || nr > math.MaxInt32 {
		return nil, badIntake("index: %d rows", nr)
	}
	n := int(nr)
	var err error
	topic := column[*array.FixedSizeBinary](rec, colTopicID, n, &err)
	part := column[*array.Int32](rec, colPartition, n, &err)
	rel := column[*array.Int64](rec, colRelOffset, n, &err)
	lod := column[*array.Int32](rec, colLastOffsetDelta, n, &err)
	fts := column[*array.Int64](rec, colFirstTimestamp, n, &err)
	mts := column[*array.Int64](rec, colMaxTimestamp, n, &err)
	pid := column[*array.Int64](rec, colProducerID, n, &err)
	epoch := column[*array.Int16](rec, colProducerEpoch, n, &err)
	bseq := column[*array.Int32](rec, colBaseSequence, n, &err)
	pos := column[*array.Int64](rec, colPosition, n, &err)
	length := column[*array.Int32](rec, colLength, n, &err)
	codec := column[*array.Int8](rec, colCodec, n, &err)
	nrec := column[*array.Int32](rec, colNumRecords, n, &err)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return []IndexRow{}, nil
	}
	// The typed accessors slice the value buffers; check every one really
	// holds n values (Arrow does not for fixed-size binary).
	tb := topic.Data().Buffers()[1]
	if tb == nil || (topic.Data().Offset()+n)*16 > tb.Len() {
		return nil, badIntake("index: short topic_id buffer")
	}
	topicV := tb.Bytes()[topic.Data().Offset()*16:][:n*16]
	var (
		partV, lodV, bseqV, lenV, nrecV = part.Int32Values(), lod.Int32Values(), bseq.Int32Values(), length.Int32Values(), nrec.Int32Values()
		relV, ftsV, mtsV, pidV, posV    = rel.Int64Values(), fts.Int64Values(), mts.Int64Values(), pid.Int64Values(), pos.Int64Values()
		epochV, codecV                  = epoch.Int16Values(), codec.Int8Values()
	)
	if len(partV) != n || len(lodV) != n || len(bseqV) != n || len(lenV) != n || len(nrecV) != n ||
		len(relV) != n || len(ftsV) != n || len(mtsV) != n || len(pidV) != n || len(posV) != n ||
		len(epochV) != n || len(codecV) != n {
		return nil, badIntake("index: short column buffer")
	}
	rows := make([]IndexRow, n)
	for i := range rows {
		r := &rows[i]
		r.TopicID = [16]byte(topicV[16*i:])
		r.Partition = partV[i]
		r.RelOffset = relV[i]
		r.LastOffsetDelta = lodV[i]
		r.FirstTimestamp = ftsV[i]
		r.MaxTimestamp = mtsV[i]
		r.ProducerID = pidV[i]
		r.ProducerEpoch = epochV[i]
		r.BaseSequence = bseqV[i]
		r.Pos = posV[i]
		r.Len = lenV[i]
		r.Codec = Codec(codecV[i])
		r.NumRecords = nrecV[i]
	}
	return rows, nil
}

// checkIndexRows checks the layout invariants of an index (see
// DecodeIntakeIndex).
func checkIndexRows(rows []IndexRow) error {
	end := int64(IntakeHeaderSize) // end of the previous batch
	var rel int64                  // expected rel_offset
	for i := range rows {
		r := &rows[i]
		if i == 0 || r.TopicID != rows[i-1].TopicID || r.Partition != rows[i-1].Partition {
			if i > 0 && compareKey(rows[i-1].TopicID, rows[i-1].Partition, r.TopicID, r.Partition) > 0 {
				return badIntake("index: row %d: rows not sorted by topic and partition", i)
			}
			rel = 0
		}
		switch {
		case r.RelOffset != rel:
			return badIntake("index: row %d: rel_offset %d, want %d", i, r.RelOffset, rel)
		case r.LastOffsetDelta < 0:
			return badIntake("index: row %d: negative last_offset_delta %d", i, r.LastOffsetDelta)
		case r.NumRecords < 0:
			return badIntake("index: row %d: negative num_records %d", i, r.NumRecords)
		case r.Len < 0:
			return badIntake("index: row %d: negative length %d", i, r.Len)
		case r.Pos < end || r.Pos > math.MaxInt64-math.MaxInt32:
			return badIntake("index: row %d: position %d overlaps the previous batch or header (ending at %d)", i, r.Pos, end)
		case !validCodec(r.Codec):
			return badIntake("index: row %d: unknown codec %d", i, r.Codec)
		}
		rel += int64(r.LastOffsetDelta) + 1
		end = r.Pos + int64(r.Len)
	}
	return nil
}

// sliceMessageReader is an ipc.MessageReader over an in-memory IPC stream.
// Unlike ipc.NewMessageReader it checks every length against the input
// before using it, and it does not copy: messages alias b.
type sliceMessageReader struct {
	b    []byte
	msg  *ipc.Message
	refs int64
	n    int // messages read
	eos  bool
}

const ipcContinuation = 0xFFFFFFFF

func (r *sliceMessageReader) Message() (*ipc.Message, error) {
	if r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
	if r.eos {
		return nil, io.EOF
	}
	if len(r.b) < 8 {
		return nil, badIntake("index: truncated IPC message prefix")
	}
	if binary.LittleEndian.Uint32(r.b) != ipcContinuation {
		return nil, badIntake("index: missing IPC continuation marker")
	}
	n := binary.LittleEndian.Uint32(r.b[4:])
	r.b = r.b[8:]
	if n == 0 {
		r.eos = true
		return nil, io.EOF
	}
	if n < 8 || uint64(n) > uint64(len(r.b)) {
		return nil, badIntake("index: IPC message metadata length %d, %d bytes left", n, len(r.b))
	}
	metaBytes := r.b[:n]
	r.b = r.b[n:]
	// Arrow trusts the flatbuffers metadata (vector lengths size its
	// allocations), so check it before Arrow parses it: the first message
	// must be our schema, the next ones record batches.
	var (
		bodyLen int64
		err     error
	)
	if r.n == 0 {
		bodyLen, err = checkSchemaMessage(metaBytes)
	} else {
		bodyLen, err = checkRecordBatchMessage(metaBytes)
	}
	r.n++
	if err != nil {
		return nil, err
	}
	if bodyLen < 0 || bodyLen > int64(len(r.b)) {
		return nil, badIntake("index: IPC message body length %d, %d bytes left", bodyLen, len(r.b))
	}
	body := memory.NewBufferBytes(r.b[:bodyLen])
	r.b = r.b[bodyLen:]
	r.msg = ipc.NewMessage(memory.NewBufferBytes(metaBytes), body)
	return r.msg, nil
}

func (r *sliceMessageReader) Retain() { atomic.AddInt64(&r.refs, 1) }

func (r *sliceMessageReader) Release() {
	if atomic.AddInt64(&r.refs, -1) == 0 && r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
}

// errIndexAlloc is panicked by boundedAllocator; DecodeIntakeIndex recovers.
var errIndexAlloc = errors.New("index decoding exceeds its memory budget")

// boundedAllocator fails (panics) once the bytes it allocated exceed budget.
type boundedAllocator struct {
	mem    memory.Allocator
	budget int64
}

func (a *boundedAllocator) charge(size int) {
	if size < 0 || int64(size) > a.budget {
		panic(errIndexAlloc)
	}
	a.budget -= int64(size)
}

func (a *boundedAllocator) Allocate(size int) []byte {
	a.charge(size)
	return a.mem.Allocate(size)
}

func (a *boundedAllocator) Reallocate(size int, b []byte) []byte {
	a.charge(size)
	return a.mem.Reallocate(size, b)
}

func (a *boundedAllocator) Free(b []byte) { a.mem.Free(b) }

// A minimal bounds-checked flatbuffers reader, used to vet IPC message
// metadata (Arrow's Message.fbs/Schema.fbs) before Arrow decodes it.

var errFlatbuf = badIntake("index: malformed IPC message metadata")

type fbTable struct {
	b     []byte
	pos   int // table start
	vt    int // vtable start
	vtLen int
}

func fbU16(b []byte, at int) (int, bool) {
	if at < 0 || at > len(b)-2 {
		return 0, false
	}
	return int(binary.LittleEndian.Uint16(b[at:])), true
}

func fbU32(b []byte, at int) (uint32, bool) {
	if at < 0 || at > len(b)-4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[at:]), true
}

// fbTableAt returns the table at pos, checking its vtable and inline data
// lie within b.
func fbTableAt(b []byte, pos int) (fbTable, bool) {
	so, ok := fbU32(b, pos)
	if !ok {
		return fbTable{}, false
	}
	vt := pos - int(int32(so))
	vtLen, ok1 := fbU16(b, vt)
	objLen, ok2 := fbU16(b, vt+2)
	if !ok1 || !ok2 || vtLen < 4 || vtLen%2 != 0 || vt+vtLen > len(b) || objLen < 4 || pos+objLen > len(b) {
		return fbTable{}, false
	}
	return fbTable{b: b, pos: pos, vt: vt, vtLen: vtLen}, true
}

// fbRoot returns the root table of flatbuffer b.
func fbRoot(b []byte) (fbTable, bool) {
	off, ok := fbU32(b, 0)
	if !ok {
		return fbTable{}, false
	}
	return fbTableAt(b, int(off))
}

// field returns the position of field slot and whether it is present.
func (t fbTable) field(slot int) (int, bool) {
	vo := 4 + 2*slot
	if vo >= t.vtLen {
		return 0, false
	}
	off, _ := fbU16(t.b, t.vt+vo) // in range: checked by fbTableAt
	if off == 0 {
		return 0, false
	}
	return t.pos + off, true
}

// u8 returns the value of a ubyte field (0 if absent).
func (t fbTable) u8(slot int) (byte, bool) {
	at, ok := t.field(slot)
	if !ok {
		return 0, true
	}
	if at >= len(t.b) {
		return 0, false
	}
	return t.b[at], true
}

// i64 returns the value of a long field (0 if absent).
func (t fbTable) i64(slot int) (int64, bool) {
	at, ok := t.field(slot)
	if !ok {
		return 0, true
	}
	if at > len(t.b)-8 {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(t.b[at:])), true
}

// indirect follows the offset stored at field position at.
func (t fbTable) indirect(at int) (int, bool) {
	off, ok := fbU32(t.b, at)
	if !ok {
		return 0, false
	}
	return at + int(off), true
}

// table returns the sub-table of field slot; present is false if absent.
func (t fbTable) table(slot int) (sub fbTable, present, ok bool) {
	at, present := t.field(slot)
	if !present {
		return fbTable{}, false, true
	}
	p, ok := t.indirect(at)
	if !ok {
		return fbTable{}, true, false
	}
	sub, ok = fbTableAt(t.b, p)
	return sub, true, ok
}

// vector returns the element start and length of vector (or string) field
// slot, checking that n elements of elemSize bytes lie within the buffer.
// An absent vector has length 0.
func (t fbTable) vector(slot, elemSize int) (start, n int, ok bool) {
	at, present := t.field(slot)
	if !present {
		return 0, 0, true
	}
	p, ok := t.indirect(at)
	if !ok {
		return 0, 0, false
	}
	l, ok := fbU32(t.b, p)
	if !ok || uint64(l)*uint64(elemSize) > uint64(len(t.b)-(p+4)) {
		return 0, 0, false
	}
	return p + 4, int(l), true
}

// Arrow flatbuffers enum values and field slots (format/Message.fbs, Schema.fbs).
const (
	fbHeaderSchema      = 1
	fbHeaderRecordBatch = 3
	fbTypeInt           = 2
	fbTypeFixedSizeBin  = 15

	fbMessageHeaderType = 1
	fbMessageHeader     = 2
	fbMessageBodyLength = 3

	fbSchemaFields         = 1
	fbSchemaCustomMetadata = 2
	fbSchemaFeatures       = 3

	fbFieldName           = 0
	fbFieldTypeType       = 2
	fbFieldType           = 3
	fbFieldDictionary     = 4
	fbFieldChildren       = 5
	fbFieldCustomMetadata = 6

	fbRecordBatchNodes       = 1
	fbRecordBatchBuffers     = 2
	fbRecordBatchCompression = 3
	fbRecordBatchVariadic    = 4
)

// messageHeader checks a Message table and returns its header table and
// body length, if its header type is want.
func messageHeader(meta []byte, want byte) (fbTable, int64, bool) {
	m, ok := fbRoot(meta)
	if !ok {
		return fbTable{}, 0, false
	}
	ht, ok1 := m.u8(fbMessageHeaderType)
	bodyLen, ok2 := m.i64(fbMessageBodyLength)
	h, present, ok3 := m.table(fbMessageHeader)
	if !ok1 || !ok2 || !ok3 || !present || ht != want {
		return fbTable{}, 0, false
	}
	return h, bodyLen, true
}

// checkSchemaMessage checks that meta is a Schema message shaped like the
// intake schema: numIndexCols flat fields of integer or fixed-size binary
// type, without dictionaries, children or custom metadata. Arrow then
// compares names, types and nullability.
func checkSchemaMessage(meta []byte) (bodyLen int64, err error) {
	return checkFlatSchemaMessage(meta, numIndexCols, func(tt byte) bool {
		return tt == fbTypeInt || tt == fbTypeFixedSizeBin
	}, errFlatbuf)
}

// checkFlatSchemaMessage checks that meta is a Schema message of exactly
// cols flat fields whose types typeOK accepts, without dictionaries,
// children or custom metadata; bad is the error otherwise.
func checkFlatSchemaMessage(meta []byte, cols int, typeOK func(tt byte) bool, bad error) (bodyLen int64, err error) {
	s, bodyLen, ok := messageHeader(meta, fbHeaderSchema)
	if !ok {
		return 0, bad
	}
	start, n, ok := s.vector(fbSchemaFields, 4)
	if !ok || n != cols {
		return 0, bad
	}
	if _, md, ok := s.vector(fbSchemaCustomMetadata, 4); !ok || md != 0 {
		return 0, bad
	}
	if _, _, ok := s.vector(fbSchemaFeatures, 8); !ok {
		return 0, bad
	}
	for i := 0; i < n; i++ {
		p, ok := s.indirect(start + 4*i)
		if !ok {
			return 0, bad
		}
		f, ok := fbTableAt(meta, p)
		if !ok {
			return 0, bad
		}
		_, _, okName := f.vector(fbFieldName, 1)
		tt, okTT := f.u8(fbFieldTypeType)
		_, typePresent, okType := f.table(fbFieldType)
		_, dictPresent, okDict := f.table(fbFieldDictionary)
		_, nChildren, okChildren := f.vector(fbFieldChildren, 4)
		_, nMD, okMD := f.vector(fbFieldCustomMetadata, 4)
		if !okName || !okTT || !okType || !okDict || !okChildren || !okMD ||
			!typeOK(tt) || !typePresent || dictPresent || nChildren != 0 || nMD != 0 {
			return 0, bad
		}
	}
	return bodyLen, nil
}

// checkRecordBatchMessage checks that meta is an uncompressed RecordBatch
// message whose vectors lie within it.
func checkRecordBatchMessage(meta []byte) (bodyLen int64, err error) {
	rb, bodyLen, ok := messageHeader(meta, fbHeaderRecordBatch)
	if !ok {
		return 0, errFlatbuf
	}
	_, _, okNodes := rb.vector(fbRecordBatchNodes, 16)
	_, _, okBuffers := rb.vector(fbRecordBatchBuffers, 16)
	_, compressed, okComp := rb.table(fbRecordBatchCompression)
	_, _, okVar := rb.vector(fbRecordBatchVariadic, 8)
	if !okNodes || !okBuffers || !okComp || compressed || !okVar {
		return 0, errFlatbuf
	}
	return bodyLen, nil
}
