package group

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
)

// clock is a settable clock for the coordinator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newCoord(t *testing.T, clk *clock) *Coordinator {
	s := memmeta.New()
	t.Cleanup(func() { s.Close() })
	cfg := Config{Store: s, MinSessionTimeout: 10 * time.Millisecond}
	if clk != nil {
		cfg.Now = clk.now
	}
	c := New(cfg)
	t.Cleanup(c.Close)
	return c
}

var ctx = context.Background()

func joinReq(group, member string, session, rebalance int32) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = session, rebalance
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{1}}}
	return req
}

// joinSync makes a one-member stable group and returns the member id.
func joinSync(t *testing.T, c *Coordinator, group string, session, rebalance int32) string {
	t.Helper()
	r := c.Join(ctx, nil, joinReq(group, "", session, rebalance), "c", "/h")
	if r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	r = c.Join(ctx, nil, joinReq(group, r.MemberID, session, rebalance), "c", "/h")
	if r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("join: %v generation %d", kerr.ErrorForCode(r.ErrorCode), r.Generation)
	}
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Group, sreq.MemberID, sreq.Generation = group, r.MemberID, 1
	if s := c.Sync(ctx, nil, sreq); s.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	return r.MemberID
}

// TestSessionExpiry: a member that stops heartbeating is removed once its
// session ends, found by the next operation on the group (here a
// describe): the group goes Empty at the next generation.
func TestSessionExpiry(t *testing.T) {
	clk := &clock{t: time.Now()}
	c := newCoord(t, clk)
	m := joinSync(t, c, "g", 1000, 1000)
	if d := c.Describe(ctx, "g", 5); d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != m {
		t.Fatalf("describe: %+v", d)
	}
	clk.add(999 * time.Millisecond)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", m, 1
	if r := c.Heartbeat(ctx, hb); r.ErrorCode != 0 {
		t.Fatalf("heartbeat within the session: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	clk.add(999 * time.Millisecond)
	if d := c.Describe(ctx, "g", 5); d.State != "Stable" {
		t.Fatalf("heartbeat did not extend the session: %s", d.State)
	}
	clk.add(2 * time.Millisecond)
	if d := c.Describe(ctx, "g", 5); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after the session ended: %s with %d members", d.State, len(d.Members))
	}
	if r := c.Heartbeat(ctx, hb); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the expired member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestRebalanceTimeout: a member that does not rejoin within the
// rebalance timeout is dropped and the join completes without it (the
// waiting broker wakes at the deadline by itself).
func TestRebalanceTimeout(t *testing.T) {
	c := newCoord(t, nil)
	m1 := joinSync(t, c, "g", 10000, 300)
	r := c.Join(ctx, nil, joinReq("g", "", 10000, 300), "c", "/h")
	start := time.Now()
	r = c.Join(ctx, nil, joinReq("g", r.MemberID, 10000, 300), "c", "/h")
	if r.ErrorCode != 0 || r.Generation != 2 || r.LeaderID != r.MemberID || len(r.Members) != 1 {
		t.Fatalf("join: %v generation %d leader %q members %d", kerr.ErrorForCode(r.ErrorCode), r.Generation, r.LeaderID, len(r.Members))
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("join completed after %v, want about the 300 ms rebalance timeout", d)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", m1, 1
	if r := c.Heartbeat(ctx, hb); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the dropped member: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestOffsetRetention: offsets of empty groups expire after the retention,
// counted from when the group became empty; then the group goes too.
// Groups with members keep theirs.
func TestOffsetRetention(t *testing.T) {
	clk := &clock{t: time.Now()}
	c := newCoord(t, clk)
	commit := func(group string, gen int32, member string) {
		t.Helper()
		code := c.CommitOffsets(ctx, Commit{Group: group, Generation: gen, MemberID: member, Version: 9,
			Offsets: []meta.GroupOffset{{Topic: "t", Partition: 0, Offset: 5, LeaderEpoch: -1}}})
		if code != 0 {
			t.Fatalf("commit to %s: %v", group, kerr.ErrorForCode(code))
		}
	}
	commit("simple", -1, "")
	m := joinSync(t, c, "live", 600_000, 1000)
	commit("live", 1, m)
	clk.add(6 * 24 * time.Hour)
	if n, err := c.ExpireOffsets(ctx); err != nil || n != 0 {
		t.Fatalf("after 6 days: expired %d (%v)", n, err)
	}
	clk.add(25 * time.Hour)
	if n, err := c.ExpireOffsets(ctx); err != nil || n != 1 {
		t.Fatalf("after 7 days: expired %d (%v), want the simple group's offset", n, err)
	}
	if d := c.Describe(ctx, "simple", 6); d.ErrorCode != kerr.GroupIDNotFound.Code || d.State != "Dead" {
		t.Fatalf("the simple group without offsets should be gone: %+v", d)
	}
	// The live member's session (10 min) ended long ago: the group is
	// Empty from now on, and its offsets live 7 days from now.
	if n, _ := c.ExpireOffsets(ctx); n != 0 {
		t.Fatalf("offsets of a group just emptied expired")
	}
	clk.add(7*24*time.Hour + time.Minute)
	if n, _ := c.ExpireOffsets(ctx); n != 1 {
		t.Fatalf("offsets of the emptied group did not expire after 7 days")
	}
	offs, _ := c.FetchOffsets(ctx, "live")
	if len(offs) != 0 {
		t.Fatalf("offsets left: %+v", offs)
	}
}

// TestWatchAcrossCoordinators: two coordinators (two brokers) share one
// store; a join held by one completes when the other member joins
// through the other.
func TestWatchAcrossCoordinators(t *testing.T) {
	s := memmeta.New()
	defer s.Close()
	c1 := New(Config{Store: s, MinSessionTimeout: time.Millisecond})
	c2 := New(Config{Store: s, MinSessionTimeout: time.Millisecond})
	defer c1.Close()
	defer c2.Close()
	m1 := joinSync(t, c1, "g", 10000, 60000)
	r2 := c2.Join(ctx, nil, joinReq("g", "", 10000, 60000), "c", "/h")
	done := make(chan *kmsg.JoinGroupResponse)
	go func() { done <- c2.Join(ctx, nil, joinReq("g", r2.MemberID, 10000, 60000), "c", "/h") }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	r1 := c1.Join(ctx, nil, joinReq("g", m1, 10000, 60000), "c", "/h")
	r2 = <-done
	if r1.ErrorCode != 0 || r2.ErrorCode != 0 || r1.Generation != 2 || r2.Generation != 2 {
		t.Fatalf("joins: %v %v generations %d %d", kerr.ErrorForCode(r1.ErrorCode), kerr.ErrorForCode(r2.ErrorCode), r1.Generation, r2.Generation)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the held join took %v to learn of the other member", d)
	}
}
