// Intake objects.
//
// A produce flush gathers the record batches of many topics and partitions
// into ONE object that is uploaded to object storage; afterwards the metadata
// store assigns offsets. This file defines the layout of that object (format
// v1):
//
//	+--------+---------------------------------------+------------------+--------+
//	| header | batch bytes, grouped by (topic, part) | Arrow IPC index  | footer |
//	+--------+---------------------------------------+------------------+--------+
//	0        8                                       IndexPos           IndexPos+IndexLen
//
//	header: 8 bytes, magic "SLUICE\x00\x01" (format v1)
//	footer: 24 bytes, all integers little-endian:
//	        index position u64 | index length u64 | CRC-32C of index u32 | magic "SLCF"
//
// Batch bytes: every record batch is stored byte-for-byte as produced
// (Kafka record batch v2, magic 2). Its base offset field is not rewritten at
// intake; the fetch path patches it (it lies outside the batch CRC). Batches
// are grouped by (topic id, partition): the object holds the batches sorted
// by topic id bytes (unsigned lexicographic), then partition (ascending),
// then arrival order (stable), so that the batches of one partition form one
// contiguous byte range. Batches are packed back to back, the first one at
// offset IntakeHeaderSize, the last one ending at IndexPos.
//
// Index: an Apache Arrow IPC *stream* (schema message, exactly one record
// batch message, end-of-stream marker; uncompressed, no dictionaries, no
// nulls) with one row per batch, rows in object order. Columns, all
// non-nullable:
//
//	topic_id          FixedSizeBinary(16)  topic UUID
//	partition         int32
//	rel_offset        int64   offset of the batch's first record relative to the first
//	                          batch of the same partition in this object: the running
//	                          sum of (last_offset_delta+1) of the earlier batches of
//	                          that partition (so 0 for a partition's first batch)
//	last_offset_delta int32   from the batch header
//	first_timestamp   int64   from the batch header
//	max_timestamp     int64   from the batch header
//	producer_id       int64   from the batch header
//	producer_epoch    int16   from the batch header
//	base_sequence     int32   from the batch header
//	position          int64   byte offset of the batch in the object
//	length            int32   byte length of the batch (the whole batch, incl. base
//	                          offset and length fields)
//	codec             int8    compression codec, CodecNone..CodecZstd
//	num_records       int32   from the batch header
//
// The footer's CRC-32C (Castagnoli) covers exactly the index bytes
// Data[IndexPos : IndexPos+IndexLen]. The metadata store also records
// IndexPos and IndexLen, so a reader can fetch index and footer with one
// ranged read of Data[IndexPos:].
//
// Offsets: once committed, the metadata store holds, per (topic, partition)
// and object, an entry with the absolute BaseOffset assigned to the entry's
// first batch and that batch's RelBase (its rel_offset; 0 unless an entry
// covers only a suffix of the partition's batches in the object). The
// absolute offset of the first record of the batch described by an index
// row is
//
//	absolute = entry.BaseOffset + (row.RelOffset - entry.RelBase)
//
// and its last record is at absolute + row.LastOffsetDelta.
//
// (This is a file comment, deliberately detached from the package clause;
// the package documentation lives in doc.go.)

package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// IntakeHeaderSize is the size of an intake object's header (the magic).
const IntakeHeaderSize = 8

// IntakeFooterSize is the size of an intake object's footer.
const IntakeFooterSize = 24

// intakeMagic opens every intake object (format v1).
const intakeMagic = "SLUICE\x00\x01"

// intakeFooterMagic closes every intake object.
const intakeFooterMagic = "SLCF"

// ErrBadIntake reports a corrupt intake object or index: bad magic, bad CRC,
// undecodable or inconsistent index. Errors returned by the intake decoders
// wrap it; test with errors.Is.
var ErrBadIntake = errors.New("codec: bad intake object")

func badIntake(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadIntake}, args...)...)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// IntakeIndexCRC returns the CRC-32C (Castagnoli) of index bytes, as stored
// in the footer.
func IntakeIndexCRC(index []byte) uint32 {
	return crc32.Checksum(index, castagnoli)
}

// IndexRow describes one batch of an intake object.
type IndexRow struct {
	TopicID         [16]byte
	Partition       int32
	RelOffset       int64 // first record's offset relative to the partition's first batch in the object
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	Pos             int64 // byte offset of the batch in the object
	Len             int32 // byte length of the batch
	Codec           Codec
	NumRecords      int32
}

// compareKey orders rows by topic id bytes, then partition.
func compareKey(at [16]byte, ap int32, bt [16]byte, bp int32) int {
	if c := bytes.Compare(at[:], bt[:]); c != 0 {
		return c
	}
	switch {
	case ap < bp:
		return -1
	case ap > bp:
		return 1
	}
	return 0
}

type intakeEntry struct {
	row   IndexRow // Pos and RelOffset are filled by Finish
	batch []byte
}

// IntakeBuilder assembles an intake object from record batches. It is not
// safe for concurrent use. The zero value is not usable; use NewIntakeBuilder.
type IntakeBuilder struct {
	entries []intakeEntry
	bytes   int64

	// scratch reused across Finish calls
	order []int32
	enc   indexEncoder
}

// NewIntakeBuilder returns an empty builder.
func NewIntakeBuilder() *IntakeBuilder {
	return &IntakeBuilder{}
}

// Add records one batch of topicID/partition described by h (as returned by
// ParseBatch on batch). It keeps a reference to batch (no copy until
// Finish), so batch must not be modified before Finish returns. It returns
// the add-order id of the batch, 0, 1, 2, ... (see Intake.RowOf).
func (b *IntakeBuilder) Add(topicID [16]byte, partition int32, h BatchHeader, batch []byte) int {
	id := len(b.entries)
	b.entries = append(b.entries, intakeEntry{
		row: IndexRow{
			TopicID:         topicID,
			Partition:       partition,
			LastOffsetDelta: h.LastOffsetDelta,
			FirstTimestamp:  h.FirstTimestamp,
			MaxTimestamp:    h.MaxTimestamp,
			ProducerID:      h.ProducerID,
			ProducerEpoch:   h.ProducerEpoch,
			BaseSequence:    h.BaseSequence,
			Len:             int32(min(len(batch), math.MaxInt32)), // oversize rejected by Finish
			Codec:           h.Codec(),
			NumRecords:      h.NumRecords,
		},
		batch: batch,
	})
	b.bytes += int64(len(batch))
	return id
}

// Len returns the number of batches added.
func (b *IntakeBuilder) Len() int { return len(b.entries) }

// Bytes returns the number of batch bytes added.
func (b *IntakeBuilder) Bytes() int64 { return b.bytes }

// Reset empties the builder for reuse, keeping its capacity. It drops the
// references to added batches.
func (b *IntakeBuilder) Reset() {
	clear(b.entries) // release batch references
	b.entries = b.entries[:0]
	b.bytes = 0
}

// Intake is a laid-out intake object.
type Intake struct {
	Data     []byte     // the whole object
	IndexPos int64      // offset of the Arrow IPC index in Data
	IndexLen int64      // length of the index
	Rows     []IndexRow // one per batch, in object order
	RowOf    []int      // RowOf[addID] = index into Rows
}

// IndexCRC returns the CRC-32C of the object's index, as stored in its footer.
func (in *Intake) IndexCRC() uint32 {
	return IntakeIndexCRC(in.Data[in.IndexPos : in.IndexPos+in.IndexLen])
}

// Finish lays out the object of the batches added so far: one allocation for
// Data, sized exactly, and one copy of each batch. The returned Intake does
// not alias the builder or its scratch; the builder keeps its batches until
// Reset. An empty builder yields a valid object with an empty index.
//
// Finish fails (without wrapping ErrBadIntake) if a batch cannot be
// described: longer than 2 GiB, negative LastOffsetDelta or NumRecords, or
// an unknown codec.
func (b *IntakeBuilder) Finish() (Intake, error) {
	n := len(b.entries)
	for i := range b.entries {
		e := &b.entries[i]
		switch {
		case len(e.batch) > math.MaxInt32:
			return Intake{}, fmt.Errorf("codec: intake: batch %d: %d bytes is too long", i, len(e.batch))
		case e.row.LastOffsetDelta < 0:
			return Intake{}, fmt.Errorf("codec: intake: batch %d: negative last offset delta %d", i, e.row.LastOffsetDelta)
		case e.row.NumRecords < 0:
			return Intake{}, fmt.Errorf("codec: intake: batch %d: negative record count %d", i, e.row.NumRecords)
		case !validCodec(e.row.Codec):
			return Intake{}, fmt.Errorf("codec: intake: batch %d: unknown codec %d", i, e.row.Codec)
		}
	}

	// Object order: stable sort of the add ids by (topic, partition).
	order := slices.Grow(b.order[:0], n)[:n]
	sorted := true
	for i := range order {
		order[i] = int32(i)
		if i > 0 && sorted {
			p, c := &b.entries[i-1].row, &b.entries[i].row
			sorted = compareKey(p.TopicID, p.Partition, c.TopicID, c.Partition) <= 0
		}
	}
	if !sorted {
		slices.SortFunc(order, func(x, y int32) int {
			a, c := &b.entries[x].row, &b.entries[y].row
			if k := compareKey(a.TopicID, a.Partition, c.TopicID, c.Partition); k != 0 {
				return k
			}
			return int(x - y) // arrival order within a partition
		})
	}
	b.order = order

	rows := make([]IndexRow, n)
	rowOf := make([]int, n)
	pos := int64(IntakeHeaderSize)
	var rel int64
	for i, id := range order {
		e := &b.entries[id]
		r := e.row
		if i == 0 || r.TopicID != rows[i-1].TopicID || r.Partition != rows[i-1].Partition {
			rel = 0
		}
		r.RelOffset = rel
		r.Pos = pos
		rows[i] = r
		rowOf[id] = i
		rel += int64(r.LastOffsetDelta) + 1
		pos += int64(r.Len)
	}

	index, err := b.enc.encode(rows)
	if err != nil {
		return Intake{}, err
	}

	indexPos := pos
	total := indexPos + int64(len(index)) + IntakeFooterSize
	data := make([]byte, total)
	copy(data, intakeMagic)
	for i, id := range order {
		copy(data[rows[i].Pos:], b.entries[id].batch)
	}
	copy(data[indexPos:], index)
	putIntakeFooter(data[total-IntakeFooterSize:], indexPos, int64(len(index)), IntakeIndexCRC(index))

	return Intake{
		Data:     data,
		IndexPos: indexPos,
		IndexLen: int64(len(index)),
		Rows:     rows,
		RowOf:    rowOf,
	}, nil
}

func validCodec(c Codec) bool { return c >= CodecNone && c <= CodecZstd }

func putIntakeFooter(dst []byte, indexPos, indexLen int64, crc uint32) {
	_ = dst[IntakeFooterSize-1]
	binary.LittleEndian.PutUint64(dst[0:], uint64(indexPos))
	binary.LittleEndian.PutUint64(dst[8:], uint64(indexLen))
	binary.LittleEndian.PutUint32(dst[16:], crc)
	copy(dst[20:], intakeFooterMagic)
}

// ParseIntakeFooter parses the last IntakeFooterSize bytes of tail (the end
// of an object). It checks the footer magic and that the index position and
// length are plausible; it does not check the CRC (see DecodeIntakeIndex).
func ParseIntakeFooter(tail []byte) (indexPos, indexLen int64, crc uint32, err error) {
	if len(tail) < IntakeFooterSize {
		return 0, 0, 0, badIntake("footer: %d bytes, want %d", len(tail), IntakeFooterSize)
	}
	f := tail[len(tail)-IntakeFooterSize:]
	if string(f[20:]) != intakeFooterMagic {
		return 0, 0, 0, badIntake("footer: bad magic %q", f[20:])
	}
	p := binary.LittleEndian.Uint64(f[0:])
	l := binary.LittleEndian.Uint64(f[8:])
	if p < IntakeHeaderSize || p > math.MaxInt64/2 || l > math.MaxInt64/2 {
		return 0, 0, 0, badIntake("footer: bad index position %d length %d", p, l)
	}
	return int64(p), int64(l), binary.LittleEndian.Uint32(f[16:]), nil
}

// ParseIntake checks and decodes a whole intake object: header magic,
// footer, index CRC and index, and that every batch lies between the header
// and the index. It returns the index and the index position. It is meant for tools and tests; the fetch path reads only
// the index and footer.
func ParseIntake(data []byte) (*IntakeIndex, int64, error) {
	if len(data) < IntakeHeaderSize+IntakeFooterSize {
		return nil, 0, badIntake("object: %d bytes is too short", len(data))
	}
	if string(data[:IntakeHeaderSize]) != intakeMagic {
		return nil, 0, badIntake("object: bad magic %q", data[:IntakeHeaderSize])
	}
	indexPos, indexLen, crc, err := ParseIntakeFooter(data)
	if err != nil {
		return nil, 0, err
	}
	if indexPos+indexLen != int64(len(data)-IntakeFooterSize) {
		return nil, 0, badIntake("object: index [%d,+%d) does not end at the footer (object %d bytes)", indexPos, indexLen, len(data))
	}
	x, err := DecodeIntakeIndex(data[indexPos:indexPos+indexLen], crc)
	if err != nil {
		return nil, 0, err
	}
	if end := x.DataEnd(); end > indexPos {
		return nil, 0, badIntake("object: batches end at %d, past index position %d", end, indexPos)
	}
	return x, indexPos, nil
}
