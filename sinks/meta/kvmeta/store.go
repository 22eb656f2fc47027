package kvmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sluicedata/sluice/sinks/meta"
)

// firstProducerID is the first id NextProducerID hands out. Starting above
// zero keeps allocated ids apart from the small numbers tests and tools
// tend to make up by hand.
const firstProducerID = 1000

// store implements meta.Store over a KV.
type store struct {
	kv KV
	// mu guards closed. Every call holds it shared for its whole duration,
	// so Close (exclusive) waits for calls in flight before closing kv and
	// no call ever reaches a closed KV.
	mu     sync.RWMutex
	closed bool
	// notifier wakes group watchers after committed group changes.
	notifier notifier
	// limits bound one Commit (zero: unbounded).
	limits meta.CommitLimits
}

// New returns a meta.Store keeping its data in kv. Closing the store
// closes kv.
func New(kv KV) meta.Store { return &store{kv: kv} }

// NewLimited is New with commits bounded by limits: a Commit whose plan
// costs more than limits.Max fails whole with meta.ErrCommitTooLarge, and
// the store reports limits as a meta.CommitLimiter so that callers split
// their commits to fit.
func NewLimited(kv KV, limits meta.CommitLimits) meta.Store {
	return &store{kv: kv, limits: limits}
}

// CommitLimits implements meta.CommitLimiter.
func (s *store) CommitLimits() meta.CommitLimits { return s.limits }

func (s *store) view(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return meta.ErrClosed
	}
	return s.kv.View(fn)
}

func (s *store) update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return meta.ErrClosed
	}
	return s.kv.Update(fn)
}

// Close closes the store and its KV. A second Close returns ErrClosed.
func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return meta.ErrClosed
	}
	s.closed = true
	return s.kv.Close()
}

func (s *store) ClusterID(ctx context.Context) (string, error) {
	var id string
	err := s.view(ctx, func(tx Tx) error {
		id = string(tx.Get(keyCluster()))
		return nil
	})
	if err != nil || id != "" {
		return id, err
	}
	// First use: create it. Check again inside the write transaction so
	// that two racing callers agree on one id.
	err = s.update(ctx, func(tx Tx) error {
		if v := tx.Get(keyCluster()); v != nil {
			id = string(v)
			return nil
		}
		id = uuid.NewString()
		return tx.Put(keyCluster(), []byte(id))
	})
	return id, err
}

// topicRecord is a topic as stored: JSON, since topics are read rarely and
// change more often in shape than the hot-path records.
type topicRecord struct {
	Name       string            `json:"name"`
	ID         uuid.UUID         `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
}

func (r *topicRecord) topic() meta.Topic {
	t := meta.Topic{
		Name:       r.Name,
		ID:         meta.TopicID(r.ID),
		Partitions: r.Partitions,
		Configs:    copyConfigs(r.Configs),
		CreatedAt:  r.CreatedAt,
	}
	return t
}

// copyConfigs copies so that neither the caller's map nor ours is shared;
// the result is never nil, so callers can index and range it freely.
func copyConfigs(c map[string]string) map[string]string {
	out := make(map[string]string, len(c))
	maps.Copy(out, c)
	return out
}

func getTopic(tx Tx, name string) (*topicRecord, error) {
	v := tx.Get(keyTopic(name))
	if v == nil {
		return nil, meta.ErrUnknownTopicOrPartition
	}
	var r topicRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("kvmeta: decode topic %q: %w", name, err)
	}
	return &r, nil
}

func putTopic(tx Tx, r *topicRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("kvmeta: encode topic %q: %w", r.Name, err)
	}
	return tx.Put(keyTopic(r.Name), v)
}

func initPartitions(tx Tx, id meta.TopicID, from, to int32) error {
	v := encodePartition(meta.PartitionState{MaxTimestamp: -1, MaxTimestampOffset: -1})
	for p := from; p < to; p++ {
		if err := tx.Put(keyPartition(meta.TP{Topic: id, Partition: p}), v); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (meta.Topic, error) {
	if name == "" {
		return meta.Topic{}, errors.New("meta: empty topic name")
	}
	if partitions < 1 {
		return meta.Topic{}, meta.ErrInvalidPartitions
	}
	var rec *topicRecord
	err := s.update(ctx, func(tx Tx) error {
		if tx.Get(keyTopic(name)) != nil {
			return meta.ErrTopicExists
		}
		// v4 ids have version bits set, so they are never zero; a
		// collision is astronomically unlikely but cheap to rule out.
		id := uuid.New()
		for tx.Get(keyTopicID(meta.TopicID(id))) != nil {
			id = uuid.New()
		}
		rec = &topicRecord{
			Name:       name,
			ID:         id,
			Partitions: partitions,
			Configs:    copyConfigs(configs),
			// Kafka deals in milliseconds; UTC strips the monotonic
			// reading so the value compares equal after a round trip.
			CreatedAt: time.Now().Truncate(time.Millisecond).UTC(),
		}
		if err := putTopic(tx, rec); err != nil {
			return err
		}
		if err := tx.Put(keyTopicID(meta.TopicID(id)), []byte(name)); err != nil {
			return err
		}
		return initPartitions(tx, meta.TopicID(id), 0, partitions)
	})
	if err != nil {
		return meta.Topic{}, err
	}
	return rec.topic(), nil
}

// deletePrefix deletes every key with prefix.
func deletePrefix(tx Tx, prefix []byte) error { return deleteBelow(tx, prefix, nil) }

// deleteBelow deletes every key with prefix that sorts below end (nil:
// all of them). Keys are collected first because a Tx may not be modified
// during Seek.
func deleteBelow(tx Tx, prefix, end []byte) error {
	var keys [][]byte
	err := tx.Seek(prefix, nil, func(k, _ []byte) bool {
		if end != nil && string(k) >= string(end) {
			return false
		}
		keys = append(keys, append([]byte(nil), k...))
		return true
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) DeleteTopic(ctx context.Context, name string) error {
	return s.update(ctx, func(tx Tx) error {
		r, err := getTopic(tx, name)
		if err != nil {
			return err
		}
		id := meta.TopicID(r.ID)
		if err := tx.Delete(keyTopic(name)); err != nil {
			return err
		}
		if err := tx.Delete(keyTopicID(id)); err != nil {
			return err
		}
		for _, pfx := range []byte{pfxPartition, pfxIndex, pfxProducer} {
			if err := deletePrefix(tx, topicPrefix(pfx, id)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *store) Topic(ctx context.Context, name string) (meta.Topic, error) {
	var t meta.Topic
	err := s.view(ctx, func(tx Tx) error {
		r, err := getTopic(tx, name)
		if err != nil {
			return err
		}
		t = r.topic()
		return nil
	})
	return t, err
}

func (s *store) TopicByID(ctx context.Context, id meta.TopicID) (meta.Topic, error) {
	var t meta.Topic
	err := s.view(ctx, func(tx Tx) error {
		name := tx.Get(keyTopicID(id))
		if name == nil {
			return meta.ErrUnknownTopicOrPartition
		}
		r, err := getTopic(tx, string(name))
		if err != nil {
			return err
		}
		t = r.topic()
		return nil
	})
	return t, err
}

func (s *store) Topics(ctx context.Context) ([]meta.Topic, error) {
	var out []meta.Topic
	err := s.view(ctx, func(tx Tx) error {
		out = out[:0]
		var derr error
		err := tx.Seek([]byte{pfxTopic}, nil, func(k, v []byte) bool {
			var r topicRecord
			if derr = json.Unmarshal(v, &r); derr != nil {
				derr = fmt.Errorf("kvmeta: decode topic %q: %w", k[1:], derr)
				return false
			}
			out = append(out, r.topic())
			return true
		})
		if err != nil {
			return err
		}
		return derr
	})
	if err != nil {
		return nil, err
	}
	return out, nil // key order is name order
}

func (s *store) CreatePartitions(ctx context.Context, name string, total int32) error {
	return s.update(ctx, func(tx Tx) error {
		r, err := getTopic(tx, name)
		if err != nil {
			return err
		}
		if total <= r.Partitions {
			return meta.ErrInvalidPartitions
		}
		if err := initPartitions(tx, meta.TopicID(r.ID), r.Partitions, total); err != nil {
			return err
		}
		r.Partitions = total
		return putTopic(tx, r)
	})
}

func (s *store) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	return s.update(ctx, func(tx Tx) error {
		r, err := getTopic(tx, name)
		if err != nil {
			return err
		}
		r.Configs = copyConfigs(configs)
		return putTopic(tx, r)
	})
}

// getPartition loads tp's state. Partition states exist exactly for the
// partitions of existing topics, so absence means unknown.
func getPartition(tx Tx, tp meta.TP) (meta.PartitionState, error) {
	v := tx.Get(keyPartition(tp))
	if v == nil {
		return meta.PartitionState{}, meta.ErrUnknownTopicOrPartition
	}
	return decodePartition(v)
}

func (s *store) PartitionState(ctx context.Context, tp meta.TP) (meta.PartitionState, error) {
	var ps meta.PartitionState
	err := s.view(ctx, func(tx Tx) error {
		var err error
		ps, err = getPartition(tx, tp)
		return err
	})
	return ps, err
}

func (s *store) DeleteRecords(ctx context.Context, tp meta.TP, offset int64) (int64, error) {
	var logStart int64
	err := s.update(ctx, func(tx Tx) error {
		ps, err := getPartition(tx, tp)
		if err != nil {
			return err
		}
		if offset == -1 {
			offset = ps.HighWatermark
		}
		if offset < 0 || offset > ps.HighWatermark {
			return meta.ErrOffsetOutOfRange
		}
		logStart = ps.LogStart
		if offset <= ps.LogStart {
			return nil
		}
		ps.LogStart = offset
		logStart = offset
		if err := tx.Put(keyPartition(tp), encodePartition(ps)); err != nil {
			return err
		}
		// Entries wholly below the log start are unreadable now; their
		// keys sort below keyIndex(tp, offset).
		return deleteBelow(tx, tpKey(pfxIndex, tp, 0), keyIndex(tp, offset))
	})
	if err != nil {
		return 0, err
	}
	return logStart, nil
}

func (s *store) Entries(ctx context.Context, tp meta.TP, from int64, limit int) ([]meta.IndexEntry, error) {
	from = max(from, 0)
	var out []meta.IndexEntry
	err := s.view(ctx, func(tx Tx) error {
		out = out[:0]
		if tx.Get(keyPartition(tp)) == nil {
			return meta.ErrUnknownTopicOrPartition
		}
		var derr error
		err := tx.Seek(tpKey(pfxIndex, tp, 0), keyIndex(tp, from), func(k, v []byte) bool {
			var e meta.IndexEntry
			if e, derr = decodeIndex(k, v); derr != nil {
				return false
			}
			out = append(out, e)
			return limit <= 0 || len(out) < limit
		})
		if err != nil {
			return err
		}
		return derr
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EntryAtTimestamp scans the partition's entries from the log start on.
// That is linear in the entries past the log start, acceptable while
// ListOffsets by timestamp is rare; a time index (key MaxTimestamp
// prefix-max) can replace it later without changing the API.
func (s *store) EntryAtTimestamp(ctx context.Context, tp meta.TP, ts int64) (meta.IndexEntry, bool, error) {
	var (
		found meta.IndexEntry
		ok    bool
	)
	err := s.view(ctx, func(tx Tx) error {
		ps, err := getPartition(tx, tp)
		if err != nil {
			return err
		}
		var derr error
		err = tx.Seek(tpKey(pfxIndex, tp, 0), keyIndex(tp, ps.LogStart), func(k, v []byte) bool {
			var e meta.IndexEntry
			if e, derr = decodeIndex(k, v); derr != nil {
				return false
			}
			if e.MaxTimestamp >= ts {
				found, ok = e, true
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		return derr
	})
	if err != nil {
		return meta.IndexEntry{}, false, err
	}
	return found, ok, nil
}

func (s *store) NextProducerID(ctx context.Context) (int64, error) {
	var id int64
	err := s.update(ctx, func(tx Tx) error {
		id = firstProducerID
		if v := tx.Get(keyNextPID()); v != nil {
			var err error
			if id, err = decodeInt64(v, "next producer id"); err != nil {
				return err
			}
		}
		return tx.Put(keyNextPID(), encodeInt64(id+1))
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// getEpoch returns the epoch BumpProducerEpoch registered for pid.
func getEpoch(tx Tx, pid int64) (int16, bool, error) {
	v := tx.Get(keyProducerEpoch(pid))
	if v == nil {
		return 0, false, nil
	}
	e, err := decodeInt64(v, "producer epoch")
	return int16(e), true, err
}

func (s *store) BumpProducerEpoch(ctx context.Context, producerID int64, epoch int16) (int16, error) {
	if producerID < 0 {
		return 0, fmt.Errorf("meta: invalid producer id %d", producerID)
	}
	var next int16
	err := s.update(ctx, func(tx Tx) error {
		// A producer never bumped is at epoch 0, the epoch
		// InitProducerId hands out with a fresh id.
		reg, _, err := getEpoch(tx, producerID)
		if err != nil {
			return err
		}
		if epoch != reg || epoch == math.MaxInt16 {
			return meta.ErrInvalidProducerEpoch
		}
		next = epoch + 1
		return tx.Put(keyProducerEpoch(producerID), encodeInt64(int64(next)))
	})
	if err != nil {
		return 0, err
	}
	return next, nil
}

func (s *store) ProducerState(ctx context.Context, producerID int64, tp meta.TP) (meta.ProducerState, bool, error) {
	var (
		st meta.ProducerState
		ok bool
	)
	err := s.view(ctx, func(tx Tx) error {
		v := tx.Get(keyProducer(tp, producerID))
		if v == nil {
			return nil
		}
		var err error
		st, err = decodeProducer(v)
		ok = err == nil
		return err
	})
	if err != nil {
		return meta.ProducerState{}, false, err
	}
	return st, ok, nil
}
