package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/broker"
)

// groupBroker starts a broker with a short initial rebalance delay, as
// tests of groups want.
func groupBroker(t testing.TB, mutate func(*broker.Config)) *broker.Broker {
	return startBroker(t, func(c *broker.Config) {
		c.GroupInitialRebalanceDelay = 100 * time.Millisecond
		if mutate != nil {
			mutate(c)
		}
	})
}

// produceSmall produces n small records (value: the record number)
// round-robin over the topic's partitions.
func produceSmall(t testing.TB, addr, topic string, n int) {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d produces failed", f, n)
	}
}

type tpo struct {
	p int32
	o int64
}

// ledger records which member processed each record, and which of those
// processings were committed: a record may be processed again only if
// its earlier processing was not committed.
type ledger struct {
	mu        sync.Mutex
	committed map[tpo]string
	processed atomic.Int64
	dups      []string
	// paused holds the members between polls (rebalances go on), so that
	// a joining member gets partitions before the others finish.
	paused atomic.Bool
}

func (l *ledger) commit(member string, recs []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		k := tpo{r.Partition, r.Offset}
		if prev, ok := l.committed[k]; ok {
			l.dups = append(l.dups, fmt.Sprintf("%d/%d by %s and %s", r.Partition, r.Offset, prev, member))
			continue
		}
		l.committed[k] = member
	}
}

func (l *ledger) seen(r *kgo.Record) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.committed[tpo{r.Partition, r.Offset}]
	return m, ok
}

// member consumes in the group until ctx ends, committing after each poll
// while rebalances are blocked, so that a record is committed by the
// member that processed it before any other member can own its partition.
func runMember(ctx context.Context, t *testing.T, addr, group, topic, name string, l *ledger, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.ClientID(name),
		kgo.HeartbeatInterval(500 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for ctx.Err() == nil {
			if l.paused.Load() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			fs := cl.PollRecords(ctx, 500)
			recs := fs.Records()
			time.Sleep(25 * time.Millisecond) // "processing": keeps the run long enough for members to come and go
			for _, r := range recs {
				if prev, ok := l.seen(r); ok {
					t.Errorf("%s processed %d/%d, already committed by %s", name, r.Partition, r.Offset, prev)
				}
			}
			if len(recs) > 0 {
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := cl.CommitRecords(cctx, recs...)
				cancel()
				if err == nil {
					l.commit(name, recs)
					l.processed.Add(int64(len(recs)))
				} else {
					t.Logf("%s: commit failed (its records may be processed again): %v", name, err)
				}
			}
			cl.AllowRebalance()
		}
	}()
	return cl
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exactlyOnce runs the three-member scenario: members 0-2 start (member i
// connects to addrs[i%len(addrs)]), member 1 leaves after a third of the
// records, member 3 joins after two thirds.
func exactlyOnce(t *testing.T, addrs []string, topic string, n int) {
	l := &ledger{committed: map[tpo]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	group := "eo-" + topic
	var members []*kgo.Client
	for i := range 3 {
		members = append(members, runMember(ctx, t, addrs[i%len(addrs)], group, topic, "m"+strconv.Itoa(i), l))
	}
	waitFor(t, "a third of the records", 60*time.Second, func() bool { return l.processed.Load() >= int64(n/3) })
	members[1].Close() // leaves the group
	waitFor(t, "two thirds of the records", 60*time.Second, func() bool { return l.processed.Load() >= int64(2*n/3) })
	l.paused.Store(true)
	members = append(members, runMember(ctx, t, addrs[len(members)%len(addrs)], group, topic, "m3", l,
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[topic]) > 0 {
				l.paused.Store(false)
			}
		})))
	waitFor(t, "every record", 60*time.Second, func() bool { return l.processed.Load() >= int64(n) })
	cancel()
	for i, m := range members {
		if i != 1 {
			m.Close()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dups) > 0 {
		t.Fatalf("%d records committed twice, first: %s", len(l.dups), l.dups[0])
	}
	if len(l.committed) != n {
		t.Fatalf("%d records committed, want %d", len(l.committed), n)
	}
	// No gaps: each partition's committed offsets are 0..k-1.
	count := map[int32]int64{}
	byMember := map[string]int{}
	for k, m := range l.committed {
		count[k.p]++
		byMember[m]++
	}
	for k := range l.committed {
		if k.o >= count[k.p] {
			t.Fatalf("partition %d: offset %d committed but only %d records", k.p, k.o, count[k.p])
		}
	}
	t.Logf("records per member: %v", byMember)
	if byMember["m3"] == 0 || byMember["m1"] == 0 {
		t.Fatalf("the leaving or the joining member processed nothing: %v", byMember)
	}
}

// TestGroupExactlyOnce: three members share 300k records of 12 partitions
// while one leaves and another joins; each record is processed and
// committed by exactly one member.
func TestGroupExactlyOnce(t *testing.T) {
	b := groupBroker(t, nil)
	createTopic(t, b.Addr(), "eo", 12, nil)
	const n = 300_000
	produceSmall(t, b.Addr(), "eo", n)
	exactlyOnce(t, []string{b.Addr()}, "eo", n)
}

// TestGroupTwoBrokers: the same scenario with members on two brokers that
// share one metadata store and one object store.
func TestGroupTwoBrokers(t *testing.T) {
	shared := sharedStores(t)
	b1 := groupBroker(t, shared)
	b2 := groupBroker(t, func(c *broker.Config) { shared(c); c.NodeID = 1 })
	createTopic(t, b1.Addr(), "eo2", 12, nil)
	const n = 60_000
	produceSmall(t, b1.Addr(), "eo2", n)
	exactlyOnce(t, []string{b1.Addr(), b2.Addr()}, "eo2", n)
}

// assignmentLog records a member's partitions from its callbacks.
type assignmentLog struct {
	mu       sync.Mutex
	owned    map[int32]bool
	revoked  []int32
	assigned []int32
	lost     int
}

func (a *assignmentLog) opts(topic string) []kgo.Opt {
	a.owned = map[int32]bool{}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, p := range m[topic] {
				a.owned[p] = true
				a.assigned = append(a.assigned, p)
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, p := range m[topic] {
				delete(a.owned, p)
				a.revoked = append(a.revoked, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.lost++
		}),
	}
}

func (a *assignmentLog) snapshot() (owned map[int32]bool, revoked, assigned []int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	owned = map[int32]bool{}
	for p := range a.owned {
		owned[p] = true
	}
	return owned, append([]int32(nil), a.revoked...), append([]int32(nil), a.assigned...)
}

func groupMember(t *testing.T, addr, group, topic string, opts ...kgo.Opt) *kgo.Client {
	cl := newClient(t, addr, append([]kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.HeartbeatInterval(300 * time.Millisecond),
	}, opts...)...)
	// Poll in the background so the group machinery runs.
	go func() {
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
		}
	}()
	return cl
}

// TestGroupCooperativeSticky: a third member joining two that own 12
// partitions takes four, and only those four are revoked from the others.
func TestGroupCooperativeSticky(t *testing.T) {
	b := groupBroker(t, nil)
	createTopic(t, b.Addr(), "coop", 12, nil)
	logs := []*assignmentLog{{}, {}, {}}
	balancer := kgo.Balancers(kgo.CooperativeStickyBalancer())
	groupMember(t, b.Addr(), "coop", "coop", append(logs[0].opts("coop"), balancer)...)
	groupMember(t, b.Addr(), "coop", "coop", append(logs[1].opts("coop"), balancer)...)
	owns := func(a *assignmentLog) int { o, _, _ := a.snapshot(); return len(o) }
	waitFor(t, "two members owning 6 partitions each", 30*time.Second, func() bool {
		return owns(logs[0]) == 6 && owns(logs[1]) == 6
	})
	before := []map[int32]bool{}
	var revokedBefore []int
	for _, l := range logs[:2] {
		o, r, _ := l.snapshot()
		before = append(before, o)
		revokedBefore = append(revokedBefore, len(r))
	}
	groupMember(t, b.Addr(), "coop", "coop", append(logs[2].opts("coop"), balancer)...)
	waitFor(t, "three members owning 4 partitions each", 30*time.Second, func() bool {
		return owns(logs[0]) == 4 && owns(logs[1]) == 4 && owns(logs[2]) == 4
	})
	time.Sleep(500 * time.Millisecond) // let any further (wrong) moves show
	got, _, _ := logs[2].snapshot()
	moved := 0
	for i, l := range logs[:2] {
		o, r, _ := l.snapshot()
		r = r[revokedBefore[i]:]
		moved += len(r)
		for p := range o {
			if !before[i][p] {
				t.Errorf("member %d gained partition %d: only the new member should", i, p)
			}
		}
		for _, p := range r {
			if !got[p] {
				t.Errorf("member %d gave up partition %d, which the new member did not get", i, p)
			}
		}
		if l.lost > 0 {
			t.Errorf("member %d lost partitions (eager behaviour)", i)
		}
	}
	if moved != 4 || len(got) != 4 {
		t.Fatalf("%d partitions revoked, new member got %d; want 4 and 4", moved, len(got))
	}
}

// TestGroupResume: a group restarted after committing resumes from its
// committed offsets, also after a broker restart on the same data dir.
func TestGroupResume(t *testing.T) {
	dir := t.TempDir()
	cfg := func(c *broker.Config) { c.DataDir = dir; c.GroupInitialRebalanceDelay = 0 }
	b := startBroker(t, cfg)
	createTopic(t, b.Addr(), "resume", 3, nil)
	produceSmall(t, b.Addr(), "resume", 300)
	consume := func(addr string, max int) []*kgo.Record {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("rg"), kgo.ConsumeTopics("resume"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var out []*kgo.Record
		for len(out) < max && ctx.Err() == nil {
			out = append(out, cl.PollRecords(ctx, max-len(out)).Records()...)
		}
		if err := cl.CommitRecords(context.Background(), out...); err != nil {
			t.Fatalf("commit: %v", err)
		}
		return out
	}
	seen := map[tpo]bool{}
	add := func(recs []*kgo.Record) {
		for _, r := range recs {
			k := tpo{r.Partition, r.Offset}
			if seen[k] {
				t.Fatalf("record %d/%d consumed again after its commit", r.Partition, r.Offset)
			}
			seen[k] = true
		}
	}
	add(consume(b.Addr(), 100))
	add(consume(b.Addr(), 100))
	b.Close()
	b = startBroker(t, cfg)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	offs, err := adm.FetchOffsets(context.Background(), "rg")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 200 {
		t.Fatalf("after the broker restart the committed offsets add up to %d, want 200", total)
	}
	add(consume(b.Addr(), 100))
	if len(seen) != 300 {
		t.Fatalf("consumed %d distinct records, want 300", len(seen))
	}
}

// TestGroupStaticMembers: a static member that restarts within its session
// timeout gets its partitions back without a rebalance of the others.
func TestGroupStaticMembers(t *testing.T) {
	b := groupBroker(t, nil)
	createTopic(t, b.Addr(), "static", 6, nil)
	la, lb := &assignmentLog{}, &assignmentLog{}
	static := func(id string) []kgo.Opt {
		return []kgo.Opt{kgo.InstanceID(id), kgo.SessionTimeout(20 * time.Second)}
	}
	a := groupMember(t, b.Addr(), "static", "static", append(la.opts("static"), static("a")...)...)
	groupMember(t, b.Addr(), "static", "static", append(lb.opts("static"), static("b")...)...)
	owns := func(l *assignmentLog) int { o, _, _ := l.snapshot(); return len(o) }
	waitFor(t, "two static members owning 3 partitions each", 30*time.Second, func() bool {
		return owns(la) == 3 && owns(lb) == 3
	})
	adm := kadm.NewClient(newClient(t, b.Addr()))
	describe := func() kadm.DescribedGroup {
		t.Helper()
		d, err := adm.DescribeGroups(context.Background(), "static")
		if err != nil {
			t.Fatal(err)
		}
		return d["static"]
	}
	genBefore := generationOf(t, b, "static")
	ownedA, _, _ := la.snapshot()
	_, revB, asgB := lb.snapshot()
	a.Close() // a static member does not leave the group on close
	if d := describe(); len(d.Members) != 2 || d.State != "Stable" {
		t.Fatalf("after a static member closed: state %s, %d members", d.State, len(d.Members))
	}
	la2 := &assignmentLog{}
	groupMember(t, b.Addr(), "static", "static", append(la2.opts("static"), static("a")...)...)
	waitFor(t, "the restarted static member to own its partitions", 30*time.Second, func() bool { return owns(la2) == 3 })
	time.Sleep(time.Second)
	ownedA2, _, _ := la2.snapshot()
	for p := range ownedA {
		if !ownedA2[p] {
			t.Fatalf("restarted static member owns %v, had %v", ownedA2, ownedA)
		}
	}
	if _, rev, asg := lb.snapshot(); len(rev) != len(revB) || len(asg) != len(asgB) {
		t.Fatalf("the other member saw a rebalance: revoked %v assigned %v", rev[len(revB):], asg[len(asgB):])
	}
	if gen := generationOf(t, b, "static"); gen != genBefore {
		t.Fatalf("generation went from %d to %d", genBefore, gen)
	}
}

// generationOf reads the group's generation from the broker's store.
func generationOf(t *testing.T, b *broker.Broker, group string) int32 {
	t.Helper()
	var gen int32 = -1
	err := b.Meta().Groups().ViewGroup(context.Background(), group, func(tx meta.GroupTx) error {
		g, err := tx.Group()
		if g != nil {
			gen = g.Generation
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return gen
}

// TestGroupErrorCodes sends raw requests for the bad cases and checks the
// codes Kafka answers.
func TestGroupErrorCodes(t *testing.T) {
	b := groupBroker(t, nil)
	createTopic(t, b.Addr(), "codes", 2, nil)
	// Kafka 4.0's versions: topics by name in offset requests (v10 names
	// them by id).
	cl := newClient(t, b.Addr(), kgo.MaxVersions(kversion.V4_0_0()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := func(what string, got int16, want error) {
		t.Helper()
		var code int16
		if want != nil {
			code = want.(*kerr.Error).Code
		}
		if got != code {
			t.Errorf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
		}
	}
	consumerMeta := func(topics ...string) []byte {
		m := kmsg.NewConsumerMemberMetadata()
		m.Topics = topics
		return m.AppendTo(nil)
	}
	// Requests held by the broker hold up the answers after them on their
	// connection, so the ones that wait use a client of their own.
	waiter := newClient(t, b.Addr(), kgo.MaxVersions(kversion.V4_0_0()))
	joinWith := func(cl *kgo.Client, group, member string, inst *string, protoType string, protos ...string) *kmsg.JoinGroupResponse {
		t.Helper()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.InstanceID, req.ProtocolType = group, member, inst, protoType
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 3000
		for _, p := range protos {
			rp := kmsg.NewJoinGroupRequestProtocol()
			rp.Name, rp.Metadata = p, consumerMeta("codes")
			req.Protocols = append(req.Protocols, rp)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	join := func(group, member string, inst *string, protoType string, protos ...string) *kmsg.JoinGroupResponse {
		return joinWith(cl, group, member, inst, protoType, protos...)
	}
	heartbeat := func(group, member string, inst *string, gen int32) int16 {
		t.Helper()
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.InstanceID, req.Generation = group, member, inst, gen
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	syncWith := func(cl *kgo.Client, group, member string, gen int32, protocol *string, assign map[string][]byte) *kmsg.SyncGroupResponse {
		t.Helper()
		req := kmsg.NewPtrSyncGroupRequest()
		req.Group, req.MemberID, req.Generation, req.Protocol = group, member, gen, protocol
		for m, a := range assign {
			ra := kmsg.NewSyncGroupRequestGroupAssignment()
			ra.MemberID, ra.MemberAssignment = m, a
			req.GroupAssignment = append(req.GroupAssignment, ra)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	sync := func(group, member string, gen int32, protocol *string, assign map[string][]byte) *kmsg.SyncGroupResponse {
		return syncWith(cl, group, member, gen, protocol, assign)
	}
	commit := func(c *kgo.Client, group, member string, gen int32, topic string, part int32) int16 {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = group, member, gen
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = part, 42, 7, kmsg.StringPtr("md")
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}

	// Unknown groups.
	check("heartbeat, unknown group", heartbeat("nope", "m", nil, 1), kerr.UnknownMemberID)
	check("sync, unknown group", sync("nope", "m", 1, nil, nil).ErrorCode, kerr.UnknownMemberID)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = "nope"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	if resp, err := leave.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		check("leave, unknown group", resp.ErrorCode, kerr.UnknownMemberID)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "nope", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "codes", Partitions: []int32{0, 1}}}}}
	if resp, err := fetch.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else if g := resp.Groups[0]; g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 2 ||
		g.Topics[0].Partitions[0].Offset != -1 || g.Topics[0].Partitions[1].ErrorCode != 0 {
		t.Errorf("offset fetch of an unknown group: %+v", g)
	}
	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Groups = []string{"nope"}
	if resp, err := describe.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		check("describe, unknown group", resp.Groups[0].ErrorCode, kerr.GroupIDNotFound)
	}

	// Bad joins.
	check("join, empty group id", join("", "", nil, "consumer", "range").ErrorCode, kerr.InvalidGroupID)
	check("join, no protocols", join("g", "", nil, "consumer").ErrorCode, kerr.InconsistentGroupProtocol)
	check("join, empty protocol type", join("g", "", nil, "", "range").ErrorCode, kerr.InconsistentGroupProtocol)
	check("join, known member of a missing group", join("g", "ghost", nil, "consumer", "range").ErrorCode, kerr.UnknownMemberID)
	big := kmsg.NewPtrJoinGroupRequest()
	big.Group, big.ProtocolType, big.SessionTimeoutMillis = "g", "consumer", 10000
	big.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: make([]byte, 2<<20)}}
	if resp, err := big.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		check("join, 2 MiB metadata", resp.ErrorCode, kerr.UnknownServerError)
	}
	short := kmsg.NewPtrJoinGroupRequest()
	short.Group, short.ProtocolType, short.SessionTimeoutMillis = "g", "consumer", 1000
	short.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if resp, err := short.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		check("join, 1 s session timeout", resp.ErrorCode, kerr.InvalidSessionTimeout)
	}

	// A member joins: MEMBER_ID_REQUIRED first (v4+), then generation 1.
	first := join("g", "", nil, "consumer", "range", "roundrobin")
	check("first join", first.ErrorCode, kerr.MemberIDRequired)
	m := first.MemberID
	j := join("g", m, nil, "consumer", "range", "roundrobin")
	check("join with the member id", j.ErrorCode, nil)
	if j.Generation != 1 || j.LeaderID != m || *j.Protocol != "range" || len(j.Members) != 1 {
		t.Fatalf("join: generation %d leader %q protocol %v members %d", j.Generation, j.LeaderID, j.Protocol, len(j.Members))
	}
	check("join, other protocol type", join("g", "", nil, "connect", "range").ErrorCode, kerr.InconsistentGroupProtocol)
	check("join, no protocol in common", join("g", "", nil, "consumer", "sticky").ErrorCode, kerr.InconsistentGroupProtocol)
	check("commit while completing the rebalance", commit(cl, "g", m, 1, "codes", 0), kerr.RebalanceInProgress)
	check("sync, wrong protocol", sync("g", m, 1, kmsg.StringPtr("roundrobin"), nil).ErrorCode, kerr.InconsistentGroupProtocol)
	check("sync, wrong generation", sync("g", m, 2, nil, nil).ErrorCode, kerr.IllegalGeneration)
	check("sync, unknown member", sync("g", "who", 1, nil, nil).ErrorCode, kerr.UnknownMemberID)
	if s := sync("g", m, 1, nil, map[string][]byte{m: []byte("mine")}); s.ErrorCode != 0 || string(s.MemberAssignment) != "mine" {
		t.Fatalf("leader sync: %v %q", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
	}
	check("heartbeat", heartbeat("g", m, nil, 1), nil)
	check("heartbeat, wrong generation", heartbeat("g", m, nil, 2), kerr.IllegalGeneration)
	check("heartbeat, unknown member", heartbeat("g", "who", nil, 1), kerr.UnknownMemberID)

	// Commits.
	check("commit", commit(cl, "g", m, 1, "codes", 1), nil)
	check("commit, unknown topic", commit(cl, "g", m, 1, "no-such-topic", 0), kerr.UnknownTopicOrPartition)
	check("commit, unknown partition", commit(cl, "g", m, 1, "codes", 9), kerr.UnknownTopicOrPartition)
	check("commit, wrong generation", commit(cl, "g", m, 7, "codes", 0), kerr.IllegalGeneration)
	check("commit, unknown member", commit(cl, "g", "who", 1, "codes", 0), kerr.UnknownMemberID)
	check("simple commit to a group with members", commit(cl, "g", "", -1, "codes", 0), kerr.UnknownMemberID)
	check("commit, generation to a missing group (v9+)", commit(cl, "missing", "x", 3, "codes", 0), kerr.GroupIDNotFound)
	old := newClient(t, b.Addr(), kgo.MaxVersions(kversion.V3_0_0()))
	check("commit, generation to a missing group (v8)", commit(old, "missing", "x", 3, "codes", 0), kerr.IllegalGeneration)
	check("simple commit (assign mode)", commit(cl, "simple", "", -1, "codes", 1), nil)
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "simple", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "codes", Partitions: []int32{0, 1}}}}}
	if resp, err := fetch.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else if ps := resp.Groups[0].Topics[0].Partitions; ps[0].Offset != -1 || ps[1].Offset != 42 || ps[1].LeaderEpoch != 7 || *ps[1].Metadata != "md" {
		t.Errorf("offset fetch after a simple commit: %+v", ps)
	}

	// A second member makes the group rebalance: syncs and heartbeats of
	// the old generation answer REBALANCE_IN_PROGRESS until it rejoins.
	second := join("g", "", nil, "consumer", "range")
	done := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { done <- joinWith(waiter, "g", second.MemberID, nil, "consumer", "range") }()
	waitFor(t, "the rebalance", 10*time.Second, func() bool {
		return heartbeat("g", m, nil, 1) == kerr.RebalanceInProgress.Code
	})
	check("sync during a rebalance", sync("g", m, 1, nil, nil).ErrorCode, kerr.RebalanceInProgress)
	j = join("g", m, nil, "consumer", "range", "roundrobin")
	j2 := <-done
	if j.ErrorCode != 0 || j2.ErrorCode != 0 || j.Generation != 2 || j2.Generation != 2 || j.LeaderID != m || len(j.Members) != 2 {
		t.Fatalf("rejoin: %v/%v generations %d/%d leader %q members %d", kerr.ErrorForCode(j.ErrorCode), kerr.ErrorForCode(j2.ErrorCode), j.Generation, j2.Generation, j.LeaderID, len(j.Members))
	}
	fsync := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { fsync <- syncWith(waiter, "g", second.MemberID, 2, nil, nil) }()
	sync("g", m, 2, nil, map[string][]byte{m: []byte("a"), second.MemberID: []byte("b")})
	if s := <-fsync; s.ErrorCode != 0 || string(s.MemberAssignment) != "b" {
		t.Fatalf("follower sync: %v %q", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
	}

	// Offset deletion and group deletion.
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "codes", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	if resp, err := od.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		check("offset delete, subscribed topic", resp.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	}
	od.Group = "nope"
	if resp, err := od.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		check("offset delete, unknown group", resp.ErrorCode, kerr.GroupIDNotFound)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g", "nope", "simple"}
	if resp, err := del.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		check("delete, group with members", resp.Groups[0].ErrorCode, kerr.NonEmptyGroup)
		check("delete, unknown group", resp.Groups[1].ErrorCode, kerr.GroupIDNotFound)
		check("delete, empty group", resp.Groups[2].ErrorCode, nil)
	}

	// Batch leave: one known member, one unknown.
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: second.MemberID}, {MemberID: "who"}}
	if resp, err := leave.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else {
		check("leave", resp.Members[0].ErrorCode, nil)
		check("leave, unknown member", resp.Members[1].ErrorCode, kerr.UnknownMemberID)
	}
	list := kmsg.NewPtrListGroupsRequest()
	list.StatesFilter = []string{"PreparingRebalance"}
	if resp, err := list.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	} else if len(resp.Groups) != 1 || resp.Groups[0].Group != "g" {
		t.Errorf("groups preparing a rebalance after a leave: %+v", resp.Groups)
	}

	// Static membership: a second join with the instance id fences the
	// first member id.
	inst := kmsg.StringPtr("i1")
	s1 := join("sg", "", inst, "consumer", "range")
	check("static join", s1.ErrorCode, nil)
	sync("sg", s1.MemberID, s1.Generation, nil, map[string][]byte{s1.MemberID: []byte("x")})
	s2 := join("sg", "", inst, "consumer", "range")
	if s2.ErrorCode != 0 || s2.Generation != s1.Generation || s2.MemberID == s1.MemberID || s2.LeaderID != s2.MemberID || !s2.SkipAssignment {
		t.Fatalf("static rejoin: %v generation %d (was %d) leader %q skip %v", kerr.ErrorForCode(s2.ErrorCode), s2.Generation, s1.Generation, s2.LeaderID, s2.SkipAssignment)
	}
	check("heartbeat of the replaced static member", heartbeat("sg", s1.MemberID, inst, s1.Generation), kerr.FencedInstanceID)
	check("heartbeat of the static member", heartbeat("sg", s2.MemberID, inst, s2.Generation), nil)
}

// TestKcatGroupConsumer consumes a topic with kcat's balanced consumer
// (librdkafka: JoinGroup, SyncGroup, OffsetCommit, LeaveGroup) and checks
// every record arrived and the group committed the end of each partition.
func TestKcatGroupConsumer(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found: install it with `apt-get install kcat` (make deps does)")
	}
	b := groupBroker(t, nil)
	createTopic(t, b.Addr(), "kg", 3, nil)
	const n = 1000
	produceSmall(t, b.Addr(), "kg", n)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-G", "kcat-group", "-e", "-q", "-f", "%p %o\n",
		"-X", "auto.offset.reset=earliest", "kg")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat -G: %v\n%s", err, stderr.String())
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if seen[line] {
			t.Fatalf("kcat read %q twice", line)
		}
		seen[line] = true
	}
	if len(seen) != n {
		t.Fatalf("kcat read %d records, want %d\n%s", len(seen), n, stderr.String())
	}
	adm := kadm.NewClient(newClient(t, b.Addr()))
	offs, err := adm.FetchOffsets(context.Background(), "kcat-group")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Fatalf("kcat's group committed offsets adding up to %d, want %d", total, n)
	}
	d, err := adm.DescribeGroups(context.Background(), "kcat-group")
	if err != nil {
		t.Fatal(err)
	}
	if g := d["kcat-group"]; g.State != "Empty" {
		t.Fatalf("after kcat left, the group is %s with %d members", g.State, len(g.Members))
	}
}

// BenchmarkGroupRebalance: ten members join a new group on a 100-partition
// topic; one op is the time until all 100 partitions are assigned (no
// initial rebalance delay, so the figure is the protocol's).
func BenchmarkGroupRebalance(b *testing.B) {
	br := startBroker(b, func(c *broker.Config) { c.GroupInitialRebalanceDelay = 0 })
	createTopic(b, br.Addr(), "reb", 100, nil)
	for i := 0; b.Loop(); i++ {
		var owned atomic.Int64
		var clients []*kgo.Client
		group := "reb-" + strconv.Itoa(i)
		for range 10 {
			cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics("reb"),
				kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { owned.Add(int64(len(m["reb"]))) }),
				kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { owned.Add(-int64(len(m["reb"]))) }),
				kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { owned.Add(-int64(len(m["reb"]))) }))
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, cl)
			go func() {
				for !cl.PollFetches(context.Background()).IsClientClosed() {
				}
			}()
		}
		// Stable: all partitions owned, nothing moving for a moment.
		deadline := time.Now().Add(30 * time.Second)
		for owned.Load() != 100 || generationSettled(br, group) != nil {
			if time.Now().After(deadline) {
				b.Fatalf("rebalance of 10 members did not finish: %d partitions owned", owned.Load())
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		for _, cl := range clients {
			cl.Close()
		}
		b.StartTimer()
	}
}

// generationSettled is nil when the group is Stable with every member
// assigned.
func generationSettled(b *broker.Broker, group string) error {
	return b.Meta().Groups().ViewGroup(context.Background(), group, func(tx meta.GroupTx) error {
		g, err := tx.Group()
		if err != nil {
			return err
		}
		if g == nil || g.State != meta.GroupStable || len(g.Members) != 10 {
			return fmt.Errorf("not stable")
		}
		return nil
	})
}

// BenchmarkOffsetCommit: commits (one partition each) spread over 100
// groups from 10 connections; reports commits/s.
func BenchmarkOffsetCommit(b *testing.B) {
	br := startBroker(b, nil)
	createTopic(b, br.Addr(), "oc", 4, nil)
	var clients []*kgo.Client
	for range 10 {
		clients = append(clients, newClient(b, br.Addr(), kgo.MaxVersions(kversion.V4_0_0())))
	}
	var next atomic.Int64
	b.SetParallelism(100 / runtime.GOMAXPROCS(0))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		w := next.Add(1)
		cl := clients[w%10]
		group := "oc-" + strconv.Itoa(int(w%100))
		for i := int64(0); pb.Next(); i++ {
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Group, req.Generation = group, -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = "oc"
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = int32(i%4), i
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(context.Background(), cl)
			if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
				b.Errorf("commit: %v %+v", err, resp)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
}
