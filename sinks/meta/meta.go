package meta

import (
	"context"
	"errors"
	"time"
)

// TopicID is a topic's UUID, as Kafka 2.8+ clients expect.
type TopicID [16]byte

// IsZero reports whether id is the all-zero (null) topic id.
func (id TopicID) IsZero() bool { return id == TopicID{} }

// Topic is a topic as the metadata store records it.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions int32
	// Configs holds only the configs set on the topic; broker defaults are
	// applied by the caller.
	Configs   map[string]string
	CreatedAt time.Time
}

// TP names one partition of a topic by the topic's id.
type TP struct {
	Topic     TopicID
	Partition int32
}

// PartitionState is what the store knows of one partition's log.
type PartitionState struct {
	// LogStart is the first offset still readable (DeleteRecords and
	// retention advance it).
	LogStart int64
	// HighWatermark is the next offset to be assigned: every offset below
	// it is committed and readable.
	HighWatermark int64
	// MaxTimestamp is the largest batch max timestamp committed so far, -1
	// if none.
	MaxTimestamp int64
	// MaxTimestampOffset is the last offset of the batch that carried
	// MaxTimestamp, -1 if none.
	MaxTimestampOffset int64
}

// NoSequence marks a batch from a non-idempotent producer.
const NoSequence = -1

// BatchCommit describes one record batch inside an object that is being
// committed. Batches of one partition appear in the order they must be
// given offsets.
type BatchCommit struct {
	TP TP
	// Records is the number of offsets the batch takes (LastOffsetDelta+1).
	Records int32
	// MaxTimestamp is the batch's max timestamp (after LogAppendTime was
	// applied, if the topic asks for it).
	MaxTimestamp int64
	// ProducerID, ProducerEpoch and BaseSequence come from the batch
	// header; BaseSequence is NoSequence (-1) for non-idempotent batches,
	// and then no sequence checks apply.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	// RelOffset is the batch's offset relative to the first batch of its
	// partition in the object (the sum of the Records of the batches of
	// the same partition before it in the object).
	RelOffset int64
	// Pos and Len locate the batch's bytes in the object.
	Pos, Len int64
}

// ObjectCommit is one uploaded intake object and the batches in it.
type ObjectCommit struct {
	Key string
	// Size is the whole object's size; IndexPos and IndexLen locate its
	// columnar batch index.
	Size, IndexPos, IndexLen int64
	Batches                  []BatchCommit
	// Deadline, if set, is when the commit must have happened: past it
	// every batch fails with ErrObjectExpired, because the vacuum deletes
	// uncommitted objects once they are older than its grace period.
	Deadline time.Time
}

// BatchResult is the outcome of one BatchCommit.
type BatchResult struct {
	// BaseOffset is the offset given to the batch's first record; for a
	// duplicate, the offset it was given the first time.
	BaseOffset int64
	// Duplicate reports that the batch was already committed earlier
	// (idempotent retry); nothing new was written for it.
	Duplicate bool
	// LogStart is the partition's log start offset after the commit.
	LogStart int64
	// Err is nil, or one of ErrUnknownTopicOrPartition,
	// ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ErrObjectExpired.
	Err error
}

// IndexEntry maps a contiguous run of committed offsets of one partition to
// the bytes of one object that hold them.
//
// The run's batches are the object's index rows of that partition whose
// RelOffset lies in [RelBase, RelBase+LastOffset-BaseOffset]; a batch with
// RelOffset r carries absolute offset BaseOffset+(r-RelBase).
type IndexEntry struct {
	TP         TP
	BaseOffset int64 // first offset of the run
	LastOffset int64 // last offset of the run (inclusive)
	// MaxTimestamp is the largest batch max timestamp in the run.
	MaxTimestamp int64
	ObjectKey    string
	ObjectSize   int64
	IndexPos     int64
	IndexLen     int64
	RelBase      int64
	// ByteStart and ByteEnd bound the run's batch bytes in the object
	// ([ByteStart, ByteEnd)).
	ByteStart, ByteEnd int64
	// Kind is EntryIntake for runs in intake objects, EntryArchive for
	// the partition's archive (lifecycle.go).
	Kind EntryKind
}

// ProducerBatch is one of the last batches committed for a producer on a
// partition, kept so that retries are recognised.
type ProducerBatch struct {
	FirstSeq, LastSeq int32
	BaseOffset        int64
}

// ProducerState is what the store keeps of one idempotent producer on one
// partition.
type ProducerState struct {
	Epoch int16
	// Recent holds the last few (at most RecentBatches) committed batches,
	// oldest first.
	Recent []ProducerBatch
	// LastWrite is when a commit last wrote the state, by the store's
	// clock (Spanner: the commit timestamp): what Lifecycle.ExpireProducers
	// measures idleness by. Zero for a state written before stores
	// recorded it and not yet stamped by ExpireProducers.
	LastWrite time.Time
}

// RecentBatches is how many committed batches per producer and partition
// are remembered for duplicate detection, as in Kafka.
const RecentBatches = 5

// Errors the store returns. Callers map them to Kafka error codes.
var (
	ErrTopicExists             = errors.New("meta: topic already exists")
	ErrUnknownTopicOrPartition = errors.New("meta: unknown topic or partition")
	ErrInvalidPartitions       = errors.New("meta: invalid partition count")
	ErrOutOfOrderSequence      = errors.New("meta: out of order sequence number")
	ErrInvalidProducerEpoch    = errors.New("meta: invalid producer epoch")
	ErrOffsetOutOfRange        = errors.New("meta: offset out of range")
	ErrClosed                  = errors.New("meta: store closed")
	// ErrUnavailable wraps a failure to reach or use the store that a
	// later attempt may not meet (a timeout, a lost connection, a
	// transaction the backend dropped). It tells the Kafka front end to
	// answer a retriable error rather than UNKNOWN_SERVER_ERROR.
	ErrUnavailable = errors.New("meta: store unavailable")
)

// Store is the transactional metadata store: the only place offsets are
// assigned. Every method is safe for concurrent use. Implementations: the
// in-memory store (tests, mem://) and the embedded bbolt store (default);
// Spanner later. One conformance suite (metatest) runs against all.
type Store interface {
	// ClusterID is a stable id created with the store.
	ClusterID(ctx context.Context) (string, error)

	CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (Topic, error)
	// DeleteTopic removes the topic and its partitions' state and index.
	DeleteTopic(ctx context.Context, name string) error
	Topic(ctx context.Context, name string) (Topic, error)
	TopicByID(ctx context.Context, id TopicID) (Topic, error)
	Topics(ctx context.Context) ([]Topic, error)
	// CreatePartitions raises the partition count to total; a lower or
	// equal total is ErrInvalidPartitions.
	CreatePartitions(ctx context.Context, name string, total int32) error
	// SetTopicConfigs replaces the topic's whole config set.
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error

	PartitionState(ctx context.Context, tp TP) (PartitionState, error)
	// DeleteRecords advances the log start offset to offset (-1: the high
	// watermark) and returns the new log start. An offset above the high
	// watermark is ErrOffsetOutOfRange; a lower one than the current log
	// start leaves it unchanged. Index entries wholly below the new log
	// start are deleted with it; their objects become garbage for the
	// vacuum.
	DeleteRecords(ctx context.Context, tp TP, offset int64) (int64, error)

	// Commit assigns offsets to every batch of objs in one transaction:
	// either all of it is visible to readers or none. A batch rejected by
	// sequence checks gets its error in its BatchResult and takes no
	// offsets; the rest commit. The returned slice has one []BatchResult
	// per object, one BatchResult per batch. A non-nil error means nothing
	// was committed.
	Commit(ctx context.Context, objs []ObjectCommit) ([][]BatchResult, error)

	// Entries returns, in offset order, up to limit index entries of tp
	// whose LastOffset >= from.
	Entries(ctx context.Context, tp TP, from int64, limit int) ([]IndexEntry, error)
	// EntryAtTimestamp returns the first index entry of tp (at or after
	// the log start) whose MaxTimestamp >= ts; ok is false if none.
	EntryAtTimestamp(ctx context.Context, tp TP, ts int64) (e IndexEntry, ok bool, err error)

	// NextProducerID allocates a new producer id (never reused).
	NextProducerID(ctx context.Context) (int64, error)
	// BumpProducerEpoch fences the producer's current epoch and returns the
	// next; if epoch does not match the stored one, ErrInvalidProducerEpoch.
	BumpProducerEpoch(ctx context.Context, producerID int64, epoch int16) (int16, error)
	// ProducerState returns the producer's state on tp; ok false if none.
	ProducerState(ctx context.Context, producerID int64, tp TP) (ProducerState, bool, error)

	// Groups is the consumer group and committed offset store (groups.go).
	Groups() Groups
	// Brokers is the broker registry (brokers.go).
	Brokers() Brokers
	// Transactions is the transactional id store (transactions.go).
	Transactions() Transactions
	// Lifecycle holds archive, retention, vacuum and producer-state
	// expiry operations (lifecycle.go).
	Lifecycle() Lifecycle

	Close() error
}
