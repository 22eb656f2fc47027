package metatest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

func register(t *testing.T, s meta.Store, b meta.BrokerInfo) int32 {
	t.Helper()
	id, err := s.Brokers().Register(ctx, b)
	if err != nil {
		t.Fatalf("Register(%q): %v", b.Name, err)
	}
	return id
}

func liveBrokers(t *testing.T, s meta.Store, now time.Time) []meta.BrokerInfo {
	t.Helper()
	bs, err := s.Brokers().Brokers(ctx, now)
	if err != nil {
		t.Fatalf("Brokers: %v", err)
	}
	return bs
}

// testBrokerRegistry: ids are allocated once per name and kept across
// re-registrations and deregistration; records round-trip; lapsed leases
// and deregistered brokers drop out; explicit ids are honoured and
// refused while another live name holds them.
func testBrokerRegistry(t *testing.T, s meta.Store) {
	now := time.Now()
	lease := now.Add(time.Minute).Truncate(time.Millisecond)
	if bs := liveBrokers(t, s, now); len(bs) != 0 {
		t.Fatalf("fresh store lists brokers %+v", bs)
	}
	a := meta.BrokerInfo{Name: "broker-a", NodeID: meta.AnyNodeID, Zone: "z1", Host: "a.example", Port: 9092, PeerAddr: "10.0.0.1:9089", Expires: lease}
	b := meta.BrokerInfo{Name: "broker-b", NodeID: meta.AnyNodeID, Zone: "z2", Host: "b.example", Port: 9093, Expires: lease}
	ida, idb := register(t, s, a), register(t, s, b)
	if ida != 0 || idb != 1 {
		t.Fatalf("first ids: %d, %d; want 0, 1", ida, idb)
	}
	bs := liveBrokers(t, s, now)
	if len(bs) != 2 {
		t.Fatalf("Brokers = %+v, want 2", bs)
	}
	got := bs[0]
	if got.Name != a.Name || got.NodeID != 0 || got.Zone != a.Zone || got.Host != a.Host || got.Port != a.Port ||
		got.PeerAddr != a.PeerAddr || !got.Expires.Equal(lease) {
		t.Fatalf("broker a round-trip: %+v, want %+v (id 0)", got, a)
	}
	if bs[1].Name != "broker-b" || bs[1].NodeID != 1 {
		t.Fatalf("second broker: %+v", bs[1])
	}
	// Renewal keeps the id and updates the record.
	a.Host, a.Expires = "a2.example", lease.Add(time.Minute)
	if id := register(t, s, a); id != 0 {
		t.Fatalf("renewal moved a to id %d", id)
	}
	if bs := liveBrokers(t, s, now); bs[0].Host != "a2.example" {
		t.Fatalf("renewal not stored: %+v", bs[0])
	}
	// A lapsed lease drops out of the answer, at the reader's now.
	if bs := liveBrokers(t, s, lease.Add(time.Second)); len(bs) != 1 || bs[0].Name != "broker-a" {
		t.Fatalf("after b's lease: %+v, want only a", bs)
	}
	// Deregistration drops at once; the id stays the name's.
	if err := s.Brokers().Deregister(ctx, "broker-b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Brokers().Deregister(ctx, "nobody"); err != nil {
		t.Fatalf("Deregister of an unknown name: %v", err)
	}
	if bs := liveBrokers(t, s, now); len(bs) != 1 || bs[0].Name != "broker-a" {
		t.Fatalf("after deregistering b: %+v", bs)
	}
	c := meta.BrokerInfo{Name: "broker-c", NodeID: meta.AnyNodeID, Host: "c", Port: 1, Expires: lease}
	if id := register(t, s, c); id != 2 {
		t.Fatalf("new name got id %d while b (deregistered) keeps 1; want 2", id)
	}
	if id := register(t, s, b); id != 1 {
		t.Fatalf("b back got id %d, want its old 1", id)
	}
	// Explicit ids: free ones are recorded, live-held ones refused.
	d := meta.BrokerInfo{Name: "broker-d", NodeID: 7, Host: "d", Port: 1, Expires: lease}
	if id := register(t, s, d); id != 7 {
		t.Fatalf("explicit id 7: got %d", id)
	}
	e := meta.BrokerInfo{Name: "broker-e", NodeID: 7, Host: "e", Port: 1, Expires: lease}
	if _, err := s.Brokers().Register(ctx, e); !errors.Is(err, meta.ErrNodeIDTaken) {
		t.Fatalf("explicit id held by a live broker: %v, want ErrNodeIDTaken", err)
	}
	if bs := liveBrokers(t, s, now); len(bs) != 4 {
		t.Fatalf("want 4 live brokers, got %+v", bs)
	}
}

// testBrokerConcurrentRegister: brokers starting together get distinct
// ids.
func testBrokerConcurrentRegister(t *testing.T, s meta.Store) {
	const n = 6
	ids := make([]int32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	exp := time.Now().Add(time.Minute)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = s.Brokers().Register(ctx, meta.BrokerInfo{
				Name: string(rune('a'+i)) + "-broker", NodeID: meta.AnyNodeID, Host: "h", Port: 1, Expires: exp})
		}()
	}
	wg.Wait()
	seen := map[int32]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Register %d: %v", i, errs[i])
		}
		if seen[ids[i]] || ids[i] < 0 || ids[i] >= n {
			t.Fatalf("ids %v: want a permutation of 0..%d", ids, n-1)
		}
		seen[ids[i]] = true
	}
	if bs := liveBrokers(t, s, time.Now()); len(bs) != n {
		t.Fatalf("Brokers lists %d, want %d", len(bs), n)
	}
}
