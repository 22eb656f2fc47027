package produce

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicedata/sluice/sinks/meta"
)

// A metadata store bounds what one transaction may write (Spanner: 80,000
// mutations; meta.CommitLimits). Two things keep every Commit within it:
//
//   - flushSplitter, right after the cashier, cuts a gathered flush where
//     the next batch would take its commit over the limit, so no single
//     flush is too large for one transaction (the cashier's byte and batch
//     bounds say nothing about partitions and producers, which is what
//     the store counts);
//   - commitParts splits a commit group (up to CommitGroup flushes) into
//     runs of consecutive flushes that each fit, one transaction per run.
//
// Costs are upper bounds (meta.CommitCost), so a run that fits by them
// fits the store's exact count. Should a store still refuse a run as too
// large, its flushes are committed one by one.

// flushSplitter is a stage that cuts cashier flushes to fit the store's
// commit limit. Its items carry their batches' completions unchanged.
type flushSplitter struct {
	limits meta.CommitLimits
	buffer int
}

func (s *flushSplitter) Name() string { return "flush-split" }

func (s *flushSplitter) Run(_ context.Context, in <-chan []*Batch) <-chan []*Batch {
	out := make(chan []*Batch, s.buffer)
	go func() {
		defer close(out)
		cost := s.limits.NewCost()
		for batches := range in {
			for len(batches) > 0 {
				n := s.fit(cost, batches)
				out <- batches[:n:n]
				batches = batches[n:]
			}
		}
	}()
	return out
}

// fit returns how many of batches (at least one) one flush can hold.
func (s *flushSplitter) fit(cost *meta.CommitCost, batches []*Batch) int {
	cost.Reset()
	for i, b := range batches {
		tp, pid, idem := b.TP(), b.Header.ProducerID, b.idempotent()
		if i > 0 && cost.Total()+cost.Cost(tp, pid, idem) > s.limits.Max {
			return i
		}
		cost.Add(tp, pid, idem)
	}
	return len(batches)
}

// commitParts returns where each run of objs that fits one transaction
// ends: objs[ends[i-1]:ends[i]] is the i-th run. Every run holds at least
// one object.
func commitParts(limits meta.CommitLimits, objs []meta.ObjectCommit) []int {
	if !limits.Bounded() || len(objs) == 1 {
		return []int{len(objs)}
	}
	var ends []int
	cost := limits.NewCost()
	total := 0
	for i := range objs {
		cost.Reset()
		for j := range objs[i].Batches {
			b := &objs[i].Batches[j]
			cost.Add(b.TP, b.ProducerID, b.Idempotent())
		}
		if i > 0 && total+cost.Total() > limits.Max {
			ends = append(ends, i)
			total = 0
		}
		total += cost.Total()
	}
	return append(ends, len(objs))
}

// commitRun commits objs (the objects of flushes, in order) in one
// transaction and sets the flushes' results or errors. A run the store
// refuses as too large is committed again one flush at a time.
func (p *Pipeline) commitRun(ctx context.Context, objs []meta.ObjectCommit, flushes []*Flush) {
	err := p.commitObjects(ctx, objs, flushes)
	if err == nil {
		return
	}
	if errors.Is(err, meta.ErrCommitTooLarge) && len(objs) > 1 {
		p.cfg.Logger.Warn("metadata commit too large; committing its flushes one by one", "objects", len(objs), "err", err)
		for i := range objs {
			if err := p.commitObjects(ctx, objs[i:i+1], flushes[i:i+1]); err != nil {
				p.failCommit(flushes[i:i+1], err)
			}
		}
		return
	}
	p.failCommit(flushes, err)
}

// commitObjects runs one Commit and, if it succeeded, sets the results.
func (p *Pipeline) commitObjects(ctx context.Context, objs []meta.ObjectCommit, flushes []*Flush) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CommitTimeout)
	defer cancel()
	res, err := p.cfg.Meta.Commit(ctx, objs)
	if err != nil {
		return err
	}
	for i, f := range flushes {
		f.setResults(objs[i], res[i])
	}
	return nil
}

func (p *Pipeline) failCommit(flushes []*Flush, err error) {
	p.cfg.Logger.Warn("metadata commit failed", "objects", len(flushes), "err", err)
	for _, f := range flushes {
		f.Err = fmt.Errorf("%w: commit: %v", ErrStorage, err)
	}
}
