package metatest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

func putGroup(t *testing.T, s meta.Store, g *meta.Group) {
	t.Helper()
	err := s.Groups().UpdateGroup(ctx, g.Name, func(tx meta.GroupTx) error { return tx.PutGroup(g) })
	if err != nil {
		t.Fatalf("PutGroup(%q): %v", g.Name, err)
	}
}

func getGroup(t *testing.T, s meta.Store, name string) *meta.Group {
	t.Helper()
	var g *meta.Group
	err := s.Groups().ViewGroup(ctx, name, func(tx meta.GroupTx) error {
		var err error
		g, err = tx.Group()
		return err
	})
	if err != nil {
		t.Fatalf("Group(%q): %v", name, err)
	}
	return g
}

// testGroupRecord: a group round-trips whole, Version counts PutGroups,
// ListGroups lists by name, DeleteGroup removes it.
func testGroupRecord(t *testing.T, s meta.Store) {
	if g := getGroup(t, s, "g1"); g != nil {
		t.Fatalf("fresh store has group %+v", g)
	}
	now := time.Now().Truncate(time.Millisecond).UTC()
	g := &meta.Group{
		Name: "g1", State: meta.GroupStable, ProtocolType: "consumer", Protocol: "range",
		Generation: 3, Leader: "m1",
		Members: []meta.GroupMember{{
			ID: "m1", InstanceID: "i1", ClientID: "c", ClientHost: "/127.0.0.1",
			SessionTimeoutMs: 45000, RebalanceTimeoutMs: 60000,
			Protocols:  []meta.GroupProtocol{{Name: "range", Metadata: []byte{0, 1, 2}}, {Name: "rr"}},
			Assignment: []byte("assign"), Assigned: true, Expires: now,
		}},
		Pending:    []meta.PendingMember{{ID: "p1", Expires: now}},
		Deadline:   now,
		StateSince: now,
	}
	putGroup(t, s, g)
	got := getGroup(t, s, "g1")
	if got == nil || got.Version != 1 {
		t.Fatalf("after one PutGroup: %+v", got)
	}
	want := *g
	want.Version = 1
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("group round trip:\n got %+v\nwant %+v", *got, want)
	}
	got.Generation++
	putGroup(t, s, got)
	if g2 := getGroup(t, s, "g1"); g2.Version != 2 || g2.Generation != 4 {
		t.Fatalf("second PutGroup: version %d generation %d", g2.Version, g2.Generation)
	}
	putGroup(t, s, &meta.Group{Name: "a"})
	putGroup(t, s, &meta.Group{Name: "g10"})
	list, err := s.Groups().ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range list {
		names = append(names, g.Name)
	}
	if !reflect.DeepEqual(names, []string{"a", "g1", "g10"}) {
		t.Fatalf("ListGroups: %v", names)
	}
	if err := s.Groups().UpdateGroup(ctx, "g1", func(tx meta.GroupTx) error { return tx.PutGroup(&meta.Group{Name: "other"}) }); err == nil {
		t.Fatal("PutGroup of another group's name succeeded")
	}
	if err := s.Groups().ViewGroup(ctx, "g1", func(tx meta.GroupTx) error { return tx.PutGroup(&meta.Group{Name: "g1"}) }); err == nil {
		t.Fatal("PutGroup in a read-only transaction succeeded")
	}
	if err := s.Groups().UpdateGroup(ctx, "g1", func(tx meta.GroupTx) error { return tx.DeleteGroup() }); err != nil {
		t.Fatal(err)
	}
	if g := getGroup(t, s, "g1"); g != nil {
		t.Fatalf("deleted group still there: %+v", g)
	}
}

// testGroupOffsets: offsets round-trip (nil and empty metadata apart),
// list in topic/partition order, stay within their group, and go with
// DeleteOffset and DeleteGroup.
func testGroupOffsets(t *testing.T, s meta.Store) {
	gs := s.Groups()
	now := time.Now().Truncate(time.Millisecond).UTC()
	empty, md := "", "meta"
	offs := []meta.GroupOffset{
		{Topic: "t", Partition: 1, Offset: 10, LeaderEpoch: -1, Metadata: &md, CommitTime: now},
		{Topic: "t", Partition: 0, Offset: 5, LeaderEpoch: 3, Metadata: &empty, CommitTime: now},
		{Topic: "s", Partition: 256, Offset: 0, LeaderEpoch: 0, CommitTime: now},
	}
	put := func(group string, offs []meta.GroupOffset) {
		t.Helper()
		if err := gs.UpdateGroup(ctx, group, func(tx meta.GroupTx) error { return tx.PutOffsets(offs) }); err != nil {
			t.Fatal(err)
		}
	}
	list := func(group string) []meta.GroupOffset {
		t.Helper()
		var out []meta.GroupOffset
		if err := gs.ViewGroup(ctx, group, func(tx meta.GroupTx) error {
			var err error
			out, err = tx.Offsets()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	put("g", offs)
	put("g2", []meta.GroupOffset{{Topic: "t", Partition: 0, Offset: 99, CommitTime: now}})
	put("", []meta.GroupOffset{{Topic: "t", Partition: 0, Offset: 7, CommitTime: now}})
	want := []meta.GroupOffset{offs[2], offs[1], offs[0]}
	if got := list("g"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Offsets:\n got %+v\nwant %+v", got, want)
	}
	if got := list(""); len(got) != 1 || got[0].Offset != 7 {
		t.Fatalf("offsets of the empty group name: %+v", got)
	}
	err := gs.ViewGroup(ctx, "g", func(tx meta.GroupTx) error {
		o, ok, err := tx.Offset("t", 0)
		if err != nil || !ok || o.Offset != 5 || o.Metadata == nil || *o.Metadata != "" || o.LeaderEpoch != 3 {
			t.Errorf("Offset(t,0) = %+v %v %v", o, ok, err)
		}
		o, ok, err = tx.Offset("s", 256)
		if err != nil || !ok || o.Metadata != nil {
			t.Errorf("Offset(s,256) = %+v %v %v (want nil metadata)", o, ok, err)
		}
		if _, ok, err := tx.Offset("t", 2); ok || err != nil {
			t.Errorf("Offset(t,2): %v %v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite, delete one, then delete the group with its offsets.
	put("g", []meta.GroupOffset{{Topic: "t", Partition: 0, Offset: 6, LeaderEpoch: 3, CommitTime: now}})
	if err := gs.UpdateGroup(ctx, "g", func(tx meta.GroupTx) error { return tx.DeleteOffset("t", 1) }); err != nil {
		t.Fatal(err)
	}
	if got := list("g"); len(got) != 2 || got[1].Offset != 6 {
		t.Fatalf("after overwrite and delete: %+v", got)
	}
	putGroup(t, s, &meta.Group{Name: "g"})
	if err := gs.UpdateGroup(ctx, "g", func(tx meta.GroupTx) error { return tx.DeleteGroup() }); err != nil {
		t.Fatal(err)
	}
	if got := list("g"); len(got) != 0 {
		t.Fatalf("offsets survive DeleteGroup: %+v", got)
	}
	if got := list("g2"); len(got) != 1 || got[0].Offset != 99 {
		t.Fatalf("DeleteGroup(g) touched g2: %+v", got)
	}
}

// testGroupRollback: a failed update writes nothing and wakes no one.
func testGroupRollback(t *testing.T, s meta.Store) {
	gs := s.Groups()
	ch := gs.Watch("g")
	boom := errors.New("boom")
	err := gs.UpdateGroup(ctx, "g", func(tx meta.GroupTx) error {
		if err := tx.PutGroup(&meta.Group{Name: "g"}); err != nil {
			return err
		}
		if err := tx.PutOffsets([]meta.GroupOffset{{Topic: "t", Offset: 1}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateGroup: %v, want boom", err)
	}
	if g := getGroup(t, s, "g"); g != nil {
		t.Fatalf("rolled back group visible: %+v", g)
	}
	select {
	case <-ch:
		t.Fatal("failed update notified watchers")
	default:
	}
}

// testGroupWatch: Watch channels close after committed group changes
// (PutGroup, DeleteGroup) of that group only, not after offset commits.
func testGroupWatch(t *testing.T, s meta.Store) {
	gs := s.Groups()
	ch, other := gs.Watch("g"), gs.Watch("h")
	if err := gs.UpdateGroup(ctx, "g", func(tx meta.GroupTx) error {
		return tx.PutOffsets([]meta.GroupOffset{{Topic: "t", Offset: 1}})
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("an offset commit woke group watchers")
	default:
	}
	putGroup(t, s, &meta.Group{Name: "g"})
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("PutGroup did not close the watch channel")
	}
	select {
	case <-other:
		t.Fatal("a change of g woke watchers of h")
	default:
	}
	ch = gs.Watch("g")
	if err := gs.UpdateGroup(ctx, "g", func(tx meta.GroupTx) error { return tx.DeleteGroup() }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("DeleteGroup did not close the watch channel")
	}
}

// testGroupConcurrentUpdates: read-modify-write updates are serializable.
func testGroupConcurrentUpdates(t *testing.T, s meta.Store) {
	const each = 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.Groups().UpdateGroup(ctx, "c", func(tx meta.GroupTx) error {
					g, err := tx.Group()
					if err != nil {
						return err
					}
					if g == nil {
						g = &meta.Group{Name: "c"}
					}
					g.Generation++
					return tx.PutGroup(g)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	g := getGroup(t, s, "c")
	if g == nil || g.Generation != workers*each || g.Version != workers*each {
		t.Fatalf("after %d increments: %+v", workers*each, g)
	}
}
