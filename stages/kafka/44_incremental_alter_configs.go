package kafka

// IncrementalAlterConfigs: v0-v1.
//
// TOPIC resources: the operations apply in order to the topic's current
// configs: SET (0) sets a value, DELETE (1) returns the config to its
// default, APPEND (2) adds items missing from a list config's current
// value (the default if unset) and SUBTRACT (3) removes items from it. The
// resulting values must validate like any other (cleanup.policy is a list
// whose only accepted value is "delete", so APPEND compact or SUBTRACT
// delete is INVALID_CONFIG). Errors, as in Kafka: an unknown config name,
// a bad or null value, or APPEND/SUBTRACT on a config that is not a list
// is INVALID_CONFIG with a message, and so is a Kafka config Sluice cannot
// honour (segment.bytes, …: unsupportedTopicConfigs), except that DELETE
// of one is allowed, to clean up what an older Sluice stored; a name given twice in one resource or
// an unknown operation is INVALID_REQUEST; an invalid topic name is
// INVALID_TOPIC_EXCEPTION, an unknown topic UNKNOWN_TOPIC_OR_PARTITION.
// ValidateOnly checks everything and stores nothing. A resource listed
// twice in one request is INVALID_REQUEST for each occurrence.
//
// BROKER resources: as AlterConfigs, broker configs are static; a request
// with no operations for this broker succeeds, any operation is
// INVALID_REQUEST. Other resource types are INVALID_REQUEST.

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.IncrementalAlterConfigs.Int16(), 0, -1, handleIncrementalAlterConfigs)
}

func handleIncrementalAlterConfigs(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)

	eachConfigResource(req.Resources,
		func(rr kmsg.IncrementalAlterConfigsRequestResource) configResource {
			return configResource{rr.ResourceType, rr.ResourceName}
		},
		func(rr kmsg.IncrementalAlterConfigsRequestResource) *configError {
			return s.incrementalAlterResource(r, req.ValidateOnly, rr)
		},
		func(rr kmsg.IncrementalAlterConfigsRequestResource, cerr *configError) {
			res := kmsg.NewIncrementalAlterConfigsResponseResource()
			res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
			res.ErrorCode, res.ErrorMessage = cerr.answer()
			resp.Resources = append(resp.Resources, res)
		})
	r.Respond(resp)
	return nil
}

// splitConfigList splits a list config's value into its items.
func splitConfigList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (s *Server) incrementalAlterResource(r *Request, validateOnly bool, rr kmsg.IncrementalAlterConfigsRequestResource) *configError {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		if err := s.checkBrokerResource(rr.ResourceName); err != nil {
			return newConfigError(kerr.InvalidRequest.Code, "%v", err)
		}
		if len(rr.Configs) > 0 {
			return newConfigError(kerr.InvalidRequest.Code, errStaticBrokerConfigs)
		}
		return nil
	default:
		return newConfigError(kerr.InvalidRequest.Code, "unsupported config resource type %d", rr.ResourceType)
	}

	t, cerr := s.alterTopicForConfigs(r.Ctx, rr.ResourceName)
	if cerr != nil {
		return cerr
	}
	// Check the request's shape before applying anything.
	seen := make(map[string]bool, len(rr.Configs))
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return newConfigError(kerr.InvalidRequest.Code, "Error due to duplicate config keys: %s", c.Name)
		}
		seen[c.Name] = true
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete,
			kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		default:
			return newConfigError(kerr.InvalidRequest.Code, "Unknown alter config operation type %d for config %s", c.Op, c.Name)
		}
		if _, ok := topicConfigs[c.Name]; !ok {
			if _, old := unsupportedTopicConfigs[c.Name]; old && c.Op == kmsg.IncrementalAlterConfigOpDelete {
				continue // removing what an older Sluice stored
			}
			if err := validateTopicConfig(c.Name, ""); err != nil {
				return newConfigError(kerr.InvalidConfig.Code, "%v", err)
			}
		}
	}

	configs := make(map[string]string, len(t.Configs)+len(rr.Configs))
	for k, v := range t.Configs {
		configs[k] = v
	}
	for _, c := range rr.Configs {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return newConfigError(kerr.InvalidConfig.Code, "Null value not supported for topic configs: %s", c.Name)
			}
			configs[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(configs, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			verb := "append"
			if c.Op == kmsg.IncrementalAlterConfigOpSubtract {
				verb = "subtract"
			}
			if !isListConfig(c.Name) {
				return newConfigError(kerr.InvalidConfig.Code, "Config value %s is not allowed for config key: %s", verb, c.Name)
			}
			if c.Value == nil {
				return newConfigError(kerr.InvalidConfig.Code, "Null value not supported for topic configs: %s", c.Name)
			}
			cur, ok := configs[c.Name]
			if !ok {
				cur = topicConfigs[c.Name].def
			}
			items := splitConfigList(cur)
			change := splitConfigList(*c.Value)
			if c.Op == kmsg.IncrementalAlterConfigOpAppend {
				for _, it := range change {
					if !slices.Contains(items, it) {
						items = append(items, it)
					}
				}
			} else {
				kept := items[:0]
				for _, it := range items {
					if !slices.Contains(change, it) {
						kept = append(kept, it)
					}
				}
				items = kept
			}
			configs[c.Name] = strings.Join(items, ",")
		}
	}
	return s.storeTopicConfigs(r, rr.ResourceName, configs, validateOnly)
}
