package kvmeta

import (
	"context"
	"fmt"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Commit assigns offsets to every batch of objs in one KV transaction. The
// rules are meta.PlanCommit's; this reads the state it asks for from the
// transaction and writes what it decided.
func (s *store) Commit(ctx context.Context, objs []meta.ObjectCommit) ([][]meta.BatchResult, error) {
	if err := meta.ValidateCommit(objs); err != nil {
		return nil, err
	}
	var results [][]meta.BatchResult
	err := s.update(ctx, func(tx Tx) error {
		// Planned afresh inside the transaction so a backend that retries
		// the function never sees results of an earlier attempt.
		plan, err := meta.PlanCommit(txReader{tx}, objs)
		if err != nil {
			return err
		}
		if n := s.limits.PlanCost(plan); s.limits.Bounded() && n > s.limits.Max {
			return fmt.Errorf("%w: %d index entries, %d partitions and %d producer states cost %d, over the limit of %d",
				meta.ErrCommitTooLarge, len(plan.Entries), len(plan.Partitions), len(plan.Producers), n, s.limits.Max)
		}
		for i := range plan.Entries {
			e := &plan.Entries[i]
			if err := tx.Put(keyIndex(e.TP, e.LastOffset), encodeIndex(e)); err != nil {
				return err
			}
		}
		for tp, st := range plan.Partitions {
			if err := tx.Put(keyPartition(tp), encodePartition(st)); err != nil {
				return err
			}
		}
		for k, st := range plan.Producers {
			if err := tx.Put(keyProducer(k.TP, k.ProducerID), encodeProducer(&st)); err != nil {
				return err
			}
		}
		results = plan.Results
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// txReader reads a commit's state from a KV transaction.
type txReader struct{ tx Tx }

func (r txReader) PartitionState(tp meta.TP) (meta.PartitionState, bool, error) {
	v := r.tx.Get(keyPartition(tp))
	if v == nil {
		return meta.PartitionState{}, false, nil
	}
	st, err := decodePartition(v)
	return st, err == nil, err
}

func (r txReader) ProducerState(pid int64, tp meta.TP) (meta.ProducerState, bool, error) {
	v := r.tx.Get(keyProducer(tp, pid))
	if v == nil {
		return meta.ProducerState{}, false, nil
	}
	st, err := decodeProducer(v)
	return st, err == nil, err
}

func (r txReader) RegisteredEpoch(pid int64) (int16, bool, error) { return getEpoch(r.tx, pid) }
