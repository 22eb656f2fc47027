package kafka

// AlterConfigs: v0-v2 (the legacy API: the request replaces a resource's
// whole set of configs).
//
// TOPIC resources: every config is checked (an unknown name, a bad value
// or a null value is INVALID_CONFIG with a message, a name given twice
// INVALID_REQUEST) and, unless ValidateOnly, the topic's configs become
// exactly the request's; configs left out return to their defaults. An
// invalid topic name is INVALID_TOPIC_EXCEPTION, an unknown topic
// UNKNOWN_TOPIC_OR_PARTITION. The metadata store replaces the set in one
// transaction; two concurrent alters of one topic are last-writer-wins, as
// in Kafka.
//
// BROKER resources: Sluice's broker configs are static (flags, config file,
// SLUICE_* environment). A request that changes nothing (no configs) for
// this broker succeeds; any config is INVALID_REQUEST with a message
// saying so, and a resource naming another broker is INVALID_REQUEST.
// A resource listed twice in one request is INVALID_REQUEST for each
// occurrence; any other resource type is INVALID_REQUEST.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.AlterConfigs.Int16(), 0, -1, handleAlterConfigs) }

// errStaticBrokerConfigs is the message of a refused broker config change.
const errStaticBrokerConfigs = "broker configs are static in Sluice: set them in the broker's configuration (flags, config file or SLUICE_* environment) and restart it"

// configResource names one resource of a config request.
type configResource struct {
	typ  kmsg.ConfigResourceType
	name string
}

// configError is a per-resource error of a config request.
type configError struct {
	code int16
	msg  string
}

// answer is the error code and message a response carries (0, nil for
// none).
func (e *configError) answer() (int16, *string) {
	if e == nil {
		return 0, nil
	}
	msg := e.msg
	return e.code, &msg
}

// eachConfigResource applies a config change to each resource of an
// AlterConfigs-like request and answers it; a resource listed more than
// once is refused with INVALID_REQUEST, as Kafka does.
func eachConfigResource[R any](resources []R, key func(R) configResource, apply func(R) *configError, answer func(R, *configError)) {
	counts := make(map[configResource]int, len(resources))
	for _, rr := range resources {
		counts[key(rr)]++
	}
	for _, rr := range resources {
		var cerr *configError
		if k := key(rr); counts[k] > 1 {
			cerr = newConfigError(kerr.InvalidRequest.Code, "resource %s is listed more than once", k.name)
		} else {
			cerr = apply(rr)
		}
		answer(rr, cerr)
	}
}

func newConfigError(code int16, format string, args ...any) *configError {
	return &configError{code: code, msg: fmt.Sprintf(format, args...)}
}

// alterTopicForConfigs loads the topic a config change is for.
func (s *Server) alterTopicForConfigs(ctx context.Context, name string) (meta.Topic, *configError) {
	if err := validTopicName(name); err != nil {
		return meta.Topic{}, newConfigError(kerr.InvalidTopicException.Code, "%v", err)
	}
	t, err := s.cfg.Meta.Topic(ctx, name)
	if err != nil {
		return t, newConfigError(errorCode(err), "%v", err)
	}
	return t, nil
}

// storeTopicConfigs validates a topic's new config set and, unless
// validateOnly, stores it.
func (s *Server) storeTopicConfigs(r *Request, name string, configs map[string]string, validateOnly bool) *configError {
	for k, v := range configs {
		if err := validateTopicConfig(k, v); err != nil {
			return newConfigError(kerr.InvalidConfig.Code, "%v", err)
		}
	}
	if validateOnly {
		return nil
	}
	if err := s.cfg.Meta.SetTopicConfigs(r.Ctx, name, configs); err != nil {
		return newConfigError(errorCode(err), "%v", err)
	}
	s.topics.invalidate()
	s.log.Info("altered topic configs", "topic", name, "configs", configs, "client", r.ClientID())
	return nil
}

func handleAlterConfigs(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)

	eachConfigResource(req.Resources,
		func(rr kmsg.AlterConfigsRequestResource) configResource {
			return configResource{rr.ResourceType, rr.ResourceName}
		},
		func(rr kmsg.AlterConfigsRequestResource) *configError {
			return s.alterConfigsResource(r, req.ValidateOnly, rr)
		},
		func(rr kmsg.AlterConfigsRequestResource, cerr *configError) {
			res := kmsg.NewAlterConfigsResponseResource()
			res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
			res.ErrorCode, res.ErrorMessage = cerr.answer()
			resp.Resources = append(resp.Resources, res)
		})
	r.Respond(resp)
	return nil
}

func (s *Server) alterConfigsResource(r *Request, validateOnly bool, rr kmsg.AlterConfigsRequestResource) *configError {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if _, cerr := s.alterTopicForConfigs(r.Ctx, rr.ResourceName); cerr != nil {
			return cerr
		}
		configs := make(map[string]string, len(rr.Configs))
		for _, c := range rr.Configs {
			if _, dup := configs[c.Name]; dup {
				return newConfigError(kerr.InvalidRequest.Code, "Error due to duplicate config keys: %s", c.Name)
			}
			if c.Value == nil {
				return newConfigError(kerr.InvalidConfig.Code, "Null value not supported for topic configs: %s", c.Name)
			}
			configs[c.Name] = *c.Value
		}
		return s.storeTopicConfigs(r, rr.ResourceName, configs, validateOnly)
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
}
