package spannermeta

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/sluicedata/sluice/sinks/meta"
)

type groups struct{ s *Store }

// Groups returns the consumer group store. Groups live in ConsumerGroups
// (one row per group, the group as JSON plus Version and a commit
// timestamp) and GroupOffsets (one row per committed offset).
func (s *Store) Groups() meta.Groups { return groups{s} }

var errReadOnly = errors.New("spannermeta: write in a read-only group transaction")

type offsetKey struct {
	topic     string
	partition int32
}

// groupTx is one ViewGroup or UpdateGroup transaction. Spanner does not
// show a transaction's buffered writes to its own reads, so the writes are
// also kept here and reads consult them first: fn sees its own writes, as
// with kvmeta.
type groupTx struct {
	ctx  context.Context
	rd   reader
	rw   *spanner.ReadWriteTransaction // nil in ViewGroup
	name string

	loaded  bool
	record  []byte // current group JSON, nil if none
	version int64
	changed bool

	offsets        map[offsetKey]*meta.GroupOffset // written (nil: deleted) in this tx
	offsetsCleared bool                            // DeleteGroup ran: stored offsets are gone
}

func (t *groupTx) load() error {
	if t.loaded {
		return nil
	}
	row, err := t.rd.ReadRow(t.ctx, "ConsumerGroups", spanner.Key{t.name}, []string{"Version", "Record"})
	if err != nil && !isNotFound(err) {
		return err
	}
	if err == nil {
		var rec string
		if err := row.Columns(&t.version, &rec); err != nil {
			return err
		}
		t.record = []byte(rec)
	}
	t.loaded = true
	return nil
}

func (t *groupTx) Group() (*meta.Group, error) {
	if err := t.load(); err != nil {
		return nil, err
	}
	if t.record == nil {
		return nil, nil
	}
	var g meta.Group
	if err := json.Unmarshal(t.record, &g); err != nil {
		return nil, fmt.Errorf("spannermeta: decode group %q: %w", t.name, err)
	}
	return &g, nil
}

func (t *groupTx) PutGroup(g *meta.Group) error {
	if t.rw == nil {
		return errReadOnly
	}
	if g.Name != t.name {
		return fmt.Errorf("spannermeta: PutGroup of %q in a transaction of %q", g.Name, t.name)
	}
	if err := t.load(); err != nil {
		return err
	}
	var version int64
	if t.record != nil {
		version = t.version
	}
	g.Version = uint64(version + 1)
	rec, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("spannermeta: encode group %q: %w", t.name, err)
	}
	t.record, t.version, t.changed = rec, version+1, true
	return t.rw.BufferWrite([]*spanner.Mutation{spanner.InsertOrUpdate("ConsumerGroups",
		[]string{"GroupName", "Version", "Record", "UpdatedAt"},
		[]any{t.name, t.version, string(rec), spanner.CommitTimestamp})})
}

func (t *groupTx) DeleteGroup() error {
	if t.rw == nil {
		return errReadOnly
	}
	t.loaded, t.record, t.version, t.changed = true, nil, 0, true
	t.offsets, t.offsetsCleared = nil, true
	return t.rw.BufferWrite([]*spanner.Mutation{
		spanner.Delete("ConsumerGroups", spanner.Key{t.name}),
		spanner.Delete("GroupOffsets", spanner.Key{t.name}.AsPrefix()),
	})
}

var offsetCols = []string{"Topic", "PartitionId", "CommittedOffset", "LeaderEpoch", "Metadata", "CommitTime"}

func decodeOffset(row *spanner.Row) (meta.GroupOffset, error) {
	var (
		o       meta.GroupOffset
		p, le   int64
		md      spanner.NullString
		written time.Time
	)
	if err := row.Columns(&o.Topic, &p, &o.Offset, &le, &md, &written); err != nil {
		return o, err
	}
	o.Partition, o.LeaderEpoch, o.CommitTime = int32(p), int32(le), written.UTC()
	if md.Valid {
		o.Metadata = &md.StringVal
	}
	return o, nil
}

func (t *groupTx) Offset(topic string, partition int32) (meta.GroupOffset, bool, error) {
	if o, ok := t.offsets[offsetKey{topic, partition}]; ok {
		if o == nil {
			return meta.GroupOffset{}, false, nil
		}
		return *o, true, nil
	}
	if t.offsetsCleared {
		return meta.GroupOffset{}, false, nil
	}
	row, err := t.rd.ReadRow(t.ctx, "GroupOffsets", spanner.Key{t.name, topic, int64(partition)}, offsetCols)
	if isNotFound(err) {
		return meta.GroupOffset{}, false, nil
	}
	if err != nil {
		return meta.GroupOffset{}, false, err
	}
	o, err := decodeOffset(row)
	return o, err == nil, err
}

func (t *groupTx) Offsets() ([]meta.GroupOffset, error) {
	var out []meta.GroupOffset
	if !t.offsetsCleared {
		err := t.rd.Query(t.ctx, spanner.Statement{
			SQL: `SELECT Topic, PartitionId, CommittedOffset, LeaderEpoch, Metadata, CommitTime
				FROM GroupOffsets WHERE GroupName = @g ORDER BY Topic, PartitionId`,
			Params: map[string]any{"g": t.name},
		}).Do(func(row *spanner.Row) error {
			o, err := decodeOffset(row)
			if err != nil {
				return err
			}
			if _, over := t.offsets[offsetKey{o.Topic, o.Partition}]; !over {
				out = append(out, o)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(t.offsets) == 0 {
		return out, nil
	}
	for _, o := range t.offsets {
		if o != nil {
			out = append(out, *o)
		}
	}
	slices.SortFunc(out, func(a, b meta.GroupOffset) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

func (t *groupTx) setOffset(k offsetKey, o *meta.GroupOffset) {
	if t.offsets == nil {
		t.offsets = map[offsetKey]*meta.GroupOffset{}
	}
	t.offsets[k] = o
}

func (t *groupTx) PutOffsets(offs []meta.GroupOffset) error {
	if t.rw == nil {
		return errReadOnly
	}
	ms := make([]*spanner.Mutation, 0, len(offs))
	for i := range offs {
		o := offs[i]
		// Millisecond precision, as Kafka's commit timestamps and kvmeta.
		o.CommitTime = time.UnixMilli(o.CommitTime.UnixMilli()).UTC()
		if o.Metadata != nil {
			md := *o.Metadata
			o.Metadata = &md
		}
		var md spanner.NullString
		if o.Metadata != nil {
			md = spanner.NullString{StringVal: *o.Metadata, Valid: true}
		}
		t.setOffset(offsetKey{o.Topic, o.Partition}, &o)
		ms = append(ms, spanner.InsertOrUpdate("GroupOffsets",
			[]string{"GroupName", "Topic", "PartitionId", "CommittedOffset", "LeaderEpoch", "Metadata", "CommitTime"},
			[]any{t.name, o.Topic, int64(o.Partition), o.Offset, int64(o.LeaderEpoch), md, o.CommitTime}))
	}
	return t.rw.BufferWrite(ms)
}

func (t *groupTx) DeleteOffset(topic string, partition int32) error {
	if t.rw == nil {
		return errReadOnly
	}
	t.setOffset(offsetKey{topic, partition}, nil)
	return t.rw.BufferWrite([]*spanner.Mutation{spanner.Delete("GroupOffsets", spanner.Key{t.name, topic, int64(partition)})})
}

// ViewGroup runs fn in a strong read-only transaction: the coordinator
// decides on what it reads, so it must see every committed change.
func (g groups) ViewGroup(ctx context.Context, name string, fn func(meta.GroupTx) error) error {
	return g.s.view(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		return fn(&groupTx{ctx: ctx, rd: tx, name: name})
	})
}

// UpdateGroup runs fn in a read-write transaction, rerun by the client
// library if Spanner aborts it; watchers in this process are woken right
// after the commit, those of other processes by their poller.
func (g groups) UpdateGroup(ctx context.Context, name string, fn func(meta.GroupTx) error) error {
	var gt *groupTx
	err := g.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		gt = &groupTx{ctx: ctx, rd: tx, rw: tx, name: name}
		return fn(gt)
	})
	if err == nil && gt != nil && gt.changed {
		g.s.watch.notify(name)
	}
	return err
}

// UpdateGroups is UpdateGroup for several groups in one read-write
// transaction. A repeated name gets the same GroupTx, so later calls see
// the earlier ones' writes.
func (g groups) UpdateGroups(ctx context.Context, names []string, fn func(int, meta.GroupTx) error) error {
	var gts map[string]*groupTx
	err := g.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		gts = make(map[string]*groupTx, len(names))
		for i, name := range names {
			gt := gts[name]
			if gt == nil {
				gt = &groupTx{ctx: ctx, rd: tx, rw: tx, name: name}
				gts[name] = gt
			}
			if err := fn(i, gt); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for name, gt := range gts {
			if gt.changed {
				g.s.watch.notify(name)
			}
		}
	}
	return err
}

// ListGroups is a strong read, ordered by name.
func (g groups) ListGroups(ctx context.Context) ([]meta.Group, error) {
	var out []meta.Group
	err := g.s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		out = out[:0]
		return tx.Query(ctx, spanner.Statement{SQL: `SELECT GroupName, Record FROM ConsumerGroups ORDER BY GroupName`}).
			Do(func(row *spanner.Row) error {
				var name, rec string
				if err := row.Columns(&name, &rec); err != nil {
					return err
				}
				var gr meta.Group
				if err := json.Unmarshal([]byte(rec), &gr); err != nil {
					return fmt.Errorf("spannermeta: decode group %q: %w", name, err)
				}
				out = append(out, gr)
				return nil
			})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Watch returns a channel closed after the group's next change. Changes
// made through this Store close it right after their commit; changes
// made by other processes are seen by polling (see watcher).
func (g groups) Watch(name string) <-chan struct{} { return g.s.watch.add(name) }

// stamp identifies one committed state of a group row: Version alone
// could repeat after a delete and re-create, the commit timestamp cannot.
type stamp struct {
	exists  bool
	version int64
	updated time.Time
}

func (a stamp) equal(b stamp) bool {
	return a.exists == b.exists && a.version == b.version && a.updated.Equal(b.updated)
}

type watch struct {
	ch     chan struct{}
	base   stamp
	baseOK bool // false: the baseline read failed; wake at the first poll
}

// watcher polls the watched groups of one Store: every
// meta.GroupPollInterval one strong query reads the stamps of all
// watched groups (only those), and closes the channels of those that
// differ from the stamp read when the watch was taken. It runs only while
// something is watched.
type watcher struct {
	s       *Store
	mu      sync.Mutex
	m       map[string]*watch
	running bool
	done    chan struct{}
	stopped bool
	wg      sync.WaitGroup
}

func newWatcher(s *Store) *watcher {
	return &watcher{s: s, m: map[string]*watch{}, done: make(chan struct{})}
}

func (w *watcher) add(name string) <-chan struct{} {
	w.mu.Lock()
	if x, ok := w.m[name]; ok {
		w.mu.Unlock()
		return x.ch
	}
	w.mu.Unlock()
	// The baseline is read before the caller reads the state the channel
	// guards, so a change after that read changes the stamp.
	base, err := w.read([]string{name})
	w.mu.Lock()
	defer w.mu.Unlock()
	if x, ok := w.m[name]; ok {
		return x.ch
	}
	x := &watch{ch: make(chan struct{}), base: base[name], baseOK: err == nil}
	if w.stopped {
		return x.ch
	}
	w.m[name] = x
	if !w.running {
		w.running = true
		w.wg.Add(1)
		go w.poll()
	}
	return x.ch
}

func (w *watcher) notify(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x, ok := w.m[name]; ok {
		close(x.ch)
		delete(w.m, name)
	}
}

// read returns the stamps of names (absent groups: the zero stamp).
func (w *watcher) read(names []string) (map[string]stamp, error) {
	out := make(map[string]stamp, len(names))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		return tx.Query(ctx, spanner.Statement{
			SQL:    `SELECT GroupName, Version, UpdatedAt FROM ConsumerGroups WHERE GroupName IN UNNEST(@names)`,
			Params: map[string]any{"names": names},
		}).Do(func(row *spanner.Row) error {
			var (
				name string
				st   = stamp{exists: true}
			)
			if err := row.Columns(&name, &st.version, &st.updated); err != nil {
				return err
			}
			out[name] = st
			return nil
		})
	})
	return out, err
}

func (w *watcher) poll() {
	defer w.wg.Done()
	t := time.NewTicker(meta.GroupPollInterval)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
		}
		w.mu.Lock()
		if len(w.m) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		names := make([]string, 0, len(w.m))
		for n := range w.m {
			names = append(names, n)
		}
		w.mu.Unlock()
		got, err := w.read(names)
		if err != nil {
			continue // transient; the next tick retries
		}
		w.mu.Lock()
		for _, n := range names {
			x, ok := w.m[n]
			if !ok {
				continue
			}
			if !x.baseOK || !got[n].equal(x.base) {
				close(x.ch)
				delete(w.m, n)
			}
		}
		w.mu.Unlock()
	}
}

// stop ends the poller; channels still watched stay open.
func (w *watcher) stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.done)
	}
	w.mu.Unlock()
	w.wg.Wait()
}
