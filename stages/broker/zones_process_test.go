package broker_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/meta/spannermeta"
	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
	"github.com/sluicedata/sluice/stages/broker"
)

// brokerProc is one `sluice serve` child process of the multi-process
// tests: a broker on a shared metadata URL and object store.
type brokerProc struct {
	name, zone, addr, admin, dir string
	extra                        []string  // more flags
	stderr                       io.Writer // the process's log; nil: the test's stderr
	cmd                          *exec.Cmd
}

func (p *brokerProc) start(t *testing.T, bin, metaURL, objects string) {
	t.Helper()
	args := []string{"serve", "--kafka-addr", p.addr, "--admin-addr", p.admin, "--data-dir", p.dir,
		"--metadata", metaURL, "--objects", objects, "--lease", "3s",
		"--log-level", "warn", "--group-initial-rebalance-delay", "100ms"}
	if p.name != "" {
		args = append(args, "--broker-name", p.name)
	}
	if p.zone != "" {
		args = append(args, "--zone", p.zone)
	}
	p.cmd = exec.Command(bin, append(args, p.extra...)...)
	p.cmd.Stderr = os.Stderr
	if p.stderr != nil {
		p.cmd.Stderr = p.stderr
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := p.cmd
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	waitFor(t, "broker "+p.addr+" listening", 60*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (p *brokerProc) conns(t *testing.T) broker.ConnStats {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/debug/conns")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cs broker.ConnStats
	if err := json.NewDecoder(resp.Body).Decode(&cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// stats reads the broker's counters from its admin address.
func (p *brokerProc) stats(t *testing.T) broker.Stats {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + broker.StatsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s broker.Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func crossBytes(cs broker.ConnStats) int64 {
	var n int64
	for _, z := range cs.ByZone {
		if z.Cross {
			n += z.In + z.Out
		}
	}
	return n
}

// TestZonesMultiProcess: four broker processes in zones a, a, b, b over
// one Spanner database (the emulator) and one object directory. Zone
// clients stay in their zone (connection counters of the other zone do
// not move, no cross-zone bytes); a client without a zone uses all four;
// after a SIGKILL of a zone-a broker, a zone-a producer carries on
// through the other zone-a broker without losing an acknowledged record,
// and the killed broker comes back with its node id.
func TestZonesMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the broker and starts the Spanner emulator")
	}
	bin, err := buildSluice()
	if err != nil {
		t.Fatal(err)
	}
	url := spanneremu.NewDatabase(t)
	if _, _, err := spannermeta.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	objects := "file://" + t.TempDir()
	zones := []string{"a", "a", "b", "b"}
	procs := make([]*brokerProc, len(zones))
	var wg sync.WaitGroup
	for i, z := range zones {
		procs[i] = &brokerProc{zone: z, addr: freePort(t), admin: freePort(t), dir: t.TempDir()}
	}
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.start(t, bin, url, objects) }()
	}
	wg.Wait()
	for _, p := range procs {
		waitFor(t, "all brokers listed by "+p.addr, 20*time.Second, func() bool { return len(brokersSeen(t, p.addr, "probe")) == 4 })
	}
	ids := map[int32]bool{}
	for _, p := range procs {
		ids[p.conns(t).NodeID] = true
	}
	if len(ids) != 4 {
		t.Fatalf("node ids %v, want 4 distinct", ids)
	}
	createTopic(t, procs[0].addr, "mp", 32, nil)
	accepted := func() []int64 {
		out := make([]int64, len(procs))
		for i, p := range procs {
			out[i] = p.conns(t).Accepted
		}
		return out
	}
	seedsOf := func(zone string) (out []string) {
		for _, p := range procs {
			if p.zone == zone {
				out = append(out, p.addr)
			}
		}
		return out
	}
	for _, zone := range []string{"a", "b"} {
		before := accepted()
		roundTrip(t, seedsOf(zone), "mp-"+zone+",zone="+zone, "mp", "g-"+zone, 300)
		after := accepted()
		for i, p := range procs {
			if p.zone != zone && after[i] != before[i] {
				t.Fatalf("zone %s client connected to zone %s broker %s", zone, p.zone, p.addr)
			}
			if p.zone == zone && after[i] == before[i] {
				t.Errorf("zone %s client never used broker %s of its zone", zone, p.addr)
			}
		}
	}
	for _, p := range procs {
		if n := crossBytes(p.conns(t)); n != 0 {
			t.Fatalf("broker %s counted %d cross-zone bytes", p.addr, n)
		}
	}
	before := accepted()
	roundTrip(t, []string{procs[0].addr}, "mp-plain", "mp", "g-plain", 300)
	after := accepted()
	for i, p := range procs {
		if after[i] == before[i] {
			t.Fatalf("client without zone never used broker %s", p.addr)
		}
	}

	// SIGKILL a zone-a broker while a zone-a producer writes.
	victim := procs[0]
	victimID := victim.conns(t).NodeID
	createTopic(t, procs[1].addr, "kill", 8, nil)
	bBefore := []int64{procs[2].conns(t).Accepted, procs[3].conns(t).Accepted}
	cl := newClient(t, victim.addr, kgo.SeedBrokers(seedsOf("a")...), kgo.ClientID("killer,zone=a"), kgo.DefaultProduceTopic("kill"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	acked := map[int]bool{}
	var pwg sync.WaitGroup
	const total = 4000
	var killedAt time.Time
	for i := range total {
		if i == total/2 {
			pwg.Wait() // half acknowledged
			_ = victim.cmd.Process.Signal(syscall.SIGKILL)
			_, _ = victim.cmd.Process.Wait()
			killedAt = time.Now()
		}
		pwg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i))}, func(r *kgo.Record, err error) {
			defer pwg.Done()
			if err != nil {
				t.Errorf("produce %s: %v", r.Key, err)
				return
			}
			n, _ := strconv.Atoi(string(r.Key))
			mu.Lock()
			acked[n] = true
			mu.Unlock()
		})
	}
	pwg.Wait()
	t.Logf("after the SIGKILL the zone-a producer finished in %v", time.Since(killedAt).Round(time.Millisecond))
	if t.Failed() {
		return
	}
	waitFor(t, "killed broker dropped", 10*time.Second, func() bool { return len(brokersSeen(t, procs[1].addr, "probe,zone=a")) == 1 })
	t.Logf("the killed broker was left out of Metadata answers %v after the SIGKILL (lease 3s)", time.Since(killedAt).Round(time.Millisecond))
	c, err := kgo.NewClient(kgo.SeedBrokers(procs[1].addr), kgo.ClientID("reader,zone=a"), kgo.ConsumeTopics("kill"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := map[int]bool{}
	for len(seen) < len(acked) {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d acknowledged records", len(seen), len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) { n, _ := strconv.Atoi(string(r.Key)); seen[n] = true })
	}
	for n := range acked {
		if !seen[n] {
			t.Fatalf("acknowledged record %d lost", n)
		}
	}
	if a := []int64{procs[2].conns(t).Accepted, procs[3].conns(t).Accepted}; a[0] != bBefore[0] || a[1] != bBefore[1] {
		t.Fatalf("zone-a clients reached zone b during the failover: %v -> %v", bBefore, a)
	}

	victim.start(t, bin, url, objects)
	if id := victim.conns(t).NodeID; id != victimID {
		t.Fatalf("restarted broker has node id %d, had %d", id, victimID)
	}
	waitFor(t, "restarted broker listed again", 10*time.Second, func() bool { return len(brokersSeen(t, procs[1].addr, "probe,zone=a")) == 2 })
}
