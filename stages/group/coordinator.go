package group

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Config configures a Coordinator.
type Config struct {
	Store meta.Store
	// MinSessionTimeout and MaxSessionTimeout bound the session timeouts
	// members may ask for (group.min/max.session.timeout.ms; defaults 6 s
	// and 30 min).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long
	// the first rebalance of an empty group waits for more members (0:
	// none; Kafka's default is 3 s).
	InitialRebalanceDelay time.Duration
	// OffsetsRetention is offsets.retention.minutes (default 7 days).
	OffsetsRetention time.Duration
	// RetentionCheckInterval is offsets.retention.check.interval.ms
	// (default 10 min).
	RetentionCheckInterval time.Duration
	// MaxMemberMetadataBytes bounds one member's protocol metadata and one
	// assignment (default 1 MiB, the record size Kafka's __consumer_offsets
	// accepts). Larger ones answer UNKNOWN_SERVER_ERROR, as Kafka does
	// when it cannot write the group record.
	MaxMemberMetadataBytes int
	Logger                 *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Coordinator serves the classic group protocol over a meta.Store. It
// holds no group state: any number of coordinators (one per broker) may
// share a store.
type Coordinator struct {
	cfg    Config
	groups meta.Groups
	log    *slog.Logger

	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup

	// Offset commits arriving together share one store transaction (one
	// fsync for the embedded store): see CommitOffsets.
	cmu      sync.Mutex
	queue    []*pendingCommit
	flushing bool
}

// New returns a Coordinator. Start starts its offset retention sweep.
func New(cfg Config) *Coordinator {
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = 6 * time.Second
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = 30 * time.Minute
	}
	if cfg.InitialRebalanceDelay < 0 {
		cfg.InitialRebalanceDelay = 0
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = 7 * 24 * time.Hour
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = 10 * time.Minute
	}
	if cfg.MaxMemberMetadataBytes <= 0 {
		cfg.MaxMemberMetadataBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Coordinator{cfg: cfg, groups: cfg.Store.Groups(), log: cfg.Logger, stop: make(chan struct{})}
}

// Start runs the offset retention sweep until Close.
func (c *Coordinator) Start() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.cfg.RetentionCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if n, err := c.ExpireOffsets(ctx); err != nil {
					c.log.Warn("offset retention sweep", "err", err)
				} else if n > 0 {
					c.log.Info("expired committed offsets", "offsets", n)
				}
				cancel()
			}
		}
	}()
}

// Close stops the sweep and answers requests still waiting (JoinGroup,
// SyncGroup) with NOT_COORDINATOR, so their clients retry elsewhere.
func (c *Coordinator) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
}

func (c *Coordinator) now() time.Time { return c.cfg.Now().UTC() }

// txn is one group transaction: the group as read (nil: none), advanced
// to now; fn changes it and sets dirty (or deleted).
type txn struct {
	tx      meta.GroupTx
	g       *meta.Group
	now     time.Time
	dirty   bool
	deleted bool
}

// update runs fn in a store transaction on the group, after applying the
// deadlines that passed, and stores the group if anything changed it.
func (c *Coordinator) update(ctx context.Context, name string, fn func(t *txn) error) error {
	return c.groups.UpdateGroup(ctx, name, func(tx meta.GroupTx) error { return c.run(tx, fn) })
}

// run is the body of update, for one group of a (possibly shared)
// transaction.
func (c *Coordinator) run(tx meta.GroupTx, fn func(t *txn) error) error {
	g, err := tx.Group()
	if err != nil {
		return err
	}
	t := &txn{tx: tx, g: g, now: c.now()}
	if g != nil {
		t.dirty = c.advance(g, t.now)
	}
	if err := fn(t); err != nil {
		return err
	}
	if t.deleted {
		return tx.DeleteGroup()
	}
	if t.g != nil {
		t.dirty = c.advance(t.g, t.now) || t.dirty
	}
	if t.dirty && t.g != nil {
		return tx.PutGroup(t.g)
	}
	return nil
}

// load reads the group advanced to now, storing it if deadlines changed
// it (so reads bring idle groups up to date too). nil: no group.
func (c *Coordinator) load(ctx context.Context, name string) (*meta.Group, error) {
	var g *meta.Group
	err := c.groups.ViewGroup(ctx, name, func(tx meta.GroupTx) error {
		var err error
		g, err = tx.Group()
		return err
	})
	if err != nil || g == nil {
		return g, err
	}
	if !c.advance(g, c.now()) {
		return g, nil
	}
	err = c.update(ctx, name, func(t *txn) error {
		g = t.g
		return nil
	})
	return g, err
}

var errStopping = errors.New("group: coordinator stopping")

// wait holds a request until check says its answer is ready: it re-reads
// the group whenever the store reports a change or the group's next
// deadline passes. stop ends the wait early (broker shutdown).
func (c *Coordinator) wait(ctx context.Context, stop <-chan struct{}, name string, check func(g *meta.Group) bool) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := c.groups.Watch(name)
		g, err := c.load(ctx, name)
		if err != nil {
			return err
		}
		if check(g) {
			return nil
		}
		timer.Stop()
		var fire <-chan time.Time
		if g != nil {
			if d, ok := nextDeadline(g); ok {
				timer.Reset(max(d.Sub(c.now()), 0) + time.Millisecond)
				fire = timer.C
			}
		}
		select {
		case <-changed:
		case <-fire:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return errStopping
		case <-c.stop:
			return errStopping
		}
	}
}

// ExpireOffsets deletes the committed offsets of empty groups that are
// older than OffsetsRetention (counted from the later of the commit and
// the time the group became empty), and empty groups left with no
// offsets. It returns how many offsets it deleted.
func (c *Coordinator) ExpireOffsets(ctx context.Context) (int, error) {
	list, err := c.groups.ListGroups(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, lg := range list {
		if lg.State != meta.GroupEmpty {
			// Deadlines may have emptied it since: advance decides below.
			g := lg
			if !c.advance(&g, c.now()) || g.State != meta.GroupEmpty {
				continue
			}
		}
		var n int
		err := c.update(ctx, lg.Name, func(t *txn) error {
			n = 0
			if t.g == nil || t.g.State != meta.GroupEmpty {
				return nil
			}
			offs, err := t.tx.Offsets()
			if err != nil {
				return err
			}
			left := len(offs)
			for _, o := range offs {
				base := o.CommitTime
				if t.g.ProtocolType != "" && t.g.StateSince.After(base) {
					base = t.g.StateSince
				}
				if t.now.Sub(base) >= c.cfg.OffsetsRetention {
					if err := t.tx.DeleteOffset(o.Topic, o.Partition); err != nil {
						return err
					}
					n++
					left--
				}
			}
			if left == 0 {
				t.deleted = true
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
