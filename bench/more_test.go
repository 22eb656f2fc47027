package bench

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func TestParseWorkloads(t *testing.T) {
	base := DefaultWorkload()
	ws, err := ParseWorkloads([]byte(`
workloads:
  - name: full
    topic: t
    topics: 3
    partitions: 16
    producers: 4
    consumers: 2
    record-bytes: 2KiB
    payload: json
    compression: zstd
    acks: "all"
    idempotent: true
    linger: 10ms
    batch-bytes: 512KiB
    max-buffered-bytes: 8MiB
    partitioner: sticky
    rate: 5000
    warmup: 1s
    duration: 1m
    drain-timeout: 5s
    seed: 9
  - name: catch-up
    catch-up-bytes: 1GiB
`), base)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 {
		t.Fatalf("got %d workloads, want 2", len(ws))
	}
	want := base
	want.Name, want.Topic, want.Topics, want.Partitions, want.Producers, want.Consumers = "full", "t", 3, 16, 4, 2
	want.RecordBytes, want.PayloadKind, want.Compression, want.Acks, want.Idempotent = 2048, "json", "zstd", "all", true
	want.Linger, want.BatchBytes, want.MaxBufferedBytes, want.Partitioner, want.Rate = 10*time.Millisecond, 512<<10, 8<<20, "sticky", 5000
	want.Warmup, want.Duration, want.DrainTimeout, want.Seed = time.Second, time.Minute, 5*time.Second, 9
	if !reflect.DeepEqual(ws[0], want) {
		t.Errorf("workload 1 = %+v\nwant %+v", ws[0], want)
	}
	w2 := base
	w2.Name, w2.CatchUpBytes = "catch-up", 1<<30
	if !reflect.DeepEqual(ws[1], w2) {
		t.Errorf("workload 2 = %+v\nwant %+v (unset keys keep the base)", ws[1], w2)
	}
	if got := ws[0].TopicNames(); !reflect.DeepEqual(got, []string{"t-0", "t-1", "t-2"}) {
		t.Errorf("topic names %q", got)
	}

	one, err := ParseWorkloads([]byte("name: single\nrate: 100\nduration: 2s\n"), base)
	if err != nil || len(one) != 1 || one[0].Name != "single" || one[0].Rate != 100 || one[0].Duration != 2*time.Second {
		t.Errorf("single workload = %+v, %v", one, err)
	}

	for _, bad := range []string{
		"workloads:\n  - name: x\n    partitons: 3\n", // unknown key
		"name: x\nduration: ten\n",                    // bad duration
		"name: x\nrecord-bytes: 1 KiBs\n",             // bad size
		"name: x\nacks: 2\n",                          // invalid value
		"name: x\nrate: 10\ncatch-up-bytes: 1MiB\n",   // rate with catch-up
		"workloads: []\n",                             // none
		"",                                            // empty
	} {
		if _, err := ParseWorkloads([]byte(bad), base); err == nil {
			t.Errorf("ParseWorkloads(%q): no error", bad)
		}
	}
}

func TestHistogramPercentilesUniform(t *testing.T) {
	var h Histogram
	// 1ms .. 1000ms, one value per millisecond.
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {0.999, 999 * time.Millisecond}, {1, 1000 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if got < c.want || float64(got-c.want) > float64(c.want)/subCount {
			t.Errorf("q%v = %v, want %v (within 1/%d above)", c.q, got, c.want, subCount)
		}
	}
	s := h.Summary()
	if s.P90 != h.Quantile(0.9) || s.P999 != h.Quantile(0.999) || s.Max != time.Second || s.Min != time.Millisecond {
		t.Errorf("summary %+v", s)
	}
	var n uint64
	prev := time.Duration(-1)
	for _, b := range h.Buckets() {
		if b.Le <= prev || b.Count == 0 {
			t.Errorf("bucket %+v after le %v", b, prev)
		}
		prev, n = b.Le, n+b.Count
	}
	if n != h.Count() || prev != h.Max() {
		t.Errorf("buckets hold %d values up to %v, want %d up to %v", n, prev, h.Count(), h.Max())
	}
}

func TestJSONPayloadCompresses(t *testing.T) {
	p := JSONPayload(1024, 1)
	var raw []byte
	for i := range 256 {
		v := p(uint64(i))
		if len(v) != 1024 {
			t.Fatalf("len %d", len(v))
		}
		raw = append(raw, v...)
	}
	enc, _ := zstd.NewWriter(nil)
	ratio := float64(len(raw)) / float64(len(enc.EncodeAll(raw, nil)))
	if ratio < 2.5 || ratio > 8 {
		t.Errorf("zstd ratio %.2f, want that of JSON events (2.5 to 8)", ratio)
	}
	if !bytes.Contains(raw, []byte(`"event_id":"`)) {
		t.Error("not JSON events")
	}
}

// sampleReport is a report with every field set, as a suite makes.
func sampleReport() *Report {
	mk := func(target, workload string, mbps float64, consumers int) Result {
		w := DefaultWorkload()
		w.Name, w.Topic, w.Consumers, w.PayloadKind = workload, "t", consumers, PayloadJSON
		var h, e Histogram
		for i := 1; i <= 2000; i++ {
			h.Record(time.Duration(i*i) * time.Microsecond / time.Duration(mbps))
			e.Record(time.Duration(i*i) * 2 * time.Microsecond / time.Duration(mbps))
		}
		r := Result{Target: target, Bootstrap: "127.0.0.1:1", Workload: w, Partitions: 8, Idempotent: true,
			Elapsed: 2 * time.Second, ProduceElapsed: 2 * time.Second, Records: 1000, Bytes: 1024000, RecordsPerSec: 500, MBPerSec: mbps,
			Latency: h.Summary(), LatencyHistogram: h.Buckets(), Errors: 0, Notes: []string{"a note"},
			Resources: &Resources{Scope: inProcessScope, PID: 1, CPUSeconds: 1.5, Cores: 0.75, PeakRSSBytes: 300 << 20, PeakRSSSource: "x"},
			Cost:      newCost("harness store wrappers", Counters{ObjectPuts: 20, ObjectPutBytes: 1 << 20, MetaCommits: 18, MetaReads: 3}, 2, 1<<20),
		}
		if consumers > 0 {
			r.ConsumedRecords, r.ConsumedBytes, r.ConsumeMBPerSec, r.ConsumeRecordsPerSec = 1000, 1024000, mbps*0.9, 490
			r.EndToEnd, r.EndToEndHistogram = e.Summary(), e.Buckets()
		}
		for i := -2; i <= 3; i++ {
			r.Timeline = append(r.Timeline, Sample{T: float64(i), ProduceMBps: mbps + float64(i), ProduceRecps: 100,
				ConsumeMBps: float64(consumers) * mbps * 0.9, AckP50: time.Millisecond, AckP99: 5 * time.Millisecond, RSSBytes: 1 << 28})
		}
		return r
	}
	rep := &Report{Title: "test", Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Host: Host{CPUs: 2, GOMAXPROCS: 2, GoVersion: "go", OS: "linux/amd64", LoadStart: "1 1 1", LoadEnd: "2 2 2"}}
	rep.Runs = []Result{mk("kfake", "a-produce", 100, 0), mk("sluice", "a-produce", 250, 0), mk("kfake", "c-latency-5k", 5, 1), mk("sluice", "c-latency-5k", 5, 1)}
	rep.Runs[1].Breakdown = &Breakdown{Available: true, Spans: 10, Stages: []StageStats{{Stage: "decode", Spans: 10, WorkSource: "span duration", WorkP50: time.Microsecond, WorkP99: 2 * time.Microsecond}}, CPUProfile: "x.pprof"}
	rep.Compare("sluice", "kfake")
	rep.Goals = Goals(rep.Runs)
	return rep
}

func TestReportJSONRoundTrip(t *testing.T) {
	rep := sampleReport()
	path := filepath.Join(t.TempDir(), "r.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rep) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, rep)
	}
	if len(rep.Comparisons) != 2 || math.Abs(rep.Comparisons[0].ProduceMBps-2.5) > 1e-9 {
		t.Errorf("comparisons %+v, want a-produce at 2.5x", rep.Comparisons)
	}
	// The first harness's bare list of results is read too.
	old := filepath.Join(t.TempDir(), "old.json")
	os.WriteFile(old, []byte(`[{"target":"sluice","mb_per_sec":3.5}]`), 0o644)
	if r, err := ReadReport(old); err != nil || len(r.Runs) != 1 || r.Runs[0].MBPerSec != 3.5 {
		t.Errorf("old format: %+v, %v", r, err)
	}
}

// findChromium finds a headless-capable Chromium, installing Debian's
// package when it is missing and the machine allows it (CI=true or root,
// with apt-get).
func findChromium(t *testing.T) string {
	t.Helper()
	look := func() string {
		for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
		}
		return ""
	}
	if p := look(); p != "" {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err == nil && (os.Getenv("CI") == "true" || os.Geteuid() == 0) {
		t.Log("chromium missing: installing Debian's chromium package")
		cmd := exec.Command("sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("apt-get: %v\n%s", err, out)
		}
		if p := look(); p != "" {
			return p
		}
	}
	t.Fatal("chromium not found and could not be installed: install it (apt-get install chromium) or run `make bench-deps` as root")
	return ""
}

// TestHTMLReportRenders renders the report in headless Chromium and checks
// the charts were drawn.
func TestHTMLReportRenders(t *testing.T) {
	chromium := findChromium(t)
	rep := sampleReport()
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := rep.WriteHTML(page); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(page)
	if bytes.Contains(html, []byte("http://")) && !bytes.Contains(html, []byte("http://www.w3.org/2000/svg")) || bytes.Contains(html, []byte("https://")) || bytes.Contains(html, []byte("<script src")) {
		t.Error("the page refers to the network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + filepath.Join(dir, "profile")}
	cmd := exec.CommandContext(ctx, chromium, append(args, "--dump-dom", "file://"+page)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr.String())
	}
	// Two workloads: a-produce (throughput, ack percentiles, ack
	// histogram) and c-latency-5k (the same plus end-to-end percentiles
	// and histogram), and the ratio chart.
	const wantCharts = 3 + 5 + 1
	m := regexp.MustCompile(`id="render-status"[^>]*data-charts="(\d+)"[^>]*>rendered (\d+) charts`).FindSubmatch(dom)
	if m == nil {
		s := regexp.MustCompile(`id="render-status"[^<]*`).Find(dom)
		t.Fatalf("the page's script did not finish: %s", s)
	}
	if n, _ := strconv.Atoi(string(m[2])); n != wantCharts {
		t.Errorf("rendered %d charts, want %d", n, wantCharts)
	}
	if n := bytes.Count(dom, []byte(`<svg class="chart"`)); n != wantCharts {
		t.Errorf("%d chart SVGs in the DOM, want %d", n, wantCharts)
	}
	for _, kind := range []string{"throughput", "percentiles", "histogram", "ratios"} {
		if !bytes.Contains(dom, []byte(`data-kind="`+kind+`"`)) {
			t.Errorf("no %s chart in the DOM", kind)
		}
	}
	// Lines and bars were drawn with real coordinates.
	paths := regexp.MustCompile(`<path d="M[0-9.]+,[0-9.]+L`).FindAll(dom, -1)
	rects := bytes.Count(dom, []byte("<rect "))
	if len(paths) < 8 || rects < 20 {
		t.Errorf("%d line paths and %d rects drawn, want at least 8 and 20", len(paths), rects)
	}
	if bad := regexp.MustCompile(`="[^"]*(NaN|Infinity)[^"]*"`).Find(dom); bad != nil {
		t.Errorf("a chart attribute is not a number: %s", bad)
	}

	// And the pixels: a screenshot that is not blank.
	shot := filepath.Join(dir, "shot.png")
	cmd = exec.CommandContext(ctx, chromium, append(args, "--window-size=1200,1600", "--screenshot="+shot, "file://"+page)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	checkNotBlank(t, shot)
}

// TestMergedReport puts two reports side by side.
func TestMergedReport(t *testing.T) {
	a, b := sampleReport(), sampleReport()
	a.Source, b.Source = "before", "after"
	m := MergeReports([]*Report{a, b})
	if len(m.Runs) != 8 || !strings.HasSuffix(m.Runs[0].Target, "[before]") || !strings.HasSuffix(m.Runs[7].Target, "[after]") {
		t.Errorf("merged runs: %d, first %q, last %q", len(m.Runs), m.Runs[0].Target, m.Runs[7].Target)
	}
	if err := m.WriteHTML(filepath.Join(t.TempDir(), "m.html")); err != nil {
		t.Fatal(err)
	}
}

func TestPacerRate(t *testing.T) {
	const rate, dur = 5000.0, 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	p := NewPacer(rate)
	start := time.Now()
	n := 0
	for p.Wait(ctx) == nil {
		n++
	}
	got := float64(n) / time.Since(start).Seconds()
	if math.Abs(got-rate)/rate > 0.03 {
		t.Errorf("paced %.0f events/s, want %.0f within 3%%", got, rate)
	}
}

// TestRunAtRate checks that a workload's target rate is what the broker
// gets, within 5%, over 2s.
func TestRunAtRate(t *testing.T) {
	addr := startForTest(t, "kfake")
	w := DefaultWorkload()
	w.Rate = 3000
	w.Producers = 2
	w.Duration = 2 * time.Second
	w.Warmup = 300 * time.Millisecond
	w.Linger = time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, addr, w)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.RecordsPerSec-w.Rate)/w.Rate > 0.05 {
		t.Errorf("%.0f records/s acknowledged, want %.0f within 5%%", res.RecordsPerSec, w.Rate)
	}
	if res.Errors != 0 {
		t.Errorf("errors %d: %q", res.Errors, res.ErrorSamples)
	}
}

// TestBreakdown runs sluice with every request traced into the collector
// and checks each produce stage reports queue wait and work.
func TestBreakdown(t *testing.T) {
	tg, err := StartTargetWith("sluice", t.TempDir(), TargetOptions{Tracing: true, TraceRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Stop()
	w := DefaultWorkload()
	w.Name = "breakdown"
	w.Duration, w.Warmup, w.Rate = time.Second, 200*time.Millisecond, 2000
	w.Consumers = 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	res, err := RunTarget(ctx, tg, w, RunConfig{Breakdown: true, OutDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Breakdown
	if b == nil || !b.Available || b.Spans == 0 {
		t.Fatalf("breakdown %+v", b)
	}
	var out bytes.Buffer
	WriteBreakdown(&out, "sluice", b)
	t.Log(out.String())
	got := map[string]StageStats{}
	for _, s := range b.Stages {
		got[s.Stage] = s
	}
	for _, stage := range []string{"kafka.Produce", "produce.decode", "produce.sequence", "produce.cashier", "produce.upload", "produce.commit"} {
		s, ok := got[stage]
		if !ok || s.Spans == 0 || s.WorkP99 <= 0 || s.WorkP50 > s.WorkP99 {
			t.Errorf("stage %s: %+v", stage, s)
		}
	}
	if s := got["produce.decode"]; s.QueueSource != queueWaitAttr || s.WorkSource != workAttr {
		t.Errorf("produce.decode sources %q %q, want the span attributes", s.QueueSource, s.WorkSource)
	}
	if fi, err := os.Stat(b.CPUProfile); err != nil || fi.Size() == 0 || filepath.Dir(b.CPUProfile) != dir {
		t.Errorf("cpu profile %q: %v", b.CPUProfile, err)
	}
}
