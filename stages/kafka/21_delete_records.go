package kafka

// DeleteRecords: v0-v2.
//
// Each partition's log start offset is advanced in the metadata store to
// the requested offset (-1: the high watermark) and the answer carries the
// new log start as the low watermark. Fetches and ListOffsets see the new
// start at once; the objects holding the deleted records are left to
// retention and garbage collection. An offset below the current log start
// changes nothing and answers the current log start, as in Kafka.
//
// Errors per partition: UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE
// for an offset above the high watermark or below -1.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.DeleteRecords.Int16(), 0, -1, handleDeleteRecords) }

func handleDeleteRecords(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)

	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		topic, terr := s.topics.byNameGet(r.Ctx, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			switch {
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || rp.Partition >= topic.Partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Offset < -1:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				low, err := s.cfg.Meta.DeleteRecords(r.Ctx, meta.TP{Topic: topic.ID, Partition: rp.Partition}, rp.Offset)
				if err != nil {
					sp.ErrorCode = errorCode(err)
				} else {
					sp.LowWatermark = low
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
	return nil
}
