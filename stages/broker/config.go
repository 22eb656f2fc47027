package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/kafka"
	"github.com/sluicedata/sluice/stages/lifecycle"
	"github.com/sluicedata/sluice/stages/produce"
	"github.com/sluicedata/sluice/stages/telemetry"
)

// Config is everything a broker needs. The field names match the command
// line flags, YAML keys and SLUICE_* environment variables (see cmd/sluice).
type Config struct {
	// KafkaAddr is the Kafka listener (host:port; port 0 picks one).
	KafkaAddr string `mapstructure:"kafka-addr"`
	// PublicAddr is the advertised host:port; empty means the listen
	// address (with the port actually bound).
	PublicAddr string `mapstructure:"public-addr"`
	// Zone is the broker's availability zone, reported as its rack.
	Zone string `mapstructure:"zone"`
	// DataDir holds local state: the embedded metadata store and the
	// default object directory.
	DataDir string `mapstructure:"data-dir"`
	// Objects is the object store URL: file:///dir (default
	// file://<data-dir>/objects) or mem://.
	Objects string `mapstructure:"objects"`
	// Metadata is the metadata store URL: empty for the embedded store
	// under <data-dir>/meta, or mem://.
	Metadata string `mapstructure:"metadata"`
	// AutoMigrate applies missing schema versions to the metadata store at
	// start (stores with a schema: spanner://; see `sluice migrate`).
	AutoMigrate bool `mapstructure:"auto-migrate"`
	// AdminAddr serves /healthz and /readyz; empty disables it.
	AdminAddr string `mapstructure:"admin-addr"`
	LogLevel  string `mapstructure:"log-level"`

	// NodeID is the broker id clients see; -1 (the default) takes the
	// one the broker registry allocated to BrokerName, once, for good.
	NodeID int32 `mapstructure:"node-id"`
	// BrokerName is the broker's stable identity in the registry (e.g.
	// the pod name); empty: a name created once and kept in
	// <data-dir>/broker-name.
	BrokerName string `mapstructure:"broker-name"`
	// Lease is how long the broker's registration lives without renewal
	// (renewed every third of it): a broker that dies drops out of every
	// answer within about a lease.
	Lease time.Duration `mapstructure:"lease"`
	// Balance picks partition leaders and group coordinators among the
	// brokers a client is shown: hash-partition, hash-client-host or
	// hash-client-id.
	Balance string `mapstructure:"balance"`
	// PeerAddr is the admin host:port other brokers reach this one on
	// (commit notifications that wake long-polling fetches); empty: the
	// admin listen address, a wildcard host replaced by this host's first
	// non-loopback address.
	PeerAddr string `mapstructure:"peer-addr"`
	// AutoCreateTopics is auto.create.topics.enable.
	AutoCreateTopics bool `mapstructure:"auto-create-topics"`
	// DefaultPartitions is num.partitions.
	DefaultPartitions int32 `mapstructure:"default-partitions"`
	// MaxRequestBytes is socket.request.max.bytes.
	MaxRequestBytes int32 `mapstructure:"max-request-bytes"`
	// Limits of the Kafka front end (see kafka.Config): the request bytes
	// held in memory broker-wide (-1: unbounded), the idle and partial
	// request timeouts (negative: none), the connection limits (0: none)
	// and the broker's cap on a fetch answer.
	QueuedMaxRequestBytes int64         `mapstructure:"queued-max-request-bytes"`
	ConnectionsMaxIdle    time.Duration `mapstructure:"connections-max-idle"`
	RequestReadTimeout    time.Duration `mapstructure:"request-read-timeout"`
	MaxConnections        int           `mapstructure:"max-connections"`
	MaxConnectionsPerIP   int           `mapstructure:"max-connections-per-ip"`
	FetchMaxBytes         int32         `mapstructure:"fetch-max-bytes"`

	// Produce pipeline knobs.
	Linger            time.Duration `mapstructure:"linger"`
	FlushBytes        int64         `mapstructure:"flush-bytes"`
	UploadConcurrency int           `mapstructure:"upload-concurrency"`
	// Fetch caches.
	IndexCacheBytes int64 `mapstructure:"index-cache-bytes"`
	DataCacheBytes  int64 `mapstructure:"data-cache-bytes"`

	// Data lifecycle (stages/lifecycle): archive, retention, vacuum.
	// LifecycleInterval is the time between passes; negative disables
	// the lifecycle on this broker (others in the cluster still run it).
	LifecycleInterval time.Duration `mapstructure:"lifecycle-interval"`
	// ArchiveBytes and ArchiveAge: a partition's intake is archived once
	// it holds this many bytes or its oldest object is this old.
	ArchiveBytes int64         `mapstructure:"archive-bytes"`
	ArchiveAge   time.Duration `mapstructure:"archive-age"`
	// SegmentBytes bounds one archive segment object.
	SegmentBytes int64 `mapstructure:"segment-bytes"`
	// ArchiveShards splits the archive work into leased shards that the
	// live brokers share.
	ArchiveShards int `mapstructure:"archive-shards"`
	// VacuumGrace is how old an unreferenced object must be before it is
	// deleted; commits must land within half of it.
	VacuumGrace time.Duration `mapstructure:"vacuum-grace"`
	// Retention and RetentionBytes are log.retention.ms and
	// log.retention.bytes: defaults for topics without retention.ms and
	// retention.bytes (negative: keep forever / no size limit).
	Retention      time.Duration `mapstructure:"retention"`
	RetentionBytes int64         `mapstructure:"retention-bytes"`
	// ProducerIDExpiration is producer.id.expiration.ms: an idempotent
	// producer's state on a partition (kept to recognise its retries) is
	// deleted after this long without a write from it there, so the
	// states of the producers of finished client processes do not pile up
	// (negative: keep forever).
	ProducerIDExpiration time.Duration `mapstructure:"producer-id-expiration"`
	// Failpoint, if set, is called at named points of the lifecycle
	// work (crash tests; see lifecycle.Fail*).
	Failpoint func(name string) `mapstructure:"-"`
	// SkipBatchChecks turns off the checks of batches read from object
	// storage (fetch.Config.SkipBatchChecks): only for benchmarks that
	// measure what they cost; no flag sets it.
	SkipBatchChecks bool `mapstructure:"-"`

	// ShutdownTimeout bounds the drain of in-flight produces on Close.
	ShutdownTimeout time.Duration `mapstructure:"shutdown-timeout"`

	// OffsetsRetention is offsets.retention.minutes: how long committed
	// offsets of an empty group are kept.
	OffsetsRetention time.Duration `mapstructure:"offsets-retention"`
	// GroupInitialRebalanceDelay is group.initial.rebalance.delay.ms.
	GroupInitialRebalanceDelay time.Duration `mapstructure:"group-initial-rebalance-delay"`

	// MetaStore and ObjectStore, if set, are used instead of opening the
	// Metadata and Objects URLs, and the broker does not close them
	// (several brokers in one process sharing stores, as tests do).
	MetaStore   meta.Store     `mapstructure:"-"`
	ObjectStore objstore.Store `mapstructure:"-"`

	// Traces is "none" (default) or "otlp": the OTLP exporter, configured
	// by the standard OTEL_EXPORTER_OTLP_* environment variables.
	Traces string `mapstructure:"traces"`
	// Metrics is "none" (default), "prometheus" (/metrics on the admin
	// address) or "otlp".
	Metrics string `mapstructure:"metrics"`
	// TraceSampleRatio is the share of requests traced (parent-based
	// trace-id ratio sampling), 0 to 1.
	TraceSampleRatio float64 `mapstructure:"trace-sample-ratio"`
	// SpanExporter, if set, receives the broker's sampled spans too,
	// in-process and synchronously as each span ends (tests, the
	// benchmark's breakdown), whatever Traces says.
	SpanExporter sdktrace.SpanExporter `mapstructure:"-"`

	// Logger, if set, is used instead of one built from LogLevel.
	Logger *slog.Logger `mapstructure:"-"`
	// Version is reported to clients.
	Version string `mapstructure:"-"`
}

// NewConfig returns the defaults: a broker that runs with no configuration.
func NewConfig() Config {
	return Config{
		KafkaAddr:         "127.0.0.1:9092",
		DataDir:           "./sluice-data",
		AdminAddr:         "127.0.0.1:9089",
		LogLevel:          "info",
		AutoCreateTopics:  true,
		DefaultPartitions: 1,
		MaxRequestBytes:   100 << 20,

		QueuedMaxRequestBytes: kafka.DefaultQueuedMaxRequestBytes,
		ConnectionsMaxIdle:    kafka.DefaultConnectionsMaxIdle,
		RequestReadTimeout:    kafka.DefaultRequestReadTimeout,
		FetchMaxBytes:         kafka.DefaultFetchMaxBytes,

		Linger:            produce.DefaultLinger,
		FlushBytes:        produce.DefaultFlushBytes,
		UploadConcurrency: produce.DefaultUploadConcurrency,
		ShutdownTimeout:   30 * time.Second,
		Traces:            telemetry.None,
		Metrics:           telemetry.None,
		TraceSampleRatio:  0.01,
		Version:           "dev",
		NodeID:            -1,
		Lease:             10 * time.Second,
		Balance:           kafka.BalanceHashPartition,

		OffsetsRetention:           7 * 24 * time.Hour,
		GroupInitialRebalanceDelay: 3 * time.Second,

		LifecycleInterval: lifecycle.DefaultInterval,
		ArchiveBytes:      lifecycle.DefaultArchiveBytes,
		ArchiveAge:        lifecycle.DefaultArchiveAge,
		SegmentBytes:      lifecycle.DefaultSegmentBytes,
		ArchiveShards:     lifecycle.DefaultArchiveShards,
		VacuumGrace:       lifecycle.DefaultGrace,
		Retention:         lifecycle.DefaultRetention,
		RetentionBytes:    -1,

		ProducerIDExpiration: lifecycle.DefaultProducerExpiration,
	}
}

// Validate checks the config and fills in derived defaults.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.KafkaAddr); err != nil {
		errs = append(errs, fmt.Errorf("kafka-addr %q: %v", c.KafkaAddr, err))
	}
	if c.PublicAddr != "" {
		host, port, err := net.SplitHostPort(c.PublicAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("public-addr %q: %v", c.PublicAddr, err))
		} else if p, perr := strconv.Atoi(port); perr != nil || p <= 0 || p > 65535 || host == "" {
			errs = append(errs, fmt.Errorf("public-addr %q: want host:port with a port from 1 to 65535", c.PublicAddr))
		} else if !kafka.ValidAdvertisedHost(host) {
			errs = append(errs, fmt.Errorf("public-addr %q: %q is neither a DNS name nor a dialable IP address", c.PublicAddr, host))
		}
	}
	if c.PeerAddr != "" {
		if _, _, err := net.SplitHostPort(c.PeerAddr); err != nil {
			errs = append(errs, fmt.Errorf("peer-addr %q: %v", c.PeerAddr, err))
		}
	}
	if !kafka.ValidBalance(c.Balance) {
		errs = append(errs, fmt.Errorf("balance %q: want hash-partition, hash-client-host or hash-client-id", c.Balance))
	}
	if c.Lease == 0 {
		c.Lease = 10 * time.Second
	}
	if c.Lease < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("lease %v: must be at least 100ms", c.Lease))
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			errs = append(errs, fmt.Errorf("admin-addr %q: %v", c.AdminAddr, err))
		}
	}
	if c.DataDir == "" && (c.Objects == "" || c.Metadata == "") {
		errs = append(errs, errors.New("data-dir is required unless both objects and metadata are set"))
	}
	if c.DefaultPartitions < 1 {
		errs = append(errs, fmt.Errorf("default-partitions %d: must be at least 1", c.DefaultPartitions))
	}
	if c.MaxRequestBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max-request-bytes %d: must be at least 1024", c.MaxRequestBytes))
	}
	if c.QueuedMaxRequestBytes != -1 && c.QueuedMaxRequestBytes < int64(c.MaxRequestBytes) {
		errs = append(errs, fmt.Errorf("queued-max-request-bytes %d: want -1 (unbounded) or at least max-request-bytes (%d)", c.QueuedMaxRequestBytes, c.MaxRequestBytes))
	}
	if c.ConnectionsMaxIdle == 0 || c.RequestReadTimeout == 0 {
		errs = append(errs, errors.New("connections-max-idle and request-read-timeout must not be 0 (negative disables them)"))
	}
	if c.MaxConnections < 0 || c.MaxConnectionsPerIP < 0 {
		errs = append(errs, errors.New("max-connections and max-connections-per-ip must not be negative (0: no limit)"))
	}
	if c.FetchMaxBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("fetch-max-bytes %d: must be at least 1024", c.FetchMaxBytes))
	}
	if c.NodeID < -1 {
		errs = append(errs, fmt.Errorf("node-id %d: want -1 (allocated) or an id from 0", c.NodeID))
	}
	if c.ArchiveBytes < 0 || c.ArchiveAge < 0 || c.SegmentBytes < 0 || c.VacuumGrace < 0 || c.ArchiveShards < 0 {
		errs = append(errs, errors.New("archive-bytes, archive-age, segment-bytes, archive-shards and vacuum-grace must not be negative"))
	}
	if c.Linger < 0 || c.FlushBytes < 0 || c.UploadConcurrency < 0 {
		errs = append(errs, errors.New("linger, flush-bytes and upload-concurrency must not be negative"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.Objects == "" && c.DataDir != "" {
		abs, err := filepath.Abs(filepath.Join(c.DataDir, "objects"))
		if err != nil {
			errs = append(errs, err)
		}
		c.Objects = "file://" + abs
	}
	if err := telemetry.Validate(c.Traces, c.Metrics, c.TraceSampleRatio); err != nil {
		errs = append(errs, err)
	}
	if c.Metrics == telemetry.Prometheus && c.AdminAddr == "" {
		errs = append(errs, errors.New("metrics prometheus needs admin-addr (it serves /metrics)"))
	}
	if c.AutoMigrate && strings.HasPrefix(c.Metadata, "spanner://") && !strings.Contains(c.Metadata, "auto_migrate=") {
		sep := "?"
		if strings.Contains(c.Metadata, "?") {
			sep = "&"
		}
		c.Metadata += sep + "auto_migrate=true"
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
