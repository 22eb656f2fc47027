package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync"
)

// MaxDecompressedBatch bounds what one batch may decompress to in
// DecodeRecords, ValidateRecords and Recompress: far above any sane batch
// (Kafka's message.max.bytes defaults to 1 MiB compressed), low enough that
// a decompression bomb fails instead of exhausting memory.
const MaxDecompressedBatch = 256 << 20

// minRecordSize is the smallest possible encoded record: one byte each for
// length, attributes, timestamp delta, offset delta, key length (-1), value
// length (-1) and header count. It bounds how many records a payload can
// hold, so a lying NumRecords cannot drive a huge allocation.
const minRecordSize = 7

// Header is a record header. Kafka forbids null header keys; values may be
// null (nil).
type Header struct {
	Key   string
	Value []byte
}

// Record is one record of a batch, with offset and timestamp relative to
// the batch's BaseOffset and FirstTimestamp.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte // nil means null
	Headers        []Header
}

// batchPayload returns the records section of a parsed batch, decompressed
// if needed (into a fresh slice; an uncompressed payload is a subslice of b).
func batchPayload(h BatchHeader, b []byte, limit int) ([]byte, error) {
	if len(b) < BatchHeaderSize {
		return nil, fmt.Errorf("%w: batch of %d bytes is shorter than the header", ErrCorrupt, len(b))
	}
	p := b[BatchHeaderSize:]
	c := h.Codec()
	if c == CodecNone {
		return p, nil
	}
	if c > CodecZstd {
		return nil, errUnknownCodec(c)
	}
	out, err := Decompress(c, p, limit)
	if err != nil {
		// A payload that does not decompress is corrupt data, whichever
		// codec-level reason (including the size limit) caused it.
		return nil, fmt.Errorf("%w: %s payload: %w", ErrCorrupt, c, err)
	}
	return out, nil
}

// DecodeRecords decompresses (if needed) and decodes the records of the
// batch b whose header h came from ParseBatch. The count must equal
// h.NumRecords and the records must exactly fill the payload; any overrun,
// underrun or bad field gives an error wrapping ErrInvalidRecord, a payload
// that fails to decompress (or exceeds MaxDecompressedBatch) ErrCorrupt.
//
// Keys, values and header values alias b (uncompressed) or one shared
// decompression buffer: they are not copied, so b must not be modified while
// the records are in use.
func DecodeRecords(h BatchHeader, b []byte) ([]Record, error) {
	return decodeRecordsLimit(h, b, MaxDecompressedBatch)
}

func decodeRecordsLimit(h BatchHeader, b []byte, limit int) ([]Record, error) {
	p, err := batchPayload(h, b, limit)
	if err != nil {
		return nil, err
	}
	if err := checkRecordCount(h.NumRecords, len(p)); err != nil {
		return nil, err
	}
	recs := make([]Record, h.NumRecords)
	var ha headerArena
	for i := range recs {
		n, err := decodeRecord(p, &recs[i], &ha)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		p = p[n:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left after %d records", ErrInvalidRecord, len(p), h.NumRecords)
	}
	return recs, nil
}

// ValidateRecords checks what DecodeRecords checks without materialising
// the records (no allocation for uncompressed batches beyond errors).
func ValidateRecords(h BatchHeader, b []byte) error {
	return validateRecordsLimit(h, b, MaxDecompressedBatch)
}

func validateRecordsLimit(h BatchHeader, b []byte, limit int) error {
	p, err := batchPayload(h, b, limit)
	if err != nil {
		return err
	}
	return walkRecords(h.NumRecords, p)
}

func walkRecords(n int32, p []byte) error {
	_, err := walkCheckedRecords(n, p, false, 0, nil)
	return err
}

// walkCheckedRecords decodes the n records of payload p without storing
// them and returns their largest timestamp (-1 if none is larger, as
// Kafka's NO_TIMESTAMP). With inOrder, record i must have offset delta i.
// visit, if not nil, gets each record's index and timestamp
// (firstTimestamp plus its delta).
func walkCheckedRecords(n int32, p []byte, inOrder bool, firstTimestamp int64, visit func(i int32, ts int64)) (int64, error) {
	maxTS := int64(-1)
	if err := checkRecordCount(n, len(p)); err != nil {
		return maxTS, err
	}
	var r Record
	for i := int32(0); i < n; i++ {
		m, err := decodeRecord(p, &r, nil)
		if err != nil {
			return maxTS, fmt.Errorf("record %d: %w", i, err)
		}
		if inOrder && r.OffsetDelta != i {
			return maxTS, fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, r.OffsetDelta)
		}
		ts := firstTimestamp + r.TimestampDelta
		maxTS = max(maxTS, ts)
		if visit != nil {
			visit(i, ts)
		}
		p = p[m:]
	}
	if len(p) != 0 {
		return maxTS, fmt.Errorf("%w: %d bytes left after %d records", ErrInvalidRecord, len(p), n)
	}
	return maxTS, nil
}

// payloadPool holds the buffers CheckRecords decompresses into. Buffers
// that grew past maxPooledPayload (a large batch, or a bomb caught at the
// limit) are dropped rather than kept alive by the pool.
var payloadPool = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledPayload = 8 << 20

// CheckRecords validates a producer's batch b, whose header h came from
// ParseBatch, as Kafka's log validator reads it: the payload decompresses
// (into a pooled buffer, released before returning) to at most limit
// bytes, else ErrCorrupt; it holds exactly h.NumRecords records that
// exactly fill it; every record's length prefix matches its fields; key,
// value and header lengths, header counts and header keys are valid; and
// record i has offset delta i. Kafka rewrites a compressed batch whose
// inner offsets are wrong; Sluice stores the bytes as produced, so it
// refuses such a batch rather than serve wrong offsets. Structural errors
// wrap ErrInvalidRecord.
//
// visit, if not nil, is called with each record's index and timestamp
// (FirstTimestamp plus the record's delta), in order, for the caller's
// per-record checks. A structural error found after some visits still
// makes CheckRecords fail: as in Kafka, an undecodable batch is refused
// as a whole whatever its earlier records held.
//
// It returns the largest record timestamp (-1 if none is larger), which
// Kafka writes into the batch's MaxTimestamp under CreateTime whatever the
// producer put there. An uncompressed batch is walked in place; nothing is
// allocated unless the batch is refused.
func CheckRecords(h BatchHeader, b []byte, limit int, visit func(i int32, ts int64)) (maxTimestamp int64, err error) {
	if len(b) < BatchHeaderSize {
		return -1, fmt.Errorf("%w: batch of %d bytes is shorter than the header", ErrCorrupt, len(b))
	}
	c := h.Codec()
	if c == CodecNone {
		return walkCheckedRecords(h.NumRecords, b[BatchHeaderSize:], true, h.FirstTimestamp, visit)
	}
	if c > CodecZstd {
		return -1, errUnknownCodec(c)
	}
	maxTimestamp = -1
	bp := payloadPool.Get().(*[]byte)
	p, err := decompressInto(c, *bp, b[BatchHeaderSize:], limit)
	if err == nil {
		maxTimestamp, err = walkCheckedRecords(h.NumRecords, p, true, h.FirstTimestamp, visit)
	} else {
		// A payload that does not decompress is corrupt data, whichever
		// codec-level reason (including the size limit) caused it.
		err = fmt.Errorf("%w: %s payload: %w", ErrCorrupt, c, err)
	}
	if cap(p) > cap(*bp) && cap(p) <= maxPooledPayload {
		*bp = p[:0]
	}
	payloadPool.Put(bp)
	return maxTimestamp, err
}

func checkRecordCount(n int32, payload int) error {
	if n < 0 {
		return fmt.Errorf("%w: negative record count %d", ErrInvalidRecord, n)
	}
	if int64(n) > int64(payload)/minRecordSize {
		return fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrInvalidRecord, n, payload)
	}
	return nil
}

// decodeRecord decodes the record at the start of p into r and returns its
// encoded size. Headers are stored through ha; with a nil arena they are
// validated but not stored (r.Headers stays nil), which lets ValidateRecords
// avoid allocation.
func decodeRecord(p []byte, r *Record, ha *headerArena) (int, error) {
	length, n := binary.Varint(p)
	if n <= 0 || length < 0 || length > math.MaxInt32 {
		return 0, fmt.Errorf("%w: bad record length", ErrInvalidRecord)
	}
	if length > int64(len(p)-n) {
		return 0, fmt.Errorf("%w: record length %d exceeds %d remaining bytes", ErrInvalidRecord, length, len(p)-n)
	}
	total := n + int(length)
	// Fields are parsed from exactly the declared record body, so a field
	// that runs past it is an error rather than a read of the next record.
	body := p[n:total:total]
	if len(body) < 1 {
		return 0, fmt.Errorf("%w: empty record", ErrInvalidRecord)
	}
	r.Attributes = int8(body[0])
	body = body[1:]

	var err error
	if r.TimestampDelta, body, err = readVarlong(body); err != nil {
		return 0, err
	}
	var od int64
	if od, body, err = readVarint32(body); err != nil {
		return 0, err
	}
	r.OffsetDelta = int32(od)
	if r.Key, body, err = readNullableBytes(body); err != nil {
		return 0, err
	}
	if r.Value, body, err = readNullableBytes(body); err != nil {
		return 0, err
	}
	var nh int64
	if nh, body, err = readVarint32(body); err != nil {
		return 0, err
	}
	// Each header takes at least two bytes (key and value lengths).
	if nh < 0 || nh > int64(len(body)/2) {
		return 0, fmt.Errorf("%w: invalid header count %d", ErrInvalidRecord, nh)
	}
	r.Headers = nil
	if ha != nil && nh > 0 {
		r.Headers = ha.take(int(nh))
	}
	for i := int64(0); i < nh; i++ {
		var kl int64
		if kl, body, err = readVarint32(body); err != nil {
			return 0, err
		}
		if kl < 0 || kl > int64(len(body)) {
			return 0, fmt.Errorf("%w: invalid header key length %d", ErrInvalidRecord, kl)
		}
		key := body[:kl]
		body = body[kl:]
		var v []byte
		if v, body, err = readNullableBytes(body); err != nil {
			return 0, err
		}
		if ha != nil {
			r.Headers[i] = Header{Key: ha.key(int(i), key), Value: v}
		}
	}
	if len(body) != 0 {
		return 0, fmt.Errorf("%w: %d unread bytes in record body", ErrInvalidRecord, len(body))
	}
	return total, nil
}

// headerArena cuts the per-record header slices out of shared chunks and
// reuses header key strings that repeat at the same position as in the
// previous record (producers almost always attach the same header keys to
// every record), turning two allocations per record into a few per batch.
type headerArena struct {
	chunk []Header
	prev  []string
}

func (a *headerArena) take(n int) []Header {
	if len(a.chunk) < n {
		a.chunk = make([]Header, max(n, 64))
	}
	hs := a.chunk[:n:n]
	a.chunk = a.chunk[n:]
	return hs
}

func (a *headerArena) key(i int, b []byte) string {
	if i < len(a.prev) && a.prev[i] == string(b) { // compiled without allocating
		return a.prev[i]
	}
	s := string(b)
	if i < len(a.prev) {
		a.prev[i] = s
	} else if i == len(a.prev) && i < 16 {
		a.prev = append(a.prev, s)
	}
	return s
}

// oneByteVarint decodes b[0] as a whole zigzag varint if it is one (the
// common case for lengths, deltas and counts of small records), sparing
// the general loop.
func oneByteVarint(b []byte) (int64, bool) {
	if len(b) == 0 || b[0] >= 0x80 {
		return 0, false
	}
	u := int64(b[0])
	return (u >> 1) ^ -(u & 1), true
}

func readVarlong(b []byte) (int64, []byte, error) {
	if v, ok := oneByteVarint(b); ok {
		return v, b[1:], nil
	}
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad varlong", ErrInvalidRecord)
	}
	return v, b[n:], nil
}

// readVarint32 reads a varint that, as in Kafka, must fit an int32.
func readVarint32(b []byte) (int64, []byte, error) {
	if v, ok := oneByteVarint(b); ok {
		return v, b[1:], nil
	}
	v, n := binary.Varint(b)
	if n <= 0 || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, nil, fmt.Errorf("%w: bad varint", ErrInvalidRecord)
	}
	return v, b[n:], nil
}

// readNullableBytes reads a varint length (-1 = null) and that many bytes.
// The result's capacity is clipped so an append by the caller cannot
// overwrite the following bytes of the batch.
func readNullableBytes(b []byte) ([]byte, []byte, error) {
	l, b, err := readVarint32(b)
	if err != nil {
		return nil, nil, err
	}
	if l == -1 {
		return nil, b, nil
	}
	if l < 0 || l > int64(len(b)) {
		return nil, nil, fmt.Errorf("%w: invalid length %d with %d bytes remaining", ErrInvalidRecord, l, len(b))
	}
	return b[:l:l], b[l:], nil
}

// varintLen is the size of v zigzag-varint encoded.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

func nullableBytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// recordBodyLen is the encoded size of r after its length prefix.
func recordBodyLen(r *Record) int {
	n := 1 + varintLen(r.TimestampDelta) + varintLen(int64(r.OffsetDelta)) +
		nullableBytesLen(r.Key) + nullableBytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		n += varintLen(int64(len(h.Key))) + len(h.Key) + nullableBytesLen(h.Value)
	}
	return n
}

func appendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// appendRecords appends the wire encoding of records to dst.
func appendRecords(dst []byte, records []Record) ([]byte, error) {
	for i := range records {
		r := &records[i]
		body := recordBodyLen(r)
		if body > math.MaxInt32 {
			return dst, fmt.Errorf("%w: record %d too large", ErrInvalidRecord, i)
		}
		dst = binary.AppendVarint(dst, int64(body))
		dst = append(dst, byte(r.Attributes))
		dst = binary.AppendVarint(dst, r.TimestampDelta)
		dst = binary.AppendVarint(dst, int64(r.OffsetDelta))
		dst = appendNullableBytes(dst, r.Key)
		dst = appendNullableBytes(dst, r.Value)
		dst = binary.AppendVarint(dst, int64(len(r.Headers)))
		for j := range r.Headers {
			h := &r.Headers[j]
			dst = binary.AppendVarint(dst, int64(len(h.Key)))
			dst = append(dst, h.Key...)
			dst = appendNullableBytes(dst, h.Value)
		}
	}
	return dst, nil
}

// recordsLen is the encoded size of records, for sizing buffers.
func recordsLen(records []Record) int {
	n := 0
	for i := range records {
		b := recordBodyLen(&records[i])
		n += varintLen(int64(b)) + b
	}
	return n
}

// scratchPool holds buffers for records that are about to be compressed,
// so that AppendBatch does not allocate a temporary per call.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// AppendBatch encodes a full magic-2 batch and appends it to dst. Header
// fields come from h, except Magic (always 2), Length, CRC, NumRecords and
// the codec bits of Attributes, which are computed from records and codec.
// LastOffsetDelta is taken from h as given: the caller owns offset
// assignment (normally len(records)-1 with OffsetDelta == index).
func AppendBatch(dst []byte, h BatchHeader, records []Record, codec Codec) ([]byte, error) {
	if codec < CodecNone || codec > CodecZstd {
		return dst, errUnknownCodec(codec)
	}
	if len(records) > math.MaxInt32 {
		return dst, fmt.Errorf("%w: too many records", ErrInvalidRecord)
	}
	h.NumRecords = int32(len(records))
	size := recordsLen(records)
	if codec == CodecNone {
		start := len(dst)
		if cap(dst)-len(dst) < BatchHeaderSize+size {
			grown := make([]byte, len(dst), len(dst)+BatchHeaderSize+size)
			copy(grown, dst)
			dst = grown
		}
		dst = appendBatchHeader(dst, h, codec)
		dst, err := appendRecords(dst, records)
		if err != nil {
			return dst[:start], err
		}
		return finishBatch(dst, start)
	}
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	raw, err := appendRecords((*sp)[:0], records)
	*sp = raw[:0]
	if err != nil {
		return dst, err
	}
	return appendCompressedBatch(dst, h, raw, codec)
}

// appendCompressedBatch writes a batch whose header comes from h (with
// NumRecords already set) and whose payload is raw compressed with codec.
func appendCompressedBatch(dst []byte, h BatchHeader, raw []byte, codec Codec) ([]byte, error) {
	start := len(dst)
	dst = appendBatchHeader(dst, h, codec)
	dst, err := Compress(codec, dst, raw)
	if err != nil {
		return dst[:start], err
	}
	return finishBatch(dst, start)
}

func appendBatchHeader(dst []byte, h BatchHeader, codec Codec) []byte {
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(h.BaseOffset))
	dst = be.AppendUint32(dst, 0) // Length, set by finishBatch
	dst = be.AppendUint32(dst, uint32(h.PartitionLeaderEpoch))
	dst = append(dst, 2)
	dst = be.AppendUint32(dst, 0) // CRC, set by finishBatch
	dst = be.AppendUint16(dst, uint16(h.Attributes&^attrCodecMask|int16(codec)))
	dst = be.AppendUint32(dst, uint32(h.LastOffsetDelta))
	dst = be.AppendUint64(dst, uint64(h.FirstTimestamp))
	dst = be.AppendUint64(dst, uint64(h.MaxTimestamp))
	dst = be.AppendUint64(dst, uint64(h.ProducerID))
	dst = be.AppendUint16(dst, uint16(h.ProducerEpoch))
	dst = be.AppendUint32(dst, uint32(h.BaseSequence))
	return be.AppendUint32(dst, uint32(h.NumRecords))
}

// finishBatch fills in Length and CRC of the batch starting at dst[start:].
func finishBatch(dst []byte, start int) ([]byte, error) {
	b := dst[start:]
	if len(b)-12 > math.MaxInt32 {
		return dst[:start], fmt.Errorf("%w: batch of %d bytes too large", ErrInvalidRecord, len(b))
	}
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-12))
	fixCRC(b)
	return dst, nil
}

// Recompress re-encodes batch b with another codec, keeping every header
// field (base offset, leader epoch, producer id/epoch/sequence, timestamps,
// timestamp type, transactional/control bits) and the records identical;
// it returns a new slice with a correct Length and CRC. The records are
// validated but not re-encoded: their bytes are carried over as they are,
// so even non-canonical varints survive unchanged.
func Recompress(b []byte, to Codec) ([]byte, error) {
	return recompressLimit(b, to, MaxDecompressedBatch)
}

func recompressLimit(b []byte, to Codec, limit int) ([]byte, error) {
	if to < CodecNone || to > CodecZstd {
		return nil, errUnknownCodec(to)
	}
	h, err := ParseBatch(b)
	if err != nil {
		return nil, err
	}
	raw, err := batchPayload(h, b, limit)
	if err != nil {
		return nil, err
	}
	if err := walkRecords(h.NumRecords, raw); err != nil {
		return nil, err
	}
	if h.Codec() == to {
		return append([]byte(nil), b...), nil
	}
	return appendCompressedBatch(make([]byte, 0, BatchHeaderSize+len(raw)/2+64), h, raw, to)
}
