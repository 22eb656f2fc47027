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

// targets is the registry of in-process targets by name.
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

// StartTarget starts the named in-process target (see TargetNames).
func StartTarget(name, dir string) (bootstrap string, stop func(), err error) {
	start, ok := targets[name]
	if !ok {
		return "", nil, fmt.Errorf("unknown target %q (known: %v)", name, TargetNames())
	}
	return start(dir)
}

// StartSluice starts an in-process Sluice broker with its durable defaults
// (objects fsynced to dir/objects, offsets in the embedded bbolt store
// under dir) on a loopback port, logging errors only.
//
// Sluice has no CreateTopics yet, so the harness creates topics through
// Metadata auto-creation; the broker's default partition count is set to
// DefaultPartitions so they get the benchmark's layout. Use
// StartSluiceWith to change that or anything else.
func StartSluice(dir string) (bootstrap string, stop func(), err error) {
	return StartSluiceWith(dir, nil)
}

// StartSluiceWith is StartSluice with configure applied to the config last.
func StartSluiceWith(dir string, configure func(*broker.Config)) (bootstrap string, stop func(), err error) {
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
