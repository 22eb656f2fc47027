package kafka

// DeleteGroups: v0-v3.
//
// Deletes empty groups with their committed offsets. Errors per group:
// GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP (it has members), INVALID_GROUP_ID
// (empty id).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteGroups.Int16(), 0, -1, handleDeleteGroups) }

func handleDeleteGroups(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = name
		if name == "" {
			dg.ErrorCode = kerr.InvalidGroupID.Code
		} else {
			dg.ErrorCode = s.cfg.Groups.Delete(r.Ctx, name)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	r.Respond(resp)
	return nil
}
