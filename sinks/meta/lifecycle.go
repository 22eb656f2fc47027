package meta

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The data lifecycle (archive, retention, vacuum) changes what the index
// points to without changing any offset. Its rules are the same for every
// backend and live here; a backend only runs them in one transaction.
//
// An archive entry (Kind EntryArchive) stands for a run of offsets whose
// batches were copied into per-partition segment objects. Its ObjectKey is
// the partition's segment catalog (codec.Catalog), an object listing
// the segments; the segments themselves are intake-format objects holding
// one partition. A partition has at most one archive entry, always its
// oldest entry: so its index rows in the store are bounded by one archive
// entry plus the intake entries not yet archived.

// EntryKind says what an index entry's object is.
type EntryKind uint8

const (
	// EntryIntake: the object is an intake object (codec/intake.go); the
	// entry's run lies in [ByteStart, ByteEnd) of it.
	EntryIntake EntryKind = 0
	// EntryArchive: the object is a segment catalog, read whole
	// (ObjectSize bytes); ByteEnd-ByteStart is the batch bytes of the
	// segments it lists.
	EntryArchive EntryKind = 1
)

func (k EntryKind) String() string {
	switch k {
	case EntryIntake:
		return "intake"
	case EntryArchive:
		return "archive"
	}
	return fmt.Sprintf("EntryKind(%d)", k)
}

// Errors of the lifecycle operations.
var (
	// ErrConflict: the entries a ReplaceEntries call meant to replace
	// are no longer exactly the stored ones (another archiver, retention
	// or DeleteRecords got there first). Nothing was written; the caller
	// plans again from fresh entries.
	ErrConflict = errors.New("meta: index changed concurrently")
	// ErrObjectExpired: a commit arrived after its object's deadline
	// (ObjectCommit.Deadline). The vacuum may already have deleted the
	// object as an orphan, so its batches are refused (retriable: the
	// producer sends them again in a new object).
	ErrObjectExpired = errors.New("meta: object committed after its deadline")
)

// Lifecycle holds the metadata operations of archive, retention, vacuum and
// producer-state expiry. Every method is safe for concurrent use, from any
// number of brokers.
type Lifecycle interface {
	// ReplaceEntries deletes old (index entries of tp, in offset order,
	// each matched by LastOffset, ObjectKey and Kind) and writes repl in
	// one transaction. repl must cover what old covered from the log start
	// on: the same last offset, contiguous, starting at or below
	// max(old[0].BaseOffset, LogStart) (CheckReplace). If any old entry is
	// gone or differs the result is ErrConflict and nothing changes.
	ReplaceEntries(ctx context.Context, tp TP, old, repl []IndexEntry) error

	// AcquireLease takes the named lease for holder until now+ttl, or
	// renews it if holder has it. ok is false (and nothing changes) while
	// another holder's lease has not lapsed.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (ok bool, err error)
	// ReleaseLease gives up holder's lease early; a lease held by another
	// holder is left alone.
	ReleaseLease(ctx context.Context, name, holder string) error

	// ExpireProducers deletes tp's producer states last written before
	// idleBefore, as Kafka drops a producer's state after
	// producer.id.expiration.ms without a write from it: every new client
	// process gets a new producer id, so the states would otherwise grow
	// without bound. Each state's last write is checked inside the
	// deleting transaction, so a state written meanwhile is kept. A state
	// without a LastWrite (written before stores recorded it) is stamped
	// with the call's time instead of deleted, so it expires one
	// expiration after the first call rather than at once. A producer
	// whose state was deleted starts over as one new to the partition:
	// its next batch must have sequence 0. An unknown partition has
	// nothing to expire.
	ExpireProducers(ctx context.Context, tp TP, idleBefore time.Time) (ProducerExpiry, error)
}

// ProducerExpiry is what one ExpireProducers call did.
type ProducerExpiry struct {
	// Removed counts the states deleted, Stamped the states given their
	// first LastWrite.
	Removed, Stamped int
	// KeptSince bounds the last writes of the states left: none of them,
	// nor any written later, was last written before it (up to clock
	// skew between brokers and the store): the oldest LastWrite kept, or
	// the call's time. So nothing of tp can expire before KeptSince plus
	// the expiration, and the caller need not look again until then.
	KeptSince time.Time
	// More reports that the call stopped at a backend limit (Spanner's
	// mutations per transaction) with states still to delete or stamp;
	// the caller calls again.
	More bool
}

// CheckReplace validates a ReplaceEntries call against the partition's
// state; backends call it inside the transaction, after matching old.
func CheckReplace(tp TP, st PartitionState, old, repl []IndexEntry) error {
	if len(old) == 0 {
		return fmt.Errorf("meta: replace entries: nothing to replace")
	}
	for i := range old {
		if old[i].TP != tp || (i > 0 && old[i].BaseOffset != old[i-1].LastOffset+1) {
			return fmt.Errorf("meta: replace entries: old entries not one contiguous run of the partition")
		}
	}
	if len(repl) == 0 {
		// Dropping entries is allowed only below the log start.
		if old[len(old)-1].LastOffset >= st.LogStart {
			return fmt.Errorf("meta: replace entries: dropping readable offsets")
		}
		return nil
	}
	for i := range repl {
		e := &repl[i]
		if e.TP != tp || e.BaseOffset > e.LastOffset || (i > 0 && e.BaseOffset != repl[i-1].LastOffset+1) {
			return fmt.Errorf("meta: replace entries: new entries not one contiguous run of the partition")
		}
	}
	if repl[len(repl)-1].LastOffset != old[len(old)-1].LastOffset {
		return fmt.Errorf("meta: replace entries: new entries end at %d, old at %d", repl[len(repl)-1].LastOffset, old[len(old)-1].LastOffset)
	}
	if repl[0].BaseOffset > max(old[0].BaseOffset, st.LogStart) {
		return fmt.Errorf("meta: replace entries: new entries start at %d, above the readable %d", repl[0].BaseOffset, max(old[0].BaseOffset, st.LogStart))
	}
	if repl[0].BaseOffset < old[0].BaseOffset {
		return fmt.Errorf("meta: replace entries: new entries start at %d, below the old %d", repl[0].BaseOffset, old[0].BaseOffset)
	}
	return nil
}

// SameEntry reports whether a stored entry is the one a caller read: the
// lifecycle's compare-and-swap test.
func SameEntry(stored, want *IndexEntry) bool {
	return stored.LastOffset == want.LastOffset && stored.BaseOffset == want.BaseOffset &&
		stored.ObjectKey == want.ObjectKey && stored.Kind == want.Kind
}

// LeaseRecord is a lease as backends store it.
type LeaseRecord struct {
	Holder  string
	Expires time.Time
}

// GrantLease applies the lease rules: holder gets (or renews) the lease
// unless another holder's has not lapsed at now.
func GrantLease(cur LeaseRecord, exists bool, holder string, now time.Time, ttl time.Duration) (LeaseRecord, bool) {
	if exists && cur.Holder != holder && now.Before(cur.Expires) {
		return cur, false
	}
	return LeaseRecord{Holder: holder, Expires: now.Add(ttl)}, true
}
