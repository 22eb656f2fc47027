package kafka

// LeaveGroup: v0-v5 (v3+: a batch of members, each by member id or, for
// static members, by instance id alone).
//
// Each member leaving removes it and starts a rebalance. An unknown group
// answers UNKNOWN_MEMBER_ID at the top; each unknown member
// UNKNOWN_MEMBER_ID, a static member whose instance id maps to another
// member id FENCED_INSTANCE_ID (v0-v2: the one member's error at the top).

import "github.com/twmb/franz-go/pkg/kmsg"

func init() { register(kmsg.LeaveGroup.Int16(), 0, -1, handleLeaveGroup) }

func handleLeaveGroup(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.LeaveGroupRequest)
	r.Respond(s.cfg.Groups.Leave(r.Ctx, req))
	return nil
}
