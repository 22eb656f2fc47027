package group

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

var (
	errUnknownMemberID       = kerr.UnknownMemberID.Code
	errFencedInstanceID      = kerr.FencedInstanceID.Code
	errIllegalGeneration     = kerr.IllegalGeneration.Code
	errRebalanceInProgress   = kerr.RebalanceInProgress.Code
	errInconsistentProtocol  = kerr.InconsistentGroupProtocol.Code
	errCoordinatorNotAvail   = kerr.CoordinatorNotAvailable.Code
	errNotCoordinator        = kerr.NotCoordinator.Code
	errUnknownServer         = kerr.UnknownServerError.Code
	errInvalidGroupID        = kerr.InvalidGroupID.Code
	errInvalidSessionTimeout = kerr.InvalidSessionTimeout.Code
	errMemberIDRequired      = kerr.MemberIDRequired.Code
	errGroupIDNotFound       = kerr.GroupIDNotFound.Code
	errNonEmptyGroup         = kerr.NonEmptyGroup.Code
	errSubscribedToTopic     = kerr.GroupSubscribedToTopic.Code
)

// storeErrCode answers a failed store transaction: the client retries.
func (c *Coordinator) storeErrCode(op string, err error) int16 {
	if errors.Is(err, errStopping) {
		return errNotCoordinator
	}
	if !errors.Is(err, context.Canceled) {
		c.log.Warn("group store", "op", op, "err", err)
	}
	return errCoordinatorNotAvail
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func strp(s string) *string { return &s }

func newMemberID(clientID, inst string) string {
	if inst != "" {
		return inst + "-" + uuid.NewString()
	}
	return clientID + "-" + uuid.NewString()
}

// emptyConsumerAssignment is what a "consumer" group member gets when the
// leader assigned it nothing: a decodable empty assignment (as kfake
// does; some clients cannot decode zero bytes).
var emptyConsumerAssignment = new(kmsg.ConsumerMemberAssignment).AppendTo(nil)

// fillJoin answers a member whose join phase is over with the group's
// current generation; the leader gets every member's metadata.
func fillJoin(g *meta.Group, memberID string, resp *kmsg.JoinGroupResponse) {
	resp.Generation = g.Generation
	resp.ProtocolType = strp(g.ProtocolType)
	resp.Protocol = strp(g.Protocol)
	resp.LeaderID = g.Leader
	resp.MemberID = memberID
	resp.Members = nil
	if g.Leader != memberID {
		return
	}
	for i := range g.Members {
		m := &g.Members[i]
		md, ok := protocolMetadata(m, g.Protocol)
		if !ok {
			continue
		}
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.ID
		if m.InstanceID != "" {
			jm.InstanceID = strp(m.InstanceID)
		}
		jm.ProtocolMetadata = md
		resp.Members = append(resp.Members, jm)
	}
}

// Join serves JoinGroup. It blocks until the member's join phase is over
// (or ctx ends, or stop closes), as Kafka holds the request.
func (c *Coordinator) Join(ctx context.Context, stop <-chan struct{}, req *kmsg.JoinGroupRequest, clientID, clientHost string) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID = req.MemberID
	resp.Generation = -1
	sessionMs := req.SessionTimeoutMillis
	rebalanceMs := req.RebalanceTimeoutMillis
	if req.Version == 0 || rebalanceMs <= 0 {
		rebalanceMs = sessionMs
	}
	inst := str(req.InstanceID)
	switch {
	case !validGroupID(req.Group):
		resp.ErrorCode = errInvalidGroupID
		return resp
	case ms(sessionMs) < c.cfg.MinSessionTimeout || ms(sessionMs) > c.cfg.MaxSessionTimeout:
		resp.ErrorCode = errInvalidSessionTimeout
		return resp
	}
	protocols := make([]meta.GroupProtocol, 0, len(req.Protocols))
	size := 0
	for _, p := range req.Protocols {
		protocols = append(protocols, meta.GroupProtocol{Name: p.Name, Metadata: p.Metadata})
		size += len(p.Name) + len(p.Metadata)
	}
	if size > c.cfg.MaxMemberMetadataBytes {
		resp.ErrorCode = errUnknownServer
		return resp
	}
	member := meta.GroupMember{
		InstanceID: inst, ClientID: clientID, ClientHost: clientHost,
		SessionTimeoutMs: sessionMs, RebalanceTimeoutMs: rebalanceMs, Protocols: protocols,
	}

	var (
		waitFor string // member id whose join is pending
		done    bool
	)
	err := c.update(ctx, req.Group, func(t *txn) error {
		waitFor, done = "", true
		*resp = *req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.MemberID, resp.Generation = req.MemberID, -1
		g := t.g
		if g == nil {
			if req.MemberID != "" {
				resp.ErrorCode = errUnknownMemberID
				return nil
			}
			g = &meta.Group{Name: req.Group, State: meta.GroupEmpty, StateSince: t.now}
		}
		if !supportsProtocols(g, req.ProtocolType, protocols) {
			resp.ErrorCode = errInconsistentProtocol
			return nil
		}
		if req.MemberID == "" {
			newID := newMemberID(clientID, inst)
			if inst != "" {
				if old := staticMember(g, inst); old != "" {
					return c.replaceStatic(t, g, old, newID, member, resp, &waitFor)
				}
			} else if req.Version >= 4 {
				// KIP-394: hand out the id; the member joins with it.
				g.Pending = append(g.Pending, meta.PendingMember{ID: newID, Expires: t.now.Add(ms(sessionMs))})
				if g.State == meta.GroupPreparingRebalance && g.Initial {
					g.NewMemberAdded = true
				}
				t.g, t.dirty = g, true
				resp.MemberID = newID
				resp.ErrorCode = errMemberIDRequired
				return nil
			}
			if g.ProtocolType == "" || len(g.Members) == 0 {
				g.ProtocolType = req.ProtocolType
			}
			member.ID = newID
			c.addMember(g, member, t.now)
			t.g, t.dirty = g, true
			waitFor, done = newID, false
			return nil
		}
		if i := findPending(g, req.MemberID); i >= 0 {
			g.Pending = append(g.Pending[:i], g.Pending[i+1:]...)
			if g.ProtocolType == "" || len(g.Members) == 0 {
				g.ProtocolType = req.ProtocolType
			}
			member.ID = req.MemberID
			c.addMember(g, member, t.now)
			t.g, t.dirty = g, true
			waitFor, done = req.MemberID, false
			return nil
		}
		if code := validateMember(g, req.MemberID, inst); code != 0 {
			resp.ErrorCode = code
			return nil
		}
		i := c.findMember(g, req.MemberID)
		m := &g.Members[i]
		update := func() {
			m.Protocols = protocols
			m.SessionTimeoutMs, m.RebalanceTimeoutMs = sessionMs, rebalanceMs
			m.ClientID, m.ClientHost = clientID, clientHost
			m.AwaitingJoin = true
			t.g, t.dirty = g, true
			waitFor, done = req.MemberID, false
		}
		switch g.State {
		case meta.GroupPreparingRebalance:
			update()
			if !g.Initial && allJoined(g) {
				c.completeJoin(g, t.now)
			}
		case meta.GroupCompletingRebalance:
			if sameProtocols(m.Protocols, protocols) {
				// The member missed its JoinGroup answer: repeat it.
				fillJoin(g, req.MemberID, resp)
				return nil
			}
			update()
			c.prepareRebalance(g, t.now)
		case meta.GroupStable:
			if g.Leader != req.MemberID && sameProtocols(m.Protocols, protocols) {
				fillJoin(g, req.MemberID, resp)
				return nil
			}
			// The leader rejoining forces a rebalance (it may have seen
			// metadata change), as does changed member metadata.
			update()
			c.prepareRebalance(g, t.now)
		default:
			resp.ErrorCode = errUnknownMemberID
		}
		return nil
	})
	if err != nil {
		resp.ErrorCode = c.storeErrCode("join", err)
		return resp
	}
	if done {
		return resp
	}
	err = c.wait(ctx, stop, req.Group, func(g *meta.Group) bool {
		*resp = *req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.MemberID, resp.Generation = waitFor, -1
		if g == nil {
			resp.ErrorCode = errUnknownMemberID
			return true
		}
		i := c.findMember(g, waitFor)
		if i < 0 {
			resp.ErrorCode = errUnknownMemberID
			if inst != "" && staticMember(g, inst) != "" {
				resp.ErrorCode = errFencedInstanceID
			}
			return true
		}
		if g.Members[i].AwaitingJoin {
			return false
		}
		fillJoin(g, waitFor, resp)
		return true
	})
	if err != nil {
		*resp = *req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.MemberID, resp.Generation = waitFor, -1
		resp.ErrorCode = c.storeErrCode("join wait", err)
	}
	return resp
}

// replaceStatic handles a static member rejoining without a member id
// (Kafka's updateStaticMemberThenRebalanceOrCompleteJoin): it takes the
// old member's place under a new id, which fences the old id; in a
// stable group whose protocol does not change, without a rebalance.
func (c *Coordinator) replaceStatic(t *txn, g *meta.Group, oldID, newID string, member meta.GroupMember, resp *kmsg.JoinGroupResponse, waitFor *string) error {
	i := c.findMember(g, oldID)
	m := &g.Members[i]
	m.ID = newID
	m.ClientID, m.ClientHost = member.ClientID, member.ClientHost
	m.Protocols = member.Protocols
	m.SessionTimeoutMs, m.RebalanceTimeoutMs = member.SessionTimeoutMs, member.RebalanceTimeoutMs
	m.Expires = t.now.Add(ms(m.SessionTimeoutMs))
	if g.Leader == oldID {
		g.Leader = newID
	}
	t.g, t.dirty = g, true
	resp.MemberID = newID
	switch g.State {
	case meta.GroupStable:
		if selectProtocol(g) == g.Protocol {
			m.AwaitingJoin = false
			fillJoin(g, newID, resp)
			// KIP-814: the leader keeps the assignment it has.
			resp.SkipAssignment = g.Leader == newID
			return nil
		}
		m.AwaitingJoin = true
		c.prepareRebalance(g, t.now)
	case meta.GroupCompletingRebalance:
		m.AwaitingJoin = true
		c.prepareRebalance(g, t.now)
	default:
		m.AwaitingJoin = true
		if !g.Initial && allJoined(g) {
			c.completeJoin(g, t.now)
		}
	}
	*waitFor = newID
	return nil
}

// Sync serves SyncGroup; a follower's waits for the leader's.
func (c *Coordinator) Sync(ctx context.Context, stop <-chan struct{}, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if !validGroupID(req.Group) {
		resp.ErrorCode = errInvalidGroupID
		return resp
	}
	inst := str(req.InstanceID)
	size := 0
	for _, a := range req.GroupAssignment {
		size = max(size, len(a.MemberAssignment))
	}
	var wait bool
	err := c.update(ctx, req.Group, func(t *txn) error {
		*resp = *req.ResponseKind().(*kmsg.SyncGroupResponse)
		wait = false
		g := t.g
		if g == nil {
			resp.ErrorCode = errUnknownMemberID
			return nil
		}
		if code := validateMember(g, req.MemberID, inst); code != 0 {
			resp.ErrorCode = code
			return nil
		}
		if req.Generation != g.Generation {
			resp.ErrorCode = errIllegalGeneration
			return nil
		}
		if (req.ProtocolType != nil && *req.ProtocolType != g.ProtocolType) || (req.Protocol != nil && *req.Protocol != g.Protocol) {
			resp.ErrorCode = errInconsistentProtocol
			return nil
		}
		m := &g.Members[c.findMember(g, req.MemberID)]
		switch g.State {
		case meta.GroupEmpty:
			resp.ErrorCode = errUnknownMemberID
		case meta.GroupPreparingRebalance:
			resp.ErrorCode = errRebalanceInProgress
		case meta.GroupCompletingRebalance:
			m.Synced = true
			m.Expires = t.now.Add(ms(m.SessionTimeoutMs))
			t.dirty = true
			if g.Leader != req.MemberID {
				wait = true
				return nil
			}
			if size > c.cfg.MaxMemberMetadataBytes {
				// Kafka could not write the group record: the leader
				// gets UNKNOWN_SERVER_ERROR and the group rebalances.
				resp.ErrorCode = errUnknownServer
				c.prepareRebalance(g, t.now)
				return nil
			}
			for i := range g.Members {
				g.Members[i].Assignment, g.Members[i].Assigned = nil, true
				if g.ProtocolType == "consumer" {
					g.Members[i].Assignment = emptyConsumerAssignment
				}
			}
			for _, a := range req.GroupAssignment {
				if j := c.findMember(g, a.MemberID); j >= 0 && len(a.MemberAssignment) > 0 {
					g.Members[j].Assignment = a.MemberAssignment
				}
			}
			g.State = meta.GroupStable
			g.StateSince = t.now
			g.Deadline = time.Time{}
			fillSync(g, m, resp)
		case meta.GroupStable:
			fillSync(g, m, resp)
		}
		return nil
	})
	if err != nil {
		resp.ErrorCode = c.storeErrCode("sync", err)
		return resp
	}
	if !wait {
		return resp
	}
	err = c.wait(ctx, stop, req.Group, func(g *meta.Group) bool {
		*resp = *req.ResponseKind().(*kmsg.SyncGroupResponse)
		if g == nil {
			resp.ErrorCode = errUnknownMemberID
			return true
		}
		if code := validateMember(g, req.MemberID, inst); code != 0 {
			resp.ErrorCode = code
			return true
		}
		m := &g.Members[c.findMember(g, req.MemberID)]
		switch {
		case g.Generation != req.Generation:
			resp.ErrorCode = errRebalanceInProgress
		case m.Assigned && (g.State == meta.GroupStable || g.State == meta.GroupPreparingRebalance):
			// The leader's assignment arrived (a rebalance may have
			// started since; the member learns of it by heartbeat).
			fillSync(g, m, resp)
		case g.State == meta.GroupCompletingRebalance:
			return false
		default:
			resp.ErrorCode = errRebalanceInProgress
		}
		return true
	})
	if err != nil {
		*resp = *req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = c.storeErrCode("sync wait", err)
	}
	return resp
}

func fillSync(g *meta.Group, m *meta.GroupMember, resp *kmsg.SyncGroupResponse) {
	resp.ProtocolType = strp(g.ProtocolType)
	resp.Protocol = strp(g.Protocol)
	resp.MemberAssignment = m.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
}

// Heartbeat serves Heartbeat.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if !validGroupID(req.Group) {
		resp.ErrorCode = errInvalidGroupID
		return resp
	}
	inst := str(req.InstanceID)
	err := c.update(ctx, req.Group, func(t *txn) error {
		resp.ErrorCode = 0
		g := t.g
		if g == nil {
			resp.ErrorCode = errUnknownMemberID
			return nil
		}
		if code := validateMember(g, req.MemberID, inst); code != 0 {
			resp.ErrorCode = code
			return nil
		}
		if req.Generation != g.Generation {
			resp.ErrorCode = errIllegalGeneration
			return nil
		}
		m := &g.Members[c.findMember(g, req.MemberID)]
		switch g.State {
		case meta.GroupEmpty:
			resp.ErrorCode = errUnknownMemberID
			return nil
		case meta.GroupPreparingRebalance:
			resp.ErrorCode = errRebalanceInProgress
		}
		m.Expires = t.now.Add(ms(m.SessionTimeoutMs))
		t.dirty = true
		return nil
	})
	if err != nil {
		resp.ErrorCode = c.storeErrCode("heartbeat", err)
	}
	return resp
}

// Leave serves LeaveGroup (v3+: a batch of members, by member id or by
// instance id).
func (c *Coordinator) Leave(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if !validGroupID(req.Group) {
		resp.ErrorCode = errInvalidGroupID
		return resp
	}
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	err := c.update(ctx, req.Group, func(t *txn) error {
		resp.ErrorCode = 0
		resp.Members = resp.Members[:0]
		g := t.g
		if g == nil {
			resp.ErrorCode = errUnknownMemberID
			return nil
		}
		for _, rm := range members {
			mr := kmsg.NewLeaveGroupResponseMember()
			mr.MemberID, mr.InstanceID = rm.MemberID, rm.InstanceID
			inst := str(rm.InstanceID)
			id := rm.MemberID
			switch {
			case id == "" && inst != "":
				if id = staticMember(g, inst); id == "" {
					mr.ErrorCode = errUnknownMemberID
				}
			case findPending(g, id) >= 0:
				i := findPending(g, id)
				g.Pending = append(g.Pending[:i], g.Pending[i+1:]...)
				t.dirty = true
				id = ""
			default:
				if mr.ErrorCode = validateMember(g, id, inst); mr.ErrorCode != 0 {
					id = ""
				}
			}
			if mr.ErrorCode == 0 && id != "" {
				c.removeMember(g, c.findMember(g, id), t.now)
				t.dirty = true
			}
			resp.Members = append(resp.Members, mr)
		}
		return nil
	})
	if err != nil {
		resp.ErrorCode = c.storeErrCode("leave", err)
		return resp
	}
	if req.Version < 3 {
		if resp.ErrorCode == 0 && len(resp.Members) > 0 {
			resp.ErrorCode = resp.Members[0].ErrorCode
		}
		resp.Members = nil
	}
	return resp
}

// Describe serves one group of DescribeGroups.
func (c *Coordinator) Describe(ctx context.Context, name string, version int16) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = name
	g, err := c.load(ctx, name)
	if err != nil {
		dg.ErrorCode = c.storeErrCode("describe", err)
		return dg
	}
	if g == nil {
		dg.State = meta.GroupDead.String()
		if version >= 6 {
			dg.ErrorCode = errGroupIDNotFound
		}
		return dg
	}
	dg.State = g.State.String()
	dg.ProtocolType = g.ProtocolType
	stable := g.State == meta.GroupStable
	if stable {
		dg.Protocol = g.Protocol
	}
	for i := range g.Members {
		m := &g.Members[i]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.ID
		if m.InstanceID != "" {
			dm.InstanceID = strp(m.InstanceID)
		}
		dm.ClientID, dm.ClientHost = m.ClientID, m.ClientHost
		if stable {
			dm.ProtocolMetadata, _ = protocolMetadata(m, g.Protocol)
			dm.MemberAssignment = m.Assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// List serves ListGroups: every group (advanced to now), filtered by
// state (v4+) and type (v5+; all groups here are "classic").
func (c *Coordinator) List(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	list, err := c.groups.ListGroups(ctx)
	if err != nil {
		resp.ErrorCode = c.storeErrCode("list", err)
		return resp
	}
	now := c.now()
	for i := range list {
		g := &list[i]
		if c.advance(g, now) {
			if fresh, err := c.load(ctx, g.Name); err == nil && fresh != nil {
				*g = *fresh
			} else if err == nil {
				continue
			}
		}
		state := g.State.String()
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(s string) bool { return equalFold(s, state) }) {
			continue
		}
		if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(s string) bool { return equalFold(s, "classic") }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.Name, g.ProtocolType, state, "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Delete serves one group of DeleteGroups: only empty groups go, with
// their offsets.
func (c *Coordinator) Delete(ctx context.Context, name string) int16 {
	var code int16
	err := c.update(ctx, name, func(t *txn) error {
		code = 0
		switch {
		case t.g == nil:
			code = errGroupIDNotFound
		case t.g.State != meta.GroupEmpty:
			code = errNonEmptyGroup
		default:
			t.deleted = true
		}
		return nil
	})
	if err != nil {
		return c.storeErrCode("delete", err)
	}
	return code
}
