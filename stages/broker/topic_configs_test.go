package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/stages/broker"
)

// unsupportedTopicConfigs are the Kafka topic configs Sluice cannot
// honour (no local segments, files or tiers): each is INVALID_CONFIG.
var unsupportedTopicConfigs = map[string]string{
	"segment.bytes":                 "1073741824",
	"segment.ms":                    "604800000",
	"segment.jitter.ms":             "0",
	"segment.index.bytes":           "10485760",
	"index.interval.bytes":          "4096",
	"preallocate":                   "false",
	"file.delete.delay.ms":          "60000",
	"local.retention.ms":            "-2",
	"local.retention.bytes":         "-2",
	"remote.storage.enable":         "false",
	"message.downconversion.enable": "true",
}

// TestUnsupportedTopicConfigsRefused: CreateTopics, IncrementalAlterConfigs
// and AlterConfigs refuse configs that would be stored and change nothing,
// with INVALID_CONFIG and the reason; configs whose Kafka meaning holds
// without action (durability, no replicas, compaction-only) are accepted
// and documented as such; a refused config an older Sluice stored can be
// deleted.
func TestUnsupportedTopicConfigsRefused(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.AutoCreateTopics = false })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, b.Addr()))
	createTopic(t, b.Addr(), "cfg", 1, nil)
	for name, v := range unsupportedTopicConfigs {
		r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{name: kmsg.StringPtr(v)}, "new-"+strings.ReplaceAll(name, ".", "-"))
		if !errorIs(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, "not supported") { // err repeats r.Err
			t.Errorf("create with %s=%s: %v %v %q, want INVALID_CONFIG, not supported", name, v, err, r.Err, r.ErrMessage)
		}
		ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: kmsg.StringPtr(v)}}, "cfg")
		if err != nil || !errorIs(ar[0].Err, kerr.InvalidConfig) {
			t.Errorf("incremental set %s: %v %+v, want INVALID_CONFIG", name, err, ar)
		}
		ar, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: name, Value: kmsg.StringPtr(v)}}, "cfg")
		if err != nil || !errorIs(ar[0].Err, kerr.InvalidConfig) {
			t.Errorf("legacy alter %s: %v %+v, want INVALID_CONFIG", name, err, ar)
		}
	}
	if _, err := b.Meta().Topic(ctx, "new-segment-bytes"); err == nil {
		t.Fatal("a topic with a refused config was created")
	}

	// Accepted without action, because Kafka's meaning already holds.
	trivial := map[string]*string{
		"min.insync.replicas":            kmsg.StringPtr("2"),
		"flush.messages":                 kmsg.StringPtr("1"),
		"unclean.leader.election.enable": kmsg.StringPtr("true"),
		"delete.retention.ms":            kmsg.StringPtr("1000"),
	}
	createTopic(t, b.Addr(), "trivial", 1, trivial)
	rcs, err := adm.DescribeTopicConfigs(ctx, "trivial")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("trivial", nil)
	if err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for _, c := range rc.Configs {
		described[c.Key] = true
		if _, bad := unsupportedTopicConfigs[c.Key]; bad {
			t.Errorf("refused config %s is described", c.Key)
		}
		if want, ok := trivial[c.Key]; ok && c.MaybeValue() != *want {
			t.Errorf("%s = %q, want %q", c.Key, c.MaybeValue(), *want)
		}
	}
	for name := range trivial {
		if !described[name] {
			t.Errorf("%s not described", name)
		}
	}

	// A config stored before it was refused blocks other changes until
	// it is deleted, which is allowed.
	if err := b.Meta().SetTopicConfigs(ctx, "cfg", map[string]string{"segment.bytes": "1048576"}); err != nil {
		t.Fatal(err)
	}
	set := kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("60000")}
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{set}, "cfg")
	if err != nil || !errorIs(ar[0].Err, kerr.InvalidConfig) || !strings.Contains(ar[0].ErrMessage, "segment.bytes") {
		t.Fatalf("alter with a stored refused config: %v %+v", err, ar)
	}
	ar, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "segment.bytes"}, set}, "cfg")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("delete the stored refused config: %v %+v", err, ar)
	}
	after, err := b.Meta().Topic(ctx, "cfg")
	if err != nil || len(after.Configs) != 1 || after.Configs["retention.ms"] != "60000" {
		t.Fatalf("configs after cleanup: %v (%v)", after.Configs, err)
	}
}

func errorIs(err error, want *kerr.Error) bool { return errors.Is(err, want) }
