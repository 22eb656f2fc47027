package kafka

// The cluster as one client sees it.
//
// Every Sluice broker serves every partition and every group, so the
// brokers a Metadata answer lists, and which of them "leads" each
// partition, are a routing choice made per client:
//
//   - Client options ride in client.id, comma or semicolon separated
//     after the application's own id: "my-app-001,zone=us-east-1a",
//     "app;zone=b;broker_count=2;host_override=lb.example.com".
//     zone=Z lists only the live brokers of zone Z (all of them when Z
//     has none, or Z is unknown); broker_count=N lists at most N of
//     those (picked per client by rendezvous hashing, so clients spread);
//     host_override=H answers H as every broker's host (ports kept).
//     Malformed or unknown options are ignored with a debug log.
//   - Each partition's leader is picked among the listed brokers by the
//     balance strategy: hash-partition (rendezvous hash of topic id and
//     partition: partitions spread over the brokers, the same for every
//     client), hash-client-host (of the client's IP: one broker per
//     client machine) or hash-client-id (of client.id). Rendezvous
//     hashing keeps every choice stable between requests, and moves only
//     the partitions of a broker that comes or goes. FindCoordinator
//     answers by the same rule (keyed by the group under hash-partition).
//   - Brokers sharing one advertised host:port (a load balancer in front
//     of all of them) are still listed once each, with distinct spellings
//     of the host, so clients, which pool connections by host:port, open
//     one connection per listed broker: first the letter cases
//     (sluice.example.com, Sluice.example.com, sLuice.example.com, …: bit
//     j of the entry's number flips letter j, 2^letters spellings), then
//     the same with a trailing dot (the same fully qualified name) for
//     names; an IPv4 address has no letters and gets its IPv4-mapped IPv6
//     form as the one other spelling; an IPv6 literal's hex letters flip
//     case. Brokers beyond the spellings a host has are left out of that
//     client's answer (never listed twice under one spelling).
//   - Fetch honours KIP-392 client.rack: a broker outside the client's
//     rack answers with a preferred read replica of that rack (when one
//     is alive) and no records, and the client moves its fetches there.

import (
	"encoding/binary"
	"hash/fnv"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Balance strategies (Config.Balance).
const (
	BalanceHashPartition  = "hash-partition"
	BalanceHashClientHost = "hash-client-host"
	BalanceHashClientID   = "hash-client-id"
)

// ValidBalance reports whether s names a balance strategy ("" is the
// default, hash-partition).
func ValidBalance(s string) bool {
	switch s {
	case "", BalanceHashPartition, BalanceHashClientHost, BalanceHashClientID:
		return true
	}
	return false
}

// Peer is one live broker of the cluster.
type Peer struct {
	NodeID int32
	Host   string
	Port   int32
	Zone   string
}

// clientOpts are the options a client passes in its client.id.
type clientOpts struct {
	zone         string
	hostOverride string
	brokerCount  int
}

// parseClientOpts reads the options of a client.id; bad ones are logged
// at debug level and ignored.
func (s *Server) parseClientOpts(id string) clientOpts {
	var o clientOpts
	if !strings.ContainsAny(id, ",;") {
		return o
	}
	fields := strings.FieldsFunc(id, func(r rune) bool { return r == ',' || r == ';' })
	for i, f := range fields {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			if i > 0 {
				s.log.Debug("client.id option ignored: want key=value", "client_id", id, "option", f)
			}
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "zone":
			if v == "" {
				s.log.Debug("client.id option ignored: empty zone", "client_id", id)
				continue
			}
			o.zone = v
		case "host_override":
			if !validHost(v) {
				s.log.Debug("client.id option ignored: host_override is not a host name or address", "client_id", id, "host", v)
				continue
			}
			o.hostOverride = v
		case "broker_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				s.log.Debug("client.id option ignored: broker_count wants a positive integer", "client_id", id, "value", v)
				continue
			}
			o.brokerCount = n
		default:
			if i > 0 {
				s.log.Debug("client.id option ignored: unknown key", "client_id", id, "key", k)
			}
		}
	}
	return o
}

// validHost reports whether h is an IP address or a DNS name (letters,
// digits, hyphens and underscores in labels of 1-63, 253 in all, an
// optional trailing dot).
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	name := strings.TrimSuffix(h, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ValidAdvertisedHost reports whether a host can be advertised to
// clients: a DNS name or a non-wildcard IP address.
func ValidAdvertisedHost(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return !ip.IsUnspecified()
	}
	return validHost(h)
}

// self is this broker as a Peer.
func (s *Server) self() Peer {
	return Peer{NodeID: s.cfg.NodeID, Host: s.cfg.AdvertisedHost, Port: s.cfg.AdvertisedPort, Zone: s.cfg.Rack}
}

// peers returns the live brokers, by node id, this one always among
// them.
func (s *Server) peers() []Peer {
	if s.cfg.Cluster == nil {
		return []Peer{s.self()}
	}
	ps := s.cfg.Cluster()
	found := false
	for _, p := range ps {
		if p.NodeID == s.cfg.NodeID {
			found = true
			break
		}
	}
	if !found {
		ps = append(ps, s.self())
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].NodeID < ps[j].NodeID })
	return ps
}

// inZone returns the peers of zone, or all when zone is "" or has none.
func inZone(all []Peer, zone string) []Peer {
	if zone == "" {
		return all
	}
	var out []Peer
	for _, p := range all {
		if p.Zone == zone {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

// view is the cluster as the client of r is shown it.
type view struct {
	brokers []Peer // listed, by node id, hosts rewritten
	r       *Request
	s       *Server
}

// clientView lists the brokers for r's client: its zone, at most
// broker_count, hosts overridden and given distinct spellings.
func (s *Server) clientView(r *Request) view {
	o := r.opts()
	ps := inZone(s.peers(), o.zone)
	if o.brokerCount > 0 && o.brokerCount < len(ps) {
		key := r.ClientID() + "|" + r.remoteHost()
		sort.Slice(ps, func(i, j int) bool { return score(key, ps[i].NodeID) > score(key, ps[j].NodeID) })
		ps = ps[:o.brokerCount]
		sort.Slice(ps, func(i, j int) bool { return ps[i].NodeID < ps[j].NodeID })
	}
	if o.hostOverride != "" {
		for i := range ps {
			ps[i].Host = o.hostOverride
		}
	}
	return view{brokers: distinctHosts(ps), r: r, s: s}
}

// distinctHosts gives brokers that share a host:port (ignoring case and
// a trailing dot) distinct spellings of it, in node id order, dropping
// those beyond the spellings there are.
func distinctHosts(ps []Peer) []Peer {
	type hp struct {
		host string
		port int32
	}
	count := map[hp]int{}
	for _, p := range ps {
		count[hp{strings.ToLower(strings.TrimSuffix(p.Host, ".")), p.Port}]++
	}
	if len(count) == len(ps) {
		return ps
	}
	seen := map[hp]int{}
	out := ps[:0]
	for _, p := range ps {
		k := hp{strings.ToLower(strings.TrimSuffix(p.Host, ".")), p.Port}
		if count[k] == 1 {
			out = append(out, p)
			continue
		}
		i := seen[k]
		seen[k]++
		h, ok := HostVariant(p.Host, i)
		if !ok {
			continue
		}
		p.Host = h
		out = append(out, p)
	}
	return out
}

// HostVariant returns spelling i of host (0 is host itself): see the
// file comment. ok is false when host has fewer spellings.
func HostVariant(host string, i int) (string, bool) {
	if i == 0 {
		return host, true
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil && !strings.Contains(host, ":") {
		if i == 1 {
			return "::ffff:" + host, true
		}
		return "", false
	}
	isIP := net.ParseIP(host) != nil
	base := strings.TrimSuffix(host, ".")
	dotted := base != host
	var letters []int
	for j := 0; j < len(base); j++ {
		c := base[j]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			letters = append(letters, j)
		}
	}
	bits := min(len(letters), 30)
	cases := 1 << bits
	if i >= cases {
		if isIP || i >= 2*cases {
			return "", false
		}
		// The other form of the trailing dot.
		dotted = !dotted
		i -= cases
	}
	b := []byte(base)
	for j := range bits {
		if i&(1<<j) != 0 {
			b[letters[j]] ^= 0x20
		}
	}
	if dotted {
		b = append(b, '.')
	}
	return string(b), true
}

// score is the rendezvous hash of key and a node.
func score(key string, node int32) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(node))
	h.Write(n[:])
	x := h.Sum64()
	// Finalize (splitmix64) so nearby keys spread.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// pick returns the broker of ps with the highest score for key.
func pick(ps []Peer, key string) Peer {
	best, bestScore := ps[0], score(key, ps[0].NodeID)
	for _, p := range ps[1:] {
		if sc := score(key, p.NodeID); sc > bestScore {
			best, bestScore = p, sc
		}
	}
	return best
}

// balanceKey is the key the balance strategy hashes for a request; key is
// the object's own (partition, group) for hash-partition.
func (s *Server) balanceKey(r *Request, key string) string {
	switch s.cfg.Balance {
	case BalanceHashClientHost:
		return r.remoteHost()
	case BalanceHashClientID:
		return r.ClientID()
	}
	return key
}

// partitionKey is the hash-partition key of a partition.
func partitionKey(topic [16]byte, p int32) string {
	var b [20]byte
	copy(b[:], topic[:])
	binary.BigEndian.PutUint32(b[16:], uint32(p))
	return string(b[:])
}

// leader picks the listed broker that leads a partition for this client.
func (v view) leader(topic [16]byte, p int32) Peer {
	return pick(v.brokers, v.s.balanceKey(v.r, partitionKey(topic, p)))
}

// coordinator picks the listed broker that coordinates key for this
// client.
func (v view) coordinator(key string) Peer {
	return pick(v.brokers, v.s.balanceKey(v.r, "group|"+key))
}

// ids are the listed node ids.
func (v view) ids(leader int32) []int32 {
	out := make([]int32, 0, len(v.brokers))
	out = append(out, leader)
	for _, p := range v.brokers {
		if p.NodeID != leader {
			out = append(out, p.NodeID)
		}
	}
	return out
}

// Traffic accounting: bytes of Kafka frames in and out, by the zone of
// the client (from client.id, else the rack of its fetches; "" unknown).

// ZoneTraffic is the traffic with the clients of one zone.
type ZoneTraffic struct {
	Zone     string
	In, Out  int64
	Cross    bool // the zone is known and not this broker's
	Accepted int64
}

type zoneCounters struct {
	zone    string
	in, out atomic.Int64
	conns   atomic.Int64
}

type traffic struct {
	m        sync.Map // zone -> *zoneCounters
	accepted atomic.Int64
}

func (t *traffic) zone(z string) *zoneCounters {
	if v, ok := t.m.Load(z); ok {
		return v.(*zoneCounters)
	}
	v, _ := t.m.LoadOrStore(z, &zoneCounters{zone: z})
	return v.(*zoneCounters)
}

// Traffic returns the bytes exchanged with clients by client zone,
// sorted by zone.
func (s *Server) Traffic() []ZoneTraffic {
	var out []ZoneTraffic
	s.traffic.m.Range(func(_, v any) bool {
		zc := v.(*zoneCounters)
		out = append(out, ZoneTraffic{Zone: zc.zone, In: zc.in.Load(), Out: zc.out.Load(), Accepted: zc.conns.Load(),
			Cross: zc.zone != "" && s.cfg.Rack != "" && zc.zone != s.cfg.Rack})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Zone < out[j].Zone })
	return out
}

// ConnsAccepted counts the connections accepted since start.
func (s *Server) ConnsAccepted() int64 { return s.traffic.accepted.Load() }

// opts returns the client options of the request's connection.
func (r *Request) opts() clientOpts {
	if r.conn == nil {
		return clientOpts{}
	}
	return r.conn.opts
}

// remoteHost is the client's IP ("" when unknown).
func (r *Request) remoteHost() string {
	if r.conn == nil || r.conn.nc == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(r.conn.nc.RemoteAddr().String())
	if err != nil {
		return r.conn.nc.RemoteAddr().String()
	}
	return h
}
