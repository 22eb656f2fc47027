package bench

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBuiltSluice()
	os.Exit(code)
}

// TestProcessTarget runs a short workload against `sluice serve` as a
// child process: the resources must be the child's (not this process's),
// the cost must come over the admin address, and Stop must end the child.
func TestProcessTarget(t *testing.T) {
	tg, err := StartTargetWith(ProcessTarget, t.TempDir(), TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Stop()
	if tg.InProcess || tg.PID == 0 || tg.PID == os.Getpid() || !tg.Fresh {
		t.Fatalf("target %+v: want a fresh child process", tg)
	}
	w := DefaultWorkload()
	w.Name = "process"
	w.Duration, w.Warmup = 1500*time.Millisecond, 300*time.Millisecond
	w.MaxBufferedBytes = 4 << 20
	w.Consumers = 1
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := RunTarget(ctx, tg, w, RunConfig{})
	if err != nil {
		t.Fatalf("run: %v (result %+v)", err, res)
	}
	checkResult(t, res, w)
	r := res.Resources
	if r == nil || r.PID != tg.PID || r.CPUSeconds <= 0 || r.PeakRSSBytes <= 0 || !strings.HasPrefix(r.Scope, "broker process alone") {
		t.Fatalf("resources = %+v, want the child's CPU and RSS", r)
	}
	if r.RunPeakRSSBytes < r.PeakRSSBytes || r.PeakRSS() != r.RunPeakRSSBytes {
		t.Errorf("run peak %d, window peak %d: the run's peak includes the window's", r.RunPeakRSSBytes, r.PeakRSSBytes)
	}
	c := res.Cost
	if c == nil || c.Source != "GET /debug/stats" || c.Delta.ObjectPuts <= 0 || c.Delta.MetaCommits <= 0 ||
		c.Delta.MetaCommits > c.Delta.ObjectPuts || c.Delta.ProducedBytes < res.Bytes || c.Delta.FetchedBytes <= 0 {
		t.Errorf("cost = %+v, want the child's PUTs, commits and fetches over the admin address", c)
	}

	pid := tg.PID
	tg.Stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("after Stop, signal 0 to the child %d: %v, want no such process", pid, err)
	}
}

// TestProcessTargetBreakdown traces every request of a child broker and
// collects its stage spans over OTLP.
func TestProcessTargetBreakdown(t *testing.T) {
	tg, err := StartTargetWith(ProcessTarget, t.TempDir(), TargetOptions{Tracing: true, TraceRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Stop()
	w := DefaultWorkload()
	w.Name = "process-breakdown"
	w.Duration, w.Warmup, w.Rate = 1500*time.Millisecond, 300*time.Millisecond, 2000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := RunTarget(ctx, tg, w, RunConfig{Breakdown: true, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Breakdown
	if b == nil || !b.Available {
		t.Fatalf("breakdown %+v, notes %q", b, res.Notes)
	}
	var out bytes.Buffer
	WriteBreakdown(&out, ProcessTarget, b)
	t.Log(out.String())
	got := map[string]StageStats{}
	for _, s := range b.Stages {
		got[s.Stage] = s
	}
	for _, stage := range []string{"kafka.Produce", "produce.decode", "produce.upload", "produce.commit"} {
		if s := got[stage]; s.Spans == 0 || s.WorkP99 <= 0 {
			t.Errorf("stage %s: %+v", stage, s)
		}
	}
	if s := got["produce.decode"]; s.QueueSource != queueWaitAttr || s.WorkSource != workAttr {
		t.Errorf("produce.decode sources %q %q, want the span attributes carried over OTLP", s.QueueSource, s.WorkSource)
	}
}

func TestTracingGoal(t *testing.T) {
	run := func(target string, mbps float64) Result {
		return Result{Target: target, Workload: Workload{Name: "g-tracing"}, MBPerSec: mbps}
	}
	runs := []Result{
		run("sluice-process #1", 100), run("sluice-process-traced #1", 90), // 10%
		run("sluice-process #2", 100), run("sluice-process-traced #2", 102), // -2%
		run("sluice-process #3", 100), run("sluice-process-traced #3", 97), // 3%
	}
	pairs := TracingPairs(runs)
	if len(pairs) != 3 || pairs[1] != [2]float64{100, 102} {
		t.Fatalf("pairs %v", pairs)
	}
	g := TracingGoal(runs)
	if g.Status != "pass" || !strings.HasPrefix(g.Measured, "median 3.0% over 3 pairs") {
		t.Errorf("goal %+v: want pass on the median 3%%", g)
	}
	runs[3].MBPerSec = 90 // losses now 10%, 10%, 3%
	if g := TracingGoal(runs); g.Status != "fail" || !strings.HasPrefix(g.Measured, "median 10.0%") {
		t.Errorf("goal %+v: want fail on the median 10%%", g)
	}
	// A failed run leaves its pair out.
	runs[1].Errors = 1
	if p := TracingPairs(runs); len(p) != 2 {
		t.Errorf("pairs with a failed run: %v, want 2", p)
	}
	// In-process names pair the same way.
	in := []Result{run("sluice", 200), run("sluice-traced", 180)}
	if p := TracingPairs(in); len(p) != 1 || p[0] != [2]float64{200, 180} {
		t.Errorf("in-process pairs %v", p)
	}
	if g := TracingGoal(nil); g.Status != "n/a" {
		t.Errorf("no runs: %+v", g)
	}
}

func rssGoal(t *testing.T, runs []Result) Goal {
	t.Helper()
	for _, g := range Goals(runs) {
		if strings.HasPrefix(g.Name, "peak RSS") {
			return g
		}
	}
	t.Fatal("no RSS goal")
	return Goal{}
}

func TestRSSGoal(t *testing.T) {
	alone := "broker process alone (pid 1, started for this run)"
	runs := []Result{
		{Target: ProcessTarget, Workload: Workload{Name: "a-produce"}, Resources: &Resources{Scope: alone, PeakRSSBytes: 300 << 20, RunPeakRSSBytes: 400 << 20}},
		{Target: ProcessTarget, Workload: Workload{Name: "d-catch-up"}, Resources: &Resources{Scope: alone, PeakRSSBytes: 200 << 20, RunPeakRSSBytes: 1100 << 20}},
		// Whole-process figures do not count once the broker's own exist.
		{Target: "sluice", Workload: Workload{Name: "f-200-producers"}, Resources: &Resources{Scope: inProcessScope, PeakRSSBytes: 2900 << 20}},
		{Target: "kfake", Workload: Workload{Name: "d-catch-up"}, Resources: &Resources{Scope: inProcessScope, PeakRSSBytes: 3000 << 20}},
	}
	if g := rssGoal(t, runs); g.Status != "fail" || !strings.Contains(g.Measured, "1100 MiB (d-catch-up, whole run)") || !strings.Contains(g.Limit, "broker process alone") {
		t.Errorf("goal %+v: want a fail on d's whole-run peak, in-process runs ignored", g)
	}
	runs[1].Resources.RunPeakRSSBytes = 250 << 20
	if g := rssGoal(t, runs); g.Status != "pass" || !strings.Contains(g.Measured, "400 MiB (a-produce") {
		t.Errorf("goal %+v: want a pass at 400 MiB", g)
	}
	// Without process runs the in-process sluice's whole process counts.
	if g := rssGoal(t, runs[2:]); g.Status != "fail" || !strings.Contains(g.Measured, "2900 MiB (f-200-producers, window)") || !strings.Contains(g.Limit, "whole benchmark process") {
		t.Errorf("goal %+v: want the in-process figure, labelled so", g)
	}
}

func TestSuiteTargets(t *testing.T) {
	cases := CompareSuite(SmokeScale)
	a, g := cases[0], cases[len(cases)-1]
	if got := (SuiteConfig{}).targets(a); !slices.Equal(got, []string{"kfake", "sluice", ProcessTarget}) {
		t.Errorf("targets of (a): %v", got)
	}
	if got := (SuiteConfig{}).targets(g); !slices.Equal(got, []string{ProcessTarget, ProcessTarget + "-traced"}) {
		t.Errorf("targets of (g): %v", got)
	}
	in := SuiteConfig{InProcessOnly: true}
	if got := in.targets(a); !slices.Equal(got, []string{"kfake", "sluice"}) {
		t.Errorf("in process only, targets of (a): %v", got)
	}
	if got := in.targets(g); !slices.Equal(got, []string{"sluice", "sluice-traced"}) {
		t.Errorf("in process only, targets of (g): %v", got)
	}
}
