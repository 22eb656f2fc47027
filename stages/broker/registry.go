package broker

// The broker registry and commit notifications between brokers.
//
// Identity: a broker is its name (--broker-name, e.g. the pod name, else
// a UUID created once in <data-dir>/broker-name), mapped by the metadata
// store to a small node id allocated once (meta.Brokers), so a restarted
// broker comes back with the same id. The broker registers its zone,
// advertised address and peer (admin) address with a lease of --lease,
// renews it every third of the lease and reads the live brokers at the
// same time; Metadata answers use that list (brokers whose lease lapsed
// are dropped at answer time, not at the next read). Close deregisters
// at once.
//
// Wake-ups: a long-polling fetch on broker B must wake when broker A
// commits to its partitions. After each commit, A posts the committed
// partitions to every other live broker's admin address
// (POST /internal/committed, 20 bytes per partition), fire and forget:
// one request in flight per peer, partitions committed meanwhile
// coalesced into the next, so a busy broker sends at most one request per
// peer per round trip whatever its commit rate. A lost notification
// costs one fetch its MaxWaitMillis, never correctness.
//
// Dead peers: a killed broker keeps its lease until it lapses, and the
// clients sent to it meanwhile stall on a broker that is gone. So each
// peer's sender also probes the peer's /healthz every peerProbeInterval,
// and learns from every notification it posts: a refused connection (the
// process is gone) marks the peer down at once, other failures after
// peerDownAfter in a row; Metadata and FindCoordinator answers leave a
// down peer out until a probe succeeds again. A peer wrongly taken for
// down only sends clients to other brokers, which serve every request
// as well.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/kafka"
)

// brokerName returns the configured name, or the one kept in the data
// directory (created on first start).
func brokerName(cfg Config) (name string, persisted bool, err error) {
	if cfg.BrokerName != "" {
		return cfg.BrokerName, true, nil
	}
	if cfg.DataDir == "" {
		return "broker-" + uuid.NewString(), false, nil
	}
	path := filepath.Join(cfg.DataDir, "broker-name")
	if b, err := os.ReadFile(path); err == nil {
		if n := strings.TrimSpace(string(b)); n != "" {
			return n, true, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("broker name: %w", err)
	}
	name = "broker-" + uuid.NewString()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(name+"\n"), 0o644); err != nil {
		return "", false, fmt.Errorf("broker name: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("broker name: %w", err)
	}
	return name, true, nil
}

// peerAddr is the admin address other brokers dial.
func peerAddr(cfg Config, adminBound string) string {
	if cfg.PeerAddr != "" {
		return cfg.PeerAddr
	}
	if adminBound == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(adminBound)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = ""
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
					host = ipn.IP.String()
					break
				}
			}
		}
		if host == "" {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

// registry keeps this broker registered and knows the live ones.
type registry struct {
	b     *Broker
	store meta.Brokers
	info  meta.BrokerInfo
	lease time.Duration

	mu    sync.Mutex
	live  []meta.BrokerInfo
	peers map[string]*peerSender // by name, other live brokers with a peer address

	stop chan struct{}
	done chan struct{}
	http *http.Client
}

// register registers the broker for the first time and returns its node
// id; the renewal loop starts with run.
func (g *registry) register(ctx context.Context) (int32, error) {
	g.info.Expires = time.Now().Add(g.lease)
	id, err := g.store.Register(ctx, g.info)
	if err != nil {
		return 0, err
	}
	g.info.NodeID = id
	g.refresh(ctx)
	return id, nil
}

func (g *registry) run() {
	defer close(g.done)
	t := time.NewTicker(g.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.lease/2)
		info := g.info
		info.Expires = time.Now().Add(g.lease)
		if _, err := g.store.Register(ctx, info); err != nil {
			g.b.log.Warn("renewing broker lease", "err", err)
		}
		g.refresh(ctx)
		cancel()
	}
}

// refresh reads the live brokers.
func (g *registry) refresh(ctx context.Context) {
	live, err := g.store.Brokers(ctx, time.Now())
	if err != nil {
		g.b.log.Warn("reading live brokers", "err", err)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live = live
	seen := map[string]bool{}
	for _, p := range live {
		if p.Name == g.info.Name || p.PeerAddr == "" {
			continue
		}
		seen[p.Name] = true
		if ps, ok := g.peers[p.Name]; ok && ps.addr == p.PeerAddr {
			continue
		} else if ok {
			ps.close()
		}
		ps := &peerSender{g: g, name: p.Name, addr: p.PeerAddr, pending: map[meta.TP]struct{}{}, kick: make(chan struct{}, 1), quit: make(chan struct{})}
		g.peers[p.Name] = ps
		go ps.run()
	}
	for name, ps := range g.peers {
		if !seen[name] {
			ps.close()
			delete(g.peers, name)
		}
	}
}

// cluster returns the live brokers for the Kafka front end: lapsed leases
// are left out at the time of asking.
func (g *registry) cluster() []kafka.Peer {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]kafka.Peer, 0, len(g.live)+1)
	for _, p := range g.live {
		if p.Name == g.info.Name || !p.Expires.After(now) {
			continue
		}
		if ps, ok := g.peers[p.Name]; ok && ps.down.Load() {
			continue
		}
		out = append(out, kafka.Peer{NodeID: p.NodeID, Host: p.Host, Port: p.Port, Zone: p.Zone})
	}
	self := g.info
	return append(out, kafka.Peer{NodeID: self.NodeID, Host: self.Host, Port: self.Port, Zone: self.Zone})
}

// notify tells every peer about committed partitions.
func (g *registry) notify(tps []meta.TP) {
	if len(tps) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ps := range g.peers {
		ps.add(tps)
	}
}

// close stops the renewals and the senders and deregisters.
func (g *registry) close() {
	close(g.stop)
	<-g.done
	g.mu.Lock()
	for name, ps := range g.peers {
		ps.close()
		delete(g.peers, name)
	}
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.store.Deregister(ctx, g.info.Name); err != nil {
		g.b.log.Warn("deregistering broker", "err", err)
	}
}

const (
	// peerProbeInterval is how often a peer's /healthz is probed, which
	// bounds how long clients are still sent to a killed broker.
	peerProbeInterval = time.Second
	// peerDownAfter failed probes or posts in a row mark a peer down
	// (a refused connection at once).
	peerDownAfter = 2
)

// peerSender posts commit notifications to one peer and watches whether
// it is alive.
type peerSender struct {
	g       *registry
	name    string
	addr    string
	mu      sync.Mutex
	pending map[meta.TP]struct{}
	kick    chan struct{}
	quit    chan struct{}
	once    sync.Once
	down    atomic.Bool
	fails   int // failures in a row; only run touches it
}

func (ps *peerSender) add(tps []meta.TP) {
	ps.mu.Lock()
	for _, tp := range tps {
		ps.pending[tp] = struct{}{}
	}
	ps.mu.Unlock()
	select {
	case ps.kick <- struct{}{}:
	default:
	}
}

func (ps *peerSender) close() { ps.once.Do(func() { close(ps.quit) }) }

func (ps *peerSender) run() {
	probe := time.NewTicker(peerProbeInterval)
	defer probe.Stop()
	for {
		select {
		case <-ps.quit:
			return
		case <-ps.kick:
			ps.post()
		case <-probe.C:
			ps.probe()
		}
	}
}

// post sends the pending partitions.
func (ps *peerSender) post() {
	ps.mu.Lock()
	if len(ps.pending) == 0 {
		ps.mu.Unlock()
		return
	}
	body := make([]byte, 0, 20*len(ps.pending))
	for tp := range ps.pending {
		body = append(body, tp.Topic[:]...)
		body = binary.BigEndian.AppendUint32(body, uint32(tp.Partition))
	}
	clear(ps.pending)
	ps.mu.Unlock()
	resp, err := ps.g.http.Post("http://"+ps.addr+"/internal/committed", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		ps.g.b.log.Debug("commit notification", "peer", ps.addr, "err", err)
		ps.observe(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ps.observe(nil)
}

// probe asks the peer's /healthz.
func (ps *peerSender) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), peerProbeInterval)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ps.addr+"/healthz", nil)
	if err != nil {
		ps.observe(err)
		return
	}
	resp, err := ps.g.http.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("healthz: %s", resp.Status)
		}
	}
	ps.observe(err)
}

// observe updates the peer's liveness from one probe or post.
func (ps *peerSender) observe(err error) {
	if err == nil {
		ps.fails = 0
		if ps.down.Swap(false) {
			ps.g.b.log.Info("peer broker reachable again", "peer", ps.name, "addr", ps.addr)
		}
		return
	}
	ps.fails++
	if errors.Is(err, syscall.ECONNREFUSED) || ps.fails >= peerDownAfter {
		if !ps.down.Swap(true) {
			ps.g.b.log.Warn("peer broker unreachable: left out of answers until it is back", "peer", ps.name, "addr", ps.addr, "err", err)
		}
	}
}

// handleCommitted wakes the fetches waiting on the posted partitions.
func (b *Broker) handleCommitted(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || len(body)%20 != 0 {
		http.Error(w, "want 20-byte partition records", http.StatusBadRequest)
		return
	}
	tps := make([]meta.TP, 0, len(body)/20)
	for i := 0; i < len(body); i += 20 {
		var tp meta.TP
		copy(tp.Topic[:], body[i:i+16])
		tp.Partition = int32(binary.BigEndian.Uint32(body[i+16 : i+20]))
		tps = append(tps, tp)
	}
	b.fetch.Waker.Notify(tps)
	w.WriteHeader(http.StatusNoContent)
}

// ConnStats is what /debug/conns reports.
type ConnStats struct {
	NodeID   int32               `json:"node_id"`
	Name     string              `json:"name"`
	Zone     string              `json:"zone"`
	Open     int                 `json:"open"`
	Accepted int64               `json:"accepted"`
	ByZone   []kafka.ZoneTraffic `json:"by_zone"`
}

func (b *Broker) handleConns(w http.ResponseWriter, _ *http.Request) {
	cs := ConnStats{NodeID: b.NodeID(), Name: b.name, Zone: b.cfg.Zone, Open: b.kafka.ConnCount(),
		Accepted: b.kafka.ConnsAccepted(), ByZone: b.kafka.Traffic()}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(cs)
}
