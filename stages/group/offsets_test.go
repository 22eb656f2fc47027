package group

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
)

// poisonGroups fails every transaction that writes the group named
// poison, and holds the first transaction until gate is closed. It injects
// a fault no real store has for a commit that passed checkCommit (a store
// refusing one commit for a reason the coordinator cannot foresee); the
// store underneath is a real memmeta store.
type poisonGroups struct {
	meta.Groups
	poison  string
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

var errPoison = errors.New("injected: store refuses this group")

func (p *poisonGroups) UpdateGroups(ctx context.Context, names []string, fn func(i int, tx meta.GroupTx) error) error {
	p.once.Do(func() { close(p.entered); <-p.gate })
	for _, n := range names {
		if n == p.poison {
			return errPoison
		}
	}
	return p.Groups.UpdateGroups(ctx, names, fn)
}

type poisonStore struct {
	meta.Store
	groups *poisonGroups
}

func (s *poisonStore) Groups() meta.Groups { return s.groups }

func simpleCommit(group string, offset int64) Commit {
	return Commit{Group: group, Generation: -1, Version: 8, Offsets: []meta.GroupOffset{{Topic: "t", Partition: 0, Offset: offset, LeaderEpoch: -1}}}
}

// TestOffsetCommitFailureIsolated: commits queued together share one
// transaction; when it fails because of one of them, the others are
// written alone and succeed, and only the bad one fails.
func TestOffsetCommitFailureIsolated(t *testing.T) {
	s := memmeta.New()
	t.Cleanup(func() { s.Close() })
	pg := &poisonGroups{Groups: s.Groups(), poison: "bad", gate: make(chan struct{}), entered: make(chan struct{})}
	c := New(Config{Store: &poisonStore{Store: s, groups: pg}})
	t.Cleanup(c.Close)

	codes := make(chan struct {
		group string
		code  int16
	}, 10)
	commit := func(cm Commit) {
		c.CommitOffsetsAsync(cm, func(code int16) {
			codes <- struct {
				group string
				code  int16
			}{cm.Group, code}
		})
	}
	commit(simpleCommit("first", 1))
	<-pg.entered // the first transaction runs; the rest queue behind it
	commit(simpleCommit("good-a", 2))
	commit(simpleCommit("bad", 3))
	commit(simpleCommit("good-b", 4))
	close(pg.gate)
	got := map[string]int16{}
	for range 4 {
		select {
		case r := <-codes:
			got[r.group] = r.code
		case <-time.After(10 * time.Second):
			t.Fatalf("commits answered: %v", got)
		}
	}
	if got["first"] != 0 || got["good-a"] != 0 || got["good-b"] != 0 || got["bad"] != errCoordinatorNotAvail {
		t.Fatalf("codes %v: want 0 for first, good-a, good-b and COORDINATOR_NOT_AVAILABLE for bad", got)
	}
	for group, want := range map[string]int64{"good-a": 2, "good-b": 4} {
		offs, code := c.FetchOffsets(ctx, group)
		if code != 0 || len(offs) != 1 || offs[0].Offset != want {
			t.Fatalf("%s: offsets %+v code %d, want offset %d", group, offs, code, want)
		}
	}
}

// TestOffsetCommitChecked: a commit the store could not write is refused
// before it is queued with others.
func TestOffsetCommitChecked(t *testing.T) {
	c := newCoord(t, nil)
	long := strings.Repeat("m", MaxOffsetMetadataBytes+1)
	for _, tc := range []struct {
		name string
		cm   Commit
		want int16
	}{
		{"empty group", simpleCommit("", 1), errInvalidGroupID},
		{"group over the limit", simpleCommit(strings.Repeat("g", MaxGroupIDBytes+1), 1), errInvalidGroupID},
		{"metadata over the limit", Commit{Group: "g", Generation: -1, Offsets: []meta.GroupOffset{{Topic: "t", Offset: 1, Metadata: &long}}}, errOffsetMetadataTooLarge},
		{"topic name over the limit", Commit{Group: "g", Generation: -1, Offsets: []meta.GroupOffset{{Topic: strings.Repeat("t", 250), Offset: 1}}}, errUnknownTopicOrPartition},
		{"group at the limit", simpleCommit(strings.Repeat("g", MaxGroupIDBytes), 1), 0},
	} {
		if got := c.CommitOffsets(ctx, tc.cm); got != tc.want {
			t.Errorf("%s: code %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestLongGroupIDRefused: a group id the stores cannot key is refused by
// every group request, as it is by OffsetCommit, so no group with it can
// exist.
func TestLongGroupIDRefused(t *testing.T) {
	c := newCoord(t, nil)
	long := strings.Repeat("g", MaxGroupIDBytes+1)
	if r := c.Join(ctx, nil, joinReq(long, "", 1000, 1000), "c", "/h"); r.ErrorCode != errInvalidGroupID {
		t.Errorf("JoinGroup: code %d", r.ErrorCode)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = long
	if r := c.Sync(ctx, nil, sync); r.ErrorCode != errInvalidGroupID {
		t.Errorf("SyncGroup: code %d", r.ErrorCode)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group = long
	if r := c.Heartbeat(ctx, hb); r.ErrorCode != errInvalidGroupID {
		t.Errorf("Heartbeat: code %d", r.ErrorCode)
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = long
	if r := c.Leave(ctx, leave); r.ErrorCode != errInvalidGroupID {
		t.Errorf("LeaveGroup: code %d", r.ErrorCode)
	}
}
