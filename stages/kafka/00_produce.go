package kafka

// Produce: v3-v13 (record batches of magic v2; v13 names topics by id).
//
// Each partition's records become one produce.Batch submitted to the
// produce pipeline in request order; the answer is sent when every batch
// of the request is acknowledged, which for acks=1 and acks=-1 alike means
// its bytes are durable in the object store and its offsets committed.
// acks=0 gets no answer, as in Kafka, but its batches still go through the
// whole pipeline. Any other acks value is INVALID_REQUIRED_ACKS.
//
// Per-partition errors: UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID at
// v13), CORRUPT_MESSAGE for a bad CRC or sizes, INVALID_RECORD for a
// malformed batch or more than one batch, MESSAGE_TOO_LARGE over
// max.message.bytes, INVALID_TIMESTAMP with record_errors under
// message.timestamp.difference.max.ms, OUT_OF_ORDER_SEQUENCE_NUMBER and
// INVALID_PRODUCER_EPOCH for idempotent producers (a retried duplicate gets
// its original offset), KAFKA_STORAGE_ERROR when the object or metadata
// store failed (retriable; nothing was acknowledged).

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/produce"
)

func init() { register(kmsg.Produce.Int16(), 3, -1, handleProduce) }

func handleProduce(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	arrived := time.Now()

	// Lay the whole answer out first: completions fill in their own
	// partition entries concurrently, so the slices must not move.
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	var batches []*produce.Batch
	var pending atomic.Int32
	pending.Store(1) // released after submission
	finish := func() {
		if pending.Add(-1) == 0 {
			if req.Acks == 0 {
				r.Respond(nil)
			} else {
				r.Respond(resp)
			}
		}
	}
	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		var topic meta.Topic
		var terr error
		if req.Version >= 13 {
			topic, terr = s.topics.byIDGet(r.Ctx, rt.TopicID)
		} else {
			topic, terr = s.topics.byNameGet(r.Ctx, rt.Topic)
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case badAcks:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
				continue
			case terr != nil && req.Version >= 13 && errors.Is(terr, meta.ErrUnknownTopicOrPartition):
				sp.ErrorCode = kerr.UnknownTopicID.Code
				continue
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
				continue
			case rp.Partition < 0 || rp.Partition >= topic.Partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			b := &produce.Batch{Target: produceTarget(topic, rp.Partition), Data: rp.Records, Arrived: arrived, Trace: r.spanContext()}
			pending.Add(1)
			b.Done = pipeline.NewCompletion(func(offset int64, err error) {
				setProduceResult(sp, b, offset, err)
				finish()
			})
			batches = append(batches, b)
		}
	}
	for _, b := range batches {
		s.cfg.Produce.Submit(r.Ctx, b)
	}
	finish()
	return nil
}

func setProduceResult(sp *kmsg.ProduceResponseTopicPartition, b *produce.Batch, offset int64, err error) {
	if err != nil {
		sp.ErrorCode = errorCode(err)
		msg := err.Error()
		sp.ErrorMessage = &msg
		var ire *produce.InvalidRecordsError
		if errors.As(err, &ire) {
			for _, re := range ire.Records {
				e := kmsg.NewProduceResponseTopicPartitionErrorRecord()
				e.RelativeOffset = re.Index
				m := re.Message
				e.ErrorMessage = &m
				sp.ErrorRecords = append(sp.ErrorRecords, e)
			}
		}
		sp.BaseOffset = -1
		return
	}
	sp.BaseOffset = offset
	sp.LogAppendTime = b.AppendTime
	sp.LogStartOffset = b.LogStart
}
