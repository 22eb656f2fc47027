package kafka

// JoinGroup: v0-v9.
//
// Served by stages/group over the metadata store, so any broker answers
// for any group and members of one group may use different brokers. The
// request is held (in its own goroutine; the connection keeps reading)
// until the member's join phase ends: every member joined, or the
// rebalance timeout passed (the first rebalance of a new group waits
// group.initial.rebalance.delay.ms for more members). The broker picks a
// protocol all members support; the leader gets every member's metadata
// and assigns. v0 has no rebalance timeout: the session timeout is used.
//
// Errors, as Kafka answers them: INVALID_GROUP_ID (empty id),
// INVALID_SESSION_TIMEOUT (outside 6 s to 30 min), INCONSISTENT_GROUP_PROTOCOL
// (empty protocol type or list, or no protocol in common with the group),
// MEMBER_ID_REQUIRED (v4+ first join of a dynamic member, with the id to
// use), UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID (a static member replaced by a
// newer join with its instance id), UNKNOWN_SERVER_ERROR (member metadata
// over 1 MiB, which Kafka cannot store), NOT_COORDINATOR when the broker
// shuts down while the request waits (the client retries elsewhere).

import (
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.JoinGroup.Int16(), 0, -1, handleJoinGroup) }

func handleJoinGroup(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.JoinGroupRequest)
	host := clientHost(r)
	r.retainFrame() // the protocols' metadata alias the frame while the join waits
	go func() {
		defer r.releaseFrame()
		r.Respond(s.cfg.Groups.Join(r.Ctx, s.draining, req, r.ClientID(), host))
	}()
	return nil
}

// clientHost is the client's address as Kafka reports it ("/10.0.0.1").
func clientHost(r *Request) string {
	addr := r.conn.nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return "/" + addr
}
