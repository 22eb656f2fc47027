package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"
)

// RunConfig is how RunTarget observes a run.
type RunConfig struct {
	// Progress, if set, gets a progress line each second.
	Progress io.Writer
	// Breakdown collects the broker's spans (the target must have been
	// started with tracing) and a CPU profile of the window, saved in
	// OutDir.
	Breakdown bool
	OutDir    string
}

// RunTarget runs w against t with every observer the target allows:
// resources (in process, or a pid), store counters, and the breakdown.
func RunTarget(ctx context.Context, t *Target, w Workload, rc RunConfig) (Result, error) {
	if t.InProcess {
		// Hand the previous run's heap back to the OS, so this run's peak
		// RSS is its own.
		debug.FreeOSMemory()
	}
	o := RunOptions{Label: fmt.Sprintf("%-8s %s", t.Name, w.Name), Progress: rc.Progress, PID: t.PID, Scope: scopeOf(t), RunPeak: t.Fresh, Counters: t.Counters}
	var profPath string
	var profFile *os.File
	var notes []string
	o.Window = func(start bool) {
		if t.Spans != nil {
			if start {
				t.Spans.Start()
			} else {
				t.Spans.Stop()
			}
		}
		if !rc.Breakdown || !t.InProcess {
			return
		}
		if start {
			dir := rc.OutDir
			if dir == "" {
				dir = "."
			}
			profPath = filepath.Join(dir, fileSafe(fmt.Sprintf("%s-%s.cpu.pprof", w.Name, t.Name)))
			f, err := os.Create(profPath)
			if err == nil {
				err = pprof.StartCPUProfile(f)
				if err != nil {
					f.Close()
				}
			}
			if err != nil {
				notes = append(notes, fmt.Sprintf("cpu profile: %v", err))
				profPath = ""
				return
			}
			profFile = f
		} else if profFile != nil {
			pprof.StopCPUProfile()
			profFile.Close()
			profFile = nil
		}
	}
	res, err := RunWith(ctx, t.Bootstrap, w, o)
	if profFile != nil { // the window never ended
		pprof.StopCPUProfile()
		profFile.Close()
	}
	res.Target = t.Name
	res.Notes = append(res.Notes, t.Notes...)
	if s := t.otlp; s != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("OTLP sink: %d spans received in %d exports (%d KiB) by the end of the run (the exporter sends every 5 s)",
			s.Spans.Load(), s.Requests.Load(), s.Bytes.Load()>>10))
	}
	res.Notes = append(res.Notes, notes...)
	if rc.Breakdown {
		switch {
		case t.Spans != nil:
			res.Breakdown = t.Spans.Breakdown()
		case !t.InProcess:
			res.Breakdown = &Breakdown{Reason: "the broker is not in process and exports no spans to the benchmark (" + ProcessTarget + " does, over OTLP)"}
		default:
			res.Breakdown = &Breakdown{Reason: "the target was started without tracing (only sluice has stage spans)"}
		}
		if profPath != "" {
			res.Breakdown.CPUProfile = profPath
			res.Breakdown.CPUTop = pprofTop(profPath)
		} else if !t.InProcess {
			res.Notes = append(res.Notes, "no CPU profile: the broker runs in another process (run sluice in process for one)")
		}
	}
	return res, err
}

// pprofTop is `go tool pprof -top` of a profile, or "" when the go tool is
// not at hand.
func pprofTop(path string) string {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "tool", "pprof", "-top", "-nodecount=25", path).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
