package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Resources is what the broker's process used over a measured window.
type Resources struct {
	// Scope says whose figures these are: for an in-process target the
	// whole benchmark process (broker and load generator together).
	Scope string `json:"scope"`
	PID   int    `json:"pid"`
	// CPUSeconds is user plus system CPU time over the window; Cores is
	// CPUSeconds per second of window.
	CPUSeconds float64 `json:"cpu_seconds"`
	Cores      float64 `json:"cores"`
	// PeakRSSBytes is the peak resident set over the window.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// PeakRSSSource says how PeakRSSBytes was measured: VmHWM after a reset
	// at the window start, or the largest VmRSS sampled once a second.
	PeakRSSSource string `json:"peak_rss_source"`
	// RunPeakRSSBytes is the peak resident set since the process started
	// (VmHWM before the window's reset, and the window's peak): for a
	// broker process started for this run alone, the run's peak with
	// start-up, topic creation, warm-up and a catch-up's produce phase
	// included. 0 when not known.
	RunPeakRSSBytes int64 `json:"run_peak_rss_bytes,omitempty"`
}

// PeakRSS is the largest peak known: over the run when measured, else
// over the window.
func (r *Resources) PeakRSS() int64 {
	if r == nil {
		return 0
	}
	return max(r.PeakRSSBytes, r.RunPeakRSSBytes)
}

// clkTck is USER_HZ, the unit of /proc/PID/stat's CPU times; it is 100 on
// every Linux platform Go supports.
const clkTck = 100

// procWatch samples one process's CPU time and memory from /proc.
type procWatch struct {
	pid     int
	scope   string
	cpu0    float64
	t0      time.Time
	hwmOK   bool
	peakRSS int64
	// runPeak: note the peak since the process started (it was started
	// for this run); before is VmHWM before the window's reset.
	runPeak bool
	before  int64
}

func newProcWatch(pid int, scope string) *procWatch { return &procWatch{pid: pid, scope: scope} }

// begin starts the window: it notes the CPU time and tries to reset the
// process's VmHWM (writing 5 to clear_refs, Linux 4.0+; allowed for our
// own process and for others we may ptrace).
func (p *procWatch) begin() error {
	cpu, err := procCPUSeconds(p.pid)
	if err != nil {
		return err
	}
	p.cpu0, p.t0 = cpu, time.Now()
	if st, err := procStatus(p.pid); err == nil {
		p.before = max(p.before, st["VmHWM"], st["VmRSS"])
	}
	p.hwmOK = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid), []byte("5"), 0) == nil
	p.peakRSS = 0
	p.sample()
	return nil
}

// sample notes the current RSS for the peak.
func (p *procWatch) sample() {
	if st, err := procStatus(p.pid); err == nil {
		p.peakRSS = max(p.peakRSS, st["VmRSS"])
	}
}

// end closes the window.
func (p *procWatch) end() (*Resources, error) {
	cpu, err := procCPUSeconds(p.pid)
	if err != nil {
		return nil, err
	}
	secs := time.Since(p.t0).Seconds()
	p.sample()
	r := &Resources{Scope: p.scope, PID: p.pid, CPUSeconds: cpu - p.cpu0, PeakRSSBytes: p.peakRSS,
		PeakRSSSource: "largest VmRSS sampled each second"}
	if secs > 0 {
		r.Cores = r.CPUSeconds / secs
	}
	if p.hwmOK {
		if st, err := procStatus(p.pid); err == nil && st["VmHWM"] > 0 {
			r.PeakRSSBytes = max(st["VmHWM"], p.peakRSS)
			r.PeakRSSSource = "VmHWM, reset at the window start"
		}
	}
	if p.runPeak {
		r.RunPeakRSSBytes = max(p.before, r.PeakRSSBytes)
	}
	return r, nil
}

// procCPUSeconds is utime+stime of pid from /proc/PID/stat.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its ')'
	// start at field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: malformed times", pid)
	}
	return float64(utime+stime) / clkTck, nil
}

// procStatus returns the kB fields of /proc/PID/status in bytes.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 2 && fs[1] == "kB" {
			if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
				out[k] = n << 10
			}
		}
	}
	return out, sc.Err()
}
