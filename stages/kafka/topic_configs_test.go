package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// appliedTopicConfigTests names, for every topic config Sluice acts on,
// a test (file:function, from the repository root) that shows the effect.
var appliedTopicConfigTests = map[string]string{
	"retention.ms":                        "stages/broker/lifecycle_test.go:TestRetentionDeletes",
	"retention.bytes":                     "stages/broker/lifecycle_test.go:TestRetentionDeletes",
	"max.message.bytes":                   "stages/broker/badinput_test.go:TestProduceErrors",
	"compression.type":                    "stages/broker/roundtrip_test.go:TestTopicCompressionRecompresses",
	"cleanup.policy":                      "stages/kafka/admin_topics_test.go:TestAdminCreateDescribeDeleteTopics",
	"message.timestamp.type":              "stages/kafka/admin_offsets_test.go:TestAdminListOffsetsLogAppendTime",
	"message.timestamp.difference.max.ms": "stages/broker/produce_validation_test.go:TestProduceTimestampLimits",
	"message.timestamp.before.max.ms":     "stages/broker/produce_validation_test.go:TestProduceTimestampLimits",
	"message.timestamp.after.max.ms":      "stages/broker/produce_validation_test.go:TestProduceTimestampLimits",
}

// TestEveryTopicConfigIsAppliedOrTrivial audits the accepted topic
// configs: each is either acted on, with a test that uses it, or says why
// Kafka's meaning holds without action. A config added without either
// fails here rather than being accepted and silently ignored.
func TestEveryTopicConfigIsAppliedOrTrivial(t *testing.T) {
	for name, c := range topicConfigs {
		test, applied := appliedTopicConfigTests[name]
		switch {
		case applied && c.trivially != "":
			t.Errorf("%s is both applied (%s) and trivially met (%s)", name, test, c.trivially)
		case !applied && c.trivially == "":
			t.Errorf("%s is accepted but neither applied (no test in appliedTopicConfigTests) nor trivially met", name)
		case applied:
			file, fn, _ := strings.Cut(test, ":")
			src, err := os.ReadFile(filepath.Join("..", "..", file))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if !strings.Contains(string(src), "func "+fn+"(") || !strings.Contains(string(src), `"`+name+`"`) {
				t.Errorf("%s: %s does not define %s using the config", name, file, fn)
			}
		}
		if err := validateTopicConfig(name, c.def); err != nil {
			t.Errorf("%s: default %q does not validate: %v", name, c.def, err)
		}
	}
	for name := range appliedTopicConfigTests {
		if _, ok := topicConfigs[name]; !ok {
			t.Errorf("%s has a test but is not a topic config", name)
		}
	}
	for name := range unsupportedTopicConfigs {
		if _, ok := topicConfigs[name]; ok {
			t.Errorf("%s is both accepted and unsupported", name)
		}
		for _, v := range []string{"", "0", "1", "-2", "false", "true", "1073741824"} {
			if err := validateTopicConfig(name, v); err == nil || !strings.Contains(err.Error(), "not supported") {
				t.Errorf("%s=%q: %v, want not supported", name, v, err)
			}
		}
	}
}
