package kvmeta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Key prefixes; see the package comment for the layout.
const (
	pfxCluster    = 'c'
	pfxNextPID    = 'n'
	pfxTopic      = 't'
	pfxTopicID    = 'i'
	pfxPartition  = 's'
	pfxIndex      = 'x'
	pfxProducer   = 'q'
	pfxProducerEp = 'e'
	pfxLease      = 'l'
)

// codecVersion leads every binary value so the format can change later
// without guessing.
const codecVersion = 1

var errCorrupt = errors.New("kvmeta: corrupt value")

func keyCluster() []byte { return []byte{pfxCluster} }
func keyNextPID() []byte { return []byte{pfxNextPID} }

func keyTopic(name string) []byte {
	return append([]byte{pfxTopic}, name...)
}

func keyTopicID(id meta.TopicID) []byte {
	return append([]byte{pfxTopicID}, id[:]...)
}

// tpKey is pfx | topicID | partition, the common head of the per-partition
// keys; the extra capacity saves a reallocation when a suffix follows.
func tpKey(pfx byte, tp meta.TP, extra int) []byte {
	k := make([]byte, 0, 1+16+4+extra)
	k = append(k, pfx)
	k = append(k, tp.Topic[:]...)
	return binary.BigEndian.AppendUint32(k, uint32(tp.Partition))
}

// topicPrefix is pfx | topicID: every partition's keys of that kind.
func topicPrefix(pfx byte, id meta.TopicID) []byte {
	return append([]byte{pfx}, id[:]...)
}

func keyPartition(tp meta.TP) []byte { return tpKey(pfxPartition, tp, 0) }

func keyIndex(tp meta.TP, lastOffset int64) []byte {
	return binary.BigEndian.AppendUint64(tpKey(pfxIndex, tp, 8), uint64(lastOffset))
}

func keyProducer(tp meta.TP, pid int64) []byte {
	return binary.BigEndian.AppendUint64(tpKey(pfxProducer, tp, 8), uint64(pid))
}

func keyProducerEpoch(pid int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pfxProducerEp}, uint64(pid))
}

// decoder reads the varints of one value, remembering the first error so
// callers check once at the end.
type decoder struct {
	b   []byte
	err error
}

func newDecoder(b []byte) *decoder {
	d := &decoder{b: b}
	if len(b) == 0 || b[0] != codecVersion {
		d.err = errCorrupt
		return d
	}
	d.b = b[1:]
	return d
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.varint()
	if d.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return fmt.Errorf("kvmeta: decode %s: %w", what, d.err)
	}
	return nil
}

func encodePartition(ps meta.PartitionState) []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64)
	b = append(b, codecVersion)
	b = binary.AppendVarint(b, ps.LogStart)
	b = binary.AppendVarint(b, ps.HighWatermark)
	b = binary.AppendVarint(b, ps.MaxTimestamp)
	return binary.AppendVarint(b, ps.MaxTimestampOffset)
}

func decodePartition(b []byte) (meta.PartitionState, error) {
	d := newDecoder(b)
	ps := meta.PartitionState{
		LogStart:           d.varint(),
		HighWatermark:      d.varint(),
		MaxTimestamp:       d.varint(),
		MaxTimestampOffset: d.varint(),
	}
	return ps, d.done("partition state")
}

// encodeIndex stores everything but TP and LastOffset, which the key holds.
func encodeIndex(e *meta.IndexEntry) []byte {
	b := make([]byte, 0, 1+9*binary.MaxVarintLen64+len(e.ObjectKey))
	b = append(b, codecVersion)
	// The run length rather than BaseOffset: small, so one byte or two.
	b = binary.AppendVarint(b, e.LastOffset-e.BaseOffset)
	b = binary.AppendVarint(b, e.MaxTimestamp)
	b = binary.AppendVarint(b, int64(len(e.ObjectKey)))
	b = append(b, e.ObjectKey...)
	b = binary.AppendVarint(b, e.ObjectSize)
	b = binary.AppendVarint(b, e.IndexPos)
	b = binary.AppendVarint(b, e.IndexLen)
	b = binary.AppendVarint(b, e.RelBase)
	b = binary.AppendVarint(b, e.ByteStart)
	b = binary.AppendVarint(b, e.ByteEnd-e.ByteStart)
	// The kind came later: absent means an intake entry, so values
	// written before it decode unchanged.
	if e.Kind != meta.EntryIntake {
		b = binary.AppendVarint(b, int64(e.Kind))
	}
	return b
}

func decodeIndex(k, v []byte) (meta.IndexEntry, error) {
	if len(k) != 1+16+4+8 {
		return meta.IndexEntry{}, fmt.Errorf("kvmeta: decode index key: %w", errCorrupt)
	}
	var e meta.IndexEntry
	copy(e.TP.Topic[:], k[1:17])
	e.TP.Partition = int32(binary.BigEndian.Uint32(k[17:21]))
	e.LastOffset = int64(binary.BigEndian.Uint64(k[21:29]))
	d := newDecoder(v)
	e.BaseOffset = e.LastOffset - d.varint()
	e.MaxTimestamp = d.varint()
	e.ObjectKey = string(d.bytes())
	e.ObjectSize = d.varint()
	e.IndexPos = d.varint()
	e.IndexLen = d.varint()
	e.RelBase = d.varint()
	e.ByteStart = d.varint()
	e.ByteEnd = e.ByteStart + d.varint()
	if d.err == nil && len(d.b) > 0 {
		e.Kind = meta.EntryKind(d.varint())
	}
	return e, d.done("index entry")
}

func encodeProducer(st *meta.ProducerState) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(st.Recent)*3*binary.MaxVarintLen64)
	b = append(b, codecVersion)
	b = binary.AppendVarint(b, int64(st.Epoch))
	b = binary.AppendVarint(b, int64(len(st.Recent)))
	for _, r := range st.Recent {
		b = binary.AppendVarint(b, int64(r.FirstSeq))
		b = binary.AppendVarint(b, int64(r.LastSeq))
		b = binary.AppendVarint(b, r.BaseOffset)
	}
	// The last write came later, as Unix milliseconds (Kafka's
	// resolution for producer.id.expiration.ms): absent means unknown, so
	// values written before it decode unchanged, with a zero LastWrite.
	if !st.LastWrite.IsZero() {
		b = binary.AppendVarint(b, st.LastWrite.UnixMilli())
	}
	return b
}

func decodeProducer(b []byte) (meta.ProducerState, error) {
	d := newDecoder(b)
	st := meta.ProducerState{Epoch: int16(d.varint())}
	n := d.varint()
	if d.err == nil && (n < 0 || n > int64(len(d.b))) {
		d.err = errCorrupt
	}
	if d.err == nil && n > 0 {
		st.Recent = make([]meta.ProducerBatch, n)
		for i := range st.Recent {
			st.Recent[i] = meta.ProducerBatch{
				FirstSeq:   int32(d.varint()),
				LastSeq:    int32(d.varint()),
				BaseOffset: d.varint(),
			}
		}
	}
	if d.err == nil && len(d.b) > 0 {
		st.LastWrite = time.UnixMilli(d.varint()).UTC()
	}
	return st, d.done("producer state")
}

func encodeInt64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func decodeInt64(b []byte, what string) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("kvmeta: decode %s: %w", what, errCorrupt)
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}
