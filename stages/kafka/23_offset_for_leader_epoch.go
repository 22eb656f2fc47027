package kafka

// OffsetForLeaderEpoch: v0-v4.
//
// Every partition has always been at leader epoch 0 (Fetch stamps each
// batch with epoch 0), so the log is never truncated. A requested epoch of
// 0 or more answers epoch 0 and the high watermark as its end offset, so a
// consumer validating a position after a leader change (KIP-320), even one
// carrying an epoch from another cluster, never sees truncation. A
// requested epoch of -1 (undefined) answers epoch -1 and end offset -1, as
// in Kafka.
//
// The current leader epoch (v2+) fences as in Kafka: -1 skips the check,
// above 0 is UNKNOWN_LEADER_EPOCH, below -1 FENCED_LEADER_EPOCH. Unknown
// topics and partitions are UNKNOWN_TOPIC_OR_PARTITION.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.OffsetForLeaderEpoch.Int16(), 0, -1, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)

	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		topic, terr := s.topics.byNameGet(r.Ctx, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || rp.Partition >= topic.Partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case req.Version >= 2 && epochCheck(rp.CurrentLeaderEpoch) != 0:
				sp.ErrorCode = epochCheck(rp.CurrentLeaderEpoch)
			case rp.LeaderEpoch < 0:
				// Undefined epoch: epoch -1, end offset -1.
			default:
				state, err := s.cfg.Meta.PartitionState(r.Ctx, meta.TP{Topic: topic.ID, Partition: rp.Partition})
				if err != nil {
					sp.ErrorCode = errorCode(err)
					break
				}
				sp.LeaderEpoch, sp.EndOffset = 0, state.HighWatermark
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
	return nil
}
