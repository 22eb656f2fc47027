// Command sluice runs a Sluice broker.
//
//	sluice serve [flags]     run a broker (defaults: 127.0.0.1:9092, ./sluice-data)
//	sluice version           print the version
//
// Settings come from flags, a YAML file (--config) and SLUICE_*
// environment variables (SLUICE_KAFKA_ADDR for --kafka-addr); flags win
// over the environment, which wins over the file.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/sluicedata/sluice/stages/broker"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: a leaderless, Kafka-compatible broker on object storage",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newMigrate(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "sluice", version) },
	})
	return root
}

func newServe() *cobra.Command {
	v := viper.New()
	def := broker.NewConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(v, cmd)
			if err != nil {
				return err
			}
			return serve(cfg)
		},
	}
	f := cmd.Flags()
	f.String("config", "", "YAML config file (keys are the flag names)")
	f.String("kafka-addr", def.KafkaAddr, "Kafka listener host:port")
	f.String("public-addr", "", "advertised host:port (default: the listen address)")
	f.String("zone", "", "availability zone of this broker")
	f.String("data-dir", def.DataDir, "directory for local state")
	f.String("objects", "", "object store URL: file:///dir or mem:// (default file://<data-dir>/objects)")
	f.String("metadata", "", "metadata store URL: empty for the embedded store under <data-dir>/meta, or mem://")
	f.Bool("auto-migrate", def.AutoMigrate, "apply missing metadata schema versions at start (spanner://; see sluice migrate)")
	f.String("admin-addr", def.AdminAddr, "admin HTTP host:port (/healthz, /readyz); empty disables")
	f.String("log-level", def.LogLevel, "debug, info, warn or error")
	f.Int32("node-id", def.NodeID, "broker id clients see; -1: allocated once per broker name by the registry")
	f.String("broker-name", "", "stable broker identity, e.g. the pod name (default: created once in <data-dir>/broker-name)")
	f.Duration("lease", def.Lease, "broker registration lease, renewed every third of it")
	f.String("balance", def.Balance, "partition leaders and coordinators per client: hash-partition, hash-client-host or hash-client-id")
	f.String("peer-addr", "", "admin host:port other brokers reach for commit notifications (default: the admin address)")
	f.Bool("auto-create-topics", def.AutoCreateTopics, "auto.create.topics.enable")
	f.Int32("default-partitions", def.DefaultPartitions, "num.partitions for auto-created topics")
	f.Int32("max-request-bytes", def.MaxRequestBytes, "socket.request.max.bytes")
	f.Int64("queued-max-request-bytes", def.QueuedMaxRequestBytes, "queued.max.request.bytes: request bytes held in memory by all connections (-1: unbounded)")
	f.Duration("connections-max-idle", def.ConnectionsMaxIdle, "connections.max.idle.ms: close a connection idle this long (negative: never)")
	f.Duration("request-read-timeout", def.RequestReadTimeout, "close a connection whose request takes longer than this from first to last byte (negative: no limit)")
	f.Int("max-connections", def.MaxConnections, "max.connections: client connections over it are closed at once (0: no limit)")
	f.Int("max-connections-per-ip", def.MaxConnectionsPerIP, "max.connections.per.ip (0: no limit)")
	f.Int32("fetch-max-bytes", def.FetchMaxBytes, "fetch.max.bytes: the broker's cap on a fetch answer (one batch still goes out whole)")
	f.Duration("linger", def.Linger, "cashier linger, from the first batch of a flush")
	f.Int64("flush-bytes", def.FlushBytes, "cashier flush size in bytes")
	f.Int("upload-concurrency", def.UploadConcurrency, "max in-flight object uploads")
	f.Int64("index-cache-bytes", 0, "fetch index cache size (0: default)")
	f.Int64("data-cache-bytes", 0, "fetch data cache size (0: default)")
	f.Duration("lifecycle-interval", def.LifecycleInterval, "time between archive/retention/vacuum passes; negative disables them on this broker")
	f.Int64("archive-bytes", def.ArchiveBytes, "archive a partition once its unarchived intake holds this many bytes")
	f.Duration("archive-age", def.ArchiveAge, "archive a partition once its oldest unarchived intake object is this old")
	f.Int64("segment-bytes", def.SegmentBytes, "largest archive segment object, in batch bytes")
	f.Int("archive-shards", def.ArchiveShards, "archive work is split into this many leased shards, shared by the live brokers")
	f.Duration("vacuum-grace", def.VacuumGrace, "age before an unreferenced object is deleted; commits must land within half of it")
	f.Duration("retention", def.Retention, "log.retention.ms: default retention.ms of topics (negative: forever)")
	f.Int64("retention-bytes", def.RetentionBytes, "log.retention.bytes: default retention.bytes of topics (-1: no limit)")
	f.Duration("producer-id-expiration", def.ProducerIDExpiration, "producer.id.expiration.ms: an idle idempotent producer's state on a partition is deleted after this long (negative: never)")
	f.Duration("shutdown-timeout", def.ShutdownTimeout, "how long Close waits for in-flight produces")
	f.Duration("offsets-retention", def.OffsetsRetention, "offsets.retention.minutes: how long offsets of empty groups are kept")
	f.Duration("group-initial-rebalance-delay", def.GroupInitialRebalanceDelay, "group.initial.rebalance.delay.ms")
	f.String("traces", def.Traces, "trace exporter: none or otlp (configured by OTEL_EXPORTER_OTLP_* variables)")
	f.String("metrics", def.Metrics, "metrics exporter: none, prometheus (/metrics on --admin-addr) or otlp")
	f.Float64("trace-sample-ratio", def.TraceSampleRatio, "share of requests traced, 0 to 1 (parent-based ratio sampling)")
	return cmd
}

// loadConfig merges file, environment and flags (flags win).
func loadConfig(v *viper.Viper, cmd *cobra.Command) (broker.Config, error) {
	cfg := broker.NewConfig()
	if err := v.BindPFlags(cmd.Flags()); err != nil {
		return cfg, err
	}
	v.SetEnvPrefix("SLUICE")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if path := v.GetString("config"); path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
	}
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = false
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc())
	})
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	// Unknown keys in the file are a mistake worth stopping for.
	for _, k := range v.AllKeys() {
		if cmd.Flags().Lookup(k) == nil {
			return cfg, fmt.Errorf("config: unknown setting %q", k)
		}
	}
	cfg.Version = version
	return cfg, cfg.Validate()
}

func serve(cfg broker.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if fp := os.Getenv("SLUICE_TEST_FAILPOINT"); fp != "" {
		// Crash tests: die at once, as from kill -9, at the named point
		// of the lifecycle work (see lifecycle.Fail*).
		cfg.Failpoint = func(name string) {
			if name == fp {
				fmt.Fprintf(os.Stderr, "failpoint %s: killing the process\n", name)
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return b.Close()
	case err := <-b.Err():
		return errors.Join(err, b.Close())
	}
}
