package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// RecordBatch v2 (magic 2), the only on-disk/on-wire format Sluice accepts.
// All integers are big-endian. Offsets are from the start of the batch.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    BaseOffset (int64)   @0                    |
//	|                                                               |
//	+---------------------------------------------------------------+
//	|                    Length (int32)       @8                    |  bytes after this field
//	+---------------------------------------------------------------+
//	|                PartitionLeaderEpoch (int32) @12               |
//	+---------------+-----------------------------------------------+
//	| Magic=2 @16   |            CRC (uint32) @17 ...               |
//	+---------------+---------------+-------------------------------+
//	|  ... CRC      |   Attributes (int16) @21      |  LastOffset-  |
//	+---------------+-------------------------------+---------------+
//	|  Delta (int32) @23                            | FirstTimestamp|
//	+-----------------------------------------------+               |
//	|                 (int64) @27                                   |
//	+               +-----------------------------------------------+
//	|               |        MaxTimestamp (int64) @35               |
//	+---------------+                               +---------------+
//	|                                               | ProducerID    |
//	+-----------------------------------------------+               |
//	|                 (int64) @43                                   |
//	+               +-------------------------------+---------------+
//	|               |  ProducerEpoch (int16) @51    | BaseSequence  |
//	+---------------+-------------------------------+               |
//	|                 (int32) @53                   | NumRecords    |
//	+-----------------------------------------------+               |
//	|                 (int32) @57                   | Records ...   |  @61
//	+-----------------------------------------------+---------------+
//
//	CRC-32C (Castagnoli) covers bytes [21, end): Attributes onwards.
//	BaseOffset, Length and PartitionLeaderEpoch sit before the CRC'd range
//	so the broker can assign offsets and stamp the leader epoch without
//	recomputing it. Magic and CRC are not covered either.
//
//	Attributes bits: 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
//	                 3   timestamp type (1 = LogAppendTime)
//	                 4   transactional
//	                 5   control batch
//	                 6   has delete horizon (compaction; unused here)
//
//	Records: NumRecords records, compressed as one blob if codec != 0.
//	Each record (all varints are zigzag, as protobuf sint):
//	    length varint | attributes int8 | timestampDelta varlong |
//	    offsetDelta varint | keyLen varint (-1 = null) | key |
//	    valueLen varint (-1 = null) | value | headerCount varint |
//	    headers: keyLen varint | key | valueLen varint (-1 = null) | value
const BatchHeaderSize = 61

// Field offsets inside a batch.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// batchLengthMin is the smallest legal Length field: the header minus
	// the BaseOffset and Length fields themselves.
	batchLengthMin = BatchHeaderSize - 12
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 1 << 3
	attrTransactional = 1 << 4
	attrControl       = 1 << 5
)

// Codec is a Kafka compression codec as stored in the batch attributes.
type Codec int8

// Kafka's codec ids.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

var codecNames = [...]string{"none", "gzip", "snappy", "lz4", "zstd"}

// String returns Kafka's compression.type name for c.
func (c Codec) String() string {
	if c >= 0 && int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

// ParseCodec parses a compression.type name, case-insensitively.
// "uncompressed" (Kafka's topic-level spelling) means CodecNone. Kafka's
// topic-level "producer" is deliberately not accepted: it is a policy, not a
// codec, and the caller must handle it.
func ParseCodec(s string) (Codec, bool) {
	if strings.EqualFold(s, "uncompressed") {
		return CodecNone, true
	}
	for i, n := range codecNames {
		if strings.EqualFold(s, n) {
			return Codec(i), true
		}
	}
	return 0, false
}

var (
	// ErrCorrupt is a CRC mismatch or size fields that disagree; Kafka's
	// CORRUPT_MESSAGE.
	ErrCorrupt = errors.New("codec: corrupt record batch")
	// ErrInvalidRecord is a structurally invalid batch or record; Kafka's
	// INVALID_RECORD.
	ErrInvalidRecord = errors.New("codec: invalid record")
	// ErrUnsupportedMagic is a batch whose magic is not 2 (pre-0.11
	// message sets, which Sluice does not accept).
	ErrUnsupportedMagic = errors.New("codec: unsupported record batch magic")
)

// crcTable is the Castagnoli table; hash/crc32 switches to the SSE4.2/ARMv8
// instructions for it, which is what makes CRC checks on every produce cheap.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the fixed 61-byte header of a RecordBatch v2.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // the batch's length field (bytes after the first 12)
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Codec returns the compression codec (attributes & 7).
func (h BatchHeader) Codec() Codec { return Codec(h.Attributes & attrCodecMask) }

// LogAppendTime reports whether timestamps are broker-assigned (bit 3).
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports whether the batch is part of a transaction (bit 4).
func (h BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds a control record (bit 5).
func (h BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// Size is the batch's total size in bytes: 12 + Length.
func (h BatchHeader) Size() int { return 12 + int(h.Length) }

// readBatchHeader decodes the fixed header; b must hold at least 61 bytes.
func readBatchHeader(b []byte) BatchHeader {
	_ = b[BatchHeaderSize-1]
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}
}

// ParseBatch parses and validates exactly one batch occupying all of b:
// len(b) >= 61 and Length == len(b)-12 (else ErrCorrupt), magic 2 (else
// ErrUnsupportedMagic), CRC-32C over b[21:] equal to the CRC field (else
// ErrCorrupt), NumRecords >= 0, LastOffsetDelta >= 0 and codec <= 4 (else
// ErrInvalidRecord). It does not decompress or decode records and does not
// allocate unless it fails.
func ParseBatch(b []byte) (BatchHeader, error) {
	// Magic is checked before the size so a legacy v0/v1 message (which
	// can be shorter than 61 bytes) reports the more useful error.
	if len(b) <= offMagic {
		return BatchHeader{}, fmt.Errorf("%w: batch of %d bytes is shorter than the %d byte header", ErrCorrupt, len(b), BatchHeaderSize)
	}
	if m := int8(b[offMagic]); m != 2 {
		return BatchHeader{}, fmt.Errorf("%w: %d", ErrUnsupportedMagic, m)
	}
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("%w: batch of %d bytes is shorter than the %d byte header", ErrCorrupt, len(b), BatchHeaderSize)
	}
	h := readBatchHeader(b)
	if int64(h.Length) != int64(len(b))-12 {
		return h, fmt.Errorf("%w: length field %d does not match batch size %d", ErrCorrupt, h.Length, len(b))
	}
	if crc := crc32.Checksum(b[offAttributes:], crcTable); crc != h.CRC {
		return h, fmt.Errorf("%w: crc %#08x, computed %#08x", ErrCorrupt, h.CRC, crc)
	}
	switch {
	case h.NumRecords < 0:
		return h, fmt.Errorf("%w: negative record count %d", ErrInvalidRecord, h.NumRecords)
	case h.LastOffsetDelta < 0:
		return h, fmt.Errorf("%w: negative last offset delta %d", ErrInvalidRecord, h.LastOffsetDelta)
	case h.Codec() > CodecZstd:
		return h, fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecord, h.Codec())
	}
	return h, nil
}

// SplitBatches splits a produce partition's records field into batches
// without copying. Each returned batch is a subslice of b whose capacity is
// clipped to its length, so appending to one can never overwrite the next.
// Only the 12-byte offset/length prefix is inspected: validate each batch
// with ParseBatch. A length field < 49 or a trailing partial batch is an
// error wrapping ErrCorrupt. Empty input returns no batches and no error.
func SplitBatches(b []byte) ([][]byte, error) {
	// Count first so the result is allocated once at its exact size.
	n := 0
	for rest := b; len(rest) > 0; n++ {
		size, err := nextBatchSize(rest)
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", n, len(b)-len(rest), err)
		}
		rest = rest[size:]
	}
	if n == 0 {
		return nil, nil
	}
	out := make([][]byte, 0, n)
	for len(b) > 0 {
		size, _ := nextBatchSize(b)
		out = append(out, b[:size:size])
		b = b[size:]
	}
	return out, nil
}

// nextBatchSize returns the full size of the batch at the start of b.
func nextBatchSize(b []byte) (int, error) {
	if len(b) < 12 {
		return 0, fmt.Errorf("%w: trailing %d bytes are not a batch", ErrCorrupt, len(b))
	}
	l := int32(binary.BigEndian.Uint32(b[offLength:]))
	if l < batchLengthMin {
		return 0, fmt.Errorf("%w: length field %d below minimum %d", ErrCorrupt, l, batchLengthMin)
	}
	if int64(l) > int64(len(b))-12 {
		return 0, fmt.Errorf("%w: length field %d exceeds the %d remaining bytes", ErrCorrupt, l, len(b)-12)
	}
	return 12 + int(l), nil
}

// SetBaseOffset overwrites the base offset (bytes 0..8), which the CRC does
// not cover. b must hold at least a batch header.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the leader epoch (bytes 12..16), which
// the CRC does not cover. b must hold at least a batch header.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime sets the timestamp-type attribute bit and MaxTimestamp
// to ts and recomputes the CRC, which is what a Kafka broker does for a
// topic with message.timestamp.type=LogAppendTime: consumers then read ts as
// every record's timestamp. b must be a whole batch.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	fixCRC(b)
}

// SetCreateTime marks the batch CreateTime (clearing the timestamp-type
// bit), sets MaxTimestamp to ts and recomputes the CRC: what a Kafka
// broker does under message.timestamp.type=CreateTime when a producer's
// batch says otherwise, so that ListOffsets by time sees the records' real
// largest timestamp. b must be a whole batch.
func SetCreateTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	binary.BigEndian.PutUint16(b[offAttributes:], attrs&^attrLogAppendTime)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	fixCRC(b)
}

// fixCRC recomputes the CRC field of a whole batch.
func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
}
