package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/fetch"
	"github.com/sluicedata/sluice/stages/group"
	"github.com/sluicedata/sluice/stages/kafka"
	"github.com/sluicedata/sluice/stages/lifecycle"
	"github.com/sluicedata/sluice/stages/produce"
	"github.com/sluicedata/sluice/stages/telemetry"
)

// Broker is a running Sluice broker.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	meta    meta.Store
	objects objstore.Store
	produce *produce.Pipeline
	fetch   *fetch.Fetcher
	kafka   *kafka.Server
	groups  *group.Coordinator
	life    *lifecycle.Worker // nil when disabled
	ln      net.Listener
	admin   *http.Server
	adminLn net.Listener

	tel      *telemetry.Telemetry // nil until Start builds it
	counters counters             // behind Stats

	name string    // identity in the broker registry
	reg  *registry // nil until registered

	clusterID string    // the metadata store's, checked against the object store's marker
	readiness readiness // /readyz's cached store check

	ready     chan struct{}
	errc      chan error
	closeOnce sync.Once
	closed    chan struct{}
}

// Start validates cfg, opens the stores and starts serving. The broker is
// ready when Ready is closed (at once, when Start returns without error).
func Start(ctx context.Context, cfg Config) (_ *Broker, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		level, _ := parseLevel(cfg.LogLevel)
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	b := &Broker{cfg: cfg, log: log, ready: make(chan struct{}), errc: make(chan error, 4), closed: make(chan struct{})}
	defer func() {
		if err != nil {
			b.closeStores()
		}
	}()

	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	if b.objects = cfg.ObjectStore; b.objects == nil {
		if b.objects, err = objstore.Open(ctx, cfg.Objects); err != nil {
			return nil, fmt.Errorf("object store %q: %w", cfg.Objects, err)
		}
	}
	if b.meta = cfg.MetaStore; b.meta == nil {
		if b.meta, err = meta.Open(ctx, cfg.Metadata, cfg.DataDir); err != nil {
			return nil, fmt.Errorf("metadata store: %w", err)
		}
	}
	name, persisted, err := brokerName(cfg)
	if err != nil {
		return nil, err
	}
	if !persisted {
		log.Warn("no data-dir or broker-name: this broker gets a new name, and node id, at every start", "name", name)
	}
	b.name = name
	if b.tel, err = telemetry.New(ctx, telemetry.Config{
		Traces: cfg.Traces, Metrics: cfg.Metrics, TraceSampleRatio: cfg.TraceSampleRatio, SpanExporter: cfg.SpanExporter,
		ServiceVersion: cfg.Version, InstanceID: name,
	}); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	if err := b.instrumentStores(); err != nil {
		return nil, err
	}
	clusterID, err := b.meta.ClusterID(ctx)
	if err != nil {
		return nil, fmt.Errorf("metadata store %s: %w", metaName(cfg), err)
	}
	b.clusterID = clusterID
	if err := b.checkStores(ctx, clusterID); err != nil {
		return nil, err
	}

	b.fetch = fetch.New(fetch.Config{
		Meta: b.meta, Objects: b.objects, Logger: log,
		IndexCacheBytes: cfg.IndexCacheBytes, DataCacheBytes: cfg.DataCacheBytes,
		Observer: b.tel.StageObserver(), Tracer: b.tel.Tracer(),
		SkipBatchChecks: cfg.SkipBatchChecks,
	})
	b.produce, err = produce.Start(produce.Config{
		Meta: b.meta, Objects: b.objects, Logger: log,
		Linger: cfg.Linger, FlushBytes: cfg.FlushBytes, UploadConcurrency: cfg.UploadConcurrency,
		CommitDeadline:   lifecycle.CommitDeadline(cfg.VacuumGrace),
		SequenceStateTTL: sequenceStateTTL(cfg.ProducerIDExpiration),
		Observer:         b.tel.StageObserver(), Tracer: b.tel.Tracer(),
		OnCommit: func(f *produce.Flush) {
			b.fetch.Written(f.Key, f.Intake.Data, f.Intake.Rows)
			b.fetch.Waker.Notify(f.Committed)
			if b.reg != nil {
				b.reg.notify(f.Committed)
			}
		},
	})
	if err != nil {
		return nil, err
	}

	b.ln, err = net.Listen("tcp", cfg.KafkaAddr)
	if err != nil {
		b.produce.Close()
		return nil, fmt.Errorf("kafka listener: %w", err)
	}
	host, port, err := advertised(cfg.PublicAddr, b.ln.Addr().String())
	if err != nil {
		b.ln.Close()
		b.produce.Close()
		return nil, err
	}
	if cfg.AdminAddr != "" {
		if b.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			b.ln.Close()
			b.produce.Close()
			return nil, fmt.Errorf("admin listener: %w", err)
		}
	}
	reg := &registry{b: b, store: b.meta.Brokers(), lease: cfg.Lease, peers: map[string]*peerSender{},
		stop: make(chan struct{}), done: make(chan struct{}), http: &http.Client{Timeout: 2 * time.Second},
		info: meta.BrokerInfo{Name: name, NodeID: cfg.NodeID, Zone: cfg.Zone, Host: host, Port: port, PeerAddr: peerAddr(cfg, b.AdminAddr())}}
	if cfg.NodeID, err = reg.register(ctx); err != nil {
		b.closeListeners()
		b.produce.Close()
		if errors.Is(err, meta.ErrNodeIDTaken) {
			return nil, fmt.Errorf("node-id %d is held by another live broker", reg.info.NodeID)
		}
		return nil, fmt.Errorf("registering broker %s: %w", name, err)
	}
	b.cfg.NodeID = cfg.NodeID
	b.reg = reg
	go reg.run()
	b.groups = group.New(group.Config{
		Store: b.meta, Logger: log,
		OffsetsRetention: cfg.OffsetsRetention, InitialRebalanceDelay: cfg.GroupInitialRebalanceDelay,
	})
	b.kafka, err = kafka.New(kafka.Config{
		NodeID: cfg.NodeID, AdvertisedHost: host, AdvertisedPort: port, Rack: cfg.Zone,
		ClusterID: clusterID, Meta: b.meta, Produce: b.produce, Fetch: b.fetch, Logger: log,
		MaxRequestBytes: cfg.MaxRequestBytes, AutoCreateTopics: cfg.AutoCreateTopics,
		DefaultPartitions: cfg.DefaultPartitions, Version: cfg.Version, Groups: b.groups,
		Tracer: b.tel.Tracer(), Meter: b.tel.Meter(),
		Cluster: reg.cluster, Balance: cfg.Balance,
		TopicDefaults:         topicDefaults(cfg),
		QueuedMaxRequestBytes: cfg.QueuedMaxRequestBytes, ConnectionsMaxIdle: cfg.ConnectionsMaxIdle,
		RequestReadTimeout: cfg.RequestReadTimeout, MaxConnections: cfg.MaxConnections,
		MaxConnectionsPerIP: cfg.MaxConnectionsPerIP, FetchMaxBytes: cfg.FetchMaxBytes,
	})
	if err != nil {
		reg.close()
		b.closeListeners()
		b.produce.Close()
		return nil, err
	}
	if err := b.registerTrafficMetrics(); err != nil {
		reg.close()
		b.closeListeners()
		b.produce.Close()
		return nil, fmt.Errorf("traffic metrics: %w", err)
	}
	if b.adminLn != nil {
		b.admin = &http.Server{Handler: b.adminMux(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := b.admin.Serve(b.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				b.errc <- fmt.Errorf("admin: %w", err)
			}
		}()
	}
	b.groups.Start()
	if err := b.startLifecycle(); err != nil {
		b.Close()
		return nil, err
	}
	go func() {
		if err := b.kafka.Serve(b.ln); err != nil {
			b.errc <- fmt.Errorf("kafka: %w", err)
		}
	}()
	log.Info("sluice broker started", "node_id", cfg.NodeID, "name", name, "zone", cfg.Zone, "kafka", b.ln.Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))),
		"admin", cfg.AdminAddr, "objects", objectsName(cfg), "metadata", metaName(cfg), "cluster", clusterID)
	close(b.ready)
	return b, nil
}

// advertised picks the host and port clients are told to dial.
func advertised(public, bound string) (string, int32, error) {
	addr := public
	if addr == "" {
		addr = bound
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("advertised address %q: %w", addr, err)
	}
	if public == "" && (host == "" || host == "0.0.0.0" || host == "::") {
		// A wildcard listener cannot be dialled; advertise this host.
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("advertised address %q: %w", addr, err)
	}
	return host, int32(p), nil
}

func (b *Broker) closeListeners() {
	b.ln.Close()
	if b.adminLn != nil {
		b.adminLn.Close()
	}
}

// NodeID is the broker's node id (allocated by the registry unless
// configured).
func (b *Broker) NodeID() int32 { return b.cfg.NodeID }

// Name is the broker's identity in the registry.
func (b *Broker) Name() string { return b.name }

// Ready is closed once the broker serves.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// Err reports fatal serving errors.
func (b *Broker) Err() <-chan error { return b.errc }

// Addr is the Kafka listener's address.
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// AdminAddr is the admin listener's address, or "".
func (b *Broker) AdminAddr() string {
	if b.adminLn == nil {
		return ""
	}
	return b.adminLn.Addr().String()
}

// Meta is the broker's metadata store (for tests and tools).
func (b *Broker) Meta() meta.Store { return b.meta }

// Objects is the broker's object store (for tests and tools).
func (b *Broker) Objects() objstore.Store { return b.objects }

// Close stops accepting connections, drains in-flight produces (every
// submitted batch is acknowledged or failed), closes the connections and
// the stores. It is idempotent and safe to call concurrently.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.log.Info("sluice broker stopping")
		b.kafka.StopAccepting()
		if b.life != nil {
			b.life.Close()
		}
		// Leave every answer at once: clients move to the other brokers.
		b.reg.close()
		// In-flight produces drain for up to the shutdown timeout; then
		// those left are failed (retriable), so that no client hangs.
		drainCtx, cancelDrain := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
		if err := b.produce.Shutdown(drainCtx); err != nil {
			b.log.Warn("shutdown timeout: in-flight produces failed, not drained")
		}
		cancelDrain()
		b.kafka.Close()
		b.fetch.Close()
		b.groups.Close()
		if b.admin != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = b.admin.Shutdown(ctx)
			cancel()
		}
		b.closeStores()
		b.log.Info("sluice broker stopped")
		close(b.closed)
	})
	<-b.closed
	return nil
}

func (b *Broker) closeStores() {
	// Stores given in the Config belong to the caller.
	if b.meta != nil && b.cfg.MetaStore == nil {
		if err := b.meta.Close(); err != nil {
			b.log.Warn("closing metadata store", "err", err)
		}
	}
	if b.objects != nil && b.cfg.ObjectStore == nil {
		if err := b.objects.Close(); err != nil {
			b.log.Warn("closing object store", "err", err)
		}
	}
	if b.tel != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.tel.Shutdown(ctx); err != nil {
			b.log.Warn("flushing telemetry", "err", err)
		}
	}
}

// sequenceStateTTL is how long the produce pipeline trusts its memory of
// an idle producer: under the producer-state expiration, so that it never
// answers from memory for a producer the store has forgotten.
func sequenceStateTTL(expiration time.Duration) time.Duration {
	if expiration <= 0 {
		return produce.DefaultSequenceStateTTL // states never expire
	}
	return min(produce.DefaultSequenceStateTTL, expiration/2)
}

func (b *Broker) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	if h := b.tel.MetricsHandler(); h != nil {
		mux.Handle("/metrics", h)
	}
	mux.HandleFunc("/internal/committed", b.handleCommitted)
	mux.HandleFunc("/debug/conns", b.handleConns)
	mux.HandleFunc(StatsPath, b.handleStats)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", b.handleReady)
	return mux
}
