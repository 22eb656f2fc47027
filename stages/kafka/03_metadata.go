package kafka

// Metadata: v0-v13.
//
// Sluice has no partition leaders: every broker serves every partition, so
// the brokers listed and each partition's leader are a routing choice made
// per client (cluster.go): the live brokers of the client's zone, the
// leader picked among them by the balance strategy, every listed broker a
// replica and in the ISR, at leader epoch 0. Topics are listed with their UUIDs (v10+). A request
// for unknown topics auto-creates them when auto.create.topics.enable is on
// and the client allows it (v4+), with num.partitions partitions;
// otherwise the topic answers UNKNOWN_TOPIC_OR_PARTITION, or
// INVALID_TOPIC_EXCEPTION for a name Kafka would reject. Topic ids asked
// for by id (v10+) answer UNKNOWN_TOPIC_ID when unknown.

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.Metadata.Int16(), 0, -1, handleMetadata) }

func brokerEntry(p Peer) kmsg.MetadataResponseBroker {
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID = p.NodeID
	b.Host = p.Host
	b.Port = p.Port
	if p.Zone != "" {
		rack := p.Zone
		b.Rack = &rack
	}
	return b
}

func handleMetadata(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	v := s.clientView(r)
	for _, p := range v.brokers {
		resp.Brokers = append(resp.Brokers, brokerEntry(p))
	}
	cid := s.cfg.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = v.brokers[0].NodeID

	addTopic := func(t meta.Topic) {
		rt := kmsg.NewMetadataResponseTopic()
		name := t.Name
		rt.Topic = &name
		rt.TopicID = t.ID
		for p := int32(0); p < t.Partitions; p++ {
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition = p
			rp.Leader = v.leader(t.ID, p).NodeID
			rp.LeaderEpoch = 0
			rp.Replicas = v.ids(rp.Leader)
			rp.ISR = rp.Replicas
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	addError := func(name *string, id [16]byte, code int16) {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = name
		rt.TopicID = id
		rt.ErrorCode = code
		resp.Topics = append(resp.Topics, rt)
	}

	if req.Topics == nil || (len(req.Topics) == 0 && req.Version == 0) {
		// All topics (v0 used an empty list for that).
		topics, err := s.cfg.Meta.Topics(r.Ctx)
		if err != nil {
			return err
		}
		sort.Slice(topics, func(i, j int) bool { return topics[i].Name < topics[j].Name })
		for _, t := range topics {
			addTopic(t)
		}
		r.Respond(resp)
		return nil
	}
	autoCreate := s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		if rt.Topic == nil || *rt.Topic == "" {
			if (rt.TopicID == meta.TopicID{}) {
				addError(rt.Topic, rt.TopicID, kerr.InvalidTopicException.Code)
				continue
			}
			t, err := s.topics.byIDGet(r.Ctx, rt.TopicID)
			if err != nil {
				addError(nil, rt.TopicID, kerr.UnknownTopicID.Code)
				continue
			}
			addTopic(t)
			continue
		}
		name := *rt.Topic
		t, err := s.topics.byNameGet(r.Ctx, name)
		if errors.Is(err, meta.ErrUnknownTopicOrPartition) {
			if verr := validTopicName(name); verr != nil {
				addError(rt.Topic, meta.TopicID{}, kerr.InvalidTopicException.Code)
				continue
			}
			if !autoCreate {
				addError(rt.Topic, meta.TopicID{}, kerr.UnknownTopicOrPartition.Code)
				continue
			}
			t, err = s.cfg.Meta.CreateTopic(r.Ctx, name, s.cfg.DefaultPartitions, nil)
			if errors.Is(err, meta.ErrTopicExists) {
				t, err = s.cfg.Meta.Topic(r.Ctx, name)
			}
			if err == nil {
				s.log.Info("auto-created topic", "topic", name, "partitions", t.Partitions)
				s.topics.put(t)
			}
		}
		if err != nil {
			addError(rt.Topic, meta.TopicID{}, errorCode(err))
			continue
		}
		addTopic(t)
	}
	r.Respond(resp)
	return nil
}
