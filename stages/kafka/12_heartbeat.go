package kafka

// Heartbeat: v0-v4.
//
// Extends the member's session in the group record. Errors:
// UNKNOWN_MEMBER_ID (unknown group or member, or an empty group),
// FENCED_INSTANCE_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS (the
// member must rejoin; its session is still extended).

import "github.com/twmb/franz-go/pkg/kmsg"

func init() { register(kmsg.Heartbeat.Int16(), 0, -1, handleHeartbeat) }

func handleHeartbeat(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.HeartbeatRequest)
	r.Respond(s.cfg.Groups.Heartbeat(r.Ctx, req))
	return nil
}
