package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what sluice-bench writes as JSON and renders as HTML: the
// runs, the sluice/kfake comparisons and the goals.
type Report struct {
	Title       string       `json:"title"`
	Started     time.Time    `json:"started"`
	Host        Host         `json:"host"`
	Runs        []Result     `json:"runs"`
	Comparisons []Comparison `json:"comparisons,omitempty"`
	Goals       []Goal       `json:"goals,omitempty"`
	// Source labels the file a report was read from, when several are
	// compared.
	Source string `json:"source,omitempty"`
}

// Host describes the machine a report was made on.
type Host struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	LoadStart  string `json:"load_start"`
	LoadEnd    string `json:"load_end,omitempty"`
}

// ThisHost describes this machine now.
func ThisHost() Host {
	return Host{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, LoadStart: LoadAvg()}
}

// LoadAvg is the 1, 5 and 15 minute load averages (Linux), or "n/a".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "n/a"
}

// Comparison is one workload's A/B ratios (A over B; for latencies, a
// ratio below 1 means A is faster). A zero ratio means not measured.
type Comparison struct {
	Workload    string  `json:"workload"`
	A           string  `json:"a"`
	B           string  `json:"b"`
	ProduceMBps float64 `json:"produce_mbps_ratio"`
	ConsumeMBps float64 `json:"consume_mbps_ratio"`
	AckP99      float64 `json:"ack_p99_ratio"`
	EndToEndP99 float64 `json:"e2e_p99_ratio"`
}

// Goal is one target the lead reports against, as measured.
type Goal struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Limit    string `json:"limit"`
	// Status is "pass", "fail" or "n/a" (not measured in this run).
	Status string `json:"status"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadReport reads a report written by WriteJSON. A file holding a bare
// list of results (the first harness's --json) is accepted too.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		var runs []Result
		if err2 := json.Unmarshal(b, &runs); err2 != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r.Runs = runs
	}
	return &r, nil
}

// Compare fills r.Comparisons with a/b ratios for every workload that has
// a run of both targets.
func (r *Report) Compare(a, b string) {
	for _, name := range workloadNames(r.Runs) {
		ra, rb := findRun(r.Runs, name, a), findRun(r.Runs, name, b)
		if ra == nil || rb == nil {
			continue
		}
		r.Comparisons = append(r.Comparisons, Comparison{
			Workload: name, A: a, B: b,
			ProduceMBps: div(ra.MBPerSec, rb.MBPerSec),
			ConsumeMBps: div(ra.ConsumeMBPerSec, rb.ConsumeMBPerSec),
			AckP99:      div(float64(ra.Latency.P99), float64(rb.Latency.P99)),
			EndToEndP99: div(float64(ra.EndToEnd.P99), float64(rb.EndToEnd.P99)),
		})
	}
}

func div(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

func workloadNames(runs []Result) []string {
	var names []string
	for _, r := range runs {
		if !contains(names, r.Workload.Name) {
			names = append(names, r.Workload.Name)
		}
	}
	return names
}

func findRun(runs []Result, workload, target string) *Result {
	for i := range runs {
		if runs[i].Workload.Name == workload && runs[i].Target == target {
			return &runs[i]
		}
	}
	return nil
}

// WriteTable prints results as aligned tables (throughput and latency;
// then resources and cost where known), then any errors and notes, and,
// when both a "sluice" and a "kfake" result are present, the ratio
// sluice/kfake of MB/s and records/s.
func WriteTable(out io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	consumers := false
	for _, r := range results {
		consumers = consumers || r.Workload.Consumers > 0
	}
	hdr := "target\tMB/s\trecords/s\tack p50\tp90\tp99\tp99.9\tmax\t"
	if consumers {
		hdr += "cons MB/s\te2e p50\tp90\tp99\tp99.9\tmax\t"
	}
	fmt.Fprintln(tw, hdr+"errors\t")
	for _, r := range results {
		l := r.Latency
		fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%s\t%s\t%s\t%s\t%s\t", r.Target, r.MBPerSec, r.RecordsPerSec,
			fmtLatency(l.P50), fmtLatency(l.P90), fmtLatency(l.P99), fmtLatency(l.P999), fmtLatency(l.Max))
		if consumers {
			e := r.EndToEnd
			if e.Count == 0 {
				fmt.Fprintf(tw, "%.1f\t-\t-\t-\t-\t-\t", r.ConsumeMBPerSec)
			} else {
				fmt.Fprintf(tw, "%.1f\t%s\t%s\t%s\t%s\t%s\t", r.ConsumeMBPerSec,
					fmtLatency(e.P50), fmtLatency(e.P90), fmtLatency(e.P99), fmtLatency(e.P999), fmtLatency(e.Max))
			}
		}
		fmt.Fprintf(tw, "%d\t\n", r.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeCostTable(out, results)
	for _, r := range results {
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(out, "%s: error: %s\n", r.Target, s)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(out, "%s: note: %s\n", r.Target, n)
		}
	}
	var scopes []string
	for _, r := range results {
		if r.Resources != nil {
			if s := fmt.Sprintf("%s; peak RSS from %s", r.Resources.Scope, r.Resources.PeakRSSSource); !contains(scopes, s) {
				scopes = append(scopes, s)
				fmt.Fprintf(out, "%s: CPU and RSS: %s\n", r.Target, s)
			}
		}
	}
	if s, k, ok := pair(results, "sluice", "kfake"); ok {
		fmt.Fprintf(out, "sluice/kfake: produce MB/s %s, records/s %s", ratio(s.MBPerSec, k.MBPerSec), ratio(s.RecordsPerSec, k.RecordsPerSec))
		if s.ConsumeMBPerSec > 0 || k.ConsumeMBPerSec > 0 {
			fmt.Fprintf(out, ", consume MB/s %s", ratio(s.ConsumeMBPerSec, k.ConsumeMBPerSec))
		}
		fmt.Fprintf(out, ", ack p99 %s", ratio(float64(s.Latency.P99), float64(k.Latency.P99)))
		if s.EndToEnd.Count > 0 && k.EndToEnd.Count > 0 {
			fmt.Fprintf(out, ", e2e p99 %s", ratio(float64(s.EndToEnd.P99), float64(k.EndToEnd.P99)))
		}
		fmt.Fprintln(out)
	}
	return nil
}

// writeCostTable prints CPU, RSS and store operations where known.
func writeCostTable(out io.Writer, results []Result) {
	known := false
	for _, r := range results {
		known = known || r.Resources != nil || r.Cost != nil
	}
	if !known {
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tCPU s\tcores\tpeak RSS\trun peak\tPUT/s\tPUT/GiB\tPUT MB/GiB\tGET/s\tGET/GiB\tGET MB/GiB\tmeta txn/s\tmeta txn/GiB\tmeta read/s\tcounters\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t", r.Target)
		if x := r.Resources; x != nil {
			fmt.Fprintf(tw, "%.1f\t%.2f\t%d MiB\t", x.CPUSeconds, x.Cores, x.PeakRSSBytes>>20)
			if x.RunPeakRSSBytes > 0 {
				fmt.Fprintf(tw, "%d MiB\t", x.RunPeakRSSBytes>>20)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		} else {
			fmt.Fprint(tw, "-\t-\t-\t-\t")
		}
		if c := r.Cost; c != nil {
			fmt.Fprintf(tw, "%.1f\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t%.1f\t%.0f\t%.1f\t%s\t\n",
				c.PutsPerSec, c.PutsPerGiB, c.PutBytesPerGiB/1e6, c.GetsPerSec, c.GetsPerGiB, c.GetBytesPerGiB/1e6,
				c.MetaTxnsPerSec, c.MetaTxnsPerGiB, c.MetaReadsPerS, c.Source)
		} else {
			fmt.Fprint(tw, "-\t-\t-\t-\t-\t-\t-\t-\t-\tn/a\t\n")
		}
	}
	tw.Flush()
}

// Ratio returns a/b of the named results' MB/s and records/s.
func Ratio(results []Result, a, b string) (mbps, recps float64, ok bool) {
	ra, rb, ok := pair(results, a, b)
	if !ok || rb.MBPerSec == 0 || rb.RecordsPerSec == 0 {
		return 0, 0, false
	}
	return ra.MBPerSec / rb.MBPerSec, ra.RecordsPerSec / rb.RecordsPerSec, true
}

func pair(results []Result, a, b string) (Result, Result, bool) {
	var ra, rb *Result
	for i := range results {
		switch results[i].Target {
		case a:
			ra = &results[i]
		case b:
			rb = &results[i]
		}
	}
	if ra == nil || rb == nil {
		return Result{}, Result{}, false
	}
	return *ra, *rb, true
}

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// WriteComparisons prints the comparison table of a suite.
func WriteComparisons(out io.Writer, cs []Comparison) {
	if len(cs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\t%s/%s produce MB/s\tconsume MB/s\tack p99\te2e p99\t\n", cs[0].A, cs[0].B)
	f := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", v)
	}
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c.Workload, f(c.ProduceMBps), f(c.ConsumeMBps), f(c.AckP99), f(c.EndToEndP99))
	}
	tw.Flush()
}

// WriteGoals prints the goals table.
func WriteGoals(out io.Writer, gs []Goal) {
	if len(gs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "goal\tmeasured\tlimit\tstatus")
	for _, g := range gs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, g.Measured, g.Limit, strings.ToUpper(g.Status))
	}
	tw.Flush()
}

// fmtLatency prints a latency in milliseconds.
func fmtLatency(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "0"
	case ms < 0.1:
		return fmt.Sprintf("%.1fus", float64(d)/float64(time.Microsecond))
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}
