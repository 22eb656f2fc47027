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
