package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/fetch"
	"github.com/sluicedata/sluice/stages/produce"
)

// errorCode maps a Go error from the pipelines or stores to the Kafka error
// code a client expects.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, meta.ErrUnknownTopicOrPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, meta.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, meta.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, meta.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, meta.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, meta.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, codec.ErrCorrupt):
		return kerr.CorruptMessage.Code
	case errors.Is(err, codec.ErrInvalidRecord), errors.Is(err, codec.ErrUnsupportedMagic):
		return kerr.InvalidRecord.Code
	case errors.Is(err, produce.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, produce.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, produce.ErrTransactional):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, produce.ErrShuttingDown):
		return kerr.NotLeaderForPartition.Code // retriable: the client moves to another broker
	case errors.Is(err, produce.ErrStorage), errors.Is(err, fetch.ErrStorage), errors.Is(err, meta.ErrObjectExpired),
		errors.Is(err, meta.ErrUnavailable):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, pipeline.ErrPanic):
		// A stage panicked on the batch (a store SDK or callback bug): the
		// broker lives on, and a retry may well succeed.
		return kerr.KafkaStorageError.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	default:
		return kerr.UnknownServerError.Code
	}
}
