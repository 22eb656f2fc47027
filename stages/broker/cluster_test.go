package broker_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/broker"
)

// sharedStores opens one embedded metadata store and one object
// directory for brokers in this process.
func sharedStores(t testing.TB) func(*broker.Config) {
	ctx := context.Background()
	dir := t.TempDir()
	ms, err := meta.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	os, err := objstore.Open(ctx, "file://"+dir+"/objects")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Close() })
	return func(c *broker.Config) { c.MetaStore, c.ObjectStore = ms, os }
}

// startZoned starts one broker per zone over shared stores, with a short
// lease and admin addresses (commit notifications), and waits until each
// lists them all.
func startZoned(t *testing.T, zones []string, mutate func(i int, c *broker.Config)) []*broker.Broker {
	shared := sharedStores(t)
	var bs []*broker.Broker
	for i, z := range zones {
		bs = append(bs, groupBroker(t, func(c *broker.Config) {
			shared(c)
			c.Zone, c.Lease, c.AdminAddr = z, 1500*time.Millisecond, "127.0.0.1:0"
			if mutate != nil {
				mutate(i, c)
			}
		}))
	}
	for _, b := range bs {
		waitFor(t, "every broker listed", 10*time.Second, func() bool { return len(brokersSeen(t, b.Addr(), "probe")) == len(zones) })
	}
	return bs
}

// brokersSeen is the Metadata broker list a client with clientID gets
// from addr.
func brokersSeen(t *testing.T, addr, clientID string) kadm.BrokerDetails {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(clientID))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return md.Brokers
}

func accepted(bs []*broker.Broker) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b.Stats().ConnsAccepted
	}
	return out
}

// roundTrip produces n records with the client options and consumes them
// in a group, all through clients with clientID seeded at seeds.
func roundTrip(t *testing.T, seeds []string, clientID, topic, group string, n int, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID(clientID)}, opts...)
	p, err := kgo.NewClient(append(base, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("%s: produce: %v", clientID, err)
	}
	c, err := kgo.NewClient(append(base, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := map[string]bool{}
	for len(seen) < n {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: consumed %d of %d", clientID, len(seen), n)
		}
		fs.EachError(func(tp string, p int32, err error) {
			if !kerr.IsRetriable(err) {
				t.Fatalf("%s: fetch %s/%d: %v", clientID, tp, p, err)
			}
			// The client retries; seen under load on the Spanner emulator.
			t.Logf("%s: fetch %s/%d: %v (retried)", clientID, tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	if err := c.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("%s: commit: %v", clientID, err)
	}
}

// TestZoneAwareClients: four brokers in zones a, a, b, b. A client with
// zone=a in its client.id is shown, and only ever connects to, the zone-a
// brokers; likewise zone b; no cross-zone bytes; a client without a zone
// is shown and uses all four.
func TestZoneAwareClients(t *testing.T) {
	zones := []string{"a", "a", "b", "b"}
	bs := startZoned(t, zones, nil)
	ids := map[int32]bool{}
	for _, b := range bs {
		ids[b.NodeID()] = true
	}
	if len(ids) != 4 {
		t.Fatalf("node ids not distinct: %v", ids)
	}
	createTopic(t, bs[0].Addr(), "zoned", 32, nil)

	for _, zone := range []string{"a", "b"} {
		var seeds []string
		inZone := map[int32]bool{}
		for i, b := range bs {
			if zones[i] == zone {
				seeds = append(seeds, b.Addr())
				inZone[b.NodeID()] = true
			}
		}
		cid := "app-" + zone + ",zone=" + zone
		for _, d := range brokersSeen(t, seeds[0], cid) {
			if !inZone[d.NodeID] || d.Rack == nil || *d.Rack != zone {
				t.Fatalf("zone %s client shown broker %+v", zone, d)
			}
		}
		before := accepted(bs)
		roundTrip(t, seeds, cid, "zoned", "g-"+zone, 500)
		after := accepted(bs)
		for i := range bs {
			if zones[i] != zone && after[i] != before[i] {
				t.Fatalf("zone %s client opened %d connections to zone %s broker %d", zone, after[i]-before[i], zones[i], i)
			}
			if zones[i] == zone && after[i] == before[i] {
				t.Errorf("zone %s client did not use broker %d of its zone", zone, i)
			}
		}
	}
	for i, b := range bs {
		st := b.Stats()
		if st.CrossZoneBytesIn != 0 || st.CrossZoneBytesOut != 0 {
			t.Fatalf("broker %d: cross-zone bytes %d in, %d out (by zone %+v)", i, st.CrossZoneBytesIn, st.CrossZoneBytesOut, st.ByZone)
		}
		if st.BytesIn == 0 || st.BytesOut == 0 {
			t.Fatalf("broker %d counted no traffic: %+v", i, st)
		}
	}

	// No zone: all four listed and used.
	if got := brokersSeen(t, bs[0].Addr(), "plain"); len(got) != 4 {
		t.Fatalf("client without zone shown %d brokers", len(got))
	}
	if got := brokersSeen(t, bs[0].Addr(), "app,zone=nowhere"); len(got) != 4 {
		t.Fatalf("client of an unknown zone shown %d brokers", len(got))
	}
	if got := brokersSeen(t, bs[0].Addr(), "app,zone=a,broker_count=1"); len(got) != 1 {
		t.Fatalf("broker_count=1 shown %d brokers", len(got))
	}
	before := accepted(bs)
	roundTrip(t, []string{bs[0].Addr()}, "plain", "zoned", "g-plain", 500)
	after := accepted(bs)
	for i := range bs {
		if after[i] == before[i] {
			t.Fatalf("client without zone did not use broker %d", i)
		}
	}

	// A zone-b client that connects to a zone-a broker is counted as
	// cross-zone traffic there.
	_ = brokersSeen(t, bs[0].Addr(), "app,zone=b")
	if st := bs[0].Stats(); st.CrossZoneBytesIn == 0 || st.CrossZoneBytesOut == 0 {
		t.Fatalf("cross-zone client not counted: %+v", st.ByZone)
	}
}

// TestRackPreferredReplica: a fetch with client.rack b on a zone-a broker
// is redirected (KIP-392) to a zone-b broker, which serves it.
func TestRackPreferredReplica(t *testing.T) {
	bs := startZoned(t, []string{"a", "b"}, nil)
	createTopic(t, bs[0].Addr(), "racked", 4, nil)
	produceSmall(t, bs[0].Addr(), "racked", 200)
	before := bs[1].Stats().FetchedBytes
	cl := newClient(t, bs[0].Addr(), kgo.ConsumeTopics("racked"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.Rack("b"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := 0; n < 200; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 200", n)
		}
		n += len(fs.Records())
	}
	if bs[1].Stats().FetchedBytes == before {
		t.Fatal("rack b fetches were not moved to the zone-b broker")
	}
}

// TestSharedPublicAddress: every broker advertises the address of one TCP
// forwarder (a load balancer). A client is shown one entry per broker,
// each a different spelling of the host, and works end to end through the
// forwarder.
func TestSharedPublicAddress(t *testing.T) {
	fwd := newForwarder(t)
	pub := net.JoinHostPort("localhost", fwd.port)
	bs := startZoned(t, []string{"", "", "", ""}, func(i int, c *broker.Config) { c.PublicAddr = pub })
	var addrs []string
	for _, b := range bs {
		addrs = append(addrs, b.Addr())
	}
	fwd.setTargets(addrs)
	seen := brokersSeen(t, pub, "lb-client")
	hosts := map[string]bool{}
	for _, d := range seen {
		if !strings.EqualFold(d.Host, "localhost") || strconv.Itoa(int(d.Port)) != fwd.port {
			t.Fatalf("broker entry %+v: want a spelling of localhost:%s", d, fwd.port)
		}
		hosts[d.Host] = true
	}
	if len(seen) != 4 || len(hosts) != 4 {
		t.Fatalf("shown %d entries with %d distinct hosts, want 4 and 4: %+v", len(seen), len(hosts), seen)
	}
	createTopic(t, pub, "lb", 32, nil)
	before := fwd.accepted.Load()
	roundTrip(t, []string{pub}, "lb-client", "lb", "g-lb", 500)
	if n := fwd.accepted.Load() - before; n < 5 {
		t.Fatalf("client opened %d connections through the forwarder, want at least one per broker plus the seed", n)
	}
}

// forwarder is a tiny TCP load balancer: each connection goes to the next
// target in turn.
type forwarder struct {
	ln       net.Listener
	port     string
	mu       sync.Mutex
	targets  []string
	next     int
	accepted atomic.Int64
}

func newForwarder(t *testing.T) *forwarder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln}
	_, f.port, _ = net.SplitHostPort(ln.Addr().String())
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			go f.pipe(c)
		}
	}()
	return f
}

func (f *forwarder) setTargets(ts []string) {
	f.mu.Lock()
	f.targets = ts
	f.mu.Unlock()
}

func (f *forwarder) pipe(c net.Conn) {
	defer c.Close()
	f.mu.Lock()
	if len(f.targets) == 0 {
		f.mu.Unlock()
		return
	}
	target := f.targets[f.next%len(f.targets)]
	f.next++
	f.mu.Unlock()
	u, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
}

// TestCrossBrokerWakeup measures how fast a long poll on one broker wakes
// for a commit made through another (the commit notification over the
// admin address); without it the fetch would wait its full MaxWait (5 s
// here).
func TestCrossBrokerWakeup(t *testing.T) {
	bs := startZoned(t, []string{"a", "b"}, nil)
	createTopic(t, bs[0].Addr(), "wake", 1, nil)
	p := newClient(t, bs[0].Addr(), kgo.ClientID("p,zone=a"), kgo.DefaultProduceTopic("wake"), kgo.ProducerLinger(0))
	c := newClient(t, bs[1].Addr(), kgo.ClientID("c,zone=b"), kgo.ConsumeTopics("wake"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Let the consumer reach its long poll.
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		c.PollFetches(ctx).EachRecord(func(*kgo.Record) { got = true })
	}
	var lat []time.Duration
	for i := range 20 {
		time.Sleep(50 * time.Millisecond) // the consumer is parked in a long poll
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		acked := time.Now()
		for got := false; !got; {
			fs := c.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatal(ctx.Err())
			}
			fs.EachRecord(func(*kgo.Record) { got = true })
		}
		lat = append(lat, time.Since(acked))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("commit on broker A to records on a long poll of broker B: p50 %v, p90 %v, max %v (from the produce ack)",
		lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1])
	if lat[len(lat)/2] > time.Second {
		t.Fatalf("cross-broker wake-up p50 %v: the notification did not wake the long poll", lat[len(lat)/2])
	}
}

// TestBrokerIdentity: a restarted broker keeps its node id; a stopped one
// leaves the other broker's answers; a bad public address refuses to
// start.
func TestBrokerIdentity(t *testing.T) {
	shared := sharedStores(t)
	dir := t.TempDir()
	b0 := startBroker(t, func(c *broker.Config) { shared(c); c.Lease = 600 * time.Millisecond })
	mk := func() *broker.Broker {
		return startBroker(t, func(c *broker.Config) { shared(c); c.DataDir = dir; c.Lease = 600 * time.Millisecond })
	}
	b1 := mk()
	id := b1.NodeID()
	waitFor(t, "both listed", 5*time.Second, func() bool { return len(brokersSeen(t, b0.Addr(), "x")) == 2 })
	b1.Close()
	waitFor(t, "stopped broker dropped", 5*time.Second, func() bool { return len(brokersSeen(t, b0.Addr(), "x")) == 1 })
	b1 = mk()
	if b1.NodeID() != id {
		t.Fatalf("restarted broker got node id %d, had %d", b1.NodeID(), id)
	}

	for _, bad := range []string{"bad host:9092", "0.0.0.0:9092", "-x.example:9092", "host:0"} {
		cfg := broker.NewConfig()
		cfg.PublicAddr = bad
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "public-addr") {
			t.Errorf("public-addr %q: %v, want an error naming public-addr", bad, err)
		}
	}
}

// TestDeadPeerLeftOut: a killed broker keeps its lease until it lapses,
// but its peers probe it and leave it out of their answers at once. Two
// stand-ins are registered straight in the store with a lease of a
// minute: one whose admin address refuses connections (its process is
// gone) and one whose address answers /healthz. Within seconds, far
// inside that minute, the broker lists the answering one and not the
// other; once the gone one's address answers again it is listed again.
func TestDeadPeerLeftOut(t *testing.T) {
	shared := sharedStores(t)
	var ms meta.Store
	b := startBroker(t, func(c *broker.Config) { shared(c); ms = c.MetaStore; c.Lease = 1500 * time.Millisecond })
	healthz := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused
	alive := httptest.NewServer(healthz)
	defer alive.Close()
	ctx := context.Background()
	const gonePort, alivePort = 1, 2 // fake Kafka ports, to tell them apart in Metadata
	for port, peer := range map[int32]string{gonePort: goneAddr, alivePort: alive.Listener.Addr().String()} {
		info := meta.BrokerInfo{Name: "stand-in-" + strconv.Itoa(int(port)), NodeID: meta.AnyNodeID, Host: "127.0.0.1", Port: port, PeerAddr: peer, Expires: time.Now().Add(time.Minute)}
		if _, err := ms.Brokers().Register(ctx, info); err != nil {
			t.Fatal(err)
		}
	}
	listed := func() (gone, alive bool) {
		for _, bd := range brokersSeen(t, b.Addr(), "probe") {
			gone = gone || bd.Port == gonePort
			alive = alive || bd.Port == alivePort
		}
		return gone, alive
	}
	began := time.Now()
	waitFor(t, "the answering stand-in listed, the gone one left out", 15*time.Second, func() bool {
		gone, alive := listed()
		return alive && !gone
	})
	t.Logf("gone peer left out %v after it was registered (its lease: 1m)", time.Since(began).Round(time.Millisecond))
	if gone, alive := listed(); gone || !alive {
		t.Fatalf("listed gone=%v alive=%v after more probes", gone, alive)
	}

	// The gone peer's address answers again: it is listed again.
	l, err = net.Listen("tcp", goneAddr)
	if err != nil {
		t.Skipf("cannot listen on %s again to bring the peer back: %v", goneAddr, err)
	}
	back := &http.Server{Handler: healthz}
	go func() { _ = back.Serve(l) }()
	defer back.Close()
	waitFor(t, "the peer listed again once it answers", 15*time.Second, func() bool {
		gone, alive := listed()
		return alive && gone
	})
}
