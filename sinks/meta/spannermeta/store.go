package spannermeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() {
	meta.Register(Scheme, func(ctx context.Context, url, _ string) (meta.Store, error) {
		s, err := Open(ctx, url)
		if err != nil {
			return nil, err // not a typed nil *Store in a non-nil interface
		}
		return s, nil
	})
}

// firstProducerID is the first id NextProducerID hands out (as kvmeta).
const firstProducerID = 1000

// Store implements meta.Store on Cloud Spanner.
type Store struct {
	client *spanner.Client
	cfg    config
	// mu guards closed; every call holds it shared for its duration so
	// that Close waits for calls in flight (as kvmeta does).
	mu     sync.RWMutex
	closed bool

	watch *watcher
}

var _ meta.Store = (*Store)(nil)

// Open connects to the database named by url (see package doc), checks
// that it is reachable and at this build's schema version (migrating it
// first if the URL says auto_migrate=true), and returns the store. Every
// failure is one error saying what is wrong and what to do.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, cfg.openTimeout)
	defer cancel()
	c, err := newClient(octx, cfg)
	if err != nil {
		return nil, err
	}
	if err := check(octx, ctx, c, cfg); err != nil {
		c.Close()
		return nil, err
	}
	s := &Store{client: c, cfg: cfg}
	s.watch = newWatcher(s)
	return s, nil
}

// check verifies reachability and the schema version; octx is bounded by
// the open timeout, ctx (for a migration) by the migrate timeout.
func check(octx, ctx context.Context, c *spanner.Client, cfg config) error {
	have, err := currentVersion(octx, c)
	if err != nil {
		if octx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("spannermeta: cannot reach %s for %s within %v: %w", endpoint(), cfg.url, cfg.openTimeout, err)
		}
		return cfg.describe(err)
	}
	want := SchemaVersion()
	if have != want && cfg.autoMigrate && have < want {
		mctx, cancel := context.WithTimeout(ctx, cfg.migrateTimeout)
		defer cancel()
		if _, have, err = migrate(mctx, c, cfg); err != nil {
			return err
		}
	}
	return checkVersion(have, want, cfg.url)
}

// Close closes the client. A second Close returns ErrClosed.
func (s *Store) Close() error {
	s.watch.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return meta.ErrClosed
	}
	s.closed = true
	s.client.Close()
	return nil
}

// op starts an operation: it fails on a closed store or a done context,
// bounds a context without deadline by the op timeout (so the client
// library's ABORTED retries end), and returns the function ending it.
func (s *Store) op(ctx context.Context) (context.Context, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, nil, meta.ErrClosed
	}
	cancel := func() {}
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, s.cfg.opTimeout)
	}
	return ctx, func() { cancel(); s.mu.RUnlock() }, nil
}

// update runs fn in a read-write transaction; the client library retries
// it on ABORTED until ctx's deadline.
func (s *Store) update(ctx context.Context, fn func(context.Context, *spanner.ReadWriteTransaction) error) error {
	ctx, done, err := s.op(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.retryEmulator(ctx, func() error {
		if s.cfg.emulator {
			emulatorMu.Lock()
			defer emulatorMu.Unlock()
		}
		_, err := s.client.ReadWriteTransaction(ctx, fn)
		return err
	})
}

// emulatorMu serializes read-write transactions in this process when
// talking to the emulator. The emulator runs one read-write transaction
// at a time; two overlapping ones on the client's (multiplexed) session
// fail with FailedPrecondition "Invalid transaction ID" or NotFound
// "Transaction not found" rather than ABORTED, which the client library
// does not retry. Overlapping transactions from different processes
// (different sessions) are aborted and retried as on Cloud Spanner, so
// the multi-process test still exercises conflicts.
var emulatorMu sync.Mutex

// retryEmulator runs attempt, and on the emulator runs it again while it
// fails with one of the emulator's transaction-bookkeeping errors (see
// emulatorMu), which reads and transactions of several processes still
// meet. Each such error is the emulator refusing a transaction it does
// not know, before anything was applied, so running it again is safe.
// Against Cloud Spanner attempt runs once: those answers there mean
// something else and go back to the caller.
func (s *Store) retryEmulator(ctx context.Context, attempt func() error) error {
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := attempt()
		if err == nil || !s.cfg.emulator || !isEmulatorTxnError(err) {
			return unwrap(err)
		}
		select {
		case <-ctx.Done():
			return unwrap(err)
		case <-time.After(wait):
		}
	}
}

// isTransient reports a Spanner answer that says nothing about the
// request itself: the service was unreachable, overloaded or too slow, or
// dropped the session or transaction. Errors a transaction function
// returned itself come back with code Unknown and are not transient.
func isTransient(err error) bool {
	switch spanner.ErrCode(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Internal:
		return true
	case codes.NotFound, codes.FailedPrecondition:
		desc := spanner.ErrDesc(err)
		return strings.Contains(desc, "ransaction") || strings.Contains(desc, "ession not found")
	}
	return false
}

// isEmulatorTxnError reports the emulator's answers to a transaction id it
// has already forgotten or not yet issued.
func isEmulatorTxnError(err error) bool {
	desc := spanner.ErrDesc(err)
	switch spanner.ErrCode(err) {
	case codes.FailedPrecondition:
		return strings.Contains(desc, "Invalid transaction ID")
	case codes.NotFound:
		return strings.Contains(desc, "Transaction not found")
	}
	return false
}

// view runs fn with a strong read-only transaction: every read in fn sees
// one snapshot that includes every transaction committed before.
func (s *Store) view(ctx context.Context, fn func(context.Context, *spanner.ReadOnlyTransaction) error) error {
	ctx, done, err := s.op(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.retryEmulator(ctx, func() error {
		tx := s.client.ReadOnlyTransaction()
		defer tx.Close()
		return fn(ctx, tx)
	})
}

// single runs fn with a strong single-use read.
func (s *Store) single(ctx context.Context, fn func(context.Context, *spanner.ReadOnlyTransaction) error) error {
	ctx, done, err := s.op(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.retryEmulator(ctx, func() error { return fn(ctx, s.client.Single()) })
}

// unwrap returns the meta sentinel errors a transaction function returned
// as themselves, whatever the client library wrapped around them; a
// failure that another attempt may not meet (see isTransient) is marked
// meta.ErrUnavailable so that the broker answers a retriable error.
func unwrap(err error) error {
	if err == nil {
		return nil
	}
	for _, e := range []error{
		meta.ErrTopicExists, meta.ErrUnknownTopicOrPartition, meta.ErrInvalidPartitions,
		meta.ErrInvalidProducerEpoch, meta.ErrOffsetOutOfRange, meta.ErrClosed, meta.ErrConflict,
		meta.ErrNodeIDTaken,
	} {
		if errors.Is(err, e) {
			return e
		}
	}
	if isTransient(err) {
		return fmt.Errorf("%w: %w", meta.ErrUnavailable, err)
	}
	return err
}

// reader is what the read-only and read-write transactions share.
type reader interface {
	ReadRow(ctx context.Context, table string, key spanner.Key, columns []string) (*spanner.Row, error)
	Read(ctx context.Context, table string, keys spanner.KeySet, columns []string) *spanner.RowIterator
	Query(ctx context.Context, statement spanner.Statement) *spanner.RowIterator
}

// isNotFound reports a ReadRow that found no row. It is not any NotFound:
// Spanner also answers NotFound for a session or transaction it dropped,
// and taking that for a missing row would read as an unknown topic or an
// empty producer state.
func isNotFound(err error) bool { return errors.Is(err, spanner.ErrRowNotFound) }

// ClusterID reads the id with a stale read first: once created it never
// changes, so any snapshot that has it is right, and a stale read is
// served by the nearest replica without a round trip to the leader
// (readiness probes call this often). Only if the snapshot has none does
// a read-write transaction create it (or find the one just created).
func (s *Store) ClusterID(ctx context.Context) (string, error) {
	var id spanner.NullString
	err := s.single(ctx, func(ctx context.Context, _ *spanner.ReadOnlyTransaction) error {
		row, err := s.client.Single().WithTimestampBound(spanner.MaxStaleness(15*time.Second)).
			ReadRow(ctx, "Cluster", spanner.Key{0}, []string{"ClusterId"})
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return row.Columns(&id)
	})
	if err != nil || id.Valid {
		return id.StringVal, err
	}
	err = s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		id = spanner.NullString{}
		row, err := tx.ReadRow(ctx, "Cluster", spanner.Key{0}, []string{"ClusterId"})
		if err != nil && !isNotFound(err) {
			return err
		}
		if err == nil {
			if err := row.Columns(&id); err != nil {
				return err
			}
		}
		if id.Valid {
			return nil
		}
		id = spanner.NullString{StringVal: uuid.NewString(), Valid: true}
		return tx.BufferWrite([]*spanner.Mutation{spanner.InsertOrUpdate("Cluster",
			[]string{"Id", "ClusterId"}, []any{0, id.StringVal})})
	})
	return id.StringVal, err
}

var topicCols = []string{"TopicId", "Name", "Partitions", "Configs", "CreatedAt"}

const topicSelect = `SELECT TopicId, Name, Partitions, Configs, CreatedAt FROM Topics`

type topicRow struct {
	id         meta.TopicID
	name       string
	partitions int64
	configs    map[string]string
	createdAt  time.Time
}

func (r *topicRow) topic() meta.Topic {
	return meta.Topic{
		Name:       r.name,
		ID:         r.id,
		Partitions: int32(r.partitions),
		Configs:    copyConfigs(r.configs),
		CreatedAt:  r.createdAt,
	}
}

func copyConfigs(c map[string]string) map[string]string {
	out := make(map[string]string, len(c))
	maps.Copy(out, c)
	return out
}

func decodeTopic(row *spanner.Row) (*topicRow, error) {
	var (
		r       topicRow
		id      []byte
		configs string
	)
	if err := row.Columns(&id, &r.name, &r.partitions, &configs, &r.createdAt); err != nil {
		return nil, err
	}
	if len(id) != len(r.id) {
		return nil, fmt.Errorf("spannermeta: topic %q has a %d-byte id", r.name, len(id))
	}
	copy(r.id[:], id)
	if err := json.Unmarshal([]byte(configs), &r.configs); err != nil {
		return nil, fmt.Errorf("spannermeta: decode configs of topic %q: %w", r.name, err)
	}
	r.createdAt = r.createdAt.UTC()
	return &r, nil
}

func topicByName(ctx context.Context, rd reader, name string) (*topicRow, error) {
	var r *topicRow
	err := rd.Query(ctx, spanner.Statement{
		SQL:    topicSelect + `@{FORCE_INDEX=TopicsByName} WHERE Name = @name`,
		Params: map[string]any{"name": name},
	}).Do(func(row *spanner.Row) error {
		var err error
		r, err = decodeTopic(row)
		return err
	})
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, meta.ErrUnknownTopicOrPartition
	}
	return r, nil
}

func topicByID(ctx context.Context, rd reader, id meta.TopicID) (*topicRow, error) {
	row, err := rd.ReadRow(ctx, "Topics", spanner.Key{id[:]}, topicCols)
	if isNotFound(err) {
		return nil, meta.ErrUnknownTopicOrPartition
	}
	if err != nil {
		return nil, err
	}
	return decodeTopic(row)
}

func encodeConfigs(c map[string]string) (string, error) {
	b, err := json.Marshal(copyConfigs(c))
	return string(b), err
}

// partitionMutations is what one new or changed partition row costs.
const partitionMutations = 6

func (s *Store) initPartitions(id meta.TopicID, from, to int32) ([]*spanner.Mutation, error) {
	if n := int(to-from) * partitionMutations; n > s.cfg.maxMutations {
		return nil, fmt.Errorf("spannermeta: %d partitions at once exceed Spanner's %d mutations per transaction: add them in steps of at most %d", to-from, s.cfg.maxMutations, s.cfg.maxMutations/partitionMutations-1)
	}
	ms := make([]*spanner.Mutation, 0, to-from)
	for p := from; p < to; p++ {
		ms = append(ms, spanner.Insert("Partitions", partitionCols,
			[]any{id[:], int64(p), int64(0), int64(0), int64(-1), int64(-1)}))
	}
	return ms, nil
}

func (s *Store) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (meta.Topic, error) {
	if name == "" {
		return meta.Topic{}, errors.New("meta: empty topic name")
	}
	if partitions < 1 {
		return meta.Topic{}, meta.ErrInvalidPartitions
	}
	cfgJSON, err := encodeConfigs(configs)
	if err != nil {
		return meta.Topic{}, err
	}
	var t meta.Topic
	err = s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		if _, err := topicByName(ctx, tx, name); err == nil {
			return meta.ErrTopicExists
		} else if !errors.Is(err, meta.ErrUnknownTopicOrPartition) {
			return err
		}
		id := meta.TopicID(uuid.New())
		for {
			if _, err := topicByID(ctx, tx, id); errors.Is(err, meta.ErrUnknownTopicOrPartition) {
				break
			} else if err != nil {
				return err
			}
			id = meta.TopicID(uuid.New())
		}
		created := time.Now().Truncate(time.Millisecond).UTC()
		ms, err := s.initPartitions(id, 0, partitions)
		if err != nil {
			return err
		}
		ms = append([]*spanner.Mutation{spanner.Insert("Topics", topicCols,
			[]any{id[:], name, int64(partitions), cfgJSON, created})}, ms...)
		t = meta.Topic{Name: name, ID: id, Partitions: partitions, Configs: copyConfigs(configs), CreatedAt: created}
		return tx.BufferWrite(ms)
	})
	if spanner.ErrCode(err) == codes.AlreadyExists {
		// Another broker created the same name between our read and
		// commit; the unique index refused ours.
		err = meta.ErrTopicExists
	}
	if err != nil {
		return meta.Topic{}, err
	}
	return t, nil
}

// DeleteTopic deletes the topic row; its partitions, index entries and
// producer states are interleaved under it with ON DELETE CASCADE, so
// they go in the same transaction.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	return s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		r, err := topicByName(ctx, tx, name)
		if err != nil {
			return err
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.Delete("Topics", spanner.Key{r.id[:]})})
	})
}

func (s *Store) Topic(ctx context.Context, name string) (meta.Topic, error) {
	var t meta.Topic
	err := s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		r, err := topicByName(ctx, tx, name)
		if err == nil {
			t = r.topic()
		}
		return err
	})
	return t, err
}

func (s *Store) TopicByID(ctx context.Context, id meta.TopicID) (meta.Topic, error) {
	var t meta.Topic
	err := s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		r, err := topicByID(ctx, tx, id)
		if err == nil {
			t = r.topic()
		}
		return err
	})
	return t, err
}

func (s *Store) Topics(ctx context.Context) ([]meta.Topic, error) {
	var out []meta.Topic
	err := s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		out = out[:0]
		return tx.Query(ctx, spanner.Statement{SQL: topicSelect + ` ORDER BY Name`}).Do(func(row *spanner.Row) error {
			r, err := decodeTopic(row)
			if err == nil {
				out = append(out, r.topic())
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) CreatePartitions(ctx context.Context, name string, total int32) error {
	return s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		r, err := topicByName(ctx, tx, name)
		if err != nil {
			return err
		}
		if int64(total) <= r.partitions {
			return meta.ErrInvalidPartitions
		}
		ms, err := s.initPartitions(r.id, int32(r.partitions), total)
		if err != nil {
			return err
		}
		ms = append(ms, spanner.Update("Topics", []string{"TopicId", "Partitions"}, []any{r.id[:], int64(total)}))
		return tx.BufferWrite(ms)
	})
}

func (s *Store) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	cfgJSON, err := encodeConfigs(configs)
	if err != nil {
		return err
	}
	return s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		r, err := topicByName(ctx, tx, name)
		if err != nil {
			return err
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.Update("Topics", []string{"TopicId", "Configs"}, []any{r.id[:], cfgJSON})})
	})
}

var partitionCols = []string{"TopicId", "PartitionId", "LogStart", "HighWatermark", "MaxTimestamp", "MaxTimestampOffset"}

func tpKey(tp meta.TP) spanner.Key { return spanner.Key{tp.Topic[:], int64(tp.Partition)} }

func decodePartition(row *spanner.Row) (meta.TP, meta.PartitionState, error) {
	var (
		id []byte
		p  int64
		ps meta.PartitionState
	)
	err := row.Columns(&id, &p, &ps.LogStart, &ps.HighWatermark, &ps.MaxTimestamp, &ps.MaxTimestampOffset)
	var tp meta.TP
	copy(tp.Topic[:], id)
	tp.Partition = int32(p)
	return tp, ps, err
}

func getPartition(ctx context.Context, rd reader, tp meta.TP) (meta.PartitionState, error) {
	row, err := rd.ReadRow(ctx, "Partitions", tpKey(tp), partitionCols)
	if isNotFound(err) {
		return meta.PartitionState{}, meta.ErrUnknownTopicOrPartition
	}
	if err != nil {
		return meta.PartitionState{}, err
	}
	_, ps, err := decodePartition(row)
	return ps, err
}

// PartitionState is a strong read: fetch uses the high watermark as the
// bound of what a consumer may read, so it must include every commit
// acknowledged to a producer (by any broker) before the call.
func (s *Store) PartitionState(ctx context.Context, tp meta.TP) (meta.PartitionState, error) {
	var ps meta.PartitionState
	err := s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		var err error
		ps, err = getPartition(ctx, tx, tp)
		return err
	})
	return ps, err
}

func (s *Store) DeleteRecords(ctx context.Context, tp meta.TP, offset int64) (int64, error) {
	var logStart int64
	err := s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		ps, err := getPartition(ctx, tx, tp)
		if err != nil {
			return err
		}
		off := offset
		if off == -1 {
			off = ps.HighWatermark
		}
		if off < 0 || off > ps.HighWatermark {
			return meta.ErrOffsetOutOfRange
		}
		logStart = ps.LogStart
		if off <= ps.LogStart {
			return nil
		}
		logStart = off
		// Entries wholly below the new log start (LastOffset < off) are
		// unreadable now: one range delete of the partition's keys below
		// (TopicId, PartitionId, off), in the same transaction. The entry
		// straddling the log start, if any, stays.
		return tx.BufferWrite([]*spanner.Mutation{
			spanner.Update("Partitions",
				[]string{"TopicId", "PartitionId", "LogStart"}, []any{tp.Topic[:], int64(tp.Partition), off}),
			spanner.Delete("IndexEntries", spanner.KeyRange{
				Start: spanner.Key{tp.Topic[:], int64(tp.Partition), int64(0)},
				End:   spanner.Key{tp.Topic[:], int64(tp.Partition), off},
				Kind:  spanner.ClosedOpen,
			}),
		})
	})
	if err != nil {
		return 0, err
	}
	return logStart, nil
}

const entrySelect = `SELECT TopicId, PartitionId, LastOffset, BaseOffset, MaxTimestamp, ObjectKey, ObjectSize,
	IndexPos, IndexLen, RelBase, ByteStart, ByteEnd, Kind FROM IndexEntries`

// entryCols are the IndexEntries columns, in entrySelect's order. Kind
// (schema version 3) is NOT NULL DEFAULT 0: rows written before it read
// as intake entries, which they are.
var entryCols = []string{"TopicId", "PartitionId", "LastOffset", "BaseOffset", "MaxTimestamp", "ObjectKey", "ObjectSize",
	"IndexPos", "IndexLen", "RelBase", "ByteStart", "ByteEnd", "Kind"}

func decodeEntry(row *spanner.Row) (meta.IndexEntry, error) {
	var (
		e    meta.IndexEntry
		id   []byte
		p    int64
		kind int64
	)
	err := row.Columns(&id, &p, &e.LastOffset, &e.BaseOffset, &e.MaxTimestamp, &e.ObjectKey, &e.ObjectSize,
		&e.IndexPos, &e.IndexLen, &e.RelBase, &e.ByteStart, &e.ByteEnd, &kind)
	copy(e.TP.Topic[:], id)
	e.TP.Partition = int32(p)
	if err == nil && (kind < 0 || kind > math.MaxUint8) {
		err = fmt.Errorf("spannermeta: index entry of topic %s partition %d at %d has kind %d", uuid.UUID(e.TP.Topic), p, e.LastOffset, kind)
	}
	e.Kind = meta.EntryKind(kind)
	return e, err
}

func entryValues(e *meta.IndexEntry) []any {
	return []any{e.TP.Topic[:], int64(e.TP.Partition), e.LastOffset, e.BaseOffset, e.MaxTimestamp, e.ObjectKey, e.ObjectSize,
		e.IndexPos, e.IndexLen, e.RelBase, e.ByteStart, e.ByteEnd, int64(e.Kind)}
}

// Entries reads the partition row and its entries in one strong
// read-only transaction (one snapshot): entries are written in the same
// transaction as the high watermark that covers them, so the entries seen
// are exactly those of the committed offsets, never more.
func (s *Store) Entries(ctx context.Context, tp meta.TP, from int64, limit int) ([]meta.IndexEntry, error) {
	from = max(from, 0)
	var out []meta.IndexEntry
	err := s.view(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		out = out[:0]
		if _, err := getPartition(ctx, tx, tp); err != nil {
			return err
		}
		stmt := spanner.Statement{
			SQL:    entrySelect + ` WHERE TopicId = @t AND PartitionId = @p AND LastOffset >= @from ORDER BY LastOffset`,
			Params: map[string]any{"t": tp.Topic[:], "p": int64(tp.Partition), "from": from},
		}
		if limit > 0 {
			stmt.SQL += ` LIMIT @limit`
			stmt.Params["limit"] = int64(limit)
		}
		return tx.Query(ctx, stmt).Do(func(row *spanner.Row) error {
			e, err := decodeEntry(row)
			if err == nil {
				out = append(out, e)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EntryAtTimestamp is a strong read-only transaction (ListOffsets answers
// must agree with the high watermark fetch sees). Like kvmeta it scans
// the partition's entries from the log start, here server-side.
func (s *Store) EntryAtTimestamp(ctx context.Context, tp meta.TP, ts int64) (meta.IndexEntry, bool, error) {
	var (
		found meta.IndexEntry
		ok    bool
	)
	err := s.view(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		ps, err := getPartition(ctx, tx, tp)
		if err != nil {
			return err
		}
		return tx.Query(ctx, spanner.Statement{
			SQL: entrySelect + ` WHERE TopicId = @t AND PartitionId = @p AND LastOffset >= @from AND MaxTimestamp >= @ts
				ORDER BY LastOffset LIMIT 1`,
			Params: map[string]any{"t": tp.Topic[:], "p": int64(tp.Partition), "from": ps.LogStart, "ts": ts},
		}).Do(func(row *spanner.Row) error {
			found, err = decodeEntry(row)
			ok = err == nil
			return err
		})
	})
	if err != nil {
		return meta.IndexEntry{}, false, err
	}
	return found, ok, nil
}

// NextProducerID increments one counter cell. That row is a hot spot only
// for InitProducerId, which producers call once per session.
func (s *Store) NextProducerID(ctx context.Context) (int64, error) {
	var id int64
	err := s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		id = firstProducerID
		row, err := tx.ReadRow(ctx, "Cluster", spanner.Key{0}, []string{"NextProducerId"})
		if err != nil && !isNotFound(err) {
			return err
		}
		if err == nil {
			var next spanner.NullInt64
			if err := row.Columns(&next); err != nil {
				return err
			}
			if next.Valid {
				id = next.Int64
			}
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.InsertOrUpdate("Cluster",
			[]string{"Id", "NextProducerId"}, []any{0, id + 1})})
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// producerKey is the ProducerEpochs key of pid: its bits reversed, so
// that consecutive ids spread over the table's key space.
func producerKey(pid int64) int64 { return int64(bits.Reverse64(uint64(pid))) }

func getEpoch(ctx context.Context, rd reader, pid int64) (int16, bool, error) {
	row, err := rd.ReadRow(ctx, "ProducerEpochs", spanner.Key{producerKey(pid)}, []string{"Epoch"})
	if isNotFound(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var e int64
	err = row.Columns(&e)
	return int16(e), err == nil, err
}

func (s *Store) BumpProducerEpoch(ctx context.Context, producerID int64, epoch int16) (int16, error) {
	if producerID < 0 {
		return 0, fmt.Errorf("meta: invalid producer id %d", producerID)
	}
	var next int16
	err := s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		reg, _, err := getEpoch(ctx, tx, producerID)
		if err != nil {
			return err
		}
		if epoch != reg || epoch == math.MaxInt16 {
			return meta.ErrInvalidProducerEpoch
		}
		next = epoch + 1
		return tx.BufferWrite([]*spanner.Mutation{spanner.InsertOrUpdate("ProducerEpochs",
			[]string{"ProducerKey", "ProducerId", "Epoch"}, []any{producerKey(producerID), producerID, int64(next)})})
	})
	if err != nil {
		return 0, err
	}
	return next, nil
}

// producerCols are the ProducerStates columns, LastWrite (schema version
// 4) last: NULL in rows written before it, and always written as the
// commit timestamp, so the time is Spanner's, the same for every broker.
var producerCols = []string{"TopicId", "PartitionId", "ProducerId", "Epoch", "Recent", "LastWrite"}

func decodeProducer(row *spanner.Row) (meta.TP, int64, meta.ProducerState, error) {
	var (
		id        []byte
		p, pid    int64
		epoch     int64
		recent    []int64
		lastWrite spanner.NullTime
	)
	if err := row.Columns(&id, &p, &pid, &epoch, &recent, &lastWrite); err != nil {
		return meta.TP{}, 0, meta.ProducerState{}, err
	}
	var tp meta.TP
	copy(tp.Topic[:], id)
	tp.Partition = int32(p)
	st := meta.ProducerState{Epoch: int16(epoch)}
	if lastWrite.Valid {
		st.LastWrite = lastWrite.Time.UTC()
	}
	if len(recent)%3 != 0 {
		return tp, pid, st, fmt.Errorf("spannermeta: producer %d state has %d Recent values, not triples", pid, len(recent))
	}
	for i := 0; i < len(recent); i += 3 {
		st.Recent = append(st.Recent, meta.ProducerBatch{FirstSeq: int32(recent[i]), LastSeq: int32(recent[i+1]), BaseOffset: recent[i+2]})
	}
	return tp, pid, st, nil
}

func producerValues(tp meta.TP, pid int64, st *meta.ProducerState) []any {
	recent := make([]int64, 0, 3*len(st.Recent))
	for _, r := range st.Recent {
		recent = append(recent, int64(r.FirstSeq), int64(r.LastSeq), r.BaseOffset)
	}
	return []any{tp.Topic[:], int64(tp.Partition), pid, int64(st.Epoch), recent, spanner.CommitTimestamp}
}

func (s *Store) ProducerState(ctx context.Context, producerID int64, tp meta.TP) (meta.ProducerState, bool, error) {
	var (
		st meta.ProducerState
		ok bool
	)
	err := s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		row, err := tx.ReadRow(ctx, "ProducerStates", spanner.Key{tp.Topic[:], int64(tp.Partition), producerID}, producerCols)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		_, _, st, err = decodeProducer(row)
		ok = err == nil
		return err
	})
	if err != nil {
		return meta.ProducerState{}, false, err
	}
	return st, ok, nil
}
