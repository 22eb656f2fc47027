package kafka

// DeleteTopics: v0-v6 (v6 names topics by name or by id).
//
// Each topic is deleted from the metadata store with its partitions'
// state and index, then its committed offsets are removed from every
// group (as Kafka does, so a topic created again under the name starts
// without stale offsets); its objects are deleted by the lifecycle vacuum
// once its grace period has passed (stages/lifecycle). Errors per topic: UNKNOWN_TOPIC_OR_PARTITION for an unknown
// name, UNKNOWN_TOPIC_ID for an unknown id, INVALID_REQUEST for an entry
// with both a name and an id or neither, or for a name or id listed twice
// (as Kafka, which answers such entries without deleting them).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.DeleteTopics.Int16(), 0, -1, handleDeleteTopics) }

func handleDeleteTopics(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)

	topics := req.Topics
	if req.Version < 6 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, 0, len(req.TopicNames))
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			topics = append(topics, rt)
		}
	}
	names := make(map[string]int)
	ids := make(map[meta.TopicID]int)
	for _, rt := range topics {
		if rt.Topic != nil {
			names[*rt.Topic]++
		} else {
			ids[rt.TopicID]++
		}
	}

	answer := func(name *string, id meta.TopicID, code int16, msg string) {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID, st.ErrorCode = name, id, code
		if msg != "" {
			st.ErrorMessage = &msg
		}
		resp.Topics = append(resp.Topics, st)
	}
	deleted := false
	for _, rt := range topics {
		switch {
		case rt.Topic != nil && !meta.TopicID(rt.TopicID).IsZero():
			answer(rt.Topic, rt.TopicID, kerr.InvalidRequest.Code, "Topic name and topic ID can not both be specified.")
			continue
		case rt.Topic == nil && meta.TopicID(rt.TopicID).IsZero():
			answer(nil, rt.TopicID, kerr.InvalidRequest.Code, "Topic name or topic ID must be specified.")
			continue
		case rt.Topic != nil && names[*rt.Topic] > 1:
			answer(rt.Topic, rt.TopicID, kerr.InvalidRequest.Code, "Duplicate topic name.")
			continue
		case rt.Topic == nil && ids[rt.TopicID] > 1:
			answer(nil, rt.TopicID, kerr.InvalidRequest.Code, "Duplicate topic id.")
			continue
		}

		var (
			t   meta.Topic
			err error
		)
		if rt.Topic != nil {
			t, err = s.cfg.Meta.Topic(r.Ctx, *rt.Topic)
		} else {
			t, err = s.cfg.Meta.TopicByID(r.Ctx, rt.TopicID)
		}
		if err == nil {
			err = s.cfg.Meta.DeleteTopic(r.Ctx, t.Name)
		}
		switch {
		case err == nil:
			deleted = true
			s.log.Info("deleted topic", "topic", t.Name, "client", r.ClientID())
			if err := dropGroupOffsets(r.Ctx, s.cfg.Meta.Groups(), t.Name); err != nil {
				s.log.Warn("deleted topic: removing its group offsets failed", "topic", t.Name, "err", err)
			}
			name := t.Name
			answer(&name, t.ID, 0, "")
		case errors.Is(err, meta.ErrUnknownTopicOrPartition) && rt.Topic == nil:
			answer(nil, rt.TopicID, kerr.UnknownTopicID.Code, fmt.Sprintf("topic id %x does not exist", rt.TopicID[:]))
		case errors.Is(err, meta.ErrUnknownTopicOrPartition):
			answer(rt.Topic, rt.TopicID, kerr.UnknownTopicOrPartition.Code, "This server does not host this topic-partition.")
		default:
			answer(rt.Topic, rt.TopicID, errorCode(err), err.Error())
		}
	}
	if deleted {
		s.topics.invalidate()
	}
	r.Respond(resp)
	return nil
}

// dropGroupOffsets removes every group's committed offsets of topic, a
// bounded number of groups per transaction.
func dropGroupOffsets(ctx context.Context, groups meta.Groups, topic string) error {
	all, err := groups.ListGroups(ctx)
	if err != nil {
		return err
	}
	const perTxn = 64
	for i := 0; i < len(all); i += perTxn {
		names := make([]string, 0, perTxn)
		for _, g := range all[i:min(i+perTxn, len(all))] {
			names = append(names, g.Name)
		}
		err := groups.UpdateGroups(ctx, names, func(_ int, tx meta.GroupTx) error {
			offs, err := tx.Offsets()
			if err != nil {
				return err
			}
			for _, o := range offs {
				if o.Topic == topic {
					if err := tx.DeleteOffset(o.Topic, o.Partition); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
