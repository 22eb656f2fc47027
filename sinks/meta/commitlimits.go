package meta

import "errors"

// ErrCommitTooLarge is returned (wrapped, with the counts) by a Commit
// whose writes exceed what the store takes in one transaction (its
// CommitLimits). Nothing of it was committed. A store never splits a
// Commit itself: that would make part of it visible alone. The caller
// splits instead, before it calls Commit, with CommitCost.
var ErrCommitTooLarge = errors.New("meta: commit too large for one transaction")

// CommitLimits says how much one Commit transaction of a store may write,
// in the store's own unit (Spanner: mutations). A Commit writes one index
// entry per run of consecutive accepted batches of a partition in each
// object, one partition row per partition and one producer-state row per
// idempotent producer and partition; Entry, Partition and Producer are
// what each costs. Max is the most one Commit may cost; 0 means no limit.
type CommitLimits struct {
	Max                        int
	Entry, Partition, Producer int
}

// CommitLimiter is implemented by stores that bound a Commit. A store that
// does not implement it takes commits of any size.
type CommitLimiter interface {
	CommitLimits() CommitLimits
}

// LimitsOf returns s's commit limits, the zero CommitLimits (no limit) if
// s does not bound its commits.
func LimitsOf(s Store) CommitLimits {
	if l, ok := s.(CommitLimiter); ok {
		return l.CommitLimits()
	}
	return CommitLimits{}
}

// Bounded reports whether the limits bound a commit at all.
func (l CommitLimits) Bounded() bool { return l.Max > 0 }

// PlanCost is what writing plan costs: the exact figure a store compares
// with Max.
func (l CommitLimits) PlanCost(plan *CommitPlan) int {
	return len(plan.Entries)*l.Entry + len(plan.Partitions)*l.Partition + len(plan.Producers)*l.Producer
}

// ObjectCost is an upper bound of what committing obj alone costs. The
// cost of a Commit of several objects is at most the sum of theirs (rows
// of a partition or producer they share are written once).
func (l CommitLimits) ObjectCost(obj *ObjectCommit) int {
	c := l.NewCost()
	for i := range obj.Batches {
		b := &obj.Batches[i]
		c.Add(b.TP, b.ProducerID, b.Idempotent())
	}
	return c.Total()
}

// NewCost starts counting an object's cost batch by batch.
func (l CommitLimits) NewCost() *CommitCost {
	return &CommitCost{l: l, batches: map[TP]int{}, producers: map[ProducerKey]struct{}{}}
}

// CommitCost counts an upper bound of what an object costs to commit as
// its batches are added; the cashier uses it to close a flush before a
// batch would take it over the store's limit.
type CommitCost struct {
	l         CommitLimits
	batches   map[TP]int // batches of each partition so far
	producers map[ProducerKey]struct{}
	total     int
}

// Cost is what adding a batch of tp (from producerID, idempotent or not)
// would add, without adding it.
func (c *CommitCost) Cost(tp TP, producerID int64, idempotent bool) int {
	k := c.batches[tp]
	n := 0
	if k == 0 {
		n += c.l.Partition
	}
	// Runs of one partition in one object are separated by at least one
	// rejected or duplicate batch (PlanCommit closes a run on those), so
	// k batches make at most ceil(k/2) index entries: the odd ones may
	// open one.
	if k%2 == 0 {
		n += c.l.Entry
	}
	if idempotent {
		if _, ok := c.producers[ProducerKey{producerID, tp}]; !ok {
			n += c.l.Producer
		}
	}
	return n
}

// Add counts a batch and returns what it added.
func (c *CommitCost) Add(tp TP, producerID int64, idempotent bool) int {
	n := c.Cost(tp, producerID, idempotent)
	c.batches[tp]++
	if idempotent {
		c.producers[ProducerKey{producerID, tp}] = struct{}{}
	}
	c.total += n
	return n
}

// Total is the cost of the batches added so far.
func (c *CommitCost) Total() int { return c.total }

// Reset empties the count for the next object, keeping its maps.
func (c *CommitCost) Reset() {
	clear(c.batches)
	clear(c.producers)
	c.total = 0
}
