package spannermeta

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/google/uuid"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Lifecycle returns the archive, retention, vacuum and producer-expiry
// operations: index entry replacement on IndexEntries, named leases in the
// Leases table (schema version 3) and expiry of ProducerStates rows by
// their LastWrite (schema version 4). The rules are meta's (CheckReplace,
// SameEntry, GrantLease); each method runs them in one read-write
// transaction.
func (s *Store) Lifecycle() meta.Lifecycle { return lifecycle{s} }

type lifecycle struct{ s *Store }

// Mutations a ReplaceEntries costs per row: a delete by key counts one,
// an insert one per column.
const (
	entryDeleteMutations  = 1
	entryReplaceMutations = entryMutations
)

// ReplaceEntries is one read-write transaction: it reads the partition
// row (locking it, so it serializes with Commit and DeleteRecords on the
// partition), then the stored entries at old's keys (one Read), compares
// them with old (meta.SameEntry; a missing or different one is
// meta.ErrConflict), validates with meta.CheckReplace, and buffers the
// deletes of old's keys followed by the writes of repl. Spanner applies a
// transaction's mutations in order, so a repl entry with the key of an
// old one (an archive entry ends where the last entry it replaces ended)
// is written after that key's delete. A call whose writes exceed the
// mutation limit (max_mutations) fails whole, like a too large Commit.
func (l lifecycle) ReplaceEntries(ctx context.Context, tp meta.TP, old, repl []meta.IndexEntry) error {
	return l.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		st, err := getPartition(ctx, tx, tp)
		if err != nil {
			return err
		}
		keys := make([]spanner.KeySet, len(old))
		for i := range old {
			keys[i] = entryKey(tp, old[i].LastOffset)
		}
		stored := make(map[int64]meta.IndexEntry, len(old))
		if len(keys) > 0 {
			err := tx.Read(ctx, "IndexEntries", spanner.KeySets(keys...), entryCols).Do(func(row *spanner.Row) error {
				e, err := decodeEntry(row)
				if err == nil {
					stored[e.LastOffset] = e
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		for i := range old {
			cur, ok := stored[old[i].LastOffset]
			if !ok || !meta.SameEntry(&cur, &old[i]) {
				return meta.ErrConflict
			}
		}
		if err := meta.CheckReplace(tp, st, old, repl); err != nil {
			return err
		}
		if n := len(old)*entryDeleteMutations + len(repl)*entryReplaceMutations; n > l.s.cfg.maxMutations {
			return fmt.Errorf("spannermeta: replace entries of topic %s partition %d: %d old and %d new entries are %d mutations, over the limit of %d; replace fewer entries at once",
				uuid.UUID(tp.Topic), tp.Partition, len(old), len(repl), n, l.s.cfg.maxMutations)
		}
		ms := make([]*spanner.Mutation, 0, len(old)+len(repl))
		for i := range old {
			ms = append(ms, spanner.Delete("IndexEntries", entryKey(tp, old[i].LastOffset)))
		}
		for i := range repl {
			ms = append(ms, spanner.Replace("IndexEntries", entryCols, entryValues(&repl[i])))
		}
		return tx.BufferWrite(ms)
	})
}

func entryKey(tp meta.TP, lastOffset int64) spanner.Key {
	return spanner.Key{tp.Topic[:], int64(tp.Partition), lastOffset}
}

var leaseCols = []string{"Name", "Holder", "Expires"}

// getLease reads a lease row; ok is false if there is none.
func getLease(ctx context.Context, tx *spanner.ReadWriteTransaction, name string) (rec meta.LeaseRecord, ok bool, err error) {
	row, err := tx.ReadRow(ctx, "Leases", spanner.Key{name}, leaseCols[1:])
	if isNotFound(err) {
		return meta.LeaseRecord{}, false, nil
	}
	if err != nil {
		return meta.LeaseRecord{}, false, err
	}
	if err := row.Columns(&rec.Holder, &rec.Expires); err != nil {
		return meta.LeaseRecord{}, false, fmt.Errorf("spannermeta: decode lease %q: %w", name, err)
	}
	rec.Expires = rec.Expires.UTC()
	return rec, true, nil
}

// AcquireLease reads the lease row and applies meta.GrantLease in one
// read-write transaction. The read locks the row (or, for a lease that
// does not exist yet, its key), so racing takers in any number of
// processes serialize: one commits, the others are ABORTED and rerun,
// and then see the winner's row.
//
// Time is the caller's clock (time.Now(), taken once per attempt and used
// for both the lapse test and the new expiry), as in kvmeta and for
// Brokers.Expires. Spanner's TrueTime is not used: the commit timestamp
// cannot be read inside the transaction that writes it. So lease holders
// must tolerate clock skew between brokers: a broker whose clock runs
// ahead by d sees others' leases lapse d early. Choose ttl well above
// the expected skew (NTP keeps it to milliseconds), and have a holder
// renew well before ttl runs out.
func (l lifecycle) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var ok bool
	err := l.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		ok = false
		cur, exists, err := getLease(ctx, tx, name)
		if err != nil {
			return err
		}
		next, granted := meta.GrantLease(cur, exists, holder, time.Now(), ttl)
		if !granted {
			return nil
		}
		ok = true
		return tx.BufferWrite([]*spanner.Mutation{spanner.InsertOrUpdate("Leases", leaseCols,
			[]any{name, next.Holder, next.Expires.UTC()})})
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

// ReleaseLease deletes the lease row if holder holds it (lapsed or not,
// as kvmeta); another holder's lease, or none, is left alone.
func (l lifecycle) ReleaseLease(ctx context.Context, name, holder string) error {
	return l.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		cur, exists, err := getLease(ctx, tx, name)
		if err != nil || !exists || cur.Holder != holder {
			return err
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.Delete("Leases", spanner.Key{name})})
	})
}

// producerStampMutations is the most an ExpireProducers transaction
// costs per row: a stamp writes LastWrite and the three key columns (a
// delete by key costs one).
const producerStampMutations = 4

// producerStampCols are the columns a stamp writes.
var producerStampCols = []string{"TopicId", "PartitionId", "ProducerId", "LastWrite"}

// expiryCandidate is a ProducerStates row that looked idle or unstamped.
type expiryCandidate struct {
	pid       int64
	lastWrite spanner.NullTime
}

// ExpireProducers first finds the candidates with a strong read of the
// partition's ProducerStates rows (one key prefix, interleaved under the
// partition; ProducerId and LastWrite only). That read locks nothing, so
// it never delays a commit, and a partition with nothing to expire costs
// it alone. Then one read-write transaction reads the candidates again by
// key, which locks them against commits, deletes those still last written
// before idleBefore and stamps those still NULL with the commit timestamp;
// a candidate a commit wrote in between is kept. One transaction takes as
// many candidates as max_mutations allows at a stamp's cost; the rest are
// left to the next call (More), never split over transactions in one call.
//
// LastWrite is Spanner's commit timestamp and idleBefore the broker's
// clock, so clock skew shifts expiry by as much: negligible against an
// expiration of hours.
func (l lifecycle) ExpireProducers(ctx context.Context, tp meta.TP, idleBefore time.Time) (meta.ProducerExpiry, error) {
	start := time.Now()
	var (
		cands []expiryCandidate
		kept  time.Time
	)
	err := l.s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		cands, kept = cands[:0], start
		return tx.Read(ctx, "ProducerStates", tpKey(tp).AsPrefix(), []string{"ProducerId", "LastWrite"}).Do(func(row *spanner.Row) error {
			var c expiryCandidate
			if err := row.Columns(&c.pid, &c.lastWrite); err != nil {
				return err
			}
			switch {
			case !c.lastWrite.Valid || c.lastWrite.Time.Before(idleBefore):
				cands = append(cands, c)
			case c.lastWrite.Time.Before(kept):
				kept = c.lastWrite.Time
			}
			return nil
		})
	})
	if err != nil {
		return meta.ProducerExpiry{}, err
	}
	res := meta.ProducerExpiry{KeptSince: kept}
	if len(cands) == 0 {
		return res, nil
	}
	if limit := max(1, l.s.cfg.maxMutations/producerStampMutations); len(cands) > limit {
		// The rows left for later keep their old last writes (an
		// unstamped one gets a later stamp).
		for _, c := range cands[limit:] {
			if c.lastWrite.Valid && c.lastWrite.Time.Before(kept) {
				kept = c.lastWrite.Time
			}
		}
		cands, res.More = cands[:limit], true
	}
	err = l.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		res.Removed, res.Stamped, res.KeptSince = 0, 0, kept
		keys := make([]spanner.KeySet, len(cands))
		for i, c := range cands {
			keys[i] = spanner.Key{tp.Topic[:], int64(tp.Partition), c.pid}
		}
		var ms []*spanner.Mutation
		err := tx.Read(ctx, "ProducerStates", spanner.KeySets(keys...), []string{"ProducerId", "LastWrite"}).Do(func(row *spanner.Row) error {
			var c expiryCandidate
			if err := row.Columns(&c.pid, &c.lastWrite); err != nil {
				return err
			}
			switch {
			case !c.lastWrite.Valid:
				ms = append(ms, spanner.Update("ProducerStates", producerStampCols,
					[]any{tp.Topic[:], int64(tp.Partition), c.pid, spanner.CommitTimestamp}))
				res.Stamped++
			case c.lastWrite.Time.Before(idleBefore):
				ms = append(ms, spanner.Delete("ProducerStates", spanner.Key{tp.Topic[:], int64(tp.Partition), c.pid}))
				res.Removed++
			case c.lastWrite.Time.Before(res.KeptSince):
				res.KeptSince = c.lastWrite.Time
			}
			return nil
		})
		if err != nil || len(ms) == 0 {
			return err
		}
		return tx.BufferWrite(ms)
	})
	if err != nil {
		return meta.ProducerExpiry{}, err
	}
	return res, nil
}
