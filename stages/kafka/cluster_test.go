package kafka

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestHostVariant(t *testing.T) {
	want := []string{"sluice.example.com", "Sluice.example.com", "sLuice.example.com", "SLuice.example.com", "slUice.example.com"}
	for i, w := range want {
		if got, ok := HostVariant("sluice.example.com", i); !ok || got != w {
			t.Errorf("variant %d = %q, %v; want %q", i, got, ok, w)
		}
	}
	// Every spelling of a short name is distinct, then it runs out.
	seen := map[string]bool{}
	for i := 0; ; i++ {
		h, ok := HostVariant("ab", i)
		if !ok {
			if i != 8 {
				t.Fatalf("\"ab\" has %d spellings, want 8 (4 cases, with and without a trailing dot)", i)
			}
			break
		}
		if seen[h] || !strings.EqualFold(strings.TrimSuffix(h, "."), "ab") {
			t.Fatalf("variant %d %q repeated or not the same name", i, h)
		}
		seen[h] = true
	}
	if h, ok := HostVariant("10.0.0.1", 1); !ok || h != "::ffff:10.0.0.1" {
		t.Fatalf("IPv4 second spelling: %q %v", h, ok)
	}
	if _, ok := HostVariant("10.0.0.1", 2); ok {
		t.Fatal("IPv4 has only two spellings")
	}
	if h, ok := HostVariant("fd00::a", 1); !ok || h != "fd00::a" && h != "Fd00::a" {
		t.Fatalf("IPv6 variant: %q %v", h, ok)
	}
	// A long host: far more spellings than brokers.
	long := strings.Repeat("a", 200) + ".example.com"
	if h, ok := HostVariant(long, 1<<20); !ok || !strings.EqualFold(h, long) || h == long {
		t.Fatalf("long host variant: %v", ok)
	}
}

func TestDistinctHosts(t *testing.T) {
	ps := []Peer{{NodeID: 0, Host: "lb.example", Port: 9092}, {NodeID: 1, Host: "lb.example", Port: 9092},
		{NodeID: 2, Host: "lb.example", Port: 9092}, {NodeID: 3, Host: "other", Port: 9092}}
	out := distinctHosts(append([]Peer(nil), ps...))
	if len(out) != 4 {
		t.Fatalf("got %d entries", len(out))
	}
	seen := map[string]bool{}
	for _, p := range out {
		if seen[p.Host] {
			t.Fatalf("host %q twice: %+v", p.Host, out)
		}
		seen[p.Host] = true
	}
	// Three brokers behind one IPv4 address: two spellings, one left out.
	ip := []Peer{{NodeID: 0, Host: "10.1.1.1", Port: 1}, {NodeID: 1, Host: "10.1.1.1", Port: 1}, {NodeID: 2, Host: "10.1.1.1", Port: 1}}
	if out := distinctHosts(ip); len(out) != 2 {
		t.Fatalf("IPv4 behind one address: %+v", out)
	}
}

func TestClientOpts(t *testing.T) {
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cases := map[string]clientOpts{
		"my-app-001":                       {},
		"my-app-001,zone=us-east-1a":       {zone: "us-east-1a"},
		"app;zone=b;broker_count=2":        {zone: "b", brokerCount: 2},
		"app,host_override=lb.example.com": {hostOverride: "lb.example.com"},
		"app,zone=,broker_count=x,junk,host_override=bad host,color=red": {},
		"app, zone = a ": {zone: "a"},
	}
	for id, want := range cases {
		if got := s.parseClientOpts(id); got != want {
			t.Errorf("parseClientOpts(%q) = %+v, want %+v", id, got, want)
		}
	}
}

func TestRendezvousStable(t *testing.T) {
	ps := []Peer{{NodeID: 0}, {NodeID: 1}, {NodeID: 2}, {NodeID: 3}}
	moved := 0
	for p := range int32(1000) {
		k := partitionKey([16]byte{1}, p)
		a := pick(ps, k)
		if b := pick(ps, k); a != b {
			t.Fatal("pick not stable")
		}
		if a.NodeID == 3 {
			continue
		}
		if pick(ps[:3], k) != a {
			moved++
		}
	}
	if moved != 0 {
		t.Fatalf("%d partitions moved between surviving brokers when one left", moved)
	}
}
