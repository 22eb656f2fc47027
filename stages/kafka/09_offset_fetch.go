package kafka

// OffsetFetch: v0-v10 (v8+: several groups in one request; v10: topics by
// id).
//
// Committed offsets come from the metadata store, with their leader epoch
// and metadata. A partition without a committed offset, and every
// partition of a group that does not exist, answers offset -1 and no
// error, as Kafka does. Null topics (v2+) fetch every committed offset of
// the group. v10 topic ids that do not exist answer UNKNOWN_TOPIC_ID.
// RequireStable (v7+) has nothing to wait for (no transactions).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.OffsetFetch.Int16(), 0, -1, handleOffsetFetch) }

func handleOffsetFetch(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	groups := req.Groups
	if req.Version < 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = req.Group
		if req.Topics != nil {
			rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
		}
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic, rt.Partitions = t.Topic, t.Partitions
			rg.Topics = append(rg.Topics, rt)
		}
		groups = []kmsg.OffsetFetchRequestGroup{rg}
	}
	for _, rg := range groups {
		resp.Groups = append(resp.Groups, s.offsetFetchGroup(r, req.Version, rg))
	}
	if req.Version < 8 {
		g := resp.Groups[0]
		resp.Groups = nil
		resp.ErrorCode = g.ErrorCode
		for _, gt := range g.Topics {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				p := kmsg.NewOffsetFetchResponseTopicPartition()
				p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				if req.Version < 2 && g.ErrorCode != 0 && p.ErrorCode == 0 {
					p.ErrorCode = g.ErrorCode // v0-v1 have no group error
				}
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
	}
	r.Respond(resp)
	return nil
}

func (s *Server) offsetFetchGroup(r *Request, version int16, rg kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = rg.Group
	offs, code := s.cfg.Groups.FetchOffsets(r.Ctx, rg.Group)
	if code != 0 {
		out.ErrorCode = code
		return out
	}
	type tp struct {
		t string
		p int32
	}
	byTP := make(map[tp]meta.GroupOffset, len(offs))
	for _, o := range offs {
		byTP[tp{o.Topic, o.Partition}] = o
	}
	fill := func(p *kmsg.OffsetFetchResponseGroupTopicPartition, o meta.GroupOffset, ok bool) {
		p.Offset, p.LeaderEpoch, p.Metadata = -1, -1, new(string)
		if ok {
			p.Offset, p.LeaderEpoch = o.Offset, o.LeaderEpoch
			if o.Metadata != nil {
				p.Metadata = o.Metadata
			}
		}
	}
	if rg.Topics == nil {
		// Every committed offset, by topic.
		for i := 0; i < len(offs); {
			t := kmsg.NewOffsetFetchResponseGroupTopic()
			t.Topic = offs[i].Topic
			if version >= 10 {
				topic, err := s.topics.byNameGet(r.Ctx, t.Topic)
				if err != nil {
					for i < len(offs) && offs[i].Topic == t.Topic {
						i++
					}
					continue // a deleted topic has no id to report
				}
				t.TopicID = topic.ID
			}
			for ; i < len(offs) && offs[i].Topic == t.Topic; i++ {
				p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				p.Partition = offs[i].Partition
				fill(&p, offs[i], true)
				t.Partitions = append(t.Partitions, p)
			}
			out.Topics = append(out.Topics, t)
		}
		return out
	}
	for _, rt := range rg.Topics {
		t := kmsg.NewOffsetFetchResponseGroupTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		name, idErr := rt.Topic, false
		if version >= 10 {
			topic, err := s.topics.byIDGet(r.Ctx, rt.TopicID)
			name, idErr = topic.Name, err != nil
		}
		for _, part := range rt.Partitions {
			p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			p.Partition = part
			if idErr {
				fill(&p, meta.GroupOffset{}, false)
				p.ErrorCode = kerr.UnknownTopicID.Code
			} else {
				o, ok := byTP[tp{name, part}]
				fill(&p, o, ok)
			}
			t.Partitions = append(t.Partitions, p)
		}
		out.Topics = append(out.Topics, t)
	}
	return out
}
