package kafka

// OffsetDelete: v0.
//
// Deletes committed offsets of a group. Errors: GROUP_ID_NOT_FOUND,
// INVALID_GROUP_ID (empty id), NON_EMPTY_GROUP (a group with members whose
// protocol type is not "consumer"); per partition
// UNKNOWN_TOPIC_OR_PARTITION, and GROUP_SUBSCRIBED_TO_TOPIC for topics the
// members of a non-empty "consumer" group subscribe to.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/stages/group"
)

func init() { register(kmsg.OffsetDelete.Int16(), 0, -1, handleOffsetDelete) }

func handleOffsetDelete(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		r.Respond(resp)
		return nil
	}
	type ref struct{ t, p int }
	var (
		refs []ref
		tps  []group.TopicPartition
	)
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		topic, terr := s.topics.byNameGet(r.Ctx, rt.Topic)
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || rp.Partition >= topic.Partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				refs = append(refs, ref{ti, pi})
				tps = append(tps, group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	code, codes := s.cfg.Groups.DeleteOffsets(r.Ctx, req.Group, tps)
	if code != 0 {
		resp.ErrorCode = code
		resp.Topics = nil
	} else {
		for i, rf := range refs {
			resp.Topics[rf.t].Partitions[rf.p].ErrorCode = codes[i]
		}
	}
	r.Respond(resp)
	return nil
}
