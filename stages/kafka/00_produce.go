package kafka

// Produce: v3-v13 (record batches of magic v2; v13 names topics by id).
//
// Each partition's records become one produce.Batch submitted to the
// produce pipeline in request order; the answer is sent when every batch
// of the request is acknowledged, which for acks=1 and acks=-1 alike means
// its bytes are durable in the object store and its offsets committed.
// acks=0 gets no answer, as in Kafka, but its batches still go through the
// whole pipeline; if any partition fails, the connection is closed (with a
// log line) once the answers owed before are written, as Kafka does: the
// only signal such a producer gets. Any other acks value is
// INVALID_REQUIRED_ACKS.
//
// The batches' Data alias the request's frame, so the frame stays charged
// to the request budget (queued.max.request.bytes) until the last batch
// completes, even when the answer went out earlier on a timeout.
//
// Per-partition errors: UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID at
// v13), CORRUPT_MESSAGE for a bad CRC or sizes or a payload that does not
// decompress (or decompresses past codec.MaxDecompressedBatch),
// INVALID_RECORD for a malformed batch or record (every record is decoded:
// counts, lengths, offset deltas 0..n-1, headers) or more than one batch,
// MESSAGE_TOO_LARGE over max.message.bytes, INVALID_TIMESTAMP with
// record_errors under message.timestamp.before.max.ms / after.max.ms
// (or the older difference.max.ms), OUT_OF_ORDER_SEQUENCE_NUMBER and
// INVALID_PRODUCER_EPOCH for idempotent producers (a retried duplicate gets
// its original offset), KAFKA_STORAGE_ERROR when the object or metadata
// store failed (retriable; nothing was acknowledged).
//
// timeout_ms bounds the wait for acknowledgement (acks=1 and -1): the
// partitions not acknowledged by then are answered REQUEST_TIMED_OUT, as
// Kafka answers a replication that did not finish in time. Their batches
// stay in the pipeline and may still commit: a timed-out produce is
// "unknown", not "failed", and an idempotent producer's retry then gets
// the original offsets.

import (
	"errors"
	"sync"
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
	ans := &produceAnswer{r: r, resp: resp, pending: 1, acks0: req.Acks == 0} // 1: released after submission
	var batches []*produce.Batch
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
			k := len(ans.entries)
			ans.pending++
			ans.entries = append(ans.entries, sp)
			r.retainFrame()
			b.Done = pipeline.NewCompletion(func(offset int64, err error) {
				ans.complete(k, func() { setProduceResult(sp, b, offset, err) })
				r.releaseFrame()
			})
			batches = append(batches, b)
		}
	}
	ans.finished = make([]bool, len(ans.entries))
	if req.Acks != 0 && req.TimeoutMillis > 0 && len(batches) > 0 {
		ans.mu.Lock()
		ans.timer = time.AfterFunc(time.Until(arrived.Add(time.Duration(req.TimeoutMillis)*time.Millisecond)), ans.expire)
		ans.mu.Unlock()
	}
	for _, b := range batches {
		s.cfg.Produce.Submit(r.Ctx, b)
	}
	ans.complete(-1, nil)
	return nil
}

// produceAnswer collects a produce request's partition results and sends
// the answer once: when the last batch completes, or when the request's
// timeout passes first. Results arriving after the answer was sent are
// dropped, since the answer has been encoded and must not change.
type produceAnswer struct {
	r        *Request
	resp     *kmsg.ProduceResponse
	acks0    bool // no answer is sent; a failure closes the connection
	timer    *time.Timer
	mu       sync.Mutex
	pending  int                                   // batches not complete, +1 until all are submitted
	entries  []*kmsg.ProduceResponseTopicPartition // by batch
	finished []bool                                // by batch
	sent     bool
}

// complete records batch k's result (k -1: submission ended) and
// answers when none is pending.
func (a *produceAnswer) complete(k int, set func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent {
		return
	}
	if k >= 0 {
		set()
		a.finished[k] = true
	}
	if a.pending--; a.pending == 0 {
		a.sendLocked()
	}
}

// expire answers REQUEST_TIMED_OUT for the batches not yet complete.
func (a *produceAnswer) expire() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent {
		return
	}
	for k, sp := range a.entries {
		if !a.finished[k] {
			sp.ErrorCode = kerr.RequestTimedOut.Code
			sp.BaseOffset = -1
		}
	}
	a.sendLocked()
}

func (a *produceAnswer) sendLocked() {
	a.sent = true
	if a.timer != nil {
		a.timer.Stop()
	}
	if !a.acks0 {
		a.r.Respond(a.resp)
		return
	}
	a.r.Respond(nil)
	if a.r.conn == nil {
		return
	}
	for i := range a.resp.Topics {
		t := &a.resp.Topics[i]
		for j := range t.Partitions {
			if p := &t.Partitions[j]; p.ErrorCode != 0 {
				a.r.conn.closeAfterAnswers("closing client connection: acks=0 produce failed",
					"topic", t.Topic, "partition", p.Partition, "err", kerr.ErrorForCode(p.ErrorCode))
				return
			}
		}
	}
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
