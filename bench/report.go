package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable prints results as an aligned table, then any errors and notes,
// and, when both a "sluice" and a "kfake" result are present, the ratio
// sluice/kfake of MB/s and records/s.
func WriteTable(out io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tMB/s\trecords/s\tp50\tp99\tmax\terrors\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%s\t%s\t%s\t%d\t\n",
			r.Target, r.MBPerSec, r.RecordsPerSec,
			fmtLatency(r.Latency.P50), fmtLatency(r.Latency.P99), fmtLatency(r.Latency.Max), r.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(out, "%s: error: %s\n", r.Target, s)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(out, "%s: note: %s\n", r.Target, n)
		}
	}
	if s, k, ok := pair(results, "sluice", "kfake"); ok {
		fmt.Fprintf(out, "sluice/kfake: MB/s %s, records/s %s\n",
			ratio(s.MBPerSec, k.MBPerSec), ratio(s.RecordsPerSec, k.RecordsPerSec))
	}
	return nil
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
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// fmtLatency prints a latency in milliseconds.
func fmtLatency(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}
