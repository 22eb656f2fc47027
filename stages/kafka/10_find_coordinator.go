package kafka

// FindCoordinator: v0-v6 (v4+: batched keys).
//
// Sluice has no coordinator brokers: group state lives in the metadata
// store and every broker coordinates every group, so each key (consumer
// group or transactional id) answers with a broker the client is shown in
// Metadata (its zone's), picked by the balance strategy (cluster.go).
// Other key types (share groups) answer INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.FindCoordinator.Int16(), 0, -1, handleFindCoordinator) }

func handleFindCoordinator(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	code := int16(0)
	if req.CoordinatorType != 0 && req.CoordinatorType != 1 {
		code = kerr.InvalidRequest.Code
	}
	v := s.clientView(r)
	if req.Version < 4 {
		resp.ErrorCode = code
		if code == 0 {
			p := v.coordinator(req.CoordinatorKey)
			resp.NodeID, resp.Host, resp.Port = p.NodeID, p.Host, p.Port
		} else {
			resp.NodeID = -1
		}
		r.Respond(resp)
		return nil
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode = code
		if code == 0 {
			p := v.coordinator(key)
			c.NodeID, c.Host, c.Port = p.NodeID, p.Host, p.Port
		} else {
			c.NodeID = -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	r.Respond(resp)
	return nil
}
