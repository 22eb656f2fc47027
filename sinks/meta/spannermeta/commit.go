package spannermeta

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/sinks/meta"
)

// ErrCommitTooLarge is returned (wrapped, with the counts) by a Commit
// whose writes would exceed Spanner's mutations-per-transaction limit
// (max_mutations). Nothing of it was committed. A commit is never split
// over several transactions here: readers would see part of it and a
// failure half way would leave part of it, breaking Store.Commit's
// all-or-nothing contract. The caller bounds what one Commit holds with
// CommitLimits (see doc.go). It is meta.ErrCommitTooLarge.
var ErrCommitTooLarge = meta.ErrCommitTooLarge

// Mutations each written row costs: Spanner counts one per column written
// (key columns included).
const (
	entryMutations         = 13 // IndexEntries insert: all 13 columns, Kind included
	partitionStateMutation = 5  // Partitions update: key, HighWatermark, MaxTimestamp(+Offset)
	producerMutations      = 6  // ProducerStates insert-or-update, LastWrite included
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
	if err := meta.ValidateCommit(objs); err != nil {
		return nil, err
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
		plan, err := meta.PlanCommit(c, objs)
		if err != nil {
			return err
		}
		results = plan.Results
		ms := mutations(plan)
		if n := s.CommitLimits().PlanCost(plan); n > s.cfg.maxMutations {
			return fmt.Errorf("%w: %d index entries, %d partitions and %d producer states are %d mutations, over the limit of %d; commit fewer partitions or producers per object (smaller flushes)",
				ErrCommitTooLarge, len(plan.Entries), len(plan.Partitions), len(plan.Producers), n, s.cfg.maxMutations)
		}
		return tx.BufferWrite(ms)
	})
	if err != nil {
		if tooManyMutations(err) {
			// Spanner counts more than we do (a schema change, a new
			// secondary index): same meaning as our own check.
			return nil, fmt.Errorf("%w: %v", ErrCommitTooLarge, err)
		}
		return nil, err
	}
	return results, nil
}

// CommitLimits implements meta.CommitLimiter: a Commit may write at most
// max_mutations mutations, counted as Spanner counts them.
func (s *Store) CommitLimits() meta.CommitLimits {
	return meta.CommitLimits{Max: s.cfg.maxMutations, Entry: entryMutations, Partition: partitionStateMutation, Producer: producerMutations}
}

// tooManyMutations reports Spanner's refusal of a transaction over its
// mutation limit.
func tooManyMutations(err error) bool {
	return spanner.ErrCode(err) == codes.InvalidArgument && strings.Contains(spanner.ErrDesc(err), "too many mutations")
}

type partCache struct {
	st    meta.PartitionState
	known bool
}

type producerKeyT struct {
	pid int64
	tp  meta.TP
}

type producerCache struct {
	st     meta.ProducerState
	exists bool
}

type epochCache struct {
	epoch int16
	ok    bool
}

// committer is one attempt of one Commit transaction: the rows it read,
// served to meta.PlanCommit.
type committer struct {
	parts     map[meta.TP]*partCache
	producers map[producerKeyT]*producerCache
	epochs    map[int64]epochCache
}

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
			if !b.Idempotent() || !c.parts[b.TP].known {
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

// PartitionState, ProducerState and RegisteredEpoch serve meta.PlanCommit
// from what load read.
func (c *committer) PartitionState(tp meta.TP) (meta.PartitionState, bool, error) {
	p := c.parts[tp]
	if p == nil {
		return meta.PartitionState{}, false, fmt.Errorf("spannermeta: commit: partition %v was not loaded", tp)
	}
	return p.st, p.known, nil
}

func (c *committer) ProducerState(pid int64, tp meta.TP) (meta.ProducerState, bool, error) {
	pc := c.producers[producerKeyT{pid, tp}]
	if pc == nil {
		return meta.ProducerState{}, false, fmt.Errorf("spannermeta: commit: producer %d on %v was not loaded", pid, tp)
	}
	return pc.st, pc.exists, nil
}

func (c *committer) RegisteredEpoch(pid int64) (int16, bool, error) {
	e := c.epochs[pid]
	return e.epoch, e.ok, nil
}

// mutations returns the plan's writes; CommitLimits says what they cost.
func mutations(plan *meta.CommitPlan) []*spanner.Mutation {
	ms := make([]*spanner.Mutation, 0, len(plan.Entries)+len(plan.Partitions)+len(plan.Producers))
	for i := range plan.Entries {
		ms = append(ms, spanner.Insert("IndexEntries", entryCols, entryValues(&plan.Entries[i])))
	}
	for tp, st := range plan.Partitions {
		ms = append(ms, spanner.Update("Partitions",
			[]string{"TopicId", "PartitionId", "HighWatermark", "MaxTimestamp", "MaxTimestampOffset"},
			[]any{tp.Topic[:], int64(tp.Partition), st.HighWatermark, st.MaxTimestamp, st.MaxTimestampOffset}))
	}
	for k, st := range plan.Producers {
		ms = append(ms, spanner.InsertOrUpdate("ProducerStates", producerCols, producerValues(k.TP, k.ProducerID, &st)))
	}
	return ms
}
