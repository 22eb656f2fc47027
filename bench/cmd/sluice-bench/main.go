// Command sluice-bench drives Kafka brokers with the same franz-go load
// and reports throughput, produce-ack and end-to-end latency, the broker's
// CPU and memory, and its object and metadata store operations.
//
// One workload, described by flags or a YAML file, against in-process
// targets (franz-go's kfake, Sluice) one after the other, or any broker:
//
//	go run ./bench/cmd/sluice-bench --duration 20s
//	go run ./bench/cmd/sluice-bench --target 127.0.0.1:9092 --pid 1234 --rate 5000 --consumers 1
//	go run ./bench/cmd/sluice-bench --workload bench/workloads.yaml --target sluice
//
// The sluice vs kfake suite (make bench), and its short form (make
// bench-smoke):
//
//	go run ./bench/cmd/sluice-bench --suite compare --out bench-report
//	go run ./bench/cmd/sluice-bench --suite smoke
//
// Side by side HTML of earlier runs:
//
//	go run ./bench/cmd/sluice-bench --report-from before.json,after.json --out compare
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sluice-bench:", err)
		os.Exit(1)
	}
}

// sizeFlag is a byte count flag taking KiB/MiB/GiB suffixes.
type sizeFlag struct{ v *int64 }

func (s sizeFlag) String() string {
	if s.v == nil {
		return "0"
	}
	return strconv.FormatInt(*s.v, 10)
}
func (s sizeFlag) Set(v string) error {
	n, err := bench.ParseSize(v)
	if err != nil {
		return err
	}
	*s.v = n
	return nil
}

func run() error {
	w := bench.DefaultWorkload()
	var (
		target     = flag.String("target", "kfake,sluice", "what to benchmark, comma-separated: in-process "+strings.Join(bench.TargetNames(), ", ")+"; "+bench.ProcessTarget+" (sluice serve as a child process: the broker's own CPU, RSS and store counters); or a broker's host:port")
		sluiceBin  = flag.String("sluice-bin", "", "the sluice binary "+bench.ProcessTarget+" runs (default: go build ./cmd/sluice once, into a temporary directory)")
		targetsOld = flag.String("targets", "", "same as --target (kept for old scripts)")
		bootstrap  = flag.String("bootstrap", "", "benchmark this broker address only (same as --target ADDR)")
		pid        = flag.Int("pid", 0, "the external broker's process id: report its CPU seconds and peak RSS from /proc")
		wlFile     = flag.String("workload", "", "YAML file of workloads (keys are these flags' names; flags set the defaults)")
		suite      = flag.String("suite", "", "run a suite instead of one workload: compare (sluice vs kfake, make bench), smoke (the same, seconds long) or tracing (workload g alone: tracing off vs 1%, --pairs times)")
		suiteProc  = flag.Bool("suite-process", true, "a suite also runs sluice as "+bench.ProcessTarget+" (a child process: the broker's own CPU, RSS and counters); false: in process only, faster")
		pairs      = flag.Int("pairs", 0, "alternating tracing off/1% pairs in workload g (default: 5, 1 for smoke)")
		out        = flag.String("out", "", "write the report as OUT.json and OUT.html (default: sluice-bench-report for a suite, none otherwise)")
		jsonOut    = flag.String("json", "", "also write the report as JSON to this file")
		htmlOut    = flag.String("html", "", "also write the HTML report to this file")
		from       = flag.String("report-from", "", "comma-separated JSON reports to render side by side as HTML (--out or --html), without running anything")
		breakdown  = flag.Bool("breakdown", false, "collect sluice's stage spans in process: per-stage queue wait and work, and a CPU profile beside the report")
		dataDir    = flag.String("data-dir", "", "parent directory for the in-process targets' data (default: a temporary directory, removed afterwards)")
		quiet      = flag.Bool("quiet", false, "no progress lines")
		partsFlag  = flag.Int("partitions", int(w.Partitions), "partitions per topic")
		batchBytes = flag.Int("batch-bytes", 0, "producer batch size limit, kgo.ProducerBatchMaxBytes (0: kgo's default)")
	)
	flag.StringVar(&w.Name, "name", "workload", "workload name (labels the report)")
	flag.IntVar(&w.Topics, "topics", 1, "number of topics")
	flag.IntVar(&w.Producers, "producers", w.Producers, "number of producer clients")
	flag.IntVar(&w.Consumers, "consumers", 0, "number of consumer clients (end-to-end latency, consume throughput)")
	flag.IntVar(&w.RecordBytes, "record-bytes", w.RecordBytes, "record value size in bytes")
	flag.StringVar(&w.PayloadKind, "payload", "", "record payload: random (incompressible), text, json (compresses like JSON events); default random, text when compressed")
	flag.StringVar(&w.Compression, "compression", w.Compression, "batch compression: none, gzip, snappy, lz4, zstd")
	flag.StringVar(&w.Acks, "acks", w.Acks, "required acks: all, 1 or 0")
	flag.BoolVar(&w.Idempotent, "idempotent", w.Idempotent, "idempotent producer (kgo default)")
	flag.DurationVar(&w.Linger, "linger", w.Linger, "producer linger (kgo.ProducerLinger)")
	flag.StringVar(&w.Partitioner, "partitioner", w.Partitioner, "record partitioner: round-robin or sticky")
	flag.IntVar(&w.MaxBufferedBytes, "max-buffered-bytes", w.MaxBufferedBytes, "per-client buffered (unacknowledged) bytes")
	flag.Float64Var(&w.Rate, "rate", 0, "target produce rate in records/s over all producers (0: unthrottled)")
	flag.DurationVar(&w.Warmup, "warmup", w.Warmup, "unmeasured time before each measurement")
	flag.DurationVar(&w.Duration, "duration", w.Duration, "measured time per target")
	flag.Var(sizeFlag{&w.CatchUpBytes}, "catch-up-bytes", "catch-up read: produce this much (e.g. 1GiB) first, then measure reading it from the start")
	flag.Parse()
	w.Partitions = int32(*partsFlag)
	w.BatchBytes = int32(*batchBytes)
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *from != "" {
		return renderFrom(strings.Split(*from, ","), *out, *htmlOut)
	}
	if *sluiceBin != "" {
		bench.UseSluiceBinary(*sluiceBin)
	}
	defer bench.RemoveBuiltSluice()

	// The machine's state matters as much as the numbers: say it.
	host := bench.ThisHost()
	fmt.Fprintf(os.Stderr, "%d CPUs, GOMAXPROCS %d, load average %s at start\n", host.CPUs, host.GOMAXPROCS, host.LoadStart)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	parent := *dataDir
	if parent == "" {
		tmp, err := os.MkdirTemp("", "sluice-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		parent = tmp
	}
	var progress *os.File
	if !*quiet {
		progress = os.Stderr
	}

	var rep *bench.Report
	var err error
	if *suite != "" && *out == "" {
		*out = "sluice-bench-report"
	}
	if *out != "" {
		// Profiles are saved beside the report during the runs.
		if err := os.MkdirAll(outDir(*out), 0o755); err != nil {
			return err
		}
	}
	if *suite != "" {
		rep, err = runSuite(ctx, *suite, set, w, parent, progress, *breakdown, outDir(*out), *suiteProc, *pairs)
	} else {
		names := *target
		switch {
		case *bootstrap != "":
			names = *bootstrap
		case *targetsOld != "":
			names = *targetsOld
		}
		var ws []bench.Workload
		if *wlFile != "" {
			if ws, err = bench.LoadWorkloads(*wlFile, w); err != nil {
				return err
			}
		} else {
			ws = []bench.Workload{w}
		}
		rep, err = runWorkloads(ctx, ws, order(names), *pid, parent, progress, *breakdown, outDir(*out))
	}
	if rep == nil {
		return err
	}
	fmt.Printf("\n%d CPUs, GOMAXPROCS %d, load average %s at end\n", host.CPUs, host.GOMAXPROCS, bench.LoadAvg())
	var werr error
	if *out != "" {
		if err := os.MkdirAll(outDir(*out), 0o755); err != nil {
			return err
		}
		j, h := bench.ReportPaths(*out)
		werr = errors.Join(rep.WriteJSON(j), rep.WriteHTML(h))
		fmt.Printf("report: %s, %s\n", j, h)
	}
	if *jsonOut != "" {
		werr = errors.Join(werr, rep.WriteJSON(*jsonOut))
	}
	if *htmlOut != "" {
		werr = errors.Join(werr, rep.WriteHTML(*htmlOut))
	}
	if err != nil || werr != nil {
		return errors.Join(err, werr)
	}
	failed, produced := 0, 0
	for _, r := range rep.Runs {
		if r.Errors > 0 {
			failed++
		}
		if r.Records > 0 {
			produced++
		}
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d of %d runs had errors", failed, len(rep.Runs))
	case produced == 0:
		return fmt.Errorf("no run had a record acknowledged in its window")
	}
	return nil
}

func outDir(out string) string {
	if out == "" {
		return "."
	}
	return filepath.Dir(out)
}

func runSuite(ctx context.Context, name string, set map[string]bool, w bench.Workload, parent string, progress *os.File, breakdown bool, dir string, process bool, pairs int) (*bench.Report, error) {
	var scale bench.SuiteScale
	switch name {
	case "compare":
		scale = bench.FullScale
	case "smoke":
		scale = bench.SmokeScale
	case "tracing":
		scale = bench.FullScale
	default:
		return nil, fmt.Errorf("suite %q: want compare, smoke or tracing", name)
	}
	if set["duration"] {
		scale.Duration = w.Duration
	}
	if set["warmup"] {
		scale.Warmup = w.Warmup
	}
	if set["catch-up-bytes"] {
		scale.CatchUpBytes = w.CatchUpBytes
	}
	if pairs > 0 {
		scale.TracingPairs = pairs
	}
	cases := bench.CompareSuite(scale)
	if name == "tracing" {
		cases = []bench.SuiteCase{bench.TracingCase(scale)}
	}
	sc := bench.SuiteConfig{Cases: cases, DataDir: parent, Out: os.Stdout, Breakdown: breakdown, OutDir: dir, SkipGoals: name == "smoke", InProcessOnly: !process}
	if progress != nil {
		sc.Progress = progress
	}
	return bench.RunSuite(ctx, sc)
}

func runWorkloads(ctx context.Context, ws []bench.Workload, names []string, pid int, parent string, progress *os.File, breakdown bool, dir string) (*bench.Report, error) {
	rep := &bench.Report{Title: "sluice-bench", Started: time.Now(), Host: bench.ThisHost()}
	for _, w := range ws {
		var results []bench.Result
		for _, name := range names {
			res, err := runOne(ctx, name, w, pid, parent, progress, breakdown, dir)
			if err != nil {
				// Keep going: one broken target should not hide the
				// others' numbers.
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				res.Target = name
				res.Workload.Name = w.Name
				res.Errors = max(res.Errors, 1)
				res.ErrorSamples = append(res.ErrorSamples, err.Error())
			}
			results = append(results, res)
			if ctx.Err() != nil {
				break
			}
		}
		rep.Runs = append(rep.Runs, results...)
		fmt.Printf("\n== %s: %s\n", w.Name, bench.Describe(w))
		if err := bench.WriteTable(os.Stdout, results); err != nil {
			return rep, err
		}
		for _, r := range results {
			bench.WriteBreakdown(os.Stdout, r.Target, r.Breakdown)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	rep.Compare("sluice", "kfake")
	return rep, nil
}

func runOne(ctx context.Context, name string, w bench.Workload, pid int, parent string, progress *os.File, breakdown bool, dir string) (bench.Result, error) {
	var t *bench.Target
	if bench.IsStarted(name) {
		d, err := os.MkdirTemp(parent, name+"-")
		if err != nil {
			return bench.Result{}, err
		}
		defer os.RemoveAll(d)
		o := bench.TargetOptions{Partitions: w.Partitions}
		if breakdown && (name == "sluice" || name == bench.ProcessTarget) {
			o.Tracing, o.TraceRatio = true, 1
		}
		if t, err = bench.StartTargetWith(name, d, o); err != nil {
			return bench.Result{}, err
		}
		defer t.Stop()
	} else {
		t = bench.ExternalTarget(name, pid)
	}
	fmt.Fprintf(os.Stderr, "%s: benchmarking %s: %s\n", name, t.Bootstrap, bench.Describe(w))
	rc := bench.RunConfig{Breakdown: breakdown, OutDir: dir}
	if progress != nil {
		rc.Progress = progress
	}
	return bench.RunTarget(ctx, t, w, rc)
}

func renderFrom(paths []string, out, htmlPath string) error {
	var reps []*bench.Report
	for _, p := range paths {
		r, err := bench.ReadReport(strings.TrimSpace(p))
		if err != nil {
			return err
		}
		if r.Source == "" {
			r.Source = strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		}
		reps = append(reps, r)
	}
	if htmlPath == "" {
		if out == "" {
			out = "sluice-bench-compare"
		}
		_, htmlPath = bench.ReportPaths(out)
	}
	if err := bench.MergeReports(reps).WriteHTML(htmlPath); err != nil {
		return err
	}
	fmt.Println("report:", htmlPath)
	return nil
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
