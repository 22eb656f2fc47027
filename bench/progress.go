package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// startSampler takes one sample a second into the result's timeline and,
// when asked, prints a progress line. The returned function stops it
// (taking a last partial sample) and waits for it.
func (r *run) startSampler(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	tty := r.o.Progress != nil && stderrIsTerminal()
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := time.Now()
		var lastProd, lastRec, lastCons, lastErr int64
		for {
			var now time.Time
			select {
			case <-ctx.Done():
				now = time.Now()
			case now = <-tick.C:
			}
			secs := now.Sub(last).Seconds()
			if secs < 0.05 {
				if ctx.Err() != nil {
					if tty {
						fmt.Fprintln(r.o.Progress)
					}
					return
				}
				continue
			}
			last = now
			var prod, rec, cons, errs int64
			var ack, e2e Histogram
			for _, p := range r.producers {
				prod += p.ackBytes.Load()
				rec += p.acked.Load()
				errs += p.errors.Load()
				p.mu.Lock()
				ack.Merge(&p.ival)
				p.ival = Histogram{}
				p.mu.Unlock()
			}
			for _, c := range r.consumers {
				cons += c.bytes.Load()
				c.mu.Lock()
				e2e.Merge(&c.ival)
				c.ival = Histogram{}
				c.mu.Unlock()
			}
			s := Sample{
				T:           now.Sub(r.t0).Seconds(),
				ProduceMBps: float64(prod-lastProd) / 1e6 / secs, ProduceRecps: float64(rec-lastRec) / secs,
				ConsumeMBps: float64(cons-lastCons) / 1e6 / secs,
				AckP50:      ack.Quantile(0.5), AckP99: ack.Quantile(0.99),
				EndToEndP50: e2e.Quantile(0.5), EndToEndP99: e2e.Quantile(0.99),
				Errors: errs - lastErr,
			}
			if r.w.CatchUpBytes > 0 {
				s.BacklogBytes, s.ConsumedBytes = prod, cons
			}
			if r.o.PID != 0 {
				if st, err := procStatus(r.o.PID); err == nil {
					s.RSSBytes = st["VmRSS"]
				}
			}
			lastProd, lastRec, lastCons, lastErr = prod, rec, cons, errs
			r.res.Timeline = append(r.res.Timeline, s)
			if r.o.Progress != nil {
				line := r.progressLine(now, s, errs)
				if tty {
					fmt.Fprintf(r.o.Progress, "\r\033[K%s", line)
				} else {
					fmt.Fprintln(r.o.Progress, line)
				}
			}
			if ctx.Err() != nil {
				if tty {
					fmt.Fprintln(r.o.Progress)
				}
				return
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

func (r *run) progressLine(now time.Time, s Sample, errs int64) string {
	var b strings.Builder
	if r.o.Label != "" {
		b.WriteString(r.o.Label + "  ")
	}
	el := now.Sub(r.started).Round(time.Second)
	w := r.w
	switch {
	case w.CatchUpBytes > 0 && s.ConsumedBytes == 0:
		fmt.Fprintf(&b, "%v  backlog %d/%d MiB", el, s.BacklogBytes>>20, w.CatchUpBytes>>20)
	case w.CatchUpBytes > 0:
		fmt.Fprintf(&b, "%v  read %d/%d MiB", el, s.ConsumedBytes>>20, s.BacklogBytes>>20)
	case now.Before(r.t0):
		fmt.Fprintf(&b, "warm-up %v/%v", el, w.Warmup)
	default:
		left := max(r.t1.Sub(now), 0).Round(time.Second)
		fmt.Fprintf(&b, "%v/%v (%v left)", now.Sub(r.t0).Round(time.Second), w.Duration, left)
	}
	fmt.Fprintf(&b, "  produce %.1f MB/s %s rec/s ack p50 %s p99 %s", s.ProduceMBps, fmtCount(s.ProduceRecps), fmtLatency(s.AckP50), fmtLatency(s.AckP99))
	if len(r.consumers) > 0 {
		fmt.Fprintf(&b, "  consume %.1f MB/s", s.ConsumeMBps)
		if w.CatchUpBytes == 0 {
			fmt.Fprintf(&b, " e2e p50 %s p99 %s", fmtLatency(s.EndToEndP50), fmtLatency(s.EndToEndP99))
		}
	}
	if s.RSSBytes > 0 {
		fmt.Fprintf(&b, "  rss %d MiB", s.RSSBytes>>20)
	}
	fmt.Fprintf(&b, "  errors %d", errs)
	return b.String()
}

func fmtCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
