package kafka_test

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/stages/broker"
)

// topicConfigs describes a topic's configs and returns them by name.
func topicConfigs(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	out := make(map[string]kadm.Config)
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}

func wantConfig(t *testing.T, cfgs map[string]kadm.Config, name, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := cfgs[name]
	if !ok {
		t.Fatalf("config %s missing", name)
	}
	if c.MaybeValue() != value || c.Source != source {
		t.Fatalf("config %s = %q (source %v), want %q (source %v)", name, c.MaybeValue(), c.Source, value, source)
	}
}

func TestAdminDescribeTopicConfigs(t *testing.T) {
	_, adm, cl := startBroker(t)
	ctx := testCtx(t)
	createTopic(t, adm, "cfg", 1, map[string]*string{"retention.ms": kmsg.StringPtr("60000")})

	cfgs := topicConfigs(t, adm, "cfg")
	wantConfig(t, cfgs, "retention.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cfgs, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cfgs, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
	if syn := cfgs["retention.ms"].Synonyms; len(syn) != 2 ||
		syn[0].Source != kmsg.ConfigSourceDynamicTopicConfig || *syn[0].Value != "60000" ||
		syn[1].Source != kmsg.ConfigSourceDefaultConfig || syn[1].Key != "log.retention.ms" || *syn[1].Value != "604800000" {
		t.Fatalf("retention.ms synonyms: %+v", syn)
	}

	rcs, _ := adm.DescribeTopicConfigs(ctx, "nosuch")
	wantCode(t, "unknown topic", rcs[0].Err, kerr.UnknownTopicOrPartition)

	// Raw v4 request: named configs only, types and documentation.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "cfg"
	rr.ConfigNames = []string{"cleanup.policy", "retention.ms", "min.cleanable.dirty.ratio", "no.such"}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]kmsg.ConfigType{}
	for _, c := range resp.Resources[0].Configs {
		got[c.Name] = c.ConfigType
		if c.Documentation == nil || *c.Documentation == "" {
			t.Fatalf("%s: no documentation", c.Name)
		}
		if c.ConfigSynonyms != nil {
			t.Fatalf("%s: synonyms not asked for", c.Name)
		}
	}
	want := map[string]kmsg.ConfigType{"cleanup.policy": kmsg.ConfigTypeList, "retention.ms": kmsg.ConfigTypeLong, "min.cleanable.dirty.ratio": kmsg.ConfigTypeDouble}
	if len(got) != len(want) {
		t.Fatalf("configs: %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s type %v, want %v", k, got[k], v)
		}
	}

	// Every config has a known type.
	rr.ConfigNames = nil
	req.Resources = []kmsg.DescribeConfigsRequestResource{rr}
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources[0].Configs) < 19 {
		t.Fatalf("only %d configs", len(resp.Resources[0].Configs))
	}
	for _, c := range resp.Resources[0].Configs {
		if c.ConfigType == kmsg.ConfigTypeUnknown {
			t.Fatalf("%s has no type", c.Name)
		}
	}
}

func TestAdminAlterConfigs(t *testing.T) {
	_, adm, _ := startBroker(t)
	ctx := testCtx(t)
	createTopic(t, adm, "alt", 1, map[string]*string{"retention.ms": kmsg.StringPtr("60000")})

	// Incremental: set one, others untouched.
	r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: kmsg.StringPtr("1000000")}}, "alt")
	if err != nil || r[0].Err != nil {
		t.Fatalf("set: %v %+v", err, r)
	}
	cfgs := topicConfigs(t, adm, "alt")
	wantConfig(t, cfgs, "retention.bytes", "1000000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "retention.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)

	// Delete returns a config to its default.
	r, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, "alt")
	wantCode(t, "delete", r[0].Err, nil)
	cfgs = topicConfigs(t, adm, "alt")
	wantConfig(t, cfgs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cfgs, "retention.bytes", "1000000", kmsg.ConfigSourceDynamicTopicConfig)

	// Errors leave everything as it was.
	for _, tc := range []struct {
		what string
		ac   kadm.AlterConfig
		want *kerr.Error
	}{
		{"unknown config", kadm.AlterConfig{Op: kadm.SetConfig, Name: "no.such", Value: kmsg.StringPtr("1")}, kerr.InvalidConfig},
		{"bad value", kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.bytes", Value: kmsg.StringPtr("lots")}, kerr.InvalidConfig},
		{"append non-list", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.bytes", Value: kmsg.StringPtr("1")}, kerr.InvalidConfig},
		{"append compact", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}, kerr.InvalidConfig},
		{"subtract delete", kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("delete")}, kerr.InvalidConfig},
	} {
		r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{tc.ac}, "alt")
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, tc.what, r[0].Err, tc.want)
		if r[0].ErrMessage == "" {
			t.Fatalf("%s: no message", tc.what)
		}
	}
	cfgs = topicConfigs(t, adm, "alt")
	wantConfig(t, cfgs, "retention.bytes", "1000000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	// List configs: APPEND and SUBTRACT on a list that accepts anything.
	r, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "leader.replication.throttled.replicas", Value: kmsg.StringPtr("0:1,1:1")}}, "alt")
	wantCode(t, "append", r[0].Err, nil)
	r, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "leader.replication.throttled.replicas", Value: kmsg.StringPtr("1:1,2:1")}}, "alt")
	wantCode(t, "append again", r[0].Err, nil)
	wantConfig(t, topicConfigs(t, adm, "alt"), "leader.replication.throttled.replicas", "0:1,1:1,2:1", kmsg.ConfigSourceDynamicTopicConfig)
	r, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SubtractConfig, Name: "leader.replication.throttled.replicas", Value: kmsg.StringPtr("1:1")}}, "alt")
	wantCode(t, "subtract", r[0].Err, nil)
	wantConfig(t, topicConfigs(t, adm, "alt"), "leader.replication.throttled.replicas", "0:1,2:1", kmsg.ConfigSourceDynamicTopicConfig)

	// Validate only.
	r, _ = adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: kmsg.StringPtr("5")}}, "alt")
	wantCode(t, "validate only", r[0].Err, nil)
	wantConfig(t, topicConfigs(t, adm, "alt"), "retention.bytes", "1000000", kmsg.ConfigSourceDynamicTopicConfig)

	r, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: kmsg.StringPtr("5")}}, "nosuch")
	wantCode(t, "unknown topic", r[0].Err, kerr.UnknownTopicOrPartition)

	// Legacy AlterConfigs replaces the whole set.
	r, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "message.timestamp.type", Value: kmsg.StringPtr("LogAppendTime")}}, "alt")
	if err != nil || r[0].Err != nil {
		t.Fatalf("legacy alter: %v %+v", err, r)
	}
	cfgs = topicConfigs(t, adm, "alt")
	wantConfig(t, cfgs, "message.timestamp.type", "LogAppendTime", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cfgs, "retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cfgs, "leader.replication.throttled.replicas", "", kmsg.ConfigSourceDefaultConfig)

	r, _ = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("lots")}}, "alt")
	wantCode(t, "legacy bad value", r[0].Err, kerr.InvalidConfig)
	r, _ = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "no.such", Value: kmsg.StringPtr("1")}}, "alt")
	wantCode(t, "legacy unknown", r[0].Err, kerr.InvalidConfig)
	r, _ = adm.ValidateAlterTopicConfigsState(ctx, nil, "alt")
	wantCode(t, "legacy validate only", r[0].Err, nil)
	wantConfig(t, topicConfigs(t, adm, "alt"), "message.timestamp.type", "LogAppendTime", kmsg.ConfigSourceDynamicTopicConfig)

	// Broker configs are static.
	br, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: kmsg.StringPtr("3")}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "alter broker", br[0].Err, kerr.InvalidRequest)
	br, _ = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kmsg.StringPtr("3")}})
	wantCode(t, "legacy alter broker", br[0].Err, kerr.InvalidRequest)
}

func TestAdminDescribeBrokerConfigs(t *testing.T) {
	_, adm, cl := startBrokerWith(t, func(c *broker.Config) {
		c.NodeID = 7
		c.DefaultPartitions = 3
		c.Zone = "zone-a"
		c.MaxConnectionsPerIP = 100
	})
	ctx := testCtx(t)

	for _, ids := range [][]int32{nil, {7}} {
		rcs, err := adm.DescribeBrokerConfigs(ctx, ids...)
		if err != nil {
			t.Fatal(err)
		}
		if len(rcs) != 1 || rcs[0].Err != nil {
			t.Fatalf("describe broker %v: %+v", ids, rcs)
		}
		cfgs := map[string]kadm.Config{}
		for _, c := range rcs[0].Configs {
			cfgs[c.Key] = c
		}
		wantConfig(t, cfgs, "broker.id", "7", kmsg.ConfigSourceStaticBrokerConfig)
		wantConfig(t, cfgs, "num.partitions", "3", kmsg.ConfigSourceStaticBrokerConfig)
		wantConfig(t, cfgs, "broker.rack", "zone-a", kmsg.ConfigSourceStaticBrokerConfig)
		wantConfig(t, cfgs, "auto.create.topics.enable", "true", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "default.replication.factor", "1", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "message.max.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "log.retention.hours", "168", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "log.retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "compression.type", "producer", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "log.cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "log.message.timestamp.type", "CreateTime", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "socket.request.max.bytes", strconv.Itoa(100<<20), kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "fetch.max.bytes", strconv.Itoa(55<<20), kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "queued.max.request.bytes", strconv.Itoa(500<<20), kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "connections.max.idle.ms", "600000", kmsg.ConfigSourceDefaultConfig)
		wantConfig(t, cfgs, "max.connections.per.ip", "100", kmsg.ConfigSourceStaticBrokerConfig)
	}

	// Another broker's configs: INVALID_REQUEST (raw, as kadm would route
	// by id to a broker that does not exist).
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{"8", "x"} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
		req.Resources = append(req.Resources, rr)
	}
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "7"
	req.Resources = append(req.Resources, rr)
	resp, err := kgoRequest(t, cl, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range resp.(*kmsg.DescribeConfigsResponse).Resources {
		if res.ErrorCode != kerr.InvalidRequest.Code || res.ErrorMessage == nil {
			t.Fatalf("%v %q: code %d", res.ResourceType, res.ResourceName, res.ErrorCode)
		}
	}
}

// kgoRequest sends req to the (only) broker, bypassing the client's
// routing of broker resources by id.
func kgoRequest(t *testing.T, cl *kgo.Client, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	bs := cl.DiscoveredBrokers()
	if len(bs) != 1 {
		t.Fatalf("%d brokers discovered", len(bs))
	}
	return bs[0].Request(testCtx(t), req)
}
