package kafka

// CreatePartitions: v0-v3.
//
// Raises a topic's partition count to Count; the new partitions start
// empty at offset 0, served by every broker like the others. Errors per
// topic, as in Kafka: a topic listed twice is INVALID_REQUEST (for each
// occurrence; nothing is changed for it), an unknown topic
// UNKNOWN_TOPIC_OR_PARTITION, a Count not above the current count
// INVALID_PARTITIONS with a message, a manual Assignment INVALID_REQUEST
// (Sluice places no replicas), and a Count that would take the partitions
// the request adds past maxPartitionsPerRequest POLICY_VIOLATION (as in
// Kafka, KAFKA-19673). ValidateOnly checks and changes nothing.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

func init() { register(kmsg.CreatePartitions.Int16(), 0, -1, handleCreatePartitions) }

func handleCreatePartitions(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)

	counts := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		counts[rt.Topic]++
	}
	changed := false
	budget := int64(maxPartitionsPerRequest)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		fail := func(code int16, format string, args ...any) {
			st.ErrorCode = code
			msg := fmt.Sprintf(format, args...)
			st.ErrorMessage = &msg
		}
		t, err := s.cfg.Meta.Topic(r.Ctx, rt.Topic)
		switch {
		case counts[rt.Topic] > 1:
			fail(kerr.InvalidRequest.Code, "Duplicate topic in request: %s", rt.Topic)
		case err != nil:
			fail(errorCode(err), "%v", err)
		case rt.Count < t.Partitions:
			fail(kerr.InvalidPartitions.Code, "Topic currently has %d partitions, which is higher than the requested %d.", t.Partitions, rt.Count)
		case rt.Count == t.Partitions:
			fail(kerr.InvalidPartitions.Code, "Topic already has %d partitions.", t.Partitions)
		case len(rt.Assignment) > 0:
			fail(kerr.InvalidRequest.Code, "manual partition assignment is not supported: every Sluice broker serves every partition")
		case int64(rt.Count)-int64(t.Partitions) > budget:
			fail(kerr.PolicyViolation.Code, errTooManyPartitions)
		case req.ValidateOnly:
			budget -= int64(rt.Count) - int64(t.Partitions)
		default:
			budget -= int64(rt.Count) - int64(t.Partitions)
			err := s.cfg.Meta.CreatePartitions(r.Ctx, rt.Topic, rt.Count)
			switch {
			case errors.Is(err, meta.ErrInvalidPartitions):
				// Raised concurrently past Count.
				fail(kerr.InvalidPartitions.Code, "Topic already has %d or more partitions.", rt.Count)
			case err != nil:
				fail(errorCode(err), "%v", err)
			default:
				changed = true
				s.log.Info("created partitions", "topic", rt.Topic, "partitions", rt.Count, "client", r.ClientID())
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if changed {
		s.topics.invalidate()
	}
	r.Respond(resp)
	return nil
}
