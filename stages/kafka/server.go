package kafka

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/fetch"
	"github.com/sluicedata/sluice/stages/group"
	"github.com/sluicedata/sluice/stages/produce"
)

// Config configures the Kafka front end.
type Config struct {
	// NodeID is this broker's id in Metadata answers.
	NodeID int32
	// AdvertisedHost and AdvertisedPort are what clients are told to dial.
	AdvertisedHost string
	AdvertisedPort int32
	// Rack is the broker's zone, reported as its rack.
	Rack      string
	ClusterID string
	// Cluster, if set, returns the live brokers (this one included or
	// not); nil: this broker alone. See cluster.go.
	Cluster func() []Peer
	// Balance picks partition leaders and coordinators among the brokers
	// a client is shown: hash-partition (default), hash-client-host or
	// hash-client-id.
	Balance string

	Meta    meta.Store
	Produce *produce.Pipeline
	Fetch   *fetch.Fetcher
	Logger  *slog.Logger
	// Groups coordinates consumer groups; nil: one over Meta with
	// Kafka's defaults.
	Groups *group.Coordinator

	// MaxRequestBytes is socket.request.max.bytes.
	MaxRequestBytes int32
	// QueuedMaxRequestBytes is queued.max.request.bytes: the request
	// bytes all connections together may hold in memory, from the first
	// byte read until the request (for a produce: its last batch) is
	// done. A connection stops reading while it is exhausted. 0: the
	// default, DefaultQueuedMaxRequestBytes; negative: unbounded.
	QueuedMaxRequestBytes int64
	// ConnectionsMaxIdle is connections.max.idle.ms: a connection with
	// nothing read, nothing owed and nothing written for this long is
	// closed. 0: the default, 10 minutes; negative: never.
	ConnectionsMaxIdle time.Duration
	// RequestReadTimeout bounds the time from a request's first byte to
	// its last (waits for QueuedMaxRequestBytes included); a request not
	// received in time closes the connection. 0: the default, 30 s;
	// negative: no limit.
	RequestReadTimeout time.Duration
	// MaxConnections and MaxConnectionsPerIP are max.connections and
	// max.connections.per.ip: a connection over either is accepted and
	// closed at once, with a log line. 0: no limit.
	MaxConnections      int
	MaxConnectionsPerIP int
	// FetchMaxBytes is the broker's fetch.max.bytes: the largest fetch
	// answer, whatever the request's max_bytes (one batch still goes out
	// whole, as KIP-74 requires). 0: the default, 55 MiB.
	FetchMaxBytes int32
	// AutoCreateTopics is auto.create.topics.enable.
	AutoCreateTopics bool
	// DefaultPartitions is num.partitions, for auto-created topics and
	// CreateTopics with -1 partitions.
	DefaultPartitions int32
	// MaxInFlightPerConn bounds the requests a connection may have
	// unanswered before the broker stops reading from it.
	MaxInFlightPerConn int
	// FetchSessions bounds the fetch sessions kept (KIP-227).
	FetchSessions int
	// Version is reported to clients (ApiVersions software version).
	Version string
	// Tracer and Meter, when set, trace requests and measure them (see
	// telemetry.go); nil turns that off.
	Tracer trace.Tracer
	Meter  metric.Meter
	// TopicDefaults overrides the defaults of topic configs (the broker's
	// log.* settings, e.g. "retention.ms" from --retention); answers
	// report them as the defaults.
	TopicDefaults map[string]string
}

// Defaults of the limits in Config.
const (
	// DefaultQueuedMaxRequestBytes is five of the largest requests
	// (socket.request.max.bytes, 100 MiB): a handful of maximal produces
	// can be read at once, while memory for requests stays well inside a
	// small (2 GiB) broker. Kafka's default is unbounded (-1).
	DefaultQueuedMaxRequestBytes = 5 * codec.DefaultMaxRequestBytes
	DefaultConnectionsMaxIdle    = 10 * time.Minute
	DefaultRequestReadTimeout    = 30 * time.Second
	DefaultFetchMaxBytes         = 55 << 20
)

// Server serves the Kafka protocol.
type Server struct {
	cfg      Config
	log      *slog.Logger
	sessions *fetchSessions
	topics   *topicCache
	tel      *telemetry // nil: telemetry off
	traffic  traffic
	// budget holds the request bytes in memory (QueuedMaxRequestBytes);
	// nil: unbounded.
	budget *codec.RequestBudget
	closes connCloses

	mu       sync.Mutex
	ln       []net.Listener
	conns    map[*conn]struct{}
	perIP    map[string]int // open connections by remote IP
	closed   bool
	wg       sync.WaitGroup
	draining chan struct{}
}

// New returns a Server; Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Meta == nil || cfg.Produce == nil || cfg.Fetch == nil {
		return nil, errors.New("kafka: Meta, Produce and Fetch are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = codec.DefaultMaxRequestBytes
	}
	if cfg.DefaultPartitions <= 0 {
		cfg.DefaultPartitions = 1
	}
	if cfg.MaxInFlightPerConn <= 0 {
		cfg.MaxInFlightPerConn = 64
	}
	if cfg.FetchSessions <= 0 {
		cfg.FetchSessions = 1000
	}
	if cfg.QueuedMaxRequestBytes == 0 {
		cfg.QueuedMaxRequestBytes = DefaultQueuedMaxRequestBytes
	}
	if cfg.ConnectionsMaxIdle == 0 {
		cfg.ConnectionsMaxIdle = DefaultConnectionsMaxIdle
	}
	if cfg.RequestReadTimeout == 0 {
		cfg.RequestReadTimeout = DefaultRequestReadTimeout
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if cfg.Groups == nil {
		cfg.Groups = group.New(group.Config{Store: cfg.Meta, Logger: cfg.Logger})
	}
	tel, err := newTelemetry(cfg.Tracer, cfg.Meter)
	if err != nil {
		return nil, err
	}
	s := &Server{
		tel:      tel,
		cfg:      cfg,
		log:      cfg.Logger,
		sessions: newFetchSessions(cfg.FetchSessions),
		topics:   newTopicCache(cfg.Meta, time.Second),
		conns:    make(map[*conn]struct{}),
		perIP:    make(map[string]int),
		draining: make(chan struct{}),
		budget:   codec.NewRequestBudget(cfg.QueuedMaxRequestBytes),
	}
	if err := s.registerLimitMetrics(cfg.Meter); err != nil {
		return nil, err
	}
	return s, nil
}

// Serve accepts connections on ln until Close; it returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ln.Close()
	}
	s.ln = append(s.ln, ln)
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.traffic.accepted.Add(1)
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		c := newConn(s, nc)
		ip := remoteIP(nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		if limit := s.connLimitLocked(ip); limit != "" {
			s.mu.Unlock()
			c.cancel()
			nc.Close()
			s.closes.refused(s.log, limit, nc.RemoteAddr().String())
			continue
		}
		s.conns[c] = struct{}{}
		s.perIP[ip]++
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			if s.perIP[ip]--; s.perIP[ip] <= 0 {
				delete(s.perIP, ip)
			}
			s.mu.Unlock()
		}()
	}
}

// StopAccepting closes the listeners; connections keep being served, so
// that in-flight produces can be answered while the pipeline drains.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.draining)
		for _, ln := range s.ln {
			ln.Close()
		}
	}
}

// Close stops accepting, closes every connection (after their written
// responses are flushed) and waits for them.
func (s *Server) Close() {
	s.StopAccepting()
	s.mu.Lock()
	for c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ConnCount reports the open client connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
