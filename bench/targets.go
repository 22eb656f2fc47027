package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicedata/sluice/stages/broker"
)

// StartFunc starts an in-process target with state under dir (which it may
// ignore) and returns its bootstrap address and a stop function.
type StartFunc func(dir string) (bootstrap string, stop func(), err error)

// targets is the registry of in-process targets by name ("sluice" is
// started by StartTargetWith itself, with its counters and tracing).
var targets = map[string]StartFunc{
	"sluice":     StartSluice,
	"kfake":      func(string) (string, func(), error) { return StartKfake() },
	"kfake-sync": StartKfakeSync,
	"kfake-blackhole": func(string) (string, func(), error) {
		return startKfake(kfake.NumBrokers(1), kfake.BlackholeProduce())
	},
}

// TargetNames lists the in-process targets StartTarget knows, sorted.
func TargetNames() []string {
	names := make([]string, 0, len(targets))
	for n := range targets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// IsInProcess reports whether name is an in-process target (rather than a
// bootstrap address).
func IsInProcess(name string) bool {
	_, ok := targets[name]
	return ok
}

// IsStarted reports whether name is a target the harness starts itself
// (in process, or ProcessTarget), rather than a bootstrap address.
func IsStarted(name string) bool { return name == ProcessTarget || IsInProcess(name) }

// StartTarget starts the named in-process target (see TargetNames).
func StartTarget(name, dir string) (bootstrap string, stop func(), err error) {
	start, ok := targets[name]
	if !ok {
		return "", nil, fmt.Errorf("unknown target %q (known: %v)", name, TargetNames())
	}
	return start(dir)
}

// Target is a broker to benchmark: in process or at an address.
type Target struct {
	// Name labels results ("sluice", "kfake", an address, or a variant
	// such as "sluice-traced").
	Name      string
	Bootstrap string
	// InProcess targets share this process: resource figures are the
	// whole process's.
	InProcess bool
	// PID, if not 0, is the broker's process (for CPU and memory).
	PID int
	// Fresh: the broker process was started for this target alone (its
	// peak RSS since start is the run's).
	Fresh bool
	// Counters reads the broker's store counters, when known.
	Counters *CounterSource
	// Spans collects the broker's spans, when tracing is on.
	Spans *SpanCollector
	// Notes describe how the target was set up.
	Notes []string
	stop  func()
	otlp  *OTLPSink // receives the spans of a broker in another process
}

// Stop stops an in-process target; it does nothing for an external one.
func (t *Target) Stop() {
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
}

// TargetOptions tune StartTargetWith.
type TargetOptions struct {
	// Partitions is Sluice's default partition count (num.partitions),
	// for brokers that only auto-create topics; 0: DefaultPartitions.
	Partitions int32
	// Tracing, for Sluice, turns the broker's tracing on with a
	// SpanCollector as its exporter at TraceRatio (0 to 1). It fails when
	// the broker has no tracing.
	Tracing    bool
	TraceRatio float64
	// Configure, if set, is applied to Sluice's config last (in-process
	// Sluice only).
	Configure func(*broker.Config)
	// Flags are extra `sluice serve` flags for the process target.
	Flags []string
}

// StartTargetWith starts a target: "sluice" (in process),
// ProcessTarget ("sluice-process", a child process), or another name from
// TargetNames.
func StartTargetWith(name, dir string, o TargetOptions) (*Target, error) {
	switch name {
	case "sluice":
		return startSluiceTarget(dir, o)
	case ProcessTarget:
		return startSluiceProcess(dir, o)
	}
	if !IsInProcess(name) {
		return nil, fmt.Errorf("unknown target %q (known: %v, or a host:port)", name, TargetNames())
	}
	addr, stop, err := StartTarget(name, dir)
	if err != nil {
		return nil, err
	}
	return &Target{Name: name, Bootstrap: addr, InProcess: true, PID: os.Getpid(), stop: stop}, nil
}

// ExternalTarget is a broker at addr; pid, if not 0, is its process.
func ExternalTarget(addr string, pid int) *Target {
	return &Target{Name: addr, Bootstrap: addr, PID: pid}
}

func startSluiceTarget(dir string, o TargetOptions) (*Target, error) {
	t := &Target{Name: "sluice", InProcess: true, PID: os.Getpid()}
	var b *broker.Broker
	addr, stop, err := startSluice(dir, func(c *broker.Config) {
		if o.Partitions > 0 {
			c.DefaultPartitions = o.Partitions
		}
		// Tracing is off unless asked for: no exporter, no tracer.
		c.Traces, c.SpanExporter = "none", nil
		if o.Configure != nil {
			o.Configure(c)
		}
		if o.Tracing {
			t.Spans = NewSpanCollector()
			EnableTracing(c, t.Spans, o.TraceRatio)
		}
	}, &b)
	if err != nil {
		return nil, err
	}
	t.Bootstrap, t.stop = addr, stop
	t.Counters = brokerCounters(b)
	return t, nil
}

// StartSluice starts an in-process Sluice broker with its durable defaults
// (objects fsynced to dir/objects, offsets in the embedded bbolt store
// under dir) on a loopback port, logging errors only.
//
// Its default partition count is DefaultPartitions, for brokers that
// create topics by Metadata auto-creation. Use StartSluiceWith to change
// that or anything else.
func StartSluice(dir string) (bootstrap string, stop func(), err error) {
	return StartSluiceWith(dir, nil)
}

// StartSluiceWith is StartSluice with configure applied to the config last.
func StartSluiceWith(dir string, configure func(*broker.Config)) (bootstrap string, stop func(), err error) {
	return startSluice(dir, configure, nil)
}

func startSluice(dir string, configure func(*broker.Config), out **broker.Broker) (string, func(), error) {
	cfg := broker.NewConfig()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.AdminAddr = ""
	cfg.DataDir = dir
	cfg.DefaultPartitions = DefaultPartitions
	cfg.Logger = quietLogger()
	if configure != nil {
		configure(&cfg)
	}
	b, err := broker.Start(context.Background(), cfg)
	if err != nil {
		return "", nil, fmt.Errorf("starting sluice: %w", err)
	}
	if out != nil {
		*out = b
	}
	return b.Addr(), func() { _ = b.Close() }, nil
}

// StartKfake starts franz-go's fake cluster with one broker on a random
// loopback port. It keeps everything in memory: nothing is written to disk,
// and its heap grows by everything produced (as "kfake-blackhole", which
// discards record bytes, does not).
func StartKfake() (bootstrap string, stop func(), err error) {
	return startKfake(kfake.NumBrokers(1))
}

// StartKfakeSync starts the fake cluster persisting to dir with an fsync
// per produced batch, a durability closer to Sluice's.
func StartKfakeSync(dir string) (bootstrap string, stop func(), err error) {
	return startKfake(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dir, "kfake")), kfake.SyncWrites())
}

func startKfake(opts ...kfake.Opt) (string, func(), error) {
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return "", nil, fmt.Errorf("starting kfake: %w", err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return "", nil, fmt.Errorf("starting kfake: no listen address")
	}
	return addrs[0], c.Close, nil
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// inProcessScope describes resource figures of an in-process target.
const inProcessScope = "whole benchmark process (in-process broker and the franz-go load generator together)"

func scopeOf(t *Target) string {
	switch {
	case t.InProcess:
		return inProcessScope
	case t.Fresh:
		return fmt.Sprintf("broker process alone (pid %d, started for this run)", t.PID)
	}
	return fmt.Sprintf("broker process pid %d", t.PID)
}
