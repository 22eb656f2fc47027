package kafka

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/produce"
)

// topicConfig describes one topic config Sluice accepts: its broker default
// (reported like Kafka's), its type check, and, for the few that need no
// action from a broker without local logs or replicas, why Kafka's meaning
// holds anyway.
type topicConfig struct {
	def      string
	validate func(string) error
	// trivially is, for a config Sluice does not act on, why Kafka's
	// semantics are met whatever its value; empty for a config the
	// broker applies.
	trivially string
	doc       string
}

func longValue(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a long", v)
		}
		if n < min {
			return fmt.Errorf("%d is below %d", n, min)
		}
		return nil
	}
}

func intValue(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not an int", v)
		}
		if n < min {
			return fmt.Errorf("%d is below %d", n, min)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, x := range vals {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(vals, ", "))
	}
}

func boolValue(v string) error { return oneOf("true", "false")(v) }

func ratioValue(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("%q is not a ratio between 0 and 1", v)
	}
	return nil
}

func anyValue(string) error { return nil }

// Why some configs need no action: a produce is acknowledged only once
// its bytes are durable in object storage and its offsets committed, with
// no leaders and no replicas, and only cleanup.policy=delete exists.
const (
	trivialDurable    = "every acknowledged batch is already durable in object storage and committed"
	trivialNoReplicas = "Sluice has no partition replicas: there is no replication to throttle or leader to elect"
	trivialNoCompact  = "it applies to compaction only and cleanup.policy is always delete, where Kafka ignores it too"
)

// topicConfigs are the topic-level configs Sluice knows, with Kafka's
// defaults. An unknown name is INVALID_CONFIG, as in Kafka. Each either
// changes what the broker does or says (trivially) why Kafka's meaning
// already holds; configs that would be accepted and change nothing are in
// unsupportedTopicConfigs instead.
var topicConfigs = map[string]topicConfig{
	"retention.ms":                        {def: "604800000", validate: longValue(-1), doc: "how long records are kept"},
	"retention.bytes":                     {def: "-1", validate: longValue(-1), doc: "how many bytes a partition keeps"},
	"max.message.bytes":                   {def: "1048588", validate: intValue(0), doc: "largest record batch accepted"},
	"compression.type":                    {def: "producer", validate: oneOf("producer", "uncompressed", "none", "gzip", "snappy", "lz4", "zstd")},
	"cleanup.policy":                      {def: "delete", validate: oneOf("delete"), doc: "only delete: compaction is not supported"},
	"message.timestamp.type":              {def: "CreateTime", validate: oneOf("CreateTime", "LogAppendTime")},
	"message.timestamp.difference.max.ms": {def: "9223372036854775807", validate: longValue(0), doc: "deprecated: the before and after limit when those are left at their defaults"},
	"message.timestamp.before.max.ms":     {def: "9223372036854775807", validate: longValue(0), doc: "under CreateTime, how far a record's timestamp may be behind the broker's time"},
	"message.timestamp.after.max.ms":      {def: "9223372036854775807", validate: longValue(0), doc: "under CreateTime, how far a record's timestamp may be ahead of the broker's time"},
	// min.insync.replicas asks that acks=all writes be on that many
	// replicas before the answer; Sluice answers only after object storage
	// (itself replicated) made the bytes durable.
	"min.insync.replicas":                     {def: "1", validate: intValue(1), trivially: trivialDurable},
	"flush.messages":                          {def: "9223372036854775807", validate: longValue(1), trivially: trivialDurable},
	"flush.ms":                                {def: "9223372036854775807", validate: longValue(0), trivially: trivialDurable},
	"unclean.leader.election.enable":          {def: "false", validate: boolValue, trivially: trivialNoReplicas},
	"follower.replication.throttled.replicas": {def: "", validate: anyValue, trivially: trivialNoReplicas},
	"leader.replication.throttled.replicas":   {def: "", validate: anyValue, trivially: trivialNoReplicas},
	"delete.retention.ms":                     {def: "86400000", validate: longValue(0), trivially: trivialNoCompact},
	"min.cleanable.dirty.ratio":               {def: "0.5", validate: ratioValue, trivially: trivialNoCompact},
	"min.compaction.lag.ms":                   {def: "0", validate: longValue(0), trivially: trivialNoCompact},
	"max.compaction.lag.ms":                   {def: "9223372036854775807", validate: longValue(1), trivially: trivialNoCompact},
}

// unsupportedTopicConfigs are Kafka topic configs whose meaning Sluice
// cannot honour: setting one is INVALID_CONFIG with the reason, rather
// than a setting that is stored and silently does nothing. They are not
// described either. Deleting one (IncrementalAlterConfigs DELETE) is
// allowed, so a topic that stored one under an older Sluice can be
// cleaned up.
var unsupportedTopicConfigs = map[string]string{
	"segment.bytes":                 "Sluice has no local log segments (the broker's --segment-bytes sizes archive segments)",
	"segment.ms":                    "Sluice has no local log segments (the broker's --archive-age decides when intake is archived)",
	"segment.jitter.ms":             "Sluice has no local log segments",
	"segment.index.bytes":           "Sluice has no local log segments or offset index files",
	"index.interval.bytes":          "Sluice indexes every batch; there are no offset index files",
	"preallocate":                   "Sluice has no local log files",
	"file.delete.delay.ms":          "Sluice has no local log files (the broker's --vacuum-grace delays object deletion)",
	"local.retention.ms":            "Sluice keeps no local copy: all data is in object storage",
	"local.retention.bytes":         "Sluice keeps no local copy: all data is in object storage",
	"remote.storage.enable":         "Sluice has no tiers: all data is in object storage",
	"message.downconversion.enable": "Sluice serves Fetch v4+ only, which never needs down-conversion (Kafka 4 removed this config)",
}

// validateTopicConfig checks one config; the error message goes to the
// client with INVALID_CONFIG.
func validateTopicConfig(name, value string) error {
	if why, ok := unsupportedTopicConfigs[name]; ok {
		return fmt.Errorf("topic config %s is not supported: %s", name, why)
	}
	c, ok := topicConfigs[name]
	if !ok {
		return fmt.Errorf("unknown topic config name: %s", name)
	}
	if err := c.validate(value); err != nil {
		return fmt.Errorf("invalid value for %s: %v", name, err)
	}
	return nil
}

// validTopicName applies Kafka's topic name rules.
func validTopicName(name string) error {
	if name == "" {
		return fmt.Errorf("topic name is empty")
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name cannot be %q", name)
	}
	if len(name) > 249 {
		return fmt.Errorf("topic name is longer than 249 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name %q has an illegal character %q", name, r)
		}
	}
	return nil
}

// topicDefault is a topic config's default on this broker.
func (s *Server) topicDefault(name string) string {
	if v, ok := s.cfg.TopicDefaults[name]; ok {
		return v
	}
	return topicConfigs[name].def
}

// topicConfigValue is a topic's effective value for a config.
func topicConfigValue(t meta.Topic, name string) string {
	if v, ok := t.Configs[name]; ok {
		return v
	}
	return topicConfigs[name].def
}

// produceTarget resolves the settings the produce pipeline applies.
func produceTarget(t meta.Topic, partition int32) produce.Target {
	tg := produce.Target{Topic: t, Partition: partition, Compression: produce.KeepCodec}
	switch v := topicConfigValue(t, "compression.type"); v {
	case "producer":
	case "uncompressed", "none":
		tg.Compression = codec.CodecNone
	default:
		tg.Compression, _ = codec.ParseCodec(v)
	}
	tg.LogAppendTime = topicConfigValue(t, "message.timestamp.type") == "LogAppendTime"
	if n, err := strconv.ParseInt(topicConfigValue(t, "max.message.bytes"), 10, 32); err == nil {
		tg.MaxMessageBytes = int32(n)
	}
	// As Kafka's LogConfig: the deprecated difference limit stands in
	// for a before or after limit left at its default.
	diff := timestampLimit(t, "message.timestamp.difference.max.ms", -1)
	tg.TimestampBeforeMax = timestampLimit(t, "message.timestamp.before.max.ms", diff)
	tg.TimestampAfterMax = timestampLimit(t, "message.timestamp.after.max.ms", diff)
	return tg
}

// timestampLimit is a topic's timestamp limit config, or unset (the
// default, Long.MAX_VALUE) when it is not given.
func timestampLimit(t meta.Topic, name string, unset int64) int64 {
	n, err := strconv.ParseInt(topicConfigValue(t, name), 10, 64)
	if err != nil || n == math.MaxInt64 {
		return unset
	}
	return n
}

// topicCache keeps topics read from the metadata store for a short time, so
// that the produce and fetch hot paths do not read the store per request.
// Changes made through this broker invalidate it at once; changes made
// elsewhere show after at most ttl.
type topicCache struct {
	store meta.Store
	ttl   time.Duration

	mu     sync.Mutex
	byName map[string]cachedTopic
	byID   map[meta.TopicID]cachedTopic
}

type cachedTopic struct {
	t  meta.Topic
	at time.Time
}

func newTopicCache(store meta.Store, ttl time.Duration) *topicCache {
	return &topicCache{store: store, ttl: ttl, byName: map[string]cachedTopic{}, byID: map[meta.TopicID]cachedTopic{}}
}

func (c *topicCache) byNameGet(ctx context.Context, name string) (meta.Topic, error) {
	c.mu.Lock()
	ct, ok := c.byName[name]
	c.mu.Unlock()
	if ok && time.Since(ct.at) < c.ttl {
		return ct.t, nil
	}
	t, err := c.store.Topic(ctx, name)
	if err != nil {
		return t, err
	}
	c.put(t)
	return t, nil
}

func (c *topicCache) byIDGet(ctx context.Context, id meta.TopicID) (meta.Topic, error) {
	c.mu.Lock()
	ct, ok := c.byID[id]
	c.mu.Unlock()
	if ok && time.Since(ct.at) < c.ttl {
		return ct.t, nil
	}
	t, err := c.store.TopicByID(ctx, id)
	if err != nil {
		return t, err
	}
	c.put(t)
	return t, nil
}

func (c *topicCache) put(t meta.Topic) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := cachedTopic{t: t, at: time.Now()}
	c.byName[t.Name] = ct
	c.byID[t.ID] = ct
}

// invalidate drops every cached topic (after any topic change here).
func (c *topicCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byName = map[string]cachedTopic{}
	c.byID = map[meta.TopicID]cachedTopic{}
}
