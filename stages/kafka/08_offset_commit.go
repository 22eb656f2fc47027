package kafka

// OffsetCommit: v0-v10 (v10: topics by id).
//
// Offsets, with their leader epoch and metadata, are written to the
// metadata store in one transaction together with the group checks, so
// they survive broker restarts and any broker serves them. Kafka's rules
// (validateOffsetCommit): a commit with generation -1 and no member id (a
// simple consumer in assign mode, or an admin) is accepted by an empty
// group, and creates the group when there is none; any other commit must
// come from a current member at the current generation.
//
// Errors per partition: UNKNOWN_TOPIC_OR_PARTITION (v10: UNKNOWN_TOPIC_ID)
// for partitions that do not exist, OFFSET_METADATA_TOO_LARGE (metadata
// over offset.metadata.max.bytes, 4096); then, for all the others, the
// group's answer: INVALID_GROUP_ID, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
// ILLEGAL_GENERATION (also a generation >= 0 for a group that does not
// exist, before v9), GROUP_ID_NOT_FOUND (that case from v9),
// REBALANCE_IN_PROGRESS (the group waits for its leader's assignment).
//
// The commit is queued in request order and answered once durable; the
// connection reads on meanwhile, and the commits queued by all connections
// while a store transaction runs share the next one (see stages/group).

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/group"
)

func init() { register(kmsg.OffsetCommit.Int16(), 0, -1, handleOffsetCommit) }

// maxOffsetMetadata is offset.metadata.max.bytes.
const maxOffsetMetadata = group.MaxOffsetMetadataBytes

func handleOffsetCommit(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cm := group.Commit{Group: req.Group, Generation: req.Generation, MemberID: req.MemberID, Version: req.Version}
	if req.Version == 0 {
		cm.Generation = -1
	}
	if req.InstanceID != nil {
		cm.InstanceID = *req.InstanceID
	}
	type ref struct{ t, p int }
	var refs []ref
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var (
			topic meta.Topic
			terr  error
		)
		if req.Version >= 10 {
			topic, terr = s.topics.byIDGet(r.Ctx, rt.TopicID)
		} else {
			topic, terr = s.topics.byNameGet(r.Ctx, rt.Topic)
		}
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case terr != nil && req.Version >= 10 && errors.Is(terr, meta.ErrUnknownTopicOrPartition):
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || rp.Partition >= topic.Partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Metadata != nil && len(*rp.Metadata) > maxOffsetMetadata:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				o := meta.GroupOffset{Topic: topic.Name, Partition: rp.Partition, Offset: rp.Offset, LeaderEpoch: -1, Metadata: rp.Metadata}
				if req.Version >= 6 {
					o.LeaderEpoch = rp.LeaderEpoch
				}
				cm.Offsets = append(cm.Offsets, o)
				refs = append(refs, ref{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(refs) == 0 && req.Group != "" {
		r.Respond(resp)
		return nil
	}
	// Queued here, in request order; answered when durable, while the
	// connection reads on (commits of many connections share a write).
	s.cfg.Groups.CommitOffsetsAsync(cm, func(code int16) {
		for _, rf := range refs {
			resp.Topics[rf.t].Partitions[rf.p].ErrorCode = code
		}
		r.Respond(resp)
	})
	return nil
}
