package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluicedata/sluice/stages/broker"
	"github.com/sluicedata/sluice/stages/produce"
)

// SuiteScale sizes the comparison suite.
type SuiteScale struct {
	// Duration and Warmup of each steady workload.
	Duration, Warmup time.Duration
	// CatchUpBytes is the backlog of the catch-up workload (d).
	CatchUpBytes int64
	// Partitions and Producers of workloads (e) and (f) (0: 1,000 and
	// 200).
	Partitions int32
	Producers  int
	// TracingPairs is how many times workload (g) runs sluice with
	// tracing off then at 1%, alternating (0: once).
	TracingPairs int
}

// FullScale is `make bench`: 20s windows and a 1 GiB catch-up.
var FullScale = SuiteScale{Duration: 20 * time.Second, Warmup: 3 * time.Second, CatchUpBytes: 1 << 30, TracingPairs: 5}

// SmokeScale is `make bench-smoke`: every workload for about a second.
// Workloads (e) and (f) get 100 partitions and 20 producers: the full
// counts take longer to set up than the smoke has.
var SmokeScale = SuiteScale{Duration: 700 * time.Millisecond, Warmup: 200 * time.Millisecond, CatchUpBytes: 8 << 20, Partitions: 100, Producers: 20}

// SuiteCase is one workload of the suite and the targets it runs on.
type SuiteCase struct {
	Workload Workload
	// Targets are run in order; each is "kfake", "sluice" (in process),
	// ProcessTarget ("sluice-process"), or one of the two sluices with
	// "-traced" appended (tracing at TracedRatio).
	Targets []string
	// Repeat runs the targets in order that many times (0: once), so
	// that alternating runs can be compared pair by pair; the results are
	// then labelled "sluice-process #1", "sluice-process-traced #1"...
	Repeat int
}

// TracedRatio is the sample ratio of the "-traced" targets.
const TracedRatio = 0.01

// tracedSuffix marks a suite target with tracing on at TracedRatio.
const tracedSuffix = "-traced"

// CompareSuite is the sluice vs kfake suite: (a) unthrottled produce of 1
// KiB JSON records to 8 partitions, acks=all; (b) the same with zstd; (c)
// a fixed 5k records/s with a consumer, for latency; (d) a catch-up read
// of a backlog; (e) 1,000 partitions; (f) 200 producer connections; and
// (g) workload (a) on sluice with tracing off and at 1%.
//
// (a) to (f) run on kfake and sluice in this process (the ratios compare
// them, as both share the process with the load generator), then on
// sluice as a child process (ProcessTarget: the broker's own CPU, RSS and
// store counters). (g) runs on the child process, its spans exported over
// OTLP as in production.
func CompareSuite(s SuiteScale) []SuiteCase {
	base := DefaultWorkload()
	base.Duration, base.Warmup = s.Duration, s.Warmup
	base.PayloadKind = PayloadJSON
	both := []string{"kfake", "sluice", ProcessTarget}

	a := base
	a.Name = "a-produce"
	b := base
	b.Name, b.Compression = "b-produce-zstd", "zstd"
	c := base
	c.Name, c.Rate, c.Consumers, c.Linger = "c-latency-5k", 5000, 1, 0
	d := base
	d.Name, d.CatchUpBytes, d.Consumers = "d-catch-up", s.CatchUpBytes, 1
	e := base
	e.Name, e.Partitions = "e-1000-partitions", 1000
	if s.Partitions > 0 {
		e.Name, e.Partitions = fmt.Sprintf("e-%d-partitions", s.Partitions), s.Partitions
	}
	f := base
	f.Name, f.Producers, f.MaxBufferedBytes = "f-200-producers", 200, 256<<10
	if s.Producers > 0 {
		f.Name, f.Producers = fmt.Sprintf("f-%d-producers", s.Producers), s.Producers
	}
	return []SuiteCase{{Workload: a, Targets: both}, {Workload: b, Targets: both}, {Workload: c, Targets: both},
		{Workload: d, Targets: both}, {Workload: e, Targets: both}, {Workload: f, Targets: both}, TracingCase(s)}
}

// TracingCase is workload (g): workload (a) on sluice with tracing off and
// at TracedRatio, alternating, s.TracingPairs times.
func TracingCase(s SuiteScale) SuiteCase {
	g := DefaultWorkload()
	g.Duration, g.Warmup = s.Duration, s.Warmup
	g.PayloadKind = PayloadJSON
	g.Name = "g-tracing"
	return SuiteCase{Workload: g, Targets: []string{ProcessTarget, ProcessTarget + tracedSuffix}, Repeat: s.TracingPairs}
}

// SuiteConfig runs a suite.
type SuiteConfig struct {
	Cases []SuiteCase
	// DataDir is the parent of the in-process targets' data directories.
	DataDir string
	// Out gets the tables; Progress the live lines (may be nil).
	Out, Progress io.Writer
	// Breakdown collects sluice's stage spans and CPU profiles into
	// OutDir.
	Breakdown bool
	OutDir    string
	// InProcessOnly skips the ProcessTarget runs of cases that also run
	// sluice in process, and runs the others' ProcessTarget targets in
	// process instead: faster, but resource figures are then the whole
	// benchmark process's.
	InProcessOnly bool
	// Configure, if set, is applied to every in-process sluice's config.
	Configure func(*broker.Config)
	// SkipGoals leaves the goal verdicts out of the printed tables (the
	// smoke's windows are too short for them to mean anything); the
	// report still carries them.
	SkipGoals bool
}

// RunSuite runs every case on each of its targets, a fresh in-process
// target per run, prints each case's table as it completes, then the
// comparisons and the goals, and returns the report.
func RunSuite(ctx context.Context, sc SuiteConfig) (*Report, error) {
	rep := &Report{Title: "sluice vs kfake", Started: time.Now(), Host: ThisHost()}
	for _, c := range sc.Cases {
		var results []Result
		for i := range max(c.Repeat, 1) {
			for _, name := range sc.targets(c) {
				label := name
				if c.Repeat > 1 {
					label = fmt.Sprintf("%s #%d", name, i+1)
				}
				started := time.Now()
				res, err := runSuiteTarget(ctx, sc, name, c.Workload)
				res.Target = label
				if sc.Progress != nil {
					fmt.Fprintf(sc.Progress, "%s %s: done in %v\n", label, c.Workload.Name, time.Since(started).Round(time.Millisecond))
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s %s: %v\n", label, c.Workload.Name, err)
					res.Workload.Name = c.Workload.Name
					res.Errors = max(res.Errors, 1)
					res.ErrorSamples = append(res.ErrorSamples, err.Error())
				}
				results = append(results, res)
				if ctx.Err() != nil {
					break
				}
			}
			if ctx.Err() != nil {
				break
			}
		}
		rep.Runs = append(rep.Runs, results...)
		fmt.Fprintf(sc.Out, "\n== %s: %s\n", c.Workload.Name, Describe(c.Workload))
		if err := WriteTable(sc.Out, results); err != nil {
			return rep, err
		}
		for _, r := range results {
			WriteBreakdown(sc.Out, r.Target, r.Breakdown)
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep.Host.LoadEnd = LoadAvg()
	rep.Compare("sluice", "kfake")
	rep.Goals = Goals(rep.Runs)
	fmt.Fprintf(sc.Out, "\n== sluice/kfake, same load\n")
	WriteComparisons(sc.Out, rep.Comparisons)
	if sc.SkipGoals {
		fmt.Fprintf(sc.Out, "\n== goals: not judged at this scale (run make bench)\n")
	} else {
		fmt.Fprintf(sc.Out, "\n== goals\n")
		WriteGoals(sc.Out, rep.Goals)
	}
	return rep, ctx.Err()
}

// targets are the targets a case runs on under sc.
func (sc SuiteConfig) targets(c SuiteCase) []string {
	if !sc.InProcessOnly {
		return c.Targets
	}
	var out []string
	for _, n := range c.Targets {
		base, traced := strings.CutSuffix(n, tracedSuffix)
		if base != ProcessTarget {
			out = append(out, n)
		} else if !slices.Contains(c.Targets, "sluice") {
			if traced {
				out = append(out, "sluice"+tracedSuffix)
			} else {
				out = append(out, "sluice")
			}
		}
	}
	return out
}

func runSuiteTarget(ctx context.Context, sc SuiteConfig, name string, w Workload) (Result, error) {
	dir, err := os.MkdirTemp(sc.DataDir, fileSafe(name+"-"+w.Name)+"-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	o := TargetOptions{Partitions: w.Partitions}
	kind, traced := strings.CutSuffix(name, tracedSuffix)
	switch {
	case kind == "sluice":
		o.Configure = sc.Configure
		// The breakdown needs spans from every request.
		o.Tracing, o.TraceRatio = sc.Breakdown, 1
	}
	if traced {
		o.Tracing, o.TraceRatio = true, TracedRatio
	}
	t, err := StartTargetWith(kind, dir, o)
	if err != nil {
		return Result{}, err
	}
	defer t.Stop()
	t.Name = name
	if traced && t.InProcess {
		t.Notes = append(t.Notes, fmt.Sprintf("tracing on, sample ratio %v, spans to an in-process collector", TracedRatio))
	}
	// The breakdown is of the traced runs (the in-process sluice, every
	// request); the others' figures stay untouched by tracing.
	return RunTarget(ctx, t, w, RunConfig{Progress: sc.Progress, Breakdown: sc.Breakdown && o.Tracing, OutDir: sc.OutDir})
}

// Describe is a one-line summary of a workload.
func Describe(w Workload) string {
	w, _ = w.normalized()
	s := fmt.Sprintf("%d topic(s) x %d partitions, %d producer(s), %d consumer(s), %d B %s records, %s, acks=%s, linger %v",
		w.Topics, w.Partitions, w.Producers, w.Consumers, w.RecordBytes, w.PayloadKind, w.Compression, w.Acks, w.Linger)
	if w.Rate > 0 {
		s += fmt.Sprintf(", %.0f records/s", w.Rate)
	} else if w.CatchUpBytes == 0 {
		s += ", unthrottled"
	}
	if w.CatchUpBytes > 0 {
		s += fmt.Sprintf(", catch-up read of %d MiB", w.CatchUpBytes>>20)
	} else {
		s += fmt.Sprintf(", %v after %v warm-up", w.Duration, w.Warmup)
	}
	return s
}

// Goals evaluates the lead's goals on a suite's runs (n/a for what the
// runs do not cover).
func Goals(runs []Result) []Goal {
	var gs []Goal
	ratioGoal := func(name, workload string, get func(*Result) float64, min float64) {
		g := Goal{Name: name, Limit: fmt.Sprintf(">= %.1fx", min), Status: "n/a", Measured: "-"}
		s, k := findRun(runs, workload, "sluice"), findRun(runs, workload, "kfake")
		if s != nil && k != nil && get(k) > 0 && get(s) > 0 {
			r := get(s) / get(k)
			g.Measured = fmt.Sprintf("%.2fx (%.1f vs %.1f MB/s)", r, get(s), get(k))
			g.Status = status(r >= min)
		}
		gs = append(gs, g)
	}
	ratioGoal("produce MB/s vs kfake (a)", "a-produce", func(r *Result) float64 { return r.MBPerSec }, 2)
	ratioGoal("catch-up consume MB/s vs kfake (d)", "d-catch-up", func(r *Result) float64 { return r.ConsumeMBPerSec }, 2)

	// Ack p99 at 5k records/s: the client's and the broker's linger plus
	// 15ms.
	g := Goal{Name: "ack p99 at 5k records/s (c)", Status: "n/a", Measured: "-", Limit: "linger + 15ms"}
	if s := findRun(runs, "c-latency-5k", "sluice"); s != nil && s.Latency.Count > 0 {
		limit := s.Workload.Linger + produce.DefaultLinger + 15*time.Millisecond
		g.Limit = fmt.Sprintf("<= %v (client linger %v + broker linger %v + 15ms)", limit, s.Workload.Linger, produce.DefaultLinger)
		g.Measured = fmtLatency(s.Latency.P99)
		if p := findRun(runs, "c-latency-5k", ProcessTarget); p != nil && p.Latency.Count > 0 {
			g.Measured += fmt.Sprintf(" (%s: %s)", ProcessTarget, fmtLatency(p.Latency.P99))
		}
		g.Status = status(s.Latency.P99 <= limit)
	}
	gs = append(gs, g)

	// Object PUTs and metadata transactions per second bounded by the
	// flushes: at most one PUT per flush, at most one commit per PUT, and
	// flushes bounded by the linger and the flush size, whatever the
	// partition and connection counts.
	for _, wl := range []string{"a-", "e-", "f-"} {
		g := Goal{Name: "PUT/s and meta txn/s bounded by flushes (" + wl[:1] + ")", Status: "n/a", Measured: "-",
			Limit: "commits <= PUTs, PUT/s <= 1/linger + MB/s / flush MB"}
		if s := findCase(runs, wl, "sluice"); s != nil && s.Cost != nil && s.Cost.Seconds > 0 && s.Records > 0 {
			c := s.Cost
			bound := 1/produce.DefaultLinger.Seconds() + float64(c.Delta.ObjectPutBytes)/c.Seconds/float64(produce.DefaultFlushBytes)
			g.Measured = fmt.Sprintf("%.1f PUT/s, %.1f commit/s, %.1f meta txn/s", c.PutsPerSec, float64(c.Delta.MetaCommits)/c.Seconds, c.MetaTxnsPerSec)
			g.Limit = fmt.Sprintf("commits <= PUTs, PUT/s <= %.0f", bound)
			g.Status = status(c.Delta.MetaCommits <= c.Delta.ObjectPuts && c.PutsPerSec <= bound*1.05)
		}
		gs = append(gs, g)
	}

	// RSS under 1 GiB in every workload: the broker's own where it ran in
	// its own process, over the whole run where known; else the whole
	// benchmark process's.
	g = Goal{Name: "peak RSS < 1 GiB, every workload (sluice)", Status: "n/a", Measured: "-", Limit: "< 1024 MiB"}
	rss := func(runs []Result, want string) (worst int64, name, scope string) {
		for _, r := range runs {
			if base, _ := strings.CutSuffix(baseTarget(r.Target), tracedSuffix); base != want || r.Resources == nil {
				continue
			}
			if p := r.Resources.PeakRSS(); p > worst {
				worst, name, scope = p, r.Workload.Name, "window"
				if r.Resources.RunPeakRSSBytes > 0 {
					scope = "whole run"
				}
			}
		}
		return
	}
	worst, worstName, scope := rss(runs, ProcessTarget)
	g.Limit = "< 1024 MiB (broker process alone)"
	if worst == 0 {
		worst, worstName, scope = rss(runs, "sluice")
		g.Limit = "< 1024 MiB (whole benchmark process: broker and load generator)"
	}
	if worst > 0 {
		g.Measured = fmt.Sprintf("max %d MiB (%s, %s)", worst>>20, worstName, scope)
		g.Status = status(worst < 1<<30)
	}
	gs = append(gs, g)

	// Tracing at 1% costs under 5% of throughput: the median over the
	// alternating pairs of runs.
	gs = append(gs, TracingGoal(runs))
	return gs
}

// baseTarget is a suite run's target without its " #N" repeat label.
func baseTarget(label string) string {
	if i := strings.LastIndex(label, " #"); i >= 0 {
		return label[:i]
	}
	return label
}

// tracingRole says whether a (g) run is tracing off, on, or neither.
func tracingRole(label string) (off, on bool) {
	base, traced := strings.CutSuffix(baseTarget(label), tracedSuffix)
	if base != "sluice" && base != ProcessTarget {
		return false, false
	}
	return !traced, traced
}

// TracingGoal judges workload (g): for each pair of runs (tracing off,
// then at TracedRatio) the throughput lost, 1 - on/off; the goal is met
// when the median loss is under 5%. It also says the spread.
func TracingGoal(runs []Result) Goal {
	g := Goal{Name: "tracing 1% throughput cost (g)", Status: "n/a", Measured: "-", Limit: "< 5% (median of pairs)"}
	pairs := TracingPairs(runs)
	if len(pairs) == 0 {
		return g
	}
	var losses, offs, ons []float64
	for _, p := range pairs {
		losses = append(losses, 1-p[1]/p[0])
		offs, ons = append(offs, p[0]), append(ons, p[1])
	}
	med := median(losses)
	if len(pairs) == 1 {
		g.Measured = fmt.Sprintf("%.1f%% (%.1f vs %.1f MB/s, one pair)", 100*med, ons[0], offs[0])
	} else {
		g.Measured = fmt.Sprintf("median %.1f%% over %d pairs (each: %s; off median %.1f MB/s, on %.1f)",
			100*med, len(pairs), percents(losses), median(offs), median(ons))
	}
	if off, on := tracingCPUPerGB(runs); off > 0 && on > 0 {
		g.Measured += fmt.Sprintf("; CPU s/GB median off %.2f, on %.2f", off, on)
	}
	g.Status = status(med < 0.05)
	return g
}

// tracingCPUPerGB is the median over (g)'s runs of CPU seconds per GB
// acknowledged, tracing off and on (0 when not measured).
func tracingCPUPerGB(runs []Result) (off, on float64) {
	var offs, ons []float64
	for _, r := range runs {
		if r.Workload.Name != "g-tracing" || r.Errors > 0 || r.Resources == nil || r.Bytes <= 0 {
			continue
		}
		v := r.Resources.CPUSeconds / (float64(r.Bytes) / 1e9)
		switch off, on := tracingRole(r.Target); {
		case on:
			ons = append(ons, v)
		case off:
			offs = append(offs, v)
		}
	}
	return median(offs), median(ons)
}

// TracingPairs returns, in run order, the MB/s of each pair of (g) runs:
// tracing off, then on.
func TracingPairs(runs []Result) [][2]float64 {
	var out [][2]float64
	var off *Result
	for i := range runs {
		r := &runs[i]
		if r.Workload.Name != "g-tracing" || r.Errors > 0 {
			continue
		}
		switch isOff, isOn := tracingRole(r.Target); {
		case isOff:
			off = r
		case isOn && off != nil && off.MBPerSec > 0:
			out = append(out, [2]float64{off.MBPerSec, r.MBPerSec})
			off = nil
		}
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func percents(xs []float64) string {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%.1f%%", 100*x)
	}
	return b.String()
}

// findCase finds the run of target whose workload name starts with prefix.
func findCase(runs []Result, prefix, target string) *Result {
	for i := range runs {
		if strings.HasPrefix(runs[i].Workload.Name, prefix) && runs[i].Target == target {
			return &runs[i]
		}
	}
	return nil
}

func status(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}
