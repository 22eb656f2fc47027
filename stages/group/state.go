package group

import (
	"bytes"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// The state machine: pure functions on a meta.Group, run inside store
// transactions. now is the transaction's clock reading.

func ms(d int32) time.Duration { return time.Duration(d) * time.Millisecond }

func (c *Coordinator) findMember(g *meta.Group, id string) int {
	for i := range g.Members {
		if g.Members[i].ID == id {
			return i
		}
	}
	return -1
}

func findPending(g *meta.Group, id string) int {
	for i := range g.Pending {
		if g.Pending[i].ID == id {
			return i
		}
	}
	return -1
}

// staticMember returns the id of the member with instance id inst, or "".
func staticMember(g *meta.Group, inst string) string {
	if inst == "" {
		return ""
	}
	for i := range g.Members {
		if g.Members[i].InstanceID == inst {
			return g.Members[i].ID
		}
	}
	return ""
}

// validateMember is Kafka's validateExistingMember: a dynamic member must
// exist; a static member must be the one its instance id maps to.
func validateMember(g *meta.Group, memberID, inst string) int16 {
	if inst == "" {
		for i := range g.Members {
			if g.Members[i].ID == memberID {
				return 0
			}
		}
		return errUnknownMemberID
	}
	switch cur := staticMember(g, inst); cur {
	case "":
		return errUnknownMemberID
	case memberID:
		return 0
	default:
		return errFencedInstanceID
	}
}

func maxRebalanceTimeout(g *meta.Group) time.Duration {
	var d int32
	for i := range g.Members {
		d = max(d, g.Members[i].RebalanceTimeoutMs)
	}
	return ms(d)
}

func allJoined(g *meta.Group) bool {
	if len(g.Pending) > 0 {
		return false
	}
	for i := range g.Members {
		if !g.Members[i].AwaitingJoin {
			return false
		}
	}
	return true
}

// supportsProtocols is Kafka's ClassicGroup.supportsProtocols.
func supportsProtocols(g *meta.Group, protocolType string, protocols []meta.GroupProtocol) bool {
	if g.State == meta.GroupEmpty || len(g.Members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.ProtocolType {
		return false
	}
	for _, p := range protocols {
		if supportedByAll(g, p.Name) {
			return true
		}
	}
	return false
}

func supportedByAll(g *meta.Group, name string) bool {
	for i := range g.Members {
		found := false
		for _, p := range g.Members[i].Protocols {
			if p.Name == name {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// selectProtocol picks the protocol for the next generation as Kafka does:
// among the protocols every member supports, each member votes for the
// first in its order of preference; most votes wins (ties: the earliest
// voted for).
func selectProtocol(g *meta.Group) string {
	votes := map[string]int{}
	var order []string
	for i := range g.Members {
		for _, p := range g.Members[i].Protocols {
			if supportedByAll(g, p.Name) {
				if votes[p.Name] == 0 {
					order = append(order, p.Name)
				}
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range order {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

func sameProtocols(a, b []meta.GroupProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

func protocolMetadata(m *meta.GroupMember, name string) ([]byte, bool) {
	for _, p := range m.Protocols {
		if p.Name == name {
			return p.Metadata, true
		}
	}
	return nil, false
}

// prepareRebalance starts a rebalance (Kafka's prepareRebalance).
func (c *Coordinator) prepareRebalance(g *meta.Group, now time.Time) {
	if g.State == meta.GroupCompletingRebalance {
		// Followers waiting in SyncGroup see the state change and answer
		// REBALANCE_IN_PROGRESS.
		for i := range g.Members {
			g.Members[i].Assignment, g.Members[i].Assigned = nil, false
		}
	}
	initial := g.State == meta.GroupEmpty
	g.State = meta.GroupPreparingRebalance
	g.StateSince = now
	for i := range g.Members {
		g.Members[i].Synced = false
	}
	reb := maxRebalanceTimeout(g)
	if initial {
		// A new group: give members InitialRebalanceDelay to arrive,
		// extended while they keep arriving, up to the rebalance timeout.
		delay := min(c.cfg.InitialRebalanceDelay, reb)
		g.Initial = true
		g.NewMemberAdded = false
		g.InitialRemainingMs = max(reb-c.cfg.InitialRebalanceDelay, 0).Milliseconds()
		g.Deadline = now.Add(delay)
		return
	}
	g.Initial = false
	g.Deadline = now.Add(reb)
	if allJoined(g) {
		c.completeJoin(g, now)
	}
}

// completeJoin ends the join phase (Kafka's completeClassicGroupJoin).
func (c *Coordinator) completeJoin(g *meta.Group, now time.Time) {
	kept := g.Members[:0]
	for _, m := range g.Members {
		// Dynamic members that did not rejoin leave; static members stay
		// with their last metadata until their session ends.
		if m.AwaitingJoin || m.InstanceID != "" {
			kept = append(kept, m)
		}
	}
	g.Members = kept
	g.Initial, g.NewMemberAdded, g.InitialRemainingMs = false, false, 0
	if len(g.Members) == 0 {
		g.Generation++
		g.State = meta.GroupEmpty
		g.StateSince = now
		g.Protocol, g.Leader = "", ""
		g.Deadline = time.Time{}
		return
	}
	if i := c.findMember(g, g.Leader); i < 0 || !g.Members[i].AwaitingJoin {
		g.Leader = ""
		for _, m := range g.Members {
			if m.AwaitingJoin {
				g.Leader = m.ID
				break
			}
		}
		if g.Leader == "" {
			// Only static members that did not rejoin: wait for them (or
			// for their sessions to end).
			g.Deadline = now.Add(maxRebalanceTimeout(g))
			return
		}
	}
	g.Generation++
	if g.Generation < 0 {
		g.Generation = 1
	}
	g.Protocol = selectProtocol(g)
	g.State = meta.GroupCompletingRebalance
	g.StateSince = now
	for i := range g.Members {
		m := &g.Members[i]
		m.AwaitingJoin, m.Synced = false, false
		m.Assignment, m.Assigned = nil, false
		m.Expires = now.Add(ms(m.SessionTimeoutMs))
	}
	// Members that do not send SyncGroup by then are removed.
	g.Deadline = now.Add(maxRebalanceTimeout(g))
}

// removeMember drops member i and moves the group on (Kafka's
// removeMemberAndUpdateClassicGroup).
func (c *Coordinator) removeMember(g *meta.Group, i int, now time.Time) {
	id := g.Members[i].ID
	g.Members = append(g.Members[:i], g.Members[i+1:]...)
	if g.Leader == id {
		g.Leader = ""
		if len(g.Members) > 0 {
			g.Leader = g.Members[0].ID
		}
	}
	switch g.State {
	case meta.GroupStable, meta.GroupCompletingRebalance:
		c.prepareRebalance(g, now)
	case meta.GroupPreparingRebalance:
		if !g.Initial && allJoined(g) {
			c.completeJoin(g, now)
		}
	}
}

// keptAlive reports whether a member's session is suspended: while it
// waits in JoinGroup, or in SyncGroup for the leader.
func keptAlive(g *meta.Group, m *meta.GroupMember) bool {
	return m.AwaitingJoin || (g.State == meta.GroupCompletingRebalance && m.Synced)
}

// advance applies every deadline that has passed: expired pending
// members and sessions, the end of the join phase, the sync deadline. It
// reports whether it changed g.
func (c *Coordinator) advance(g *meta.Group, now time.Time) bool {
	changed := false
	for range 16 {
		step := false
		kept := g.Pending[:0]
		for _, p := range g.Pending {
			if now.Before(p.Expires) {
				kept = append(kept, p)
			} else {
				step = true
			}
		}
		g.Pending = kept
		for i := 0; i < len(g.Members); {
			m := &g.Members[i]
			if !keptAlive(g, m) && !now.Before(m.Expires) {
				c.removeMember(g, i, now)
				step = true
				continue
			}
			i++
		}
		switch g.State {
		case meta.GroupPreparingRebalance:
			if !now.Before(g.Deadline) {
				if g.Initial && g.NewMemberAdded && g.InitialRemainingMs > 0 {
					delay := min(c.cfg.InitialRebalanceDelay.Milliseconds(), g.InitialRemainingMs)
					g.InitialRemainingMs = max(g.InitialRemainingMs-c.cfg.InitialRebalanceDelay.Milliseconds(), 0)
					g.NewMemberAdded = false
					g.Deadline = now.Add(time.Duration(delay) * time.Millisecond)
				} else {
					c.completeJoin(g, now)
				}
				step = true
			} else if !g.Initial && allJoined(g) {
				c.completeJoin(g, now)
				step = true
			}
		case meta.GroupCompletingRebalance:
			if !now.Before(g.Deadline) {
				kept := g.Members[:0]
				for _, m := range g.Members {
					if m.Synced {
						kept = append(kept, m)
					}
				}
				g.Members = kept
				if c.findMember(g, g.Leader) < 0 {
					g.Leader = ""
					if len(g.Members) > 0 {
						g.Leader = g.Members[0].ID
					}
				}
				c.prepareRebalance(g, now)
				step = true
			}
		}
		if !step {
			break
		}
		changed = true
	}
	return changed
}

// nextDeadline is the earliest time at which advance would change g.
func nextDeadline(g *meta.Group) (time.Time, bool) {
	var t time.Time
	take := func(d time.Time) {
		if !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	if g.State == meta.GroupPreparingRebalance || g.State == meta.GroupCompletingRebalance {
		take(g.Deadline)
	}
	for _, p := range g.Pending {
		take(p.Expires)
	}
	for i := range g.Members {
		if !keptAlive(g, &g.Members[i]) {
			take(g.Members[i].Expires)
		}
	}
	return t, !t.IsZero()
}

// addMember adds a new member that waits in JoinGroup, and rebalances
// (Kafka's addMemberThenRebalanceOrCompleteJoin).
func (c *Coordinator) addMember(g *meta.Group, m meta.GroupMember, now time.Time) {
	m.AwaitingJoin = true
	m.Expires = now.Add(ms(m.SessionTimeoutMs))
	g.Members = append(g.Members, m)
	if g.State == meta.GroupPreparingRebalance && g.Initial {
		g.NewMemberAdded = true
	}
	c.rebalanceOrCompleteJoin(g, now)
}

// rebalanceOrCompleteJoin is Kafka's maybePrepareRebalanceOrCompleteJoin.
func (c *Coordinator) rebalanceOrCompleteJoin(g *meta.Group, now time.Time) {
	if g.State != meta.GroupPreparingRebalance {
		c.prepareRebalance(g, now)
		return
	}
	if !g.Initial && allJoined(g) {
		c.completeJoin(g, now)
	}
}
