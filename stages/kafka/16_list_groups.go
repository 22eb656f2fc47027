package kafka

// ListGroups: v0-v5.
//
// Every group in the metadata store (so every broker lists them all),
// with its state (deadlines applied first); v4+ filters by state and v5+
// by type (case-insensitive; every group is "classic").

import "github.com/twmb/franz-go/pkg/kmsg"

func init() { register(kmsg.ListGroups.Int16(), 0, -1, handleListGroups) }

func handleListGroups(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.ListGroupsRequest)
	r.Respond(s.cfg.Groups.List(r.Ctx, req))
	return nil
}
