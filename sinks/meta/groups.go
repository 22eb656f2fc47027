package meta

import (
	"context"
	"time"
)

// GroupState is a classic consumer group's state, as Kafka names them.
type GroupState int8

const (
	GroupEmpty GroupState = iota
	GroupPreparingRebalance
	GroupCompletingRebalance
	GroupStable
	// GroupDead is never stored: a deleted group has no record. It is
	// what DescribeGroups reports for a group that does not exist.
	GroupDead
)

func (s GroupState) String() string {
	switch s {
	case GroupEmpty:
		return "Empty"
	case GroupPreparingRebalance:
		return "PreparingRebalance"
	case GroupCompletingRebalance:
		return "CompletingRebalance"
	case GroupStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// GroupProtocol is one protocol (assignor) a member supports, with the
// member's metadata for it, in the member's order of preference.
type GroupProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata,omitempty"`
}

// GroupMember is one member of a classic group.
type GroupMember struct {
	ID string `json:"id"`
	// InstanceID is group.instance.id for static members, "" otherwise.
	InstanceID         string          `json:"instance_id,omitempty"`
	ClientID           string          `json:"client_id,omitempty"`
	ClientHost         string          `json:"client_host,omitempty"`
	SessionTimeoutMs   int32           `json:"session_timeout_ms"`
	RebalanceTimeoutMs int32           `json:"rebalance_timeout_ms"`
	Protocols          []GroupProtocol `json:"protocols"`
	// Assignment is what the leader's SyncGroup gave the member; Assigned
	// tells an empty assignment from none yet.
	Assignment []byte `json:"assignment,omitempty"`
	Assigned   bool   `json:"assigned,omitempty"`
	// AwaitingJoin: the member has a JoinGroup outstanding in the current
	// rebalance (it is counted as joined).
	AwaitingJoin bool `json:"awaiting_join,omitempty"`
	// Synced: the member sent SyncGroup in the current generation.
	Synced bool `json:"synced,omitempty"`
	// Expires is when the member's session ends without a heartbeat.
	Expires time.Time `json:"expires"`
}

// PendingMember is a member id handed out with MEMBER_ID_REQUIRED (JoinGroup
// v4+) that has not joined with it yet.
type PendingMember struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
}

// Group is a classic consumer group as stored. The coordination logic
// (stages/group) owns its meaning; the store only keeps it.
type Group struct {
	Name         string     `json:"name"`
	State        GroupState `json:"state"`
	ProtocolType string     `json:"protocol_type,omitempty"`
	// Protocol is the protocol chosen for the current generation.
	Protocol   string          `json:"protocol,omitempty"`
	Generation int32           `json:"generation"`
	Leader     string          `json:"leader,omitempty"`
	Members    []GroupMember   `json:"members,omitempty"`
	Pending    []PendingMember `json:"pending,omitempty"`
	// Deadline: in PreparingRebalance, when the join phase ends even if
	// members are missing; in CompletingRebalance, when members that did
	// not send SyncGroup are removed.
	Deadline time.Time `json:"deadline"`
	// InitialRemainingMs and NewMemberAdded drive the initial rebalance
	// delay (group.initial.rebalance.delay.ms) of a rebalance that
	// started from Empty; Initial says the current one did.
	Initial            bool  `json:"initial,omitempty"`
	InitialRemainingMs int64 `json:"initial_remaining_ms,omitempty"`
	NewMemberAdded     bool  `json:"new_member_added,omitempty"`
	// StateSince is when the group entered its state (offset retention of
	// empty groups counts from when they became empty).
	StateSince time.Time `json:"state_since"`
	// Version is set by the store: it grows by one with every PutGroup.
	Version uint64 `json:"version"`
}

// GroupOffset is one committed offset of a group.
type GroupOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
	// CommitTime is when the offset was committed (retention counts from
	// it, or from when the group became empty if that is later).
	CommitTime time.Time
}

// GroupTx reads and writes one group, and its committed offsets, inside
// one store transaction.
type GroupTx interface {
	// Group returns the stored group (a copy the caller may change and
	// pass to PutGroup), or nil if there is none.
	Group() (*Group, error)
	// PutGroup stores g (its Name must be the transaction's group) and
	// bumps its Version; watchers are notified after the commit.
	PutGroup(g *Group) error
	// DeleteGroup removes the group and all its committed offsets.
	DeleteGroup() error
	// Offset returns one committed offset; ok is false if there is none.
	Offset(topic string, partition int32) (o GroupOffset, ok bool, err error)
	// Offsets returns every committed offset, by topic then partition.
	Offsets() ([]GroupOffset, error)
	PutOffsets(offs []GroupOffset) error
	DeleteOffset(topic string, partition int32) error
}

// Groups stores classic consumer groups and committed offsets. Every
// method is safe for concurrent use; brokers sharing one store share the
// groups, so no broker owns a group.
//
// Change notification: Watch returns a channel that is closed after the
// next committed PutGroup or DeleteGroup of the group. The in-process
// backends (kvmeta over bbolt or memory) close it right after the commit,
// so brokers in one process sharing a store wake at once. A remote backend
// (Spanner) cannot see other processes' commits; it implements Watch by
// polling the group's Version for watched groups only, every
// GroupPollInterval: one small read per watched group per interval per
// broker, and a wake-up delay of up to one interval.
type Groups interface {
	// ViewGroup runs fn in a read-only transaction; writes fail.
	ViewGroup(ctx context.Context, group string, fn func(GroupTx) error) error
	// UpdateGroup runs fn in a read-write transaction that commits if fn
	// returns nil. fn may run more than once (a remote backend retries
	// aborted transactions), so it must not have other side effects.
	UpdateGroup(ctx context.Context, group string, fn func(GroupTx) error) error
	// UpdateGroups is UpdateGroup for several groups in one transaction
	// (fn is called with each in turn; a name may repeat, and later calls
	// see the writes of earlier ones). It lets callers batch small writes,
	// such as offset commits, into one durable commit.
	UpdateGroups(ctx context.Context, groups []string, fn func(i int, tx GroupTx) error) error
	// ListGroups returns every group, by name.
	ListGroups(ctx context.Context) ([]Group, error)
	// Watch returns a channel closed after the group's next change.
	// Take it before reading the state it guards, so no change is missed.
	Watch(group string) <-chan struct{}
}

// GroupPollInterval is how often a remote Groups backend polls watched
// groups for changes (see Groups).
const GroupPollInterval = 100 * time.Millisecond
