// Segment catalogs.
//
// The archive copies a partition's intake runs into per-partition segment
// objects. A segment is an intake object (intake.go) holding batches of
// one partition only, so a batch's rel_offset in it is its offset minus
// the segment's base offset, and its batches are the bytes
// [IntakeHeaderSize, IndexPos). A partition's segments are listed in one
// segment catalog object, which the partition's archive index entry in the
// metadata store points to (sinks/meta/lifecycle.go). This file defines the
// catalog's layout (format v1):
//
//	+--------+------------------+--------+
//	| header | Arrow IPC index  | footer |
//	+--------+------------------+--------+
//	0        8                  8+IndexLen
//
//	header: 8 bytes, magic "SLUICAT\x01" (format v1)
//	footer: 24 bytes, the intake footer (all integers little-endian):
//	        index position u64 (always 8) | index length u64 |
//	        CRC-32C of index u32 | magic "SLCF"
//
// The header magic tells a catalog from an intake object; the footers are
// alike so that one parser serves both.
//
// Index: an Apache Arrow IPC *stream* (schema message, exactly one record
// batch message, end-of-stream marker; uncompressed, no dictionaries, no
// nulls) with one row per segment, in offset order. Columns, all
// non-nullable:
//
//	base_offset   int64  first offset held by the segment
//	last_offset   int64  last offset held by the segment (inclusive)
//	max_timestamp int64  largest batch max timestamp in the segment
//	key           utf8   the segment's object key (1 to MaxSegmentKeyLen bytes)
//	size          int64  the whole segment object's size
//	index_pos     int64  the segment's intake index position ...
//	index_len     int64  ... and length; size = index_pos+index_len+IntakeFooterSize
//
// Segments are contiguous: each row's base_offset is the previous row's
// last_offset+1, base_offset >= 0, last_offset >= base_offset, and every
// segment holds batch bytes (index_pos > IntakeHeaderSize). The footer's
// CRC-32C covers exactly the index bytes. A catalog is written once and
// never changed; the archive writes a new catalog (under a new key) for
// every change of the segment list.
//
// (This is a file comment, deliberately detached from the package clause;
// the package documentation lives in doc.go.)

package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// CatalogHeaderSize is the size of a segment catalog's header (the magic).
const CatalogHeaderSize = 8

// CatalogFooterSize is the size of a segment catalog's footer.
const CatalogFooterSize = IntakeFooterSize

// MaxSegmentKeyLen bounds a segment's object key (S3's limit).
const MaxSegmentKeyLen = 1024

// catalogMagic opens every segment catalog (format v1).
const catalogMagic = "SLUICAT\x01"

// ErrBadCatalog reports a corrupt segment catalog: bad magic, footer or
// CRC, undecodable or inconsistent index. Errors returned by DecodeCatalog
// wrap it; test with errors.Is.
var ErrBadCatalog = errors.New("codec: bad segment catalog")

func badCatalog(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadCatalog}, args...)...)
}

// SegmentRef describes one segment object of a partition's archive.
type SegmentRef struct {
	// BaseOffset and LastOffset bound the offsets the segment holds.
	BaseOffset, LastOffset int64
	// MaxTimestamp is the largest batch max timestamp in the segment.
	MaxTimestamp int64
	// Key is the segment's object key.
	Key string
	// Size is the whole object's size; IndexPos and IndexLen locate its
	// intake index (its batches are [IntakeHeaderSize, IndexPos)).
	Size, IndexPos, IndexLen int64
}

// Bytes is the segment's batch bytes: IndexPos - IntakeHeaderSize.
func (s *SegmentRef) Bytes() int64 { return s.IndexPos - IntakeHeaderSize }

// Catalog is a decoded segment catalog. It is immutable once decoded and
// safe for concurrent readers.
type Catalog struct {
	Segments []SegmentRef // in offset order, contiguous
}

// Find returns the index of the first segment with LastOffset >= offset,
// len(c.Segments) if none. It uses binary search.
func (c *Catalog) Find(offset int64) int {
	lo, hi := 0, len(c.Segments)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.Segments[m].LastOffset < offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// FindTimestamp returns the index of the first segment with MaxTimestamp
// >= ts, len(c.Segments) if none. Timestamps are not monotonic across
// segments, so it scans.
func (c *Catalog) FindTimestamp(ts int64) int {
	for i := range c.Segments {
		if c.Segments[i].MaxTimestamp >= ts {
			return i
		}
	}
	return len(c.Segments)
}

// SizeBytes estimates the memory held by the decoded catalog, for a
// bounded cache.
func (c *Catalog) SizeBytes() int64 {
	n := int64(unsafe.Sizeof(*c)) + int64(cap(c.Segments))*int64(unsafe.Sizeof(SegmentRef{}))
	for i := range c.Segments {
		n += int64(len(c.Segments[i].Key))
	}
	return n
}

// checkSegments checks the invariants of a catalog's rows (see the file
// comment). Errors wrap ErrBadCatalog.
func checkSegments(segs []SegmentRef) error {
	for i := range segs {
		s := &segs[i]
		switch {
		case s.BaseOffset < 0 || s.LastOffset < s.BaseOffset:
			return badCatalog("segment %d: offsets [%d, %d]", i, s.BaseOffset, s.LastOffset)
		case i > 0 && s.BaseOffset != segs[i-1].LastOffset+1:
			return badCatalog("segment %d: base offset %d does not follow %d", i, s.BaseOffset, segs[i-1].LastOffset)
		case s.Key == "" || len(s.Key) > MaxSegmentKeyLen || !utf8.ValidString(s.Key):
			return badCatalog("segment %d: bad key (%d bytes)", i, len(s.Key))
		case s.IndexPos <= IntakeHeaderSize || s.IndexLen < 0 || s.IndexPos > math.MaxInt64/4 || s.IndexLen > math.MaxInt64/4:
			return badCatalog("segment %d: index at %d, %d bytes", i, s.IndexPos, s.IndexLen)
		case s.Size != s.IndexPos+s.IndexLen+IntakeFooterSize:
			return badCatalog("segment %d: size %d, want index position %d + length %d + footer", i, s.Size, s.IndexPos, s.IndexLen)
		}
	}
	return nil
}

// Catalog columns, in schema order.
const (
	catBaseOffset = iota
	catLastOffset
	catMaxTimestamp
	catKey
	catSize
	catIndexPos
	catIndexLen
	numCatalogCols
)

// catalogSchema is the schema of a v1 segment catalog's index.
var catalogSchema = arrow.NewSchema([]arrow.Field{
	catBaseOffset:   {Name: "base_offset", Type: arrow.PrimitiveTypes.Int64},
	catLastOffset:   {Name: "last_offset", Type: arrow.PrimitiveTypes.Int64},
	catMaxTimestamp: {Name: "max_timestamp", Type: arrow.PrimitiveTypes.Int64},
	catKey:          {Name: "key", Type: arrow.BinaryTypes.String},
	catSize:         {Name: "size", Type: arrow.PrimitiveTypes.Int64},
	catIndexPos:     {Name: "index_pos", Type: arrow.PrimitiveTypes.Int64},
	catIndexLen:     {Name: "index_len", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// EncodeCatalog lays out the whole catalog object listing segs. It fails
// (wrapping ErrBadCatalog) if segs are not in offset order and contiguous
// or a segment is malformed (see the file comment).
func EncodeCatalog(segs []SegmentRef) ([]byte, error) {
	if err := checkSegments(segs); err != nil {
		return nil, err
	}
	return encodeCatalog(segs)
}

// encodeCatalog encodes segs without checking them (tests use it to build
// inconsistent catalogs).
func encodeCatalog(segs []SegmentRef) ([]byte, error) {
	n := len(segs)
	var keyBytes int
	for i := range segs {
		keyBytes += len(segs[i].Key)
	}
	if keyBytes > math.MaxInt32 {
		return nil, fmt.Errorf("codec: catalog: %d key bytes is too many", keyBytes)
	}
	i64 := func(f func(*SegmentRef) int64) arrow.Array {
		v := make([]int64, n)
		for i := range segs {
			v[i] = f(&segs[i])
		}
		return wrapColumn(arrow.PrimitiveTypes.Int64, n, arrow.Int64Traits.CastToBytes(v))
	}
	offsets := make([]int32, n+1)
	keys := make([]byte, 0, keyBytes)
	for i := range segs {
		keys = append(keys, segs[i].Key...)
		offsets[i+1] = int32(len(keys))
	}
	kd := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{
		nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offsets)), memory.NewBufferBytes(keys),
	}, nil, 0, 0)
	keyCol := array.MakeFromData(kd)
	kd.Release()

	cols := [numCatalogCols]arrow.Array{
		catBaseOffset:   i64(func(s *SegmentRef) int64 { return s.BaseOffset }),
		catLastOffset:   i64(func(s *SegmentRef) int64 { return s.LastOffset }),
		catMaxTimestamp: i64(func(s *SegmentRef) int64 { return s.MaxTimestamp }),
		catKey:          keyCol,
		catSize:         i64(func(s *SegmentRef) int64 { return s.Size }),
		catIndexPos:     i64(func(s *SegmentRef) int64 { return s.IndexPos }),
		catIndexLen:     i64(func(s *SegmentRef) int64 { return s.IndexLen }),
	}
	rec := array.NewRecord(catalogSchema, cols[:], int64(n))
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()

	var out bytes.Buffer
	out.Grow(CatalogHeaderSize + 1024 + n*(6*8+4) + keyBytes + CatalogFooterSize)
	out.WriteString(catalogMagic)
	w := ipc.NewWriter(&out, ipc.WithSchema(catalogSchema), ipc.WithAllocator(memory.DefaultAllocator))
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, fmt.Errorf("codec: catalog: encoding index: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("codec: catalog: encoding index: %w", err)
	}
	indexLen := int64(out.Len() - CatalogHeaderSize)
	var footer [CatalogFooterSize]byte
	putIntakeFooter(footer[:], CatalogHeaderSize, indexLen, IntakeIndexCRC(out.Bytes()[CatalogHeaderSize:]))
	out.Write(footer[:])
	return out.Bytes(), nil
}

// DecodeCatalog checks and decodes a whole catalog object: header magic,
// footer, index CRC, the Arrow IPC index and the segment invariants. Any
// failure wraps ErrBadCatalog. It never panics, and garbage cannot make it
// allocate more than a few times len(data): the Arrow messages are vetted
// before Arrow parses them and its allocations are bounded, as for
// DecodeIntakeIndex. The result does not alias data.
func DecodeCatalog(data []byte) (c *Catalog, err error) {
	if len(data) < CatalogHeaderSize+CatalogFooterSize {
		return nil, badCatalog("object: %d bytes is too short", len(data))
	}
	if string(data[:CatalogHeaderSize]) != catalogMagic {
		return nil, badCatalog("object: bad magic %q", data[:CatalogHeaderSize])
	}
	indexPos, indexLen, crc, err := ParseIntakeFooter(data)
	if err != nil {
		return nil, badCatalog("%s", intakeReason(err))
	}
	if indexPos != CatalogHeaderSize || indexLen != int64(len(data)-CatalogHeaderSize-CatalogFooterSize) {
		return nil, badCatalog("footer: index [%d,+%d) in a %d-byte object", indexPos, indexLen, len(data))
	}
	index := data[CatalogHeaderSize : CatalogHeaderSize+indexLen]
	if got := IntakeIndexCRC(index); got != crc {
		return nil, badCatalog("index: CRC-32C %#08x, want %#08x", got, crc)
	}
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, badCatalog("index: decoding: %v", p)
		}
	}()
	segs, err := decodeCatalogRows(index)
	if err != nil {
		if errors.Is(err, ErrBadCatalog) {
			return nil, err
		}
		return nil, badCatalog("index: %s", intakeReason(err))
	}
	if err := checkSegments(segs); err != nil {
		return nil, err
	}
	return &Catalog{Segments: segs}, nil
}

// intakeReason is the message of an error from the shared intake helpers,
// without their ErrBadIntake prefix (a catalog error is not an intake one).
func intakeReason(err error) string {
	return strings.TrimPrefix(err.Error(), ErrBadIntake.Error()+": ")
}

func decodeCatalogRows(b []byte) ([]SegmentRef, error) {
	mr, err := newCatalogMessageReader(b)
	if err != nil {
		return nil, err
	}
	return readOneRecord(mr, len(b), catalogSchema, catalogRecordRows, badCatalog,
		func() (bool, int) { return mr.rest.eos, len(mr.rest.b) })
}

// catColumn is column for catalogs.
func catColumn[T arrow.Array](rec arrow.Record, i, n int, err *error) T {
	return checkedColumn[T](rec, i, n, err, badCatalog)
}

func catalogRecordRows(rec arrow.Record) ([]SegmentRef, error) {
	if rec.NumCols() != numCatalogCols {
		return nil, badCatalog("index: %d columns, want %d", rec.NumCols(), numCatalogCols)
	}
	nr := rec.NumRows()
	if nr < 0 || nr > math.MaxInt32 {
		return nil, badCatalog("index: %d rows", nr)
	}
	n := int(nr)
	var err error
	var ints [numCatalogCols][]int64
	for _, i := range []int{catBaseOffset, catLastOffset, catMaxTimestamp, catSize, catIndexPos, catIndexLen} {
		if c := catColumn[*array.Int64](rec, i, n, &err); err == nil {
			ints[i] = c.Int64Values()
			if len(ints[i]) != n {
				return nil, badCatalog("index: short %s buffer", catalogSchema.Field(i).Name)
			}
		}
	}
	key := catColumn[*array.String](rec, catKey, n, &err)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return []SegmentRef{}, nil
	}
	// Check the key offsets against the value buffer ourselves rather than
	// trusting Arrow's accessors.
	bufs := key.Data().Buffers()
	if len(bufs) != 3 || bufs[1] == nil || bufs[2] == nil {
		return nil, badCatalog("index: key column without offsets or values")
	}
	ob := bufs[1].Bytes()
	off := key.Data().Offset()
	if off < 0 || (off+n+1)*4 > len(ob) {
		return nil, badCatalog("index: short key offsets buffer")
	}
	offsets := arrow.Int32Traits.CastFromBytes(ob[off*4 : (off+n+1)*4])
	values := bufs[2].Bytes()
	lo, hi := int(offsets[0]), int(offsets[n])
	if lo < 0 || hi < lo || hi > len(values) {
		return nil, badCatalog("index: key offsets [%d, %d) outside %d value bytes", lo, hi, len(values))
	}
	// One string for every key: the segments' keys are substrings of it.
	all := string(values[lo:hi])
	segs := make([]SegmentRef, n)
	for i := range segs {
		a, z := int(offsets[i])-lo, int(offsets[i+1])-lo
		if a < 0 || z < a || z > len(all) {
			return nil, badCatalog("index: row %d: key offsets [%d, %d) out of order", i, a, z)
		}
		segs[i] = SegmentRef{
			BaseOffset:   ints[catBaseOffset][i],
			LastOffset:   ints[catLastOffset][i],
			MaxTimestamp: ints[catMaxTimestamp][i],
			Key:          all[a:z],
			Size:         ints[catSize][i],
			IndexPos:     ints[catIndexPos][i],
			IndexLen:     ints[catIndexLen][i],
		}
	}
	return segs, nil
}

// catalogMessageReader is an ipc.MessageReader over a catalog's IPC
// stream. The schema message is framed and vetted here (its shape differs
// from the intake index's); the record batch messages and end-of-stream
// marker that follow go through the intake index's sliceMessageReader,
// which vets them the same way for both formats.
type catalogMessageReader struct {
	schema *ipc.Message // returned by the first Message call
	held   *ipc.Message // the schema message once returned, until the next call
	rest   *sliceMessageReader
	refs   int64
}

func newCatalogMessageReader(b []byte) (*catalogMessageReader, error) {
	if len(b) < 8 {
		return nil, badCatalog("index: truncated IPC message prefix")
	}
	if binary.LittleEndian.Uint32(b) != ipcContinuation {
		return nil, badCatalog("index: missing IPC continuation marker")
	}
	n := binary.LittleEndian.Uint32(b[4:])
	b = b[8:]
	if n < 8 || uint64(n) > uint64(len(b)) {
		return nil, badCatalog("index: IPC schema metadata length %d, %d bytes left", n, len(b))
	}
	metaBytes := b[:n]
	b = b[n:]
	bodyLen, err := checkCatalogSchemaMessage(metaBytes)
	if err != nil {
		return nil, err
	}
	if bodyLen != 0 {
		return nil, badCatalog("index: IPC schema message with a %d-byte body", bodyLen)
	}
	return &catalogMessageReader{
		schema: ipc.NewMessage(memory.NewBufferBytes(metaBytes), memory.NewBufferBytes(nil)),
		// n: 1, the schema was read: every further message must be a
		// record batch.
		rest: &sliceMessageReader{b: b, refs: 1, n: 1},
		refs: 1,
	}, nil
}

func (r *catalogMessageReader) Message() (*ipc.Message, error) {
	if r.held != nil {
		r.held.Release()
		r.held = nil
	}
	if r.schema != nil {
		r.held, r.schema = r.schema, nil
		return r.held, nil
	}
	if r.rest == nil {
		return nil, io.EOF
	}
	return r.rest.Message()
}

func (r *catalogMessageReader) Retain() { atomic.AddInt64(&r.refs, 1) }

func (r *catalogMessageReader) Release() {
	if atomic.AddInt64(&r.refs, -1) != 0 {
		return
	}
	for _, m := range []*ipc.Message{r.held, r.schema} {
		if m != nil {
			m.Release()
		}
	}
	r.held, r.schema = nil, nil
	r.rest.Release()
}

var errCatalogSchema = badCatalog("index: malformed IPC schema metadata")

// fbTypeUtf8 is Arrow's Type union value for Utf8 (format/Schema.fbs).
const fbTypeUtf8 = 5

// checkCatalogSchemaMessage checks that meta is a Schema message shaped
// like the catalog schema: numCatalogCols flat fields of integer or utf8
// type, without dictionaries, children or custom metadata. Arrow then
// compares names, types and nullability with catalogSchema.
func checkCatalogSchemaMessage(meta []byte) (bodyLen int64, err error) {
	return checkFlatSchemaMessage(meta, numCatalogCols, func(tt byte) bool {
		return tt == fbTypeInt || tt == fbTypeUtf8
	}, errCatalogSchema)
}
