package kafka

// CreateTopics: v0-v7 (v4+ defaults, v5+ configs in the answer, v7 ids).
//
// Checks, in Kafka's order, each failing only its own topic:
//   - a name listed twice in one request: INVALID_REQUEST (one answer for
//     the name, nothing created for it);
//   - a name Kafka rejects, or one that collides with an existing topic or
//     another in the request once '.' and '_' are treated alike:
//     INVALID_TOPIC_EXCEPTION with a message;
//   - an existing topic: TOPIC_ALREADY_EXISTS;
//   - a manual replica assignment: INVALID_REQUEST (Sluice places no
//     replicas: every broker serves every partition);
//   - NumPartitions 0 or below -1: INVALID_PARTITIONS (-1 takes
//     num.partitions);
//   - more than maxPartitionsPerRequest partitions in the request, this
//     topic's included: POLICY_VIOLATION, as Kafka answers (KAFKA-17870);
//   - ReplicationFactor 0 or below -1: INVALID_REPLICATION_FACTOR, and so
//     is any factor above 1, as Kafka answers a factor above its broker
//     count: Sluice keeps one copy of the data, in object storage;
//   - configs: an unknown name, a Kafka config Sluice cannot honour
//     (segment.bytes, …: unsupportedTopicConfigs), a bad value, a null
//     value or a name given twice is INVALID_CONFIG with a message.
//
// ValidateOnly (v1+) runs every check and creates nothing. A created or
// validated topic answers (v5+) its partition count, replication factor 1
// and every topic config with its value and source (DYNAMIC_TOPIC_CONFIG
// when set in the request, DEFAULT_CONFIG otherwise), and (v7+) its id,
// which is zero for ValidateOnly.

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.CreateTopics.Int16(), 0, -1, handleCreateTopics) }

// collisionName is a topic name with '.' and '_' made equal, as Kafka
// compares names for collisions (metric names cannot tell them apart).
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

func handleCreateTopics(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)

	counts := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		counts[rt.Topic]++
	}
	existing, err := s.cfg.Meta.Topics(r.Ctx)
	if err != nil {
		for name := range counts {
			resp.Topics = append(resp.Topics, createTopicsError(name, errorCode(err), err.Error()))
		}
		r.Respond(resp)
		return nil
	}
	exists := make(map[string]bool, len(existing))
	collides := make(map[string]string, len(existing)+len(req.Topics)) // collision name -> topic
	for _, t := range existing {
		exists[t.Name] = true
		collides[collisionName(t.Name)] = t.Name
	}
	for _, rt := range req.Topics {
		if counts[rt.Topic] == 1 && validTopicName(rt.Topic) == nil && !exists[rt.Topic] {
			if _, ok := collides[collisionName(rt.Topic)]; !ok {
				collides[collisionName(rt.Topic)] = rt.Topic
			}
		}
	}

	created := false
	budget := int32(maxPartitionsPerRequest)
	answered := make(map[string]bool, len(req.Topics))
	for _, rt := range req.Topics {
		if answered[rt.Topic] {
			continue
		}
		answered[rt.Topic] = true
		if counts[rt.Topic] > 1 {
			resp.Topics = append(resp.Topics, createTopicsError(rt.Topic, kerr.InvalidRequest.Code,
				fmt.Sprintf("Create topics request from client `%s` contains multiple entries for the topic %s", r.ClientID(), rt.Topic)))
			continue
		}
		st, ok := s.createTopic(r, req, rt, exists, collides, &budget)
		resp.Topics = append(resp.Topics, st)
		created = created || (ok && !req.ValidateOnly)
	}
	if created {
		s.topics.invalidate()
	}
	r.Respond(resp)
	return nil
}

func createTopicsError(name string, code int16, msg string) kmsg.CreateTopicsResponseTopic {
	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = name
	st.ErrorCode = code
	if msg != "" {
		st.ErrorMessage = &msg
	}
	return st
}

// maxPartitionsPerRequest bounds the partitions one CreateTopics or
// CreatePartitions request may create, as Kafka's controller does: the
// store writes a row per partition in one transaction, so an unbounded
// count (up to 2^31 from one small request) would exhaust memory.
const maxPartitionsPerRequest = 10000

// errTooManyPartitions is Kafka's message for maxPartitionsPerRequest.
const errTooManyPartitions = "Excessively large number of partitions per request."

// createTopic checks and (unless ValidateOnly) creates one topic, taking
// its partitions from the request's budget.
func (s *Server) createTopic(r *Request, req *kmsg.CreateTopicsRequest, rt kmsg.CreateTopicsRequestTopic, exists map[string]bool, collides map[string]string, budget *int32) (kmsg.CreateTopicsResponseTopic, bool) {
	name := rt.Topic
	if err := validTopicName(name); err != nil {
		return createTopicsError(name, kerr.InvalidTopicException.Code, err.Error()), false
	}
	if exists[name] {
		return createTopicsError(name, kerr.TopicAlreadyExists.Code, fmt.Sprintf("Topic '%s' already exists.", name)), false
	}
	if other := collides[collisionName(name)]; other != name {
		return createTopicsError(name, kerr.InvalidTopicException.Code,
			fmt.Sprintf("Topic '%s' collides with existing topic: %s", name, other)), false
	}
	if len(rt.ReplicaAssignment) > 0 {
		return createTopicsError(name, kerr.InvalidRequest.Code,
			"manual replica assignment is not supported: every Sluice broker serves every partition"), false
	}
	partitions := rt.NumPartitions
	switch {
	case partitions == -1:
		partitions = s.cfg.DefaultPartitions
	case partitions <= 0:
		return createTopicsError(name, kerr.InvalidPartitions.Code, "Number of partitions was set to an invalid non-positive value."), false
	case partitions > *budget:
		return createTopicsError(name, kerr.PolicyViolation.Code, errTooManyPartitions), false
	}
	switch rf := rt.ReplicationFactor; {
	case rf == -1 || rf == 1:
	case rf <= 0:
		return createTopicsError(name, kerr.InvalidReplicationFactor.Code, "Replication factor must be larger than 0, or -1 to use the default value."), false
	default:
		return createTopicsError(name, kerr.InvalidReplicationFactor.Code,
			fmt.Sprintf("Unable to replicate the partition %d time(s): Sluice keeps each partition once, in object storage; use replication factor 1 or -1.", rf)), false
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if _, dup := configs[c.Name]; dup {
			return createTopicsError(name, kerr.InvalidConfig.Code, fmt.Sprintf("config %s is given more than once", c.Name)), false
		}
		if c.Value == nil {
			return createTopicsError(name, kerr.InvalidConfig.Code, fmt.Sprintf("Null value not supported for topic configs: %s", c.Name)), false
		}
		if err := validateTopicConfig(c.Name, *c.Value); err != nil {
			return createTopicsError(name, kerr.InvalidConfig.Code, err.Error()), false
		}
		configs[c.Name] = *c.Value
	}

	*budget -= partitions
	t := meta.Topic{Name: name, Partitions: partitions, Configs: configs}
	if !req.ValidateOnly {
		var err error
		t, err = s.cfg.Meta.CreateTopic(r.Ctx, name, partitions, configs)
		if err != nil {
			msg := err.Error()
			if errors.Is(err, meta.ErrTopicExists) {
				msg = fmt.Sprintf("Topic '%s' already exists.", name)
			}
			return createTopicsError(name, errorCode(err), msg), false
		}
		s.log.Info("created topic", "topic", name, "partitions", partitions, "client", r.ClientID())
	}

	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = name
	st.TopicID = t.ID
	st.NumPartitions = t.Partitions
	st.ReplicationFactor = 1
	for _, cname := range sortedTopicConfigNames() {
		v, set := t.Configs[cname]
		if !set {
			v = s.topicDefault(cname)
		}
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = cname
		c.Value = &v
		c.Source = int8(kmsg.ConfigSourceDefaultConfig)
		if set {
			c.Source = int8(kmsg.ConfigSourceDynamicTopicConfig)
		}
		st.Configs = append(st.Configs, c)
	}
	return st, true
}

// sortedTopicConfigNames lists topicConfigs by name.
func sortedTopicConfigNames() []string {
	names := make([]string, 0, len(topicConfigs))
	for n := range topicConfigs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
