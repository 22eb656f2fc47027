package bench

import (
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MergeReports puts several reports' runs side by side in one report (for
// an HTML comparison of runs made at different times or on different
// builds). Each run's target is suffixed with its report's Source (or the
// report's index) when there is more than one report.
func MergeReports(reports []*Report) *Report {
	if len(reports) == 1 {
		return reports[0]
	}
	out := &Report{Title: "comparison of runs"}
	var titles []string
	for i, r := range reports {
		src := r.Source
		if src == "" {
			src = fmt.Sprint(i + 1)
		}
		titles = append(titles, src)
		if out.Started.IsZero() || (!r.Started.IsZero() && r.Started.Before(out.Started)) {
			out.Started, out.Host = r.Started, r.Host
		}
		for _, run := range r.Runs {
			run.Target = fmt.Sprintf("%s [%s]", run.Target, src)
			out.Runs = append(out.Runs, run)
		}
		for _, c := range r.Comparisons {
			c.A, c.B = fmt.Sprintf("%s [%s]", c.A, src), fmt.Sprintf("%s [%s]", c.B, src)
			out.Comparisons = append(out.Comparisons, c)
		}
		for _, g := range r.Goals {
			g.Name = fmt.Sprintf("%s [%s]", g.Name, src)
			out.Goals = append(out.Goals, g)
		}
	}
	out.Title = "comparison: " + strings.Join(titles, " vs ")
	return out
}

// WriteHTML writes the report as one self-contained HTML page: tables,
// and charts (throughput over time, latency percentiles, latency
// histogram) drawn as inline SVG by an inline script from the report's
// JSON. It loads nothing from the network, so it renders offline.
func (r *Report) WriteHTML(path string) error {
	type section struct {
		Name        string
		Description string
		Runs        []Result
	}
	var sections []section
	for _, name := range workloadNames(r.Runs) {
		s := section{Name: name}
		for _, run := range r.Runs {
			if run.Workload.Name == name {
				s.Runs = append(s.Runs, run)
				if s.Description == "" {
					s.Description = Describe(run.Workload)
				}
			}
		}
		sections = append(sections, s)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = reportTmpl.Execute(f, map[string]any{"R": r, "Sections": sections, "Data": r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReportPaths returns the JSON and HTML paths beside a base path (its
// extension dropped).
func ReportPaths(base string) (jsonPath, htmlPath string) {
	base = strings.TrimSuffix(base, filepath.Ext(base))
	return base + ".json", base + ".html"
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"lat": fmtLatency,
	"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f0":  func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"x": func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", v)
	},
	"mib":  func(v int64) string { return fmt.Sprintf("%d MiB", v>>20) },
	"time": func(t time.Time) string { return t.Format(time.RFC3339) },
	"id":   fileSafe,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.R.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #eee;background:#fcfcfc}
.pass{color:#080;font-weight:bold}.fail{color:#b00;font-weight:bold}.na{color:#888}
.note{color:#555;font-size:12px}
</style></head><body>
<h1>{{.R.Title}}</h1>
<p class="note">{{time .R.Started}} · {{.R.Host.CPUs}} CPUs, GOMAXPROCS {{.R.Host.GOMAXPROCS}}, {{.R.Host.GoVersion}} {{.R.Host.OS}} · load average {{.R.Host.LoadStart}}{{if .R.Host.LoadEnd}} → {{.R.Host.LoadEnd}}{{end}}</p>
<p id="render-status">charts not rendered (the page's script did not run)</p>
{{if .R.Comparisons}}<h2>Ratios</h2>
<table><tr><th>workload</th><th>runs</th><th>produce MB/s</th><th>consume MB/s</th><th>ack p99</th><th>e2e p99</th></tr>
{{range .R.Comparisons}}<tr><td>{{.Workload}}</td><td>{{.A}} / {{.B}}</td><td>{{x .ProduceMBps}}</td><td>{{x .ConsumeMBps}}</td><td>{{x .AckP99}}</td><td>{{x .EndToEndP99}}</td></tr>
{{end}}</table>
<div class="charts" id="ratio-chart"></div>{{end}}
{{if .R.Goals}}<h2>Goals</h2>
<table><tr><th>goal</th><th>measured</th><th>limit</th><th>status</th></tr>
{{range .R.Goals}}<tr><td>{{.Name}}</td><td>{{.Measured}}</td><td>{{.Limit}}</td><td class="{{if eq .Status "n/a"}}na{{else}}{{.Status}}{{end}}">{{.Status}}</td></tr>
{{end}}</table>{{end}}
{{range $i, $s := .Sections}}
<h2 id="w-{{id $s.Name}}">{{$s.Name}}</h2>
<p class="note">{{$s.Description}}</p>
<table><tr><th>target</th><th>produce MB/s</th><th>records/s</th><th>ack p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>consume MB/s</th><th>e2e p50</th><th>p99</th><th>p99.9</th><th>errors</th></tr>
{{range $s.Runs}}<tr><td>{{.Target}}</td><td>{{f1 .MBPerSec}}</td><td>{{f0 .RecordsPerSec}}</td><td>{{lat .Latency.P50}}</td><td>{{lat .Latency.P90}}</td><td>{{lat .Latency.P99}}</td><td>{{lat .Latency.P999}}</td><td>{{lat .Latency.Max}}</td><td>{{f1 .ConsumeMBPerSec}}</td><td>{{lat .EndToEnd.P50}}</td><td>{{lat .EndToEnd.P99}}</td><td>{{lat .EndToEnd.P999}}</td><td>{{.Errors}}</td></tr>
{{end}}</table>
<table><tr><th>target</th><th>CPU s</th><th>cores</th><th>peak RSS</th><th>run peak RSS</th><th>PUT/s</th><th>PUT/GiB</th><th>GET/s</th><th>GET/GiB</th><th>meta txn/s</th><th>meta txn/GiB</th><th>meta reads/s</th></tr>
{{range $s.Runs}}<tr><td>{{.Target}}</td>{{with .Resources}}<td>{{f1 .CPUSeconds}}</td><td>{{printf "%.2f" .Cores}}</td><td>{{mib .PeakRSSBytes}}</td><td>{{if .RunPeakRSSBytes}}{{mib .RunPeakRSSBytes}}{{else}}-{{end}}</td>{{else}}<td>-</td><td>-</td><td>-</td><td>-</td>{{end}}{{with .Cost}}<td>{{f1 .PutsPerSec}}</td><td>{{f0 .PutsPerGiB}}</td><td>{{f1 .GetsPerSec}}</td><td>{{f0 .GetsPerGiB}}</td><td>{{f1 .MetaTxnsPerSec}}</td><td>{{f0 .MetaTxnsPerGiB}}</td><td>{{f1 .MetaReadsPerS}}</td>{{else}}<td colspan="7">n/a</td>{{end}}</tr>
{{end}}</table>
{{range $s.Runs}}{{$t := .Target}}{{range .Notes}}<p class="note">{{$t}}: note: {{.}}</p>{{end}}{{with .Breakdown}}{{if .Available}}<table><tr><th>stage</th><th>spans</th><th>queue p50</th><th>queue p99</th><th>work p50</th><th>work p99</th></tr>{{range .Stages}}<tr><td>{{.Stage}}</td><td>{{.Spans}}</td><td>{{if .QueueSource}}{{lat .QueueP50}}{{else}}n/a{{end}}</td><td>{{if .QueueSource}}{{lat .QueueP99}}{{else}}n/a{{end}}</td><td>{{lat .WorkP50}}</td><td>{{lat .WorkP99}}</td></tr>{{end}}</table>{{else}}<p class="note">stage breakdown not available: {{.Reason}}</p>{{end}}{{if .CPUProfile}}<p class="note">CPU profile: {{.CPUProfile}}</p>{{end}}{{end}}{{end}}
<div class="charts" data-workload="{{$s.Name}}"></div>
{{end}}
<script>
const REPORT = {{.Data}};
(function(){
const status = document.getElementById('render-status');
window.onerror = function(msg){ status.textContent = 'chart error: ' + msg; };
const NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f77b4','#d62728','#2ca02c','#ff7f0e','#9467bd','#8c564b','#e377c2','#17becf'];
const W = 460, H = 280, M = {l: 56, r: 12, t: 28, b: 44};
function el(tag, attrs, parent){ const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }
function text(parent, x, y, s, attrs){ const t = el('text', Object.assign({x: x, y: y, 'font-size': 11}, attrs || {}), parent); t.textContent = s; return t; }
function fmtMs(ns){ const ms = ns / 1e6; return ms >= 100 ? ms.toFixed(0) + 'ms' : ms >= 10 ? ms.toFixed(1) + 'ms' : ms.toFixed(2) + 'ms'; }
function chart(container, title, kind){
  const svg = el('svg', {class: 'chart', 'data-kind': kind, width: W, height: H, viewBox: '0 0 ' + W + ' ' + H}, container);
  text(svg, W / 2, 16, title, {'text-anchor': 'middle', 'font-size': 13, 'font-weight': 'bold'});
  return svg;
}
function scale(d0, d1, r0, r1, log){
  if (log) { const a = Math.log10(d0), b = Math.log10(d1); return v => r0 + (Math.log10(Math.max(v, d0)) - a) / (b - a || 1) * (r1 - r0); }
  return v => r0 + (v - d0) / (d1 - d0 || 1) * (r1 - r0);
}
function axes(svg, xs, ys, xt, yt, xfmt, yfmt, xlog, ylog, xd, yd){
  el('line', {x1: M.l, y1: H - M.b, x2: W - M.r, y2: H - M.b, stroke: '#444'}, svg);
  el('line', {x1: M.l, y1: M.t, x2: M.l, y2: H - M.b, stroke: '#444'}, svg);
  ticks(xd, xlog).forEach(v => { const x = xs(v); el('line', {x1: x, y1: H - M.b, x2: x, y2: H - M.b + 4, stroke: '#444'}, svg); text(svg, x, H - M.b + 15, xfmt(v), {'text-anchor': 'middle'}); });
  ticks(yd, ylog).forEach(v => { const y = ys(v); el('line', {x1: M.l, y1: y, x2: W - M.r, y2: y, stroke: '#eee'}, svg); text(svg, M.l - 4, y + 4, yfmt(v), {'text-anchor': 'end'}); });
  text(svg, (M.l + W - M.r) / 2, H - 8, xt, {'text-anchor': 'middle'});
  text(svg, 12, (M.t + H - M.b) / 2, yt, {'text-anchor': 'middle', transform: 'rotate(-90 12 ' + (M.t + H - M.b) / 2 + ')'});
}
function ticks(d, log){
  const out = [];
  if (log) { for (let p = Math.floor(Math.log10(d[0])); p <= Math.ceil(Math.log10(d[1])); p++) { const v = Math.pow(10, p); if (v >= d[0] * 0.999 && v <= d[1] * 1.001) out.push(v); } if (out.length) return out; }
  const span = d[1] - d[0] || 1, step = Math.pow(10, Math.floor(Math.log10(span / 4))), n = span / step;
  const st = n > 8 ? step * 2 : n > 4 ? step : step / 2;
  for (let v = Math.ceil(d[0] / st) * st; v <= d[1] + 1e-9; v += st) out.push(+v.toPrecision(6));
  return out;
}
function legend(svg, names){
  names.forEach((n, i) => { const x = M.l + 8 + (i % 3) * 130, y = M.t + 10 + Math.floor(i / 3) * 13;
    el('rect', {x: x, y: y - 8, width: 10, height: 8, fill: COLORS[i % COLORS.length]}, svg); text(svg, x + 14, y, n); });
}
function line(svg, pts, color, dash){
  if (!pts.length) return;
  el('path', {d: pts.map((p, i) => (i ? 'L' : 'M') + p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(''), fill: 'none', stroke: color, 'stroke-width': 1.8, 'stroke-dasharray': dash ? '5,3' : ''}, svg);
}
function throughput(container, runs){
  const svg = chart(container, 'throughput over time (produce solid, consume dashed)', 'throughput');
  let t0 = Infinity, t1 = -Infinity, y1 = 1;
  runs.forEach(r => (r.timeline || []).forEach(s => { t0 = Math.min(t0, s.t); t1 = Math.max(t1, s.t); y1 = Math.max(y1, s.produce_mbps, s.consume_mbps); }));
  if (!isFinite(t0)) { t0 = 0; t1 = 1; }
  const xs = scale(t0, t1, M.l, W - M.r), ys = scale(0, y1 * 1.1, H - M.b, M.t);
  axes(svg, xs, ys, 'seconds from the measured window', 'MB/s', v => (v % 1 ? v.toFixed(1) : v.toFixed(0)), v => v.toFixed(0), false, false, [t0, t1], [0, y1 * 1.1]);
  runs.forEach((r, i) => { const tl = r.timeline || [], c = COLORS[i % COLORS.length];
    line(svg, tl.map(s => [xs(s.t), ys(s.produce_mbps)]), c, false);
    if (tl.some(s => s.consume_mbps > 0)) line(svg, tl.map(s => [xs(s.t), ys(s.consume_mbps)]), c, true); });
  legend(svg, runs.map(r => r.target));
}
function percentiles(container, runs, field, title){
  const keys = [['p50', 'p50_ns'], ['p90', 'p90_ns'], ['p99', 'p99_ns'], ['p99.9', 'p999_ns'], ['max', 'max_ns']];
  const svg = chart(container, title, 'percentiles');
  let lo = Infinity, hi = 0;
  runs.forEach(r => keys.forEach(k => { const v = r[field][k[1]]; if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }));
  if (!isFinite(lo)) { lo = 1e5; hi = 1e6; }
  lo = Math.pow(10, Math.floor(Math.log10(lo))); hi = Math.pow(10, Math.ceil(Math.log10(hi)));
  const ys = scale(lo, hi, H - M.b, M.t, true), gw = (W - M.l - M.r) / keys.length, bw = Math.max(2, (gw - 10) / runs.length);
  axes(svg, v => v, ys, 'percentile', 'latency', v => '', fmtMs, false, true, [0, 0], [lo, hi]);
  keys.forEach((k, ki) => { text(svg, M.l + ki * gw + gw / 2, H - M.b + 15, k[0], {'text-anchor': 'middle'});
    runs.forEach((r, i) => { const v = r[field][k[1]]; if (!(v > 0)) return; const y = ys(v);
      const b = el('rect', {x: M.l + ki * gw + 5 + i * bw, y: y, width: bw - 1, height: H - M.b - y, fill: COLORS[i % COLORS.length]}, svg);
      el('title', {}, b).textContent = r.target + ' ' + k[0] + ' ' + fmtMs(v); }); });
  legend(svg, runs.map(r => r.target));
}
function histogram(container, runs, field, title){
  const svg = chart(container, title, 'histogram');
  let lo = Infinity, hi = 0, ymax = 0;
  runs.forEach(r => { const bs = r[field] || [], n = bs.reduce((a, b) => a + b.count, 0);
    bs.forEach(b => { lo = Math.min(lo, b.le_ns); hi = Math.max(hi, b.le_ns); ymax = Math.max(ymax, 100 * b.count / n); }); });
  if (!isFinite(lo)) { lo = 1e5; hi = 1e6; ymax = 1; }
  lo = Math.pow(10, Math.floor(Math.log10(lo))); hi = Math.pow(10, Math.ceil(Math.log10(hi)));
  const xs = scale(lo, hi, M.l, W - M.r, true), ys = scale(0, ymax * 1.1, H - M.b, M.t);
  axes(svg, xs, ys, 'latency (log)', '% of records', fmtMs, v => v.toFixed(0), true, false, [lo, hi], [0, ymax * 1.1]);
  runs.forEach((r, i) => { const bs = r[field] || [], n = bs.reduce((a, b) => a + b.count, 0); let prev = null; const pts = [];
    bs.forEach(b => { const x0 = xs(prev === null ? b.le_ns / 1.09 : prev), x1 = xs(b.le_ns), y = ys(100 * b.count / n);
      pts.push([x0, ys(0)], [x0, y], [x1, y], [x1, ys(0)]); prev = b.le_ns; });
    line(svg, pts, COLORS[i % COLORS.length], false); });
  legend(svg, runs.map(r => r.target));
}
function ratios(container, cs){
  const svg = chart(container, 'ratios ' + cs[0].a + ' / ' + cs[0].b + ' (1.0 = equal)', 'ratios');
  const keys = [['produce MB/s', 'produce_mbps_ratio'], ['consume MB/s', 'consume_mbps_ratio']];
  let hi = 1; cs.forEach(c => keys.forEach(k => hi = Math.max(hi, c[k[1]] || 0)));
  const ys = scale(0, hi * 1.1, H - M.b, M.t), gw = (W - M.l - M.r) / cs.length, bw = (gw - 8) / keys.length;
  axes(svg, v => v, ys, 'workload', 'ratio', v => '', v => v.toFixed(1), false, false, [0, 0], [0, hi * 1.1]);
  el('line', {x1: M.l, y1: ys(1), x2: W - M.r, y2: ys(1), stroke: '#888', 'stroke-dasharray': '3,3'}, svg);
  cs.forEach((c, ci) => { text(svg, M.l + ci * gw + gw / 2, H - M.b + 15, c.workload.slice(0, 1), {'text-anchor': 'middle'});
    keys.forEach((k, i) => { const v = c[k[1]] || 0; if (!v) return; const y = ys(v);
      el('rect', {x: M.l + ci * gw + 4 + i * bw, y: y, width: bw - 1, height: H - M.b - y, fill: COLORS[i]}, svg); }); });
  legend(svg, keys.map(k => k[0]));
}
let n = 0;
const runs = REPORT.runs || [];
document.querySelectorAll('div.charts[data-workload]').forEach(div => {
  const rs = runs.filter(r => (r.workload.name || '') === div.dataset.workload);
  if (!rs.length) return;
  throughput(div, rs); n++;
  percentiles(div, rs, 'latency', 'produce-ack latency percentiles'); n++;
  histogram(div, rs, 'latency_histogram', 'produce-ack latency histogram'); n++;
  if (rs.some(r => r.end_to_end && r.end_to_end.count > 0)) {
    percentiles(div, rs, 'end_to_end', 'end-to-end latency percentiles'); n++;
    histogram(div, rs, 'end_to_end_histogram', 'end-to-end latency histogram'); n++;
  }
});
const rc = document.getElementById('ratio-chart');
if (rc && (REPORT.comparisons || []).length) { ratios(rc, REPORT.comparisons); n++; }
status.textContent = 'rendered ' + n + ' charts';
status.setAttribute('data-charts', n);
})();
</script>
</body></html>
`))
