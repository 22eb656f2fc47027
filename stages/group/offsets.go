package group

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Commit is one OffsetCommit: the group's member and generation, and the
// offsets of partitions already checked to exist.
type Commit struct {
	Group      string
	Generation int32
	MemberID   string
	InstanceID string
	// Version is the OffsetCommit version (v9+ answers GROUP_ID_NOT_FOUND
	// where older versions answer ILLEGAL_GENERATION).
	Version int16
	Offsets []meta.GroupOffset
}

// CommitOffsets stores the offsets if the group accepts the commit, with
// Kafka's rules (ClassicGroup.validateOffsetCommit): a commit with a
// negative generation and no member (a simple consumer, or an admin)
// is accepted by an empty or missing group, which it creates; any other
// must come from a current member at the current generation, and not
// while the group waits for its leader's assignment. It returns the error
// code for every partition (0: committed).
//
// Commits that arrive while a store transaction is running are queued and
// then written together in the next transaction, each with its own
// checks, so throughput is not bounded by one durable write per commit.
func (c *Coordinator) CommitOffsets(ctx context.Context, cm Commit) int16 {
	done := make(chan int16, 1)
	c.CommitOffsetsAsync(cm, func(code int16) { done <- code })
	select {
	case code := <-done:
		return code
	case <-ctx.Done():
		return c.storeErrCode("offset commit", ctx.Err())
	}
}

// CommitOffsetsAsync queues the commit and returns at once; done is
// called with the code, from another goroutine, once the commit is
// durable or refused. Commits queued from one goroutine are applied in
// the order queued.
func (c *Coordinator) CommitOffsetsAsync(cm Commit, done func(code int16)) {
	if code := checkCommit(&cm); code != 0 {
		done(code)
		return
	}
	p := &pendingCommit{cm: cm, done: done}
	c.cmu.Lock()
	c.queue = append(c.queue, p)
	lead := !c.flushing
	c.flushing = true
	c.cmu.Unlock()
	if lead {
		go c.flushCommits()
	}
}

// Bounds of what one commit may hold, checked before it is queued: a
// commit the store would refuse must not share a transaction with others.
const (
	// MaxGroupIDBytes bounds a group id. Kafka sets none, but the stores
	// key groups and their offsets by it (Spanner allows 8 KiB per key,
	// bbolt 32 KiB), and real ids are short.
	MaxGroupIDBytes = 4096
	// MaxOffsetMetadataBytes is offset.metadata.max.bytes.
	MaxOffsetMetadataBytes = 4096
	// maxTopicNameBytes is Kafka's longest topic name.
	maxTopicNameBytes = 249
)

var (
	errOffsetMetadataTooLarge  = kerr.OffsetMetadataTooLarge.Code
	errUnknownTopicOrPartition = kerr.UnknownTopicOrPartition.Code
)

// validGroupID reports whether a group id is one the coordinator keeps.
func validGroupID(id string) bool { return id != "" && len(id) <= MaxGroupIDBytes }

// checkCommit refuses a commit the store could not write: INVALID_GROUP_ID
// for its group id, OFFSET_METADATA_TOO_LARGE for an offset's metadata,
// UNKNOWN_TOPIC_OR_PARTITION for a topic name no topic can have. The
// Kafka front end already answers the last two per partition; this keeps
// any other caller from failing the transaction the commit would share.
func checkCommit(cm *Commit) int16 {
	if !validGroupID(cm.Group) {
		return errInvalidGroupID
	}
	for i := range cm.Offsets {
		o := &cm.Offsets[i]
		switch {
		case o.Metadata != nil && len(*o.Metadata) > MaxOffsetMetadataBytes:
			return errOffsetMetadataTooLarge
		case o.Topic == "" || len(o.Topic) > maxTopicNameBytes:
			return errUnknownTopicOrPartition
		}
	}
	return 0
}

type pendingCommit struct {
	cm   Commit
	code int16
	done func(code int16)
}

// maxCommitBatch bounds the commits written in one transaction, and
// maxCommitOffsets the offsets (a Spanner transaction takes 80,000
// mutations, 7 per offset row); a commit larger than that alone is
// written alone.
const (
	maxCommitBatch   = 512
	maxCommitOffsets = 8192
)

// flushCommits writes the queued commits in one transaction, then hands
// the queue to a new goroutine if more arrived meanwhile. If that
// transaction fails for another reason than the store being unreachable,
// each commit is written again alone, in order, so that a commit the store
// refuses fails only its own request.
func (c *Coordinator) flushCommits() {
	c.cmu.Lock()
	n, offsets := 0, 0
	for n < len(c.queue) && n < maxCommitBatch {
		offsets += len(c.queue[n].cm.Offsets)
		if n > 0 && offsets > maxCommitOffsets {
			break
		}
		n++
	}
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.cmu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := c.writeCommits(ctx, batch)
	if err != nil && len(batch) > 1 && retryAlone(err) {
		c.log.Warn("offset commits of several requests failed together; writing each alone", "commits", len(batch), "err", err)
		for _, p := range batch {
			if err := c.writeCommits(ctx, []*pendingCommit{p}); err != nil {
				p.code = c.storeErrCode("offset commit", err)
			}
		}
	} else if err != nil {
		for _, p := range batch {
			p.code = c.storeErrCode("offset commit", err)
		}
	}
	cancel()
	for _, p := range batch {
		p.done(p.code)
	}

	c.cmu.Lock()
	defer c.cmu.Unlock()
	if len(c.queue) == 0 {
		c.flushing = false
		return
	}
	go c.flushCommits()
}

// writeCommits applies batch in one transaction, setting each commit's
// code.
func (c *Coordinator) writeCommits(ctx context.Context, batch []*pendingCommit) error {
	names := make([]string, len(batch))
	for i, p := range batch {
		names[i] = p.cm.Group
	}
	return c.groups.UpdateGroups(ctx, names, func(i int, tx meta.GroupTx) error {
		return c.run(tx, func(t *txn) error {
			var err error
			batch[i].code, err = c.applyCommit(t, batch[i].cm)
			return err
		})
	})
}

// retryAlone reports whether a failed transaction of several commits may
// have failed for one of them: not when the store is unreachable, closed
// or the coordinator stopping, when each alone would fail the same way.
func retryAlone(err error) bool {
	return !errors.Is(err, meta.ErrUnavailable) && !errors.Is(err, meta.ErrClosed) &&
		!errors.Is(err, errStopping) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}

// applyCommit checks and writes one commit inside a transaction.
func (c *Coordinator) applyCommit(t *txn, cm Commit) (int16, error) {
	g := t.g
	if g == nil {
		switch {
		case cm.Generation >= 0 && cm.Version >= 9:
			return errGroupIDNotFound, nil
		case cm.Generation >= 0:
			return errIllegalGeneration, nil
		case len(cm.Offsets) == 0:
			return 0, nil
		}
		// A simple group: offsets only, never members.
		g = &meta.Group{Name: cm.Group, State: meta.GroupEmpty, StateSince: t.now}
		t.g, t.dirty = g, true
	}
	switch {
	case cm.Generation < 0 && g.State == meta.GroupEmpty:
	case cm.Generation >= 0 || cm.MemberID != "" || cm.InstanceID != "":
		if code := validateMember(g, cm.MemberID, cm.InstanceID); code != 0 {
			return code, nil
		}
		if cm.Generation != g.Generation {
			return errIllegalGeneration, nil
		}
	case g.State != meta.GroupEmpty:
		return errUnknownMemberID, nil
	}
	if g.State == meta.GroupCompletingRebalance {
		return errRebalanceInProgress, nil
	}
	offs := make([]meta.GroupOffset, len(cm.Offsets))
	copy(offs, cm.Offsets)
	for i := range offs {
		offs[i].CommitTime = t.now
	}
	return 0, t.tx.PutOffsets(offs)
}

// FetchOffsets returns the group's committed offsets (none, without error,
// for a group that does not exist).
func (c *Coordinator) FetchOffsets(ctx context.Context, group string) ([]meta.GroupOffset, int16) {
	var offs []meta.GroupOffset
	err := c.groups.ViewGroup(ctx, group, func(tx meta.GroupTx) error {
		var err error
		offs, err = tx.Offsets()
		return err
	})
	if err != nil {
		return nil, c.storeErrCode("offset fetch", err)
	}
	return offs, 0
}

// TopicPartition names a partition by topic name.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// DeleteOffsets serves OffsetDelete for partitions already checked to
// exist: the group-level code, and one code per partition. An empty group
// loses the offsets asked for; a "consumer" group with members keeps those
// of topics its members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC); a group
// of another protocol type with members answers NON_EMPTY_GROUP.
func (c *Coordinator) DeleteOffsets(ctx context.Context, group string, tps []TopicPartition) (int16, []int16) {
	codes := make([]int16, len(tps))
	var code int16
	err := c.update(ctx, group, func(t *txn) error {
		code = 0
		clear(codes)
		g := t.g
		if g == nil {
			code = errGroupIDNotFound
			return nil
		}
		var subscribed map[string]bool
		if g.State != meta.GroupEmpty {
			if g.ProtocolType != "consumer" {
				code = errNonEmptyGroup
				return nil
			}
			subscribed = subscribedTopics(g)
		}
		for i, tp := range tps {
			if subscribed[tp.Topic] {
				codes[i] = errSubscribedToTopic
				continue
			}
			if err := t.tx.DeleteOffset(tp.Topic, tp.Partition); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return c.storeErrCode("offset delete", err), codes
	}
	return code, codes
}

// subscribedTopics decodes the members' consumer protocol metadata.
func subscribedTopics(g *meta.Group) map[string]bool {
	out := map[string]bool{}
	for i := range g.Members {
		for _, p := range g.Members[i].Protocols {
			var md kmsg.ConsumerMemberMetadata
			if md.ReadFrom(p.Metadata) == nil {
				for _, t := range md.Topics {
					out[t] = true
				}
			}
		}
	}
	return out
}
