package kafka

// DescribeGroups: v0-v6.
//
// Each group's state (deadlines applied first), protocol type, and
// members; the protocol, member metadata and assignments only when
// Stable, as Kafka does. A group that does not exist is "Dead", with
// GROUP_ID_NOT_FOUND from v6; an empty group id is INVALID_GROUP_ID.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeGroups.Int16(), 0, -1, handleDescribeGroups) }

func handleDescribeGroups(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		if name == "" {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.ErrorCode = kerr.InvalidGroupID.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg := s.cfg.Groups.Describe(r.Ctx, name, req.Version)
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = 1<<3 | 1<<6 | 1<<8 // READ, DELETE, DESCRIBE (no ACLs: all allowed)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	r.Respond(resp)
	return nil
}
