package kvmeta

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

func (s *store) Lifecycle() meta.Lifecycle { return lifecycle{s} }

// lifecycle implements meta.Lifecycle over the store's KV.
type lifecycle struct{ s *store }

func keyLease(name string) []byte { return append([]byte{pfxLease}, name...) }

func (l lifecycle) ReplaceEntries(ctx context.Context, tp meta.TP, old, repl []meta.IndexEntry) error {
	return l.s.update(ctx, func(tx Tx) error {
		st, err := getPartition(tx, tp)
		if err != nil {
			return err
		}
		for i := range old {
			v := tx.Get(keyIndex(tp, old[i].LastOffset))
			if v == nil {
				return meta.ErrConflict
			}
			cur, err := decodeIndex(keyIndex(tp, old[i].LastOffset), v)
			if err != nil {
				return err
			}
			if !meta.SameEntry(&cur, &old[i]) {
				return meta.ErrConflict
			}
		}
		if err := meta.CheckReplace(tp, st, old, repl); err != nil {
			return err
		}
		for i := range old {
			if err := tx.Delete(keyIndex(tp, old[i].LastOffset)); err != nil {
				return err
			}
		}
		for i := range repl {
			if err := tx.Put(keyIndex(tp, repl[i].LastOffset), encodeIndex(&repl[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

type leaseRecord struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

func (l lifecycle) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var ok bool
	err := l.s.update(ctx, func(tx Tx) error {
		var cur leaseRecord
		v := tx.Get(keyLease(name))
		if v != nil {
			if err := json.Unmarshal(v, &cur); err != nil {
				return fmt.Errorf("kvmeta: decode lease %q: %w", name, err)
			}
		}
		next, granted := meta.GrantLease(meta.LeaseRecord(cur), v != nil, holder, time.Now(), ttl)
		ok = granted
		if !granted {
			return nil
		}
		b, err := json.Marshal(leaseRecord(next))
		if err != nil {
			return err
		}
		return tx.Put(keyLease(name), b)
	})
	return ok, err
}

func (l lifecycle) ReleaseLease(ctx context.Context, name, holder string) error {
	return l.s.update(ctx, func(tx Tx) error {
		v := tx.Get(keyLease(name))
		if v == nil {
			return nil
		}
		var cur leaseRecord
		if err := json.Unmarshal(v, &cur); err != nil {
			return fmt.Errorf("kvmeta: decode lease %q: %w", name, err)
		}
		if cur.Holder != holder {
			return nil
		}
		return tx.Delete(keyLease(name))
	})
}

// ExpireProducers first scans tp's producer states (keyed by partition
// first, so one prefix) in a read-only transaction, which does not hold up
// commits (bbolt has one writer) and costs no write when nothing is idle.
// Then one read-write transaction reads the candidates again by key,
// deletes those still last written before idleBefore and stamps those
// still without a LastWrite; a state a commit rewrote in between is kept.
// A KV transaction has no size limit, so More is never set.
func (l lifecycle) ExpireProducers(ctx context.Context, tp meta.TP, idleBefore time.Time) (meta.ProducerExpiry, error) {
	var (
		cands [][]byte
		kept  time.Time
	)
	err := l.s.view(ctx, func(tx Tx) error {
		// A state written after the scan carries a later time, but for
		// a commit in flight during it: off by the commit's duration,
		// negligible against an expiration. In the stored resolution.
		cands, kept = nil, time.UnixMilli(time.Now().UnixMilli()).UTC()
		var derr error
		err := tx.Seek(tpKey(pfxProducer, tp, 0), nil, func(k, v []byte) bool {
			st, err := decodeProducer(v)
			if err != nil {
				derr = err
				return false
			}
			switch {
			case st.LastWrite.IsZero() || st.LastWrite.Before(idleBefore):
				cands = append(cands, append([]byte(nil), k...))
			case st.LastWrite.Before(kept):
				kept = st.LastWrite
			}
			return true
		})
		if err != nil {
			return err
		}
		return derr
	})
	if err != nil {
		return meta.ProducerExpiry{}, err
	}
	res := meta.ProducerExpiry{KeptSince: kept}
	if len(cands) == 0 {
		return res, nil
	}
	err = l.s.update(ctx, func(tx Tx) error {
		res = meta.ProducerExpiry{KeptSince: kept}
		// Commits are serialized with this transaction, so every state
		// written after it carries a later time than the stamps. In the
		// stored resolution, so that KeptSince is no later than them.
		now := time.UnixMilli(time.Now().UnixMilli()).UTC()
		res.KeptSince = minTime(res.KeptSince, now)
		for _, k := range cands {
			v := tx.Get(k)
			if v == nil {
				continue // deleted meanwhile
			}
			st, err := decodeProducer(v)
			if err != nil {
				return err
			}
			switch {
			case st.LastWrite.IsZero():
				st.LastWrite = now
				if err := tx.Put(k, encodeProducer(&st)); err != nil {
					return err
				}
				res.Stamped++
			case st.LastWrite.Before(idleBefore):
				if err := tx.Delete(k); err != nil {
					return err
				}
				res.Removed++
			default:
				res.KeptSince = minTime(res.KeptSince, st.LastWrite)
			}
		}
		return nil
	})
	if err != nil {
		return meta.ProducerExpiry{}, err
	}
	return res, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
