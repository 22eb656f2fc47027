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
// (reported like Kafka's), its type check, and whether Sluice acts on it.
type topicConfig struct {
	def      string
	validate func(string) error
	// applied is false for configs Kafka has that make no sense without
	// local logs or replicas; they are stored and reported, not used.
	applied bool
	doc     string
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

// topicConfigs are the topic-level configs Sluice knows, with Kafka's
// defaults. An unknown name is INVALID_CONFIG, as in Kafka.
var topicConfigs = map[string]topicConfig{
	"retention.ms":                            {def: "604800000", validate: longValue(-1), applied: true, doc: "how long records are kept"},
	"retention.bytes":                         {def: "-1", validate: longValue(-1), applied: true, doc: "how many bytes a partition keeps"},
	"max.message.bytes":                       {def: "1048588", validate: intValue(0), applied: true, doc: "largest record batch accepted"},
	"compression.type":                        {def: "producer", validate: oneOf("producer", "uncompressed", "none", "gzip", "snappy", "lz4", "zstd"), applied: true},
	"cleanup.policy":                          {def: "delete", validate: oneOf("delete"), applied: true, doc: "only delete: compaction is not supported"},
	"message.timestamp.type":                  {def: "CreateTime", validate: oneOf("CreateTime", "LogAppendTime"), applied: true},
	"message.timestamp.difference.max.ms":     {def: "9223372036854775807", validate: longValue(0), applied: true},
	"message.timestamp.before.max.ms":         {def: "9223372036854775807", validate: longValue(0)},
	"message.timestamp.after.max.ms":          {def: "9223372036854775807", validate: longValue(0)},
	"segment.bytes":                           {def: "1073741824", validate: intValue(14)},
	"segment.ms":                              {def: "604800000", validate: longValue(1)},
	"segment.jitter.ms":                       {def: "0", validate: longValue(0)},
	"segment.index.bytes":                     {def: "10485760", validate: intValue(4)},
	"min.insync.replicas":                     {def: "1", validate: intValue(1)},
	"unclean.leader.election.enable":          {def: "false", validate: boolValue},
	"delete.retention.ms":                     {def: "86400000", validate: longValue(0)},
	"file.delete.delay.ms":                    {def: "60000", validate: longValue(0)},
	"flush.messages":                          {def: "9223372036854775807", validate: longValue(1)},
	"flush.ms":                                {def: "9223372036854775807", validate: longValue(0)},
	"index.interval.bytes":                    {def: "4096", validate: intValue(0)},
	"min.cleanable.dirty.ratio":               {def: "0.5", validate: ratioValue},
	"min.compaction.lag.ms":                   {def: "0", validate: longValue(0)},
	"max.compaction.lag.ms":                   {def: "9223372036854775807", validate: longValue(1)},
	"preallocate":                             {def: "false", validate: boolValue},
	"message.downconversion.enable":           {def: "true", validate: boolValue},
	"local.retention.ms":                      {def: "-2", validate: longValue(-2)},
	"local.retention.bytes":                   {def: "-2", validate: longValue(-2)},
	"remote.storage.enable":                   {def: "false", validate: boolValue},
	"follower.replication.throttled.replicas": {def: "", validate: anyValue},
	"leader.replication.throttled.replicas":   {def: "", validate: anyValue},
}

// validateTopicConfig checks one config; the error message goes to the
// client with INVALID_CONFIG.
func validateTopicConfig(name, value string) error {
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
	tg := produce.Target{Topic: t, Partition: partition, Compression: produce.KeepCodec, MaxTimestampDiff: -1}
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
	if n, err := strconv.ParseInt(topicConfigValue(t, "message.timestamp.difference.max.ms"), 10, 64); err == nil && n != math.MaxInt64 {
		tg.MaxTimestampDiff = n
	}
	return tg
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
