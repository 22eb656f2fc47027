package instrumented

import (
	"context"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Lifecycle returns the wrapped store's lifecycle operations, counted:
// ReplaceEntries and the leases as writes (one transaction each);
// ExpireProducers as a read, and also as a write when it deleted or
// stamped a state (it writes only then). So the broker's metadata
// transaction figures include the lifecycle's work.
func (w *Store) Lifecycle() meta.Lifecycle { return lifecycle{w: w, l: w.Store.Lifecycle()} }

type lifecycle struct {
	w *Store
	l meta.Lifecycle
}

func (l lifecycle) ReplaceEntries(ctx context.Context, tp meta.TP, old, repl []meta.IndexEntry) error {
	c := l.w.begin(write, "replace_entries")
	err := l.l.ReplaceEntries(ctx, tp, old, repl)
	c.end(err)
	return err
}

func (l lifecycle) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	c := l.w.begin(write, "acquire_lease")
	ok, err := l.l.AcquireLease(ctx, name, holder, ttl)
	c.end(err)
	return ok, err
}

func (l lifecycle) ReleaseLease(ctx context.Context, name, holder string) error {
	c := l.w.begin(write, "release_lease")
	err := l.l.ReleaseLease(ctx, name, holder)
	c.end(err)
	return err
}

func (l lifecycle) ExpireProducers(ctx context.Context, tp meta.TP, idleBefore time.Time) (meta.ProducerExpiry, error) {
	c := l.w.begin(read, "expire_producers")
	res, err := l.l.ExpireProducers(ctx, tp, idleBefore)
	c.end(err)
	if res.Removed+res.Stamped > 0 {
		l.w.c.Writes.Add(1)
	}
	return res, err
}
