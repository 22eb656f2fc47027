package kafka

// SyncGroup: v0-v5.
//
// The leader's SyncGroup stores every member's assignment and makes the
// group Stable; a follower's is held until then (or until a rebalance
// starts: REBALANCE_IN_PROGRESS). Members the leader left out get an empty
// assignment (a decodable empty one for "consumer" groups).
//
// Errors: UNKNOWN_MEMBER_ID (unknown group or member), FENCED_INSTANCE_ID,
// ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL (v5+ protocol type or
// name not the group's), REBALANCE_IN_PROGRESS, UNKNOWN_SERVER_ERROR (an
// assignment over 1 MiB; the group rebalances).

import "github.com/twmb/franz-go/pkg/kmsg"

func init() { register(kmsg.SyncGroup.Int16(), 0, -1, handleSyncGroup) }

func handleSyncGroup(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.SyncGroupRequest)
	r.retainFrame() // the assignments alias the frame while the sync waits
	go func() {
		defer r.releaseFrame()
		r.Respond(s.cfg.Groups.Sync(r.Ctx, s.draining, req))
	}()
	return nil
}
