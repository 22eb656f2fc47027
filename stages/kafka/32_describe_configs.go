package kafka

// DescribeConfigs: v0-v4.
//
// TOPIC resources list every topic config Sluice knows (or only the names
// asked for; unknown names are left out, as in Kafka) with the topic's
// value (source DYNAMIC_TOPIC_CONFIG) or Kafka's default (DEFAULT_CONFIG),
// never read-only or sensitive. With IncludeSynonyms (v1+) each config
// lists the topic's value, then the default under its broker config name
// (retention.ms -> log.retention.ms, …) as DEFAULT_CONFIG. With
// IncludeDocumentation (v3+) each config carries a line of documentation,
// which says when a config needs no action from Sluice and why. ConfigType
// (v3+) is Kafka's type of each config. An invalid topic name is
// INVALID_TOPIC_EXCEPTION, an unknown topic UNKNOWN_TOPIC_OR_PARTITION.
//
// BROKER resources named "" or this broker's node id list this broker's
// configuration in Kafka's terms (broker.id, num.partitions,
// auto.create.topics.enable, socket.request.max.bytes, message.max.bytes,
// the log.retention.* defaults, …): a setting that differs from Kafka's
// default is STATIC_BROKER_CONFIG, one that does not is DEFAULT_CONFIG;
// all are read-only, since Sluice's broker configs are static. Another
// node id is INVALID_REQUEST, as Kafka answers only for itself.
// BROKER_LOGGER and any other resource type are INVALID_REQUEST.

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.DescribeConfigs.Int16(), 0, -1, handleDescribeConfigs) }

// topicConfigTypes is Kafka's type of each topic config (ConfigType, v3+).
var topicConfigTypes = map[string]kmsg.ConfigType{
	"retention.ms":                            kmsg.ConfigTypeLong,
	"retention.bytes":                         kmsg.ConfigTypeLong,
	"max.message.bytes":                       kmsg.ConfigTypeInt,
	"compression.type":                        kmsg.ConfigTypeString,
	"cleanup.policy":                          kmsg.ConfigTypeList,
	"message.timestamp.type":                  kmsg.ConfigTypeString,
	"message.timestamp.difference.max.ms":     kmsg.ConfigTypeLong,
	"message.timestamp.before.max.ms":         kmsg.ConfigTypeLong,
	"message.timestamp.after.max.ms":          kmsg.ConfigTypeLong,
	"min.insync.replicas":                     kmsg.ConfigTypeInt,
	"unclean.leader.election.enable":          kmsg.ConfigTypeBoolean,
	"delete.retention.ms":                     kmsg.ConfigTypeLong,
	"flush.messages":                          kmsg.ConfigTypeLong,
	"flush.ms":                                kmsg.ConfigTypeLong,
	"min.cleanable.dirty.ratio":               kmsg.ConfigTypeDouble,
	"min.compaction.lag.ms":                   kmsg.ConfigTypeLong,
	"max.compaction.lag.ms":                   kmsg.ConfigTypeLong,
	"follower.replication.throttled.replicas": kmsg.ConfigTypeList,
	"leader.replication.throttled.replicas":   kmsg.ConfigTypeList,
}

// topicConfigType is a topic config's type; a config missing from
// topicConfigTypes is reported as a string.
func topicConfigType(name string) kmsg.ConfigType {
	if t, ok := topicConfigTypes[name]; ok {
		return t
	}
	return kmsg.ConfigTypeString
}

// isListConfig reports whether a topic config is a comma separated list
// (the only kind APPEND and SUBTRACT apply to).
func isListConfig(name string) bool { return topicConfigType(name) == kmsg.ConfigTypeList }

// topicConfigBrokerNames maps a topic config to the broker config that
// holds its default in Kafka, reported as its DEFAULT_CONFIG synonym.
var topicConfigBrokerNames = map[string]string{
	"retention.ms":                        "log.retention.ms",
	"retention.bytes":                     "log.retention.bytes",
	"max.message.bytes":                   "message.max.bytes",
	"compression.type":                    "compression.type",
	"cleanup.policy":                      "log.cleanup.policy",
	"message.timestamp.type":              "log.message.timestamp.type",
	"message.timestamp.difference.max.ms": "log.message.timestamp.difference.max.ms",
	"message.timestamp.before.max.ms":     "log.message.timestamp.before.max.ms",
	"message.timestamp.after.max.ms":      "log.message.timestamp.after.max.ms",
	"min.insync.replicas":                 "min.insync.replicas",
	"unclean.leader.election.enable":      "unclean.leader.election.enable",
	"delete.retention.ms":                 "log.cleaner.delete.retention.ms",
	"flush.messages":                      "log.flush.interval.messages",
	"flush.ms":                            "log.flush.interval.ms",
	"min.cleanable.dirty.ratio":           "log.cleaner.min.cleanable.ratio",
	"min.compaction.lag.ms":               "log.cleaner.min.compaction.lag.ms",
	"max.compaction.lag.ms":               "log.cleaner.max.compaction.lag.ms",
}

// topicConfigDocumentation is the documentation reported for a topic
// config.
func topicConfigDocumentation(name string) string {
	c := topicConfigs[name]
	doc := c.doc
	if doc == "" {
		doc = "as in Kafka"
	}
	if c.trivially != "" {
		doc += " (Sluice need not act on it: " + c.trivially + ")"
	}
	return name + ": " + doc
}

// describedConfig is one config of a DescribeConfigs answer.
type describedConfig struct {
	name     string
	value    *string
	source   kmsg.ConfigSource
	typ      kmsg.ConfigType
	readOnly bool
	doc      string
	synonyms []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

func configSynonym(name string, value *string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	syn.Name, syn.Value, syn.Source = name, value, source
	return syn
}

// topicDescribedConfigs lists a topic's configs by name.
func (s *Server) topicDescribedConfigs(t meta.Topic) []describedConfig {
	names := sortedTopicConfigNames()
	out := make([]describedConfig, 0, len(names))
	for _, name := range names {
		def := s.topicDefault(name)
		dc := describedConfig{name: name, value: &def, source: kmsg.ConfigSourceDefaultConfig, typ: topicConfigType(name), doc: topicConfigDocumentation(name)}
		if v, ok := t.Configs[name]; ok {
			dc.value, dc.source = &v, kmsg.ConfigSourceDynamicTopicConfig
			dc.synonyms = append(dc.synonyms, configSynonym(name, &v, kmsg.ConfigSourceDynamicTopicConfig))
		}
		defName := name
		if bn, ok := topicConfigBrokerNames[name]; ok {
			defName = bn
		}
		dc.synonyms = append(dc.synonyms, configSynonym(defName, &def, kmsg.ConfigSourceDefaultConfig))
		out = append(out, dc)
	}
	return out
}

// brokerDescribedConfigs lists this broker's configuration in Kafka's
// terms, by name.
func (s *Server) brokerDescribedConfigs() []describedConfig {
	str := func(v string) *string { return &v }
	itoa := func(n int64) *string { return str(strconv.FormatInt(n, 10)) }
	var rack *string
	if s.cfg.Rack != "" {
		rack = str(s.cfg.Rack)
	}
	var retentionMs *string // unset unless --retention differs from Kafka's
	if v, ok := s.cfg.TopicDefaults["retention.ms"]; ok && v != topicConfigs["retention.ms"].def {
		retentionMs = str(v)
	}
	listener := "PLAINTEXT://" + net.JoinHostPort(s.cfg.AdvertisedHost, strconv.Itoa(int(s.cfg.AdvertisedPort)))
	type bc struct {
		name       string
		value, def *string
		typ        kmsg.ConfigType
		doc        string
	}
	list := []bc{
		{"advertised.listeners", &listener, nil, kmsg.ConfigTypeString, "the address clients are told to connect to"},
		{"auto.create.topics.enable", str(strconv.FormatBool(s.cfg.AutoCreateTopics)), str("true"), kmsg.ConfigTypeBoolean, "whether Metadata requests create unknown topics"},
		{"broker.id", itoa(int64(s.cfg.NodeID)), str("-1"), kmsg.ConfigTypeInt, "this broker's id"},
		{"broker.rack", rack, nil, kmsg.ConfigTypeString, "this broker's zone"},
		{"compression.type", str("producer"), str("producer"), kmsg.ConfigTypeString, "default compression of topics: keep the producer's"},
		{"default.replication.factor", str("1"), str("1"), kmsg.ConfigTypeInt, "Sluice keeps one copy of each record, in object storage"},
		{"delete.topic.enable", str("true"), str("true"), kmsg.ConfigTypeBoolean, "topics can be deleted"},
		{"log.cleanup.policy", str("delete"), str("delete"), kmsg.ConfigTypeList, "default cleanup policy of topics; compaction is not supported"},
		{"log.message.timestamp.type", str("CreateTime"), str("CreateTime"), kmsg.ConfigTypeString, "default timestamp type of topics"},
		{"log.retention.bytes", str(s.topicDefault("retention.bytes")), str("-1"), kmsg.ConfigTypeLong, "default retention.bytes of topics"},
		{"log.retention.hours", str("168"), str("168"), kmsg.ConfigTypeInt, "default retention of topics, in hours"},
		{"log.retention.minutes", nil, nil, kmsg.ConfigTypeInt, "default retention of topics, in minutes (unset: log.retention.hours)"},
		{"log.retention.ms", retentionMs, nil, kmsg.ConfigTypeLong, "default retention of topics, in milliseconds (unset: log.retention.minutes)"},
		{"log.segment.bytes", str("1073741824"), str("1073741824"), kmsg.ConfigTypeInt, "Kafka's default segment size, reported for tools; Sluice has no log segments and topics cannot set segment.bytes"},
		{"message.max.bytes", str("1048588"), str("1048588"), kmsg.ConfigTypeInt, "default max.message.bytes of topics"},
		{"min.insync.replicas", str("1"), str("1"), kmsg.ConfigTypeInt, "default min.insync.replicas of topics"},
		{"node.id", itoa(int64(s.cfg.NodeID)), str("-1"), kmsg.ConfigTypeInt, "this broker's id"},
		{"num.partitions", itoa(int64(s.cfg.DefaultPartitions)), str("1"), kmsg.ConfigTypeInt, "partitions of auto-created topics and of CreateTopics with -1 partitions"},
		{"socket.request.max.bytes", itoa(int64(s.cfg.MaxRequestBytes)), str("104857600"), kmsg.ConfigTypeInt, "largest request accepted"},
		{"queued.max.request.bytes", itoa(max(s.cfg.QueuedMaxRequestBytes, -1)), itoa(DefaultQueuedMaxRequestBytes), kmsg.ConfigTypeLong, "request bytes held in memory by all connections (-1: unbounded)"},
		{"connections.max.idle.ms", itoa(max(s.cfg.ConnectionsMaxIdle.Milliseconds(), -1)), itoa(DefaultConnectionsMaxIdle.Milliseconds()), kmsg.ConfigTypeLong, "idle connections are closed after this long (-1: never)"},
		{"max.connections", connLimit(s.cfg.MaxConnections), str("2147483647"), kmsg.ConfigTypeInt, "client connections over it are closed at once"},
		{"max.connections.per.ip", connLimit(s.cfg.MaxConnectionsPerIP), str("2147483647"), kmsg.ConfigTypeInt, "client connections from one IP over it are closed at once"},
		{"fetch.max.bytes", itoa(int64(s.cfg.FetchMaxBytes)), itoa(DefaultFetchMaxBytes), kmsg.ConfigTypeInt, "largest fetch answer (one batch still goes out whole)"},
		{"unclean.leader.election.enable", str("false"), str("false"), kmsg.ConfigTypeBoolean, "default unclean.leader.election.enable of topics"},
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	out := make([]describedConfig, 0, len(list))
	for _, c := range list {
		dc := describedConfig{name: c.name, value: c.value, source: kmsg.ConfigSourceDefaultConfig, typ: c.typ, readOnly: true, doc: c.name + ": " + c.doc}
		if c.value != nil && (c.def == nil || *c.value != *c.def) {
			dc.source = kmsg.ConfigSourceStaticBrokerConfig
			dc.synonyms = append(dc.synonyms, configSynonym(c.name, c.value, kmsg.ConfigSourceStaticBrokerConfig))
		}
		if c.def != nil {
			dc.synonyms = append(dc.synonyms, configSynonym(c.name, c.def, kmsg.ConfigSourceDefaultConfig))
		}
		out = append(out, dc)
	}
	return out
}

// checkBrokerResource checks that a BROKER resource names this broker ("" or
// its node id); the message goes to the client with INVALID_REQUEST.
func (s *Server) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return fmt.Errorf("Broker id must be an integer, but it is: %s", name)
	}
	if int32(id) != s.cfg.NodeID {
		return fmt.Errorf("Unexpected broker id, expected %d or empty string, but received %s", s.cfg.NodeID, name)
	}
	return nil
}

func handleDescribeConfigs(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)

	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		fail := func(code int16, msg string) {
			res.ErrorCode = code
			res.ErrorMessage = &msg
		}
		var configs []describedConfig
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if err := validTopicName(rr.ResourceName); err != nil {
				fail(kerr.InvalidTopicException.Code, err.Error())
				break
			}
			t, err := s.topics.byNameGet(r.Ctx, rr.ResourceName)
			if err != nil {
				fail(errorCode(err), err.Error())
				break
			}
			configs = s.topicDescribedConfigs(t)
		case kmsg.ConfigResourceTypeBroker:
			if err := s.checkBrokerResource(rr.ResourceName); err != nil {
				fail(kerr.InvalidRequest.Code, err.Error())
				break
			}
			configs = s.brokerDescribedConfigs()
		case kmsg.ConfigResourceTypeBrokerLogger:
			fail(kerr.InvalidRequest.Code, "broker loggers cannot be described: Sluice's log level is set in its configuration")
		default:
			fail(kerr.InvalidRequest.Code, fmt.Sprintf("unsupported config resource type %d", rr.ResourceType))
		}
		var want map[string]bool
		if rr.ConfigNames != nil {
			want = make(map[string]bool, len(rr.ConfigNames))
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		for _, dc := range configs {
			if want != nil && !want[dc.name] {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name = dc.name
			rc.Value = dc.value
			rc.ReadOnly = dc.readOnly
			rc.IsDefault = dc.source == kmsg.ConfigSourceDefaultConfig
			rc.Source = dc.source
			if req.IncludeSynonyms {
				rc.ConfigSynonyms = dc.synonyms
			}
			rc.ConfigType = dc.typ
			if req.IncludeDocumentation {
				doc := dc.doc
				rc.Documentation = &doc
			}
			res.Configs = append(res.Configs, rc)
		}
		resp.Resources = append(resp.Resources, res)
	}
	r.Respond(resp)
	return nil
}
