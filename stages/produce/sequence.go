package produce

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
)

// sequencer is the sequence stage's state: for each idempotent producer
// and partition, the batches it has in flight and the last few it had
// committed. It answers a retry of one of them without writing it again:
// at once if committed, when the original completes if in flight. Gaps and
// stale epochs that it cannot see (state committed by another broker, or
// before a restart) are caught by the metadata store's commit.
//
// What it remembers of a producer idle for ttl is read from the store
// again: the lifecycle expires idle producers' states in the store
// (meta.Lifecycle.ExpireProducers), and a remembered batch must not answer
// "duplicate" for a producer the store has forgotten.
type sequencer struct {
	store meta.Store
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	state map[seqKey]*seqState
}

type seqKey struct {
	producerID int64
	tp         meta.TP
}

type seqState struct {
	epoch    int16
	entries  []*seqEntry // oldest first: committed, then in flight
	lastUsed time.Time   // last batch sequenced, under sequencer.mu
}

type seqEntry struct {
	epoch             int16
	firstSeq, lastSeq int32
	committed         bool
	offset            int64
	logStart          int64
	waiters           []*Batch
}

// maxSeqStates bounds the tracked producer-partitions; past it the table is
// cleared, which costs only the fast path (the store still decides).
const maxSeqStates = 1 << 16

func newSequencer(store meta.Store, ttl time.Duration) *sequencer {
	return &sequencer{store: store, ttl: ttl, now: time.Now, state: make(map[seqKey]*seqState)}
}

func lastSeq(first int32, records int32) int32 {
	// Sequences wrap from MaxInt32 to 0, as in Kafka.
	return int32((int64(first) + int64(records) - 1) % (1 << 31))
}

// sequence is the stage function.
func (s *sequencer) sequence(ctx context.Context, b *Batch) (*Batch, bool) {
	if !b.idempotent() {
		return b, true
	}
	key := seqKey{b.Header.ProducerID, b.TP()}
	first, last := b.Header.BaseSequence, lastSeq(b.Header.BaseSequence, b.Header.NumRecords)

	now := s.now()
	s.mu.Lock()
	st, ok := s.state[key]
	if ok && now.Sub(st.lastUsed) > s.ttl && !st.inFlight() {
		delete(s.state, key)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		// Read outside the lock: the store may be remote.
		ps, found, err := s.store.ProducerState(ctx, key.producerID, key.tp)
		if err != nil {
			// Retriable for the client: the store may be back at once.
			b.fail(fmt.Errorf("%w: producer state: %v", ErrStorage, err))
			return nil, false
		}
		st = &seqState{epoch: -1}
		if found {
			st.epoch = ps.Epoch
			for _, r := range ps.Recent {
				st.entries = append(st.entries, &seqEntry{epoch: ps.Epoch, firstSeq: r.FirstSeq, lastSeq: r.LastSeq, committed: true, offset: r.BaseOffset, logStart: -1})
			}
		}
		s.mu.Lock()
		if cur, ok := s.state[key]; ok {
			st = cur
		} else {
			if len(s.state) >= maxSeqStates {
				s.state = make(map[seqKey]*seqState)
			}
			s.state[key] = st
		}
		s.mu.Unlock()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st.lastUsed = now
	if b.Header.ProducerEpoch < st.epoch {
		b.fail(meta.ErrInvalidProducerEpoch)
		return nil, false
	}
	for _, e := range st.entries {
		if e.epoch == b.Header.ProducerEpoch && e.firstSeq == first && e.lastSeq == last {
			if e.committed {
				b.Duplicate = true
				b.LogStart = e.logStart
				b.Done.Done(e.offset, nil)
			} else {
				e.waiters = append(e.waiters, b)
			}
			return nil, false
		}
	}
	if b.Header.ProducerEpoch > st.epoch {
		st.epoch = b.Header.ProducerEpoch
		st.entries = st.entries[:0]
	}
	e := &seqEntry{epoch: b.Header.ProducerEpoch, firstSeq: first, lastSeq: last}
	st.entries = append(st.entries, e)
	orig := b.Done
	b.Done = pipeline.NewCompletion(func(offset int64, err error) {
		s.complete(st, e, b, offset, err)
		orig.Done(offset, err)
	})
	return b, true
}

// inFlight reports a batch of st not yet complete (its retries wait on it,
// so st stays). Called under sequencer.mu.
func (st *seqState) inFlight() bool {
	for _, e := range st.entries {
		if !e.committed {
			return true
		}
	}
	return false
}

// complete records the outcome of an in-flight batch and answers the
// retries that waited on it.
func (s *sequencer) complete(st *seqState, e *seqEntry, b *Batch, offset int64, err error) {
	s.mu.Lock()
	waiters := e.waiters
	e.waiters = nil
	if err != nil {
		// Forget it: a retry must be written (and checked) anew.
		for i, x := range st.entries {
			if x == e {
				st.entries = append(st.entries[:i], st.entries[i+1:]...)
				break
			}
		}
	} else {
		e.committed, e.offset, e.logStart = true, offset, b.LogStart
		// Keep at most RecentBatches committed entries.
		n := 0
		for _, x := range st.entries {
			if x.committed {
				n++
			}
		}
		for n > meta.RecentBatches && len(st.entries) > 0 && st.entries[0].committed {
			st.entries = st.entries[1:]
			n--
		}
	}
	s.mu.Unlock()
	for _, w := range waiters {
		w.Duplicate = err == nil
		w.LogStart = b.LogStart
		w.AppendTime = b.AppendTime
		w.Done.Done(offset, err)
	}
}
