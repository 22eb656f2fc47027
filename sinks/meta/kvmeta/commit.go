package kvmeta

import (
	"context"
	"fmt"
	"math"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Commit assigns offsets to every batch of objs in one KV transaction; see
// meta.Store and the package comment of meta for the rules.
func (s *store) Commit(ctx context.Context, objs []meta.ObjectCommit) ([][]meta.BatchResult, error) {
	// Malformed input is a caller bug, not a per-batch outcome: refuse the
	// whole call before touching anything.
	for i := range objs {
		for j, b := range objs[i].Batches {
			if b.Records < 1 {
				return nil, fmt.Errorf("meta: commit: object %q batch %d has %d records", objs[i].Key, j, b.Records)
			}
		}
	}
	var results [][]meta.BatchResult
	err := s.update(ctx, func(tx Tx) error {
		// Built afresh inside the transaction so a backend that retries
		// the function never sees results of an earlier attempt.
		c := &committer{
			tx:        tx,
			parts:     map[meta.TP]*partCache{},
			producers: map[producerKey]*producerCache{},
			epochs:    map[int64]epochCache{},
		}
		results = make([][]meta.BatchResult, len(objs))
		for i := range objs {
			res, err := c.object(&objs[i])
			if err != nil {
				return err
			}
			results[i] = res
		}
		if err := c.flush(); err != nil {
			return err
		}
		// LogStart after the commit: Commit never moves it, so the cached
		// value is final.
		for i := range objs {
			for j, b := range objs[i].Batches {
				if p := c.parts[b.TP]; p.known {
					results[i][j].LogStart = p.st.LogStart
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

type partCache struct {
	st    meta.PartitionState
	known bool
	dirty bool
}

type producerKey struct {
	pid int64
	tp  meta.TP
}

type producerCache struct {
	st     meta.ProducerState
	exists bool
	dirty  bool
}

type epochCache struct {
	epoch int16
	ok    bool
}

// committer holds what one Commit transaction has read and changed, so
// that later batches of the same call see earlier ones and every value is
// read and written once.
type committer struct {
	tx        Tx
	parts     map[meta.TP]*partCache
	producers map[producerKey]*producerCache
	epochs    map[int64]epochCache
}

func (c *committer) part(tp meta.TP) (*partCache, error) {
	if p, ok := c.parts[tp]; ok {
		return p, nil
	}
	p := &partCache{}
	if v := c.tx.Get(keyPartition(tp)); v != nil {
		st, err := decodePartition(v)
		if err != nil {
			return nil, err
		}
		p.st, p.known = st, true
	}
	c.parts[tp] = p
	return p, nil
}

func (c *committer) producer(pid int64, tp meta.TP) (*producerCache, error) {
	k := producerKey{pid, tp}
	if pc, ok := c.producers[k]; ok {
		return pc, nil
	}
	pc := &producerCache{}
	if v := c.tx.Get(keyProducer(tp, pid)); v != nil {
		st, err := decodeProducer(v)
		if err != nil {
			return nil, err
		}
		pc.st, pc.exists = st, true
	}
	c.producers[k] = pc
	return pc, nil
}

func (c *committer) epoch(pid int64) (epochCache, error) {
	if e, ok := c.epochs[pid]; ok {
		return e, nil
	}
	ep, ok, err := getEpoch(c.tx, pid)
	if err != nil {
		return epochCache{}, err
	}
	e := epochCache{ep, ok}
	c.epochs[pid] = e
	return e, nil
}

// addSeq advances a Kafka sequence number by n, wrapping from MaxInt32 to
// 0 as producers do.
func addSeq(seq, n int32) int32 {
	return int32((int64(seq) + int64(n)) % (math.MaxInt32 + 1))
}

// seqVerdict is the outcome of the sequence checks for one batch.
type seqVerdict struct {
	pc        *producerCache
	newEpoch  bool  // accepted as the first batch of a new epoch
	dup       bool  // already committed at dupOffset
	dupOffset int64 //
	lastSeq   int32
	err       error // ErrInvalidProducerEpoch or ErrOutOfOrderSequence
}

func (c *committer) checkSequence(b *meta.BatchCommit) (seqVerdict, error) {
	v := seqVerdict{lastSeq: addSeq(b.BaseSequence, b.Records-1)}
	reg, err := c.epoch(b.ProducerID)
	if err != nil {
		return v, err
	}
	if reg.ok && reg.epoch > b.ProducerEpoch {
		v.err = meta.ErrInvalidProducerEpoch // fenced by BumpProducerEpoch
		return v, nil
	}
	pc, err := c.producer(b.ProducerID, b.TP)
	if err != nil {
		return v, err
	}
	v.pc = pc
	switch {
	case pc.exists && b.ProducerEpoch < pc.st.Epoch:
		v.err = meta.ErrInvalidProducerEpoch
	case !pc.exists || b.ProducerEpoch > pc.st.Epoch:
		// A new epoch (or a producer new to this partition) starts its
		// sequences over.
		if b.BaseSequence != 0 {
			v.err = meta.ErrOutOfOrderSequence
		} else {
			v.newEpoch = true
		}
	default:
		for _, r := range pc.st.Recent {
			if r.FirstSeq == b.BaseSequence && r.LastSeq == v.lastSeq {
				v.dup, v.dupOffset = true, r.BaseOffset
				return v, nil
			}
		}
		var want int32 // no batch remembered: only 0 can follow
		if n := len(pc.st.Recent); n > 0 {
			want = addSeq(pc.st.Recent[n-1].LastSeq, 1)
		}
		if b.BaseSequence != want {
			v.err = meta.ErrOutOfOrderSequence
		}
	}
	return v, nil
}

// object commits one object's batches and writes its index entries.
func (c *committer) object(obj *meta.ObjectCommit) ([]meta.BatchResult, error) {
	res := make([]meta.BatchResult, len(obj.Batches))
	// open holds, per partition, the run of consecutive accepted batches
	// being built; a rejected or duplicate batch of that partition closes
	// it, because the run's offsets must map one-to-one onto RelOffsets.
	open := map[meta.TP]*meta.IndexEntry{}
	var runs []*meta.IndexEntry
	closeRun := func(tp meta.TP) {
		if r := open[tp]; r != nil {
			runs = append(runs, r)
			delete(open, tp)
		}
	}
	for j := range obj.Batches {
		b := &obj.Batches[j]
		p, err := c.part(b.TP)
		if err != nil {
			return nil, err
		}
		if !p.known {
			res[j] = meta.BatchResult{BaseOffset: -1, LogStart: -1, Err: meta.ErrUnknownTopicOrPartition}
			continue
		}
		var sv seqVerdict
		idempotent := b.ProducerID >= 0 && b.BaseSequence >= 0
		if idempotent {
			if sv, err = c.checkSequence(b); err != nil {
				return nil, err
			}
			if sv.err != nil || sv.dup {
				closeRun(b.TP)
				if sv.dup {
					res[j] = meta.BatchResult{BaseOffset: sv.dupOffset, Duplicate: true}
				} else {
					res[j] = meta.BatchResult{BaseOffset: -1, Err: sv.err}
				}
				continue
			}
		}

		base := p.st.HighWatermark
		last := base + int64(b.Records) - 1
		p.st.HighWatermark = last + 1
		if b.MaxTimestamp >= p.st.MaxTimestamp {
			p.st.MaxTimestamp, p.st.MaxTimestampOffset = b.MaxTimestamp, last
		}
		p.dirty = true
		res[j] = meta.BatchResult{BaseOffset: base}

		if idempotent {
			pc := sv.pc
			if sv.newEpoch {
				pc.st = meta.ProducerState{Epoch: b.ProducerEpoch}
			}
			pc.st.Recent = append(pc.st.Recent, meta.ProducerBatch{FirstSeq: b.BaseSequence, LastSeq: sv.lastSeq, BaseOffset: base})
			if n := len(pc.st.Recent); n > meta.RecentBatches {
				pc.st.Recent = append(pc.st.Recent[:0], pc.st.Recent[n-meta.RecentBatches:]...)
			}
			pc.exists, pc.dirty = true, true
		}

		if r := open[b.TP]; r != nil {
			r.LastOffset = last
			r.MaxTimestamp = max(r.MaxTimestamp, b.MaxTimestamp)
			r.ByteEnd = b.Pos + b.Len
		} else {
			open[b.TP] = &meta.IndexEntry{
				TP:           b.TP,
				BaseOffset:   base,
				LastOffset:   last,
				MaxTimestamp: b.MaxTimestamp,
				ObjectKey:    obj.Key,
				ObjectSize:   obj.Size,
				IndexPos:     obj.IndexPos,
				IndexLen:     obj.IndexLen,
				RelBase:      b.RelOffset,
				ByteStart:    b.Pos,
				ByteEnd:      b.Pos + b.Len,
			}
		}
	}
	for _, r := range open {
		runs = append(runs, r)
	}
	for _, r := range runs {
		if err := c.tx.Put(keyIndex(r.TP, r.LastOffset), encodeIndex(r)); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// flush writes the partition and producer states the commit changed.
func (c *committer) flush() error {
	for tp, p := range c.parts {
		if p.dirty {
			if err := c.tx.Put(keyPartition(tp), encodePartition(p.st)); err != nil {
				return err
			}
		}
	}
	for k, pc := range c.producers {
		if pc.dirty {
			if err := c.tx.Put(keyProducer(k.tp, k.pid), encodeProducer(&pc.st)); err != nil {
				return err
			}
		}
	}
	return nil
}
