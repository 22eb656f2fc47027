package spannermeta

import (
	"context"
	"errors"
	"fmt"
	"math"

	"cloud.google.com/go/spanner"

	"github.com/sluicedata/sluice/sinks/meta"
)

// ErrCommitTooLarge is returned (wrapped, with the counts) by a Commit
// whose writes would exceed Spanner's mutations-per-transaction limit.
// Nothing of it was committed. A commit is never split over several
// transactions: readers would see part of it and a failure half way
// would leave part of it, breaking Store.Commit's all-or-nothing
// contract. The intake flush bounds what one commit holds (see doc.go).
var ErrCommitTooLarge = errors.New("spannermeta: commit too large for one Spanner transaction")

// Mutations each written row costs: Spanner counts one per column written
// (key columns included).
const (
	entryMutations         = 12 // IndexEntries insert
	partitionStateMutation = 5  // Partitions update: key, HighWatermark, MaxTimestamp(+Offset)
	producerMutations      = 5  // ProducerStates insert-or-update
)

// Commit runs as ONE read-write transaction: it reads the partition rows
// of every partition the objects touch (one Read of all keys), then the
// producer states and registered epochs of the idempotent batches (one
// Read each), decides every batch in memory with the same rules as
// kvmeta, and buffers the index entries, new partition states and
// producer states, which Spanner applies atomically at commit. The rows
// read are locked by the transaction, so two brokers committing to the
// same partition serialize: one of them gets ABORTED and the client
// library reruns the whole function (hence all state is built inside
// it), until ctx's deadline (or the store's op timeout if ctx has none).
func (s *Store) Commit(ctx context.Context, objs []meta.ObjectCommit) ([][]meta.BatchResult, error) {
	for i := range objs {
		for j, b := range objs[i].Batches {
			if b.Records < 1 {
				return nil, fmt.Errorf("meta: commit: object %q batch %d has %d records", objs[i].Key, j, b.Records)
			}
		}
	}
	if len(objs) == 0 {
		_, done, err := s.op(ctx)
		if err != nil {
			return nil, err
		}
		done()
		return [][]meta.BatchResult{}, nil
	}
	var results [][]meta.BatchResult
	err := s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		c := &committer{
			parts:     map[meta.TP]*partCache{},
			producers: map[producerKeyT]*producerCache{},
			epochs:    map[int64]epochCache{},
		}
		if err := c.load(ctx, tx, objs); err != nil {
			return err
		}
		results = make([][]meta.BatchResult, len(objs))
		for i := range objs {
			results[i] = c.object(&objs[i])
		}
		for i := range objs {
			for j, b := range objs[i].Batches {
				if p := c.parts[b.TP]; p.known {
					results[i][j].LogStart = p.st.LogStart
				}
			}
		}
		ms, n := c.mutations()
		if n > s.cfg.maxMutations {
			return fmt.Errorf("%w: %d index entries, %d partitions and %d producer states are %d mutations, over the limit of %d; commit fewer partitions or producers per object (smaller flushes)",
				ErrCommitTooLarge, len(c.entries), c.dirtyParts(), c.dirtyProducers(), n, s.cfg.maxMutations)
		}
		return tx.BufferWrite(ms)
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

type producerKeyT struct {
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

// committer is one attempt of one Commit transaction: everything it read
// and everything it will write.
type committer struct {
	parts     map[meta.TP]*partCache
	producers map[producerKeyT]*producerCache
	epochs    map[int64]epochCache
	entries   []*meta.IndexEntry
}

func idempotent(b *meta.BatchCommit) bool { return b.ProducerID >= 0 && b.BaseSequence >= 0 }

// load reads, in at most three reads, every row the commit may need.
func (c *committer) load(ctx context.Context, tx *spanner.ReadWriteTransaction, objs []meta.ObjectCommit) error {
	var keys []spanner.KeySet
	for i := range objs {
		for _, b := range objs[i].Batches {
			if _, ok := c.parts[b.TP]; !ok {
				c.parts[b.TP] = &partCache{}
				keys = append(keys, tpKey(b.TP))
			}
		}
	}
	err := tx.Read(ctx, "Partitions", spanner.KeySets(keys...), partitionCols).Do(func(row *spanner.Row) error {
		tp, ps, err := decodePartition(row)
		if err != nil {
			return err
		}
		if p := c.parts[tp]; p != nil {
			p.st, p.known = ps, true
		}
		return nil
	})
	if err != nil {
		return err
	}
	var pkeys, ekeys []spanner.KeySet
	for i := range objs {
		for _, b := range objs[i].Batches {
			if !idempotent(&b) || !c.parts[b.TP].known {
				continue
			}
			k := producerKeyT{b.ProducerID, b.TP}
			if _, ok := c.producers[k]; !ok {
				c.producers[k] = &producerCache{}
				pkeys = append(pkeys, spanner.Key{b.TP.Topic[:], int64(b.TP.Partition), b.ProducerID})
			}
			if _, ok := c.epochs[b.ProducerID]; !ok {
				c.epochs[b.ProducerID] = epochCache{}
				ekeys = append(ekeys, spanner.Key{producerKey(b.ProducerID)})
			}
		}
	}
	if len(pkeys) == 0 {
		return nil
	}
	err = tx.Read(ctx, "ProducerStates", spanner.KeySets(pkeys...), producerCols).Do(func(row *spanner.Row) error {
		tp, pid, st, err := decodeProducer(row)
		if err != nil {
			return err
		}
		if pc := c.producers[producerKeyT{pid, tp}]; pc != nil {
			pc.st, pc.exists = st, true
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Read(ctx, "ProducerEpochs", spanner.KeySets(ekeys...), []string{"ProducerId", "Epoch"}).Do(func(row *spanner.Row) error {
		var pid, epoch int64
		if err := row.Columns(&pid, &epoch); err != nil {
			return err
		}
		c.epochs[pid] = epochCache{int16(epoch), true}
		return nil
	})
}

// addSeq advances a Kafka sequence number by n, wrapping from MaxInt32 to
// 0 as producers do.
func addSeq(seq, n int32) int32 {
	return int32((int64(seq) + int64(n)) % (math.MaxInt32 + 1))
}

type seqVerdict struct {
	pc        *producerCache
	newEpoch  bool
	dup       bool
	dupOffset int64
	lastSeq   int32
	err       error
}

// checkSequence applies meta's sequence rules (the same as kvmeta's).
func (c *committer) checkSequence(b *meta.BatchCommit) seqVerdict {
	v := seqVerdict{lastSeq: addSeq(b.BaseSequence, b.Records-1)}
	if reg := c.epochs[b.ProducerID]; reg.ok && reg.epoch > b.ProducerEpoch {
		v.err = meta.ErrInvalidProducerEpoch
		return v
	}
	pc := c.producers[producerKeyT{b.ProducerID, b.TP}]
	v.pc = pc
	switch {
	case pc.exists && b.ProducerEpoch < pc.st.Epoch:
		v.err = meta.ErrInvalidProducerEpoch
	case !pc.exists || b.ProducerEpoch > pc.st.Epoch:
		if b.BaseSequence != 0 {
			v.err = meta.ErrOutOfOrderSequence
		} else {
			v.newEpoch = true
		}
	default:
		for _, r := range pc.st.Recent {
			if r.FirstSeq == b.BaseSequence && r.LastSeq == v.lastSeq {
				v.dup, v.dupOffset = true, r.BaseOffset
				return v
			}
		}
		var want int32
		if n := len(pc.st.Recent); n > 0 {
			want = addSeq(pc.st.Recent[n-1].LastSeq, 1)
		}
		if b.BaseSequence != want {
			v.err = meta.ErrOutOfOrderSequence
		}
	}
	return v
}

// object decides one object's batches and collects its index entries.
func (c *committer) object(obj *meta.ObjectCommit) []meta.BatchResult {
	res := make([]meta.BatchResult, len(obj.Batches))
	open := map[meta.TP]*meta.IndexEntry{}
	var order []meta.TP // open runs in first-batch order, for determinism
	closeRun := func(tp meta.TP) {
		if r := open[tp]; r != nil {
			c.entries = append(c.entries, r)
			delete(open, tp)
		}
	}
	for j := range obj.Batches {
		b := &obj.Batches[j]
		p := c.parts[b.TP]
		if !p.known {
			res[j] = meta.BatchResult{BaseOffset: -1, LogStart: -1, Err: meta.ErrUnknownTopicOrPartition}
			continue
		}
		var sv seqVerdict
		idem := idempotent(b)
		if idem {
			sv = c.checkSequence(b)
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

		if idem {
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
			order = append(order, b.TP)
		}
	}
	for _, tp := range order {
		closeRun(tp)
	}
	return res
}

func (c *committer) dirtyParts() (n int) {
	for _, p := range c.parts {
		if p.dirty {
			n++
		}
	}
	return n
}

func (c *committer) dirtyProducers() (n int) {
	for _, pc := range c.producers {
		if pc.dirty {
			n++
		}
	}
	return n
}

// mutations returns the commit's writes and their mutation count.
func (c *committer) mutations() ([]*spanner.Mutation, int) {
	ms := make([]*spanner.Mutation, 0, len(c.entries)+len(c.parts)+len(c.producers))
	n := 0
	for _, e := range c.entries {
		ms = append(ms, spanner.Insert("IndexEntries", entryCols, entryValues(e)))
		n += entryMutations
	}
	for tp, p := range c.parts {
		if p.dirty {
			ms = append(ms, spanner.Update("Partitions",
				[]string{"TopicId", "PartitionId", "HighWatermark", "MaxTimestamp", "MaxTimestampOffset"},
				[]any{tp.Topic[:], int64(tp.Partition), p.st.HighWatermark, p.st.MaxTimestamp, p.st.MaxTimestampOffset}))
			n += partitionStateMutation
		}
	}
	for k, pc := range c.producers {
		if pc.dirty {
			ms = append(ms, spanner.InsertOrUpdate("ProducerStates", producerCols, producerValues(k.tp, k.pid, &pc.st)))
			n += producerMutations
		}
	}
	return ms, n
}
