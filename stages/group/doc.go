// Package group is Sluice's consumer group coordinator for the classic
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, offsets), without
// a coordinator broker: every broker coordinates every group, and the
// authoritative state lives in the metadata store (meta.Groups).
//
// # State
//
// A group is one record (meta.Group: state, generation, protocol type and
// name, leader, members with their protocols, assignments, session
// deadlines and join/sync flags, members pending after MEMBER_ID_REQUIRED,
// and the current phase deadline); each committed offset is its own key.
// Every group request is one read-modify-write transaction on that record,
// so requests for one group on different brokers serialize in the store
// and no broker keeps group state of its own. The state machine is
// Kafka's (GroupMetadataManager of the Java coordinator): Empty →
// PreparingRebalance → CompletingRebalance → Stable, with the same error
// codes at the same points.
//
// # Waiting requests
//
// A JoinGroup (until the join phase ends) and a follower's SyncGroup
// (until the leader's SyncGroup) are held by the broker that received
// them, in a goroutine that loops: take the store's Watch channel for the
// group, read the group, answer if its turn has come, otherwise sleep
// until the channel closes (some broker changed the group) or the group's
// next deadline. Brokers sharing an in-process store wake at once; a
// remote store polls watched groups (see meta.Groups).
//
// # Timers
//
// There are no timers owned by a broker. Deadlines are stored in the
// group record (each member's session expiry, the rebalance deadline of
// the join phase, the sync deadline of CompletingRebalance, the initial
// rebalance delay) and applied by advance, which every group operation
// runs first in its transaction: a lazy check on every request. The
// brokers holding waiting requests wake at the next deadline and run that
// check, so a rebalance completes on time even when no other request
// arrives; a group nobody talks to is brought up to date by the next
// request, DescribeGroups or ListGroups included (which compute the
// advanced state, and store it when it changed).
//
// Offsets of empty groups expire after OffsetsRetention (KIP-211: counted
// from the later of the commit and the time the group became empty;
// simple groups that never had members count from the commit); an empty
// group with no offsets left is deleted. The sweep runs on every broker
// every RetentionCheckInterval; it is idempotent, so brokers need not
// agree on who runs it.
//
// # Offset commits
//
// OffsetCommits of all connections that arrive while a store transaction
// runs are written together in the next one (offsets.go), each with its
// own checks. A commit the store could not write (a group id over
// MaxGroupIDBytes, metadata over MaxOffsetMetadataBytes) is refused before
// it is queued, and group ids over the limit are refused by every group
// request, so no such group exists. Should the shared transaction still
// fail, for another reason than the store being unreachable, each commit
// is written again alone: only the one the store refuses fails.
package group
