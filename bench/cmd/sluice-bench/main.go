// Command sluice-bench runs the same franz-go produce workload against
// in-process targets (by default franz-go's kfake, then Sluice) one after
// the other, or against one external broker, and prints throughput and
// produce-ack latency.
//
//	go run ./bench/cmd/sluice-bench --duration 20s
//	go run ./bench/cmd/sluice-bench --bootstrap 127.0.0.1:9092
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/sluicedata/sluice/bench"
	"github.com/sluicedata/sluice/stages/broker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	w := bench.DefaultWorkload()
	var (
		targets   = flag.String("targets", "sluice,kfake", "comma-separated in-process targets, run in the order kfake first when present ("+strings.Join(bench.TargetNames(), ", ")+")")
		bootstrap = flag.String("bootstrap", "", "benchmark this broker address only (no in-process targets)")
		jsonOut   = flag.String("json", "", "also write the results as JSON to this file")
		dataDir   = flag.String("data-dir", "", "parent directory for the targets' data (default: a temporary directory, removed afterwards)")
		partsFlag = flag.Int("partitions", int(w.Partitions), "topic partitions")
	)
	flag.DurationVar(&w.Duration, "duration", w.Duration, "measured produce time per target")
	flag.DurationVar(&w.Warmup, "warmup", w.Warmup, "unmeasured produce time before each measurement")
	flag.IntVar(&w.RecordBytes, "record-bytes", w.RecordBytes, "record value size in bytes")
	flag.DurationVar(&w.Linger, "linger", w.Linger, "producer linger (kgo.ProducerLinger)")
	flag.StringVar(&w.Acks, "acks", w.Acks, "required acks: all, 1 or 0")
	flag.BoolVar(&w.Idempotent, "idempotent", w.Idempotent, "idempotent producer (kgo default)")
	flag.StringVar(&w.Compression, "compression", w.Compression, "batch compression: none, gzip, snappy, lz4, zstd")
	flag.StringVar(&w.Partitioner, "partitioner", w.Partitioner, "record partitioner: round-robin or sticky")
	flag.IntVar(&w.Producers, "producers", w.Producers, "number of producer clients")
	flag.IntVar(&w.MaxBufferedBytes, "max-buffered-bytes", w.MaxBufferedBytes, "per-client buffered (unacknowledged) bytes")
	flag.Parse()
	w.Partitions = int32(*partsFlag)

	// The machine's state matters as much as the numbers: say it.
	fmt.Fprintf(os.Stderr, "%d CPUs, GOMAXPROCS %d, load average %s at start\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var results []bench.Result
	if *bootstrap != "" {
		fmt.Fprintf(os.Stderr, "benchmarking %s for %v (+%v warm-up)\n", *bootstrap, w.Duration, w.Warmup)
		res, err := bench.Run(ctx, *bootstrap, w)
		res.Target = *bootstrap
		if err != nil {
			return fmt.Errorf("%s: %w", *bootstrap, err)
		}
		results = append(results, res)
	} else {
		parent := *dataDir
		if parent == "" {
			tmp, err := os.MkdirTemp("", "sluice-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			parent = tmp
		}
		for _, name := range order(*targets) {
			res, err := runTarget(ctx, name, parent, w)
			if err != nil {
				// Keep going: one broken target should not hide the
				// others' numbers.
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				res.Target = name
				res.Errors = max(res.Errors, 1)
				res.ErrorSamples = append(res.ErrorSamples, err.Error())
			}
			results = append(results, res)
			if ctx.Err() != nil {
				break
			}
		}
	}

	fmt.Printf("\n%d CPUs, GOMAXPROCS %d, load average %s at end\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadavg())
	fmt.Printf("%d partitions, %d B records, acks=%s, linger %v, %s, %s, %d producer(s), %v measured after %v warm-up\n",
		w.Partitions, w.RecordBytes, w.Acks, w.Linger, idem(w.Idempotent), w.Partitioner, w.Producers, w.Duration, w.Warmup)
	if err := bench.WriteTable(os.Stdout, results); err != nil {
		return err
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// order parses the target list, running kfake (the baseline) first.
func order(list string) []string {
	var names, rest []string
	for _, n := range strings.Split(list, ",") {
		switch n = strings.TrimSpace(n); {
		case n == "":
		case strings.HasPrefix(n, "kfake"):
			names = append(names, n)
		default:
			rest = append(rest, n)
		}
	}
	return append(names, rest...)
}

func runTarget(ctx context.Context, name, parent string, w bench.Workload) (bench.Result, error) {
	dir, err := os.MkdirTemp(parent, name+"-")
	if err != nil {
		return bench.Result{}, err
	}
	var (
		addr string
		stop func()
	)
	if name == "sluice" {
		// Sluice auto-creates topics with its default partition count.
		addr, stop, err = bench.StartSluiceWith(dir, func(c *broker.Config) { c.DefaultPartitions = w.Partitions })
	} else {
		addr, stop, err = bench.StartTarget(name, dir)
	}
	if err != nil {
		return bench.Result{}, err
	}
	defer stop()
	fmt.Fprintf(os.Stderr, "%s: benchmarking %s for %v (+%v warm-up)\n", name, addr, w.Duration, w.Warmup)
	started := time.Now()
	res, err := bench.Run(ctx, addr, w)
	res.Target = name
	fmt.Fprintf(os.Stderr, "%s: done in %v\n", name, time.Since(started).Round(time.Millisecond))
	return res, err
}

func idem(b bool) string {
	if b {
		return "idempotent"
	}
	return "not idempotent"
}

// loadavg is the 1, 5 and 15 minute load averages (Linux), or "n/a".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "n/a"
}
