package produce

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
)

// KeepCodec as a Target's Compression keeps the producer's codec
// (compression.type=producer).
const KeepCodec codec.Codec = -1

// Target is the partition a batch is produced to, with the topic settings
// the pipeline applies.
type Target struct {
	Topic     meta.Topic
	Partition int32
	// Compression is the codec the topic asks for, or KeepCodec.
	Compression codec.Codec
	// LogAppendTime is message.timestamp.type=LogAppendTime.
	LogAppendTime bool
	// MaxMessageBytes is max.message.bytes: the largest batch accepted.
	MaxMessageBytes int32
	// TimestampBeforeMax and TimestampAfterMax are
	// message.timestamp.before.max.ms and message.timestamp.after.max.ms
	// (KIP-937; message.timestamp.difference.max.ms stands in for either
	// left at its default): under CreateTime, a record whose timestamp is
	// further than this before or after the broker's time is refused.
	// < 0 means no check (Kafka's default, Long.MAX_VALUE).
	TimestampBeforeMax, TimestampAfterMax int64
}

// TP is the partition's metadata key.
func (t *Target) TP() meta.TP { return meta.TP{Topic: t.Topic.ID, Partition: t.Partition} }

// Batch is one partition's record batch from one Produce request: the item
// that flows through the pipeline. Done is called exactly once, with the
// base offset or an error; before it is called, the result fields below are
// set, so the Done callback may read them.
type Batch struct {
	Target
	// Data is the partition's records field as received. The pipeline may
	// modify it in place (LogAppendTime) or replace it (recompression).
	Data   []byte
	Header codec.BatchHeader
	// Arrived is when the request was read; LogAppendTime uses it.
	Arrived time.Time
	Done    *pipeline.Completion[int64]
	// Trace is the span context of the request the batch came in, zero
	// when that request is not traced: the batch's stage spans are its
	// children, and the spans of its flush link to it.
	Trace trace.SpanContext

	// Results, valid when Done is called.
	LogStart   int64
	AppendTime int64 // LogAppendTime given to the batch, or -1
	Duplicate  bool

	addID      int         // the batch's id in its flush's intake builder
	queued     time.Time   // when the batch entered its current stage's queue
	flushTrace *flushTrace // set on a flush's first batch when the flush is traced
}

// QueuedAt implements pipeline.Stamped.
func (b *Batch) QueuedAt() time.Time { return b.queued }

// SetQueuedAt implements pipeline.Stamped.
func (b *Batch) SetQueuedAt(t time.Time) { b.queued = t }

// Size is the batch's size in bytes, for the cashier.
func (b *Batch) Size() int64 { return int64(len(b.Data)) }

func (b *Batch) idempotent() bool {
	return b.Header.ProducerID >= 0 && b.Header.BaseSequence >= 0
}

func (b *Batch) fail(err error) { b.Done.Done(-1, err) }

// Fail implements pipeline.Failer: the engine fails a batch a stage
// panicked on, or one a cancelled stage held. It leaves a batch already
// completed alone.
func (b *Batch) Fail(err error) { b.Done.DoneIfPending(-1, err) }

// Errors the pipeline completes batches with. The Kafka front end maps them
// (and the meta.Err* values) to protocol error codes.
var (
	ErrMessageTooLarge   = errors.New("produce: batch larger than max.message.bytes")
	ErrInvalidTimestamp  = errors.New("produce: record timestamp out of range")
	ErrTransactional     = errors.New("produce: transactional batches need a transaction")
	ErrStorage           = errors.New("produce: storage failed")
	ErrShuttingDown      = errors.New("produce: broker shutting down")
	ErrInvalidRecordData = codec.ErrInvalidRecord
)

// RecordError names one record a batch was rejected for.
type RecordError struct {
	Index   int32
	Message string
}

// InvalidRecordsError rejects a batch because of some of its records
// (Kafka's record_errors in a Produce answer).
type InvalidRecordsError struct {
	Err     error // ErrInvalidTimestamp
	Records []RecordError
	// Omitted counts the invalid records beyond MaxRecordErrors, which
	// are not listed.
	Omitted int
}

// MaxRecordErrors bounds the records an InvalidRecordsError lists: a
// batch of millions of tiny records, all out of range, must not turn into
// millions of messages in memory and in the answer.
const MaxRecordErrors = 1000

func (e *InvalidRecordsError) Error() string {
	return fmt.Sprintf("%v (%d records)", e.Err, len(e.Records)+e.Omitted)
}

func (e *InvalidRecordsError) Unwrap() error { return e.Err }
