package meta

import (
	"fmt"
	"math"
	"time"
)

// The commit rules (offsets, sequence checks, index runs) are the same for
// every backend; a backend only reads the state a commit needs and writes
// what PlanCommit decided, inside one transaction.

// CommitReader gives PlanCommit the stored state of one transaction.
// PlanCommit asks for each key at most once.
type CommitReader interface {
	// PartitionState reports ok false for an unknown topic or partition.
	PartitionState(tp TP) (st PartitionState, ok bool, err error)
	ProducerState(producerID int64, tp TP) (st ProducerState, ok bool, err error)
	// RegisteredEpoch is the epoch BumpProducerEpoch recorded, if any.
	RegisteredEpoch(producerID int64) (epoch int16, ok bool, err error)
}

// ProducerKey names one producer's state on one partition.
type ProducerKey struct {
	ProducerID int64
	TP         TP
}

// CommitPlan is what a Commit writes, and what it answers.
type CommitPlan struct {
	// Results holds one BatchResult per batch of each object.
	Results [][]BatchResult
	// Entries are the new index entries, in a deterministic order.
	Entries []IndexEntry
	// Partitions and Producers hold the states the commit changed.
	Partitions map[TP]PartitionState
	Producers  map[ProducerKey]ProducerState
}

// ValidateCommit refuses malformed input, a caller bug rather than a
// per-batch outcome, before anything is read or written.
func ValidateCommit(objs []ObjectCommit) error {
	for i := range objs {
		for j, b := range objs[i].Batches {
			if b.Records < 1 {
				return fmt.Errorf("meta: commit: object %q batch %d has %d records", objs[i].Key, j, b.Records)
			}
		}
	}
	return nil
}

// Idempotent reports whether the sequence rules apply to b.
func (b *BatchCommit) Idempotent() bool { return b.ProducerID >= 0 && b.BaseSequence >= 0 }

// PlanCommit applies the commit rules of Store.Commit to objs over the
// state r reads. Later batches of the call see the effects of earlier ones.
func PlanCommit(r CommitReader, objs []ObjectCommit) (*CommitPlan, error) {
	p := &planner{now: time.Now(), r: r, parts: map[TP]*plannedPartition{}, producers: map[ProducerKey]*plannedProducer{}, epochs: map[int64]plannedEpoch{}}
	plan := &CommitPlan{Results: make([][]BatchResult, len(objs))}
	for i := range objs {
		res, err := p.object(&objs[i], plan)
		if err != nil {
			return nil, err
		}
		plan.Results[i] = res
	}
	// LogStart after the commit: Commit never moves it.
	for i := range objs {
		for j, b := range objs[i].Batches {
			if pp := p.parts[b.TP]; pp != nil && pp.known {
				plan.Results[i][j].LogStart = pp.st.LogStart
			}
		}
	}
	plan.Partitions = map[TP]PartitionState{}
	for tp, pp := range p.parts {
		if pp.dirty {
			plan.Partitions[tp] = pp.st
		}
	}
	plan.Producers = map[ProducerKey]ProducerState{}
	for k, pc := range p.producers {
		if pc.dirty {
			plan.Producers[k] = pc.st
		}
	}
	return plan, nil
}

type plannedPartition struct {
	st           PartitionState
	known, dirty bool
}

type plannedProducer struct {
	st            ProducerState
	exists, dirty bool
}

type plannedEpoch struct {
	epoch int16
	ok    bool
}

type planner struct {
	now       time.Time
	r         CommitReader
	parts     map[TP]*plannedPartition
	producers map[ProducerKey]*plannedProducer
	epochs    map[int64]plannedEpoch
}

func (p *planner) part(tp TP) (*plannedPartition, error) {
	if pp, ok := p.parts[tp]; ok {
		return pp, nil
	}
	st, ok, err := p.r.PartitionState(tp)
	if err != nil {
		return nil, err
	}
	pp := &plannedPartition{st: st, known: ok}
	p.parts[tp] = pp
	return pp, nil
}

func (p *planner) producer(pid int64, tp TP) (*plannedProducer, error) {
	k := ProducerKey{pid, tp}
	if pc, ok := p.producers[k]; ok {
		return pc, nil
	}
	st, ok, err := p.r.ProducerState(pid, tp)
	if err != nil {
		return nil, err
	}
	pc := &plannedProducer{st: st, exists: ok}
	p.producers[k] = pc
	return pc, nil
}

func (p *planner) epoch(pid int64) (plannedEpoch, error) {
	if e, ok := p.epochs[pid]; ok {
		return e, nil
	}
	ep, ok, err := p.r.RegisteredEpoch(pid)
	if err != nil {
		return plannedEpoch{}, err
	}
	e := plannedEpoch{ep, ok}
	p.epochs[pid] = e
	return e, nil
}

// AddSeq advances a Kafka sequence number by n, wrapping from MaxInt32 to
// 0 as producers do.
func AddSeq(seq, n int32) int32 {
	return int32((int64(seq) + int64(n)) % (math.MaxInt32 + 1))
}

// seqVerdict is the outcome of the sequence checks for one batch.
type seqVerdict struct {
	pc        *plannedProducer
	newEpoch  bool  // accepted as the first batch of a new epoch
	dup       bool  // already committed at dupOffset
	dupOffset int64 //
	lastSeq   int32
	err       error // ErrInvalidProducerEpoch or ErrOutOfOrderSequence
}

func (p *planner) checkSequence(b *BatchCommit) (seqVerdict, error) {
	v := seqVerdict{lastSeq: AddSeq(b.BaseSequence, b.Records-1)}
	reg, err := p.epoch(b.ProducerID)
	if err != nil {
		return v, err
	}
	if reg.ok && reg.epoch > b.ProducerEpoch {
		v.err = ErrInvalidProducerEpoch // fenced by BumpProducerEpoch
		return v, nil
	}
	pc, err := p.producer(b.ProducerID, b.TP)
	if err != nil {
		return v, err
	}
	v.pc = pc
	switch {
	case pc.exists && b.ProducerEpoch < pc.st.Epoch:
		v.err = ErrInvalidProducerEpoch
	case !pc.exists || b.ProducerEpoch > pc.st.Epoch:
		// A new epoch (or a producer new to this partition) starts its
		// sequences over.
		if b.BaseSequence != 0 {
			v.err = ErrOutOfOrderSequence
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
			want = AddSeq(pc.st.Recent[n-1].LastSeq, 1)
		}
		if b.BaseSequence != want {
			v.err = ErrOutOfOrderSequence
		}
	}
	return v, nil
}

// object plans one object's batches and its index entries.
func (p *planner) object(obj *ObjectCommit, plan *CommitPlan) ([]BatchResult, error) {
	res := make([]BatchResult, len(obj.Batches))
	if !obj.Deadline.IsZero() && !p.now.Before(obj.Deadline) {
		for j := range res {
			res[j] = BatchResult{BaseOffset: -1, LogStart: -1, Err: ErrObjectExpired}
		}
		return res, nil
	}
	// open holds, per partition, the run of consecutive accepted batches
	// being built; a rejected or duplicate batch of that partition closes
	// it, because the run's offsets must map one-to-one onto RelOffsets.
	open := map[TP]*IndexEntry{}
	var order []TP
	closeRun := func(tp TP) {
		if r := open[tp]; r != nil {
			plan.Entries = append(plan.Entries, *r)
			delete(open, tp)
		}
	}
	for j := range obj.Batches {
		b := &obj.Batches[j]
		pp, err := p.part(b.TP)
		if err != nil {
			return nil, err
		}
		if !pp.known {
			res[j] = BatchResult{BaseOffset: -1, LogStart: -1, Err: ErrUnknownTopicOrPartition}
			continue
		}
		var sv seqVerdict
		idempotent := b.Idempotent()
		if idempotent {
			if sv, err = p.checkSequence(b); err != nil {
				return nil, err
			}
			if sv.err != nil || sv.dup {
				closeRun(b.TP)
				if sv.dup {
					res[j] = BatchResult{BaseOffset: sv.dupOffset, Duplicate: true}
				} else {
					res[j] = BatchResult{BaseOffset: -1, Err: sv.err}
				}
				continue
			}
		}

		base := pp.st.HighWatermark
		last := base + int64(b.Records) - 1
		pp.st.HighWatermark = last + 1
		if b.MaxTimestamp >= pp.st.MaxTimestamp {
			pp.st.MaxTimestamp, pp.st.MaxTimestampOffset = b.MaxTimestamp, last
		}
		pp.dirty = true
		res[j] = BatchResult{BaseOffset: base}

		if idempotent {
			pc := sv.pc
			if sv.newEpoch {
				pc.st = ProducerState{Epoch: b.ProducerEpoch}
			}
			pc.st.Recent = append(pc.st.Recent, ProducerBatch{FirstSeq: b.BaseSequence, LastSeq: sv.lastSeq, BaseOffset: base})
			if n := len(pc.st.Recent); n > RecentBatches {
				pc.st.Recent = append(pc.st.Recent[:0], pc.st.Recent[n-RecentBatches:]...)
			}
			// The commit's time, by which the state's idleness is
			// measured (Lifecycle.ExpireProducers); Spanner writes its
			// commit timestamp instead.
			pc.st.LastWrite = p.now
			pc.exists, pc.dirty = true, true
		}

		if r := open[b.TP]; r != nil {
			r.LastOffset = last
			r.MaxTimestamp = max(r.MaxTimestamp, b.MaxTimestamp)
			r.ByteEnd = b.Pos + b.Len
		} else {
			open[b.TP] = &IndexEntry{
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
	return res, nil
}
