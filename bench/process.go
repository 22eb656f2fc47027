package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicedata/sluice/stages/broker"
)

// ProcessTarget is the out-of-process Sluice target: `sluice serve` as a
// child process with its durable defaults (objects fsynced to a local
// directory, offsets in the embedded bbolt store) on loopback ports. Its
// CPU seconds and peak RSS are the broker's alone, read from /proc; its
// store counters come from the admin address (broker.StatsPath).
const ProcessTarget = "sluice-process"

// modulePath is the module whose ./cmd/sluice the process target builds.
const modulePath = "github.com/sluicedata/sluice"

// processReadyTimeout bounds a child broker's start (until /readyz).
const processReadyTimeout = 60 * time.Second

// processStopTimeout is how long a child gets to stop after SIGTERM
// before it is killed.
const processStopTimeout = 20 * time.Second

var sluiceBin struct {
	mu    sync.Mutex
	path  string
	built string // the temporary directory SluiceBinaryPath built into
}

// UseSluiceBinary makes process targets run the sluice binary at path
// rather than building ./cmd/sluice.
func UseSluiceBinary(path string) {
	sluiceBin.mu.Lock()
	defer sluiceBin.mu.Unlock()
	sluiceBin.path = path
}

// SluiceBinaryPath returns the sluice binary process targets run: the one
// given to UseSluiceBinary, else ./cmd/sluice of this module, built once
// (go build into a temporary directory, removed by RemoveBuiltSluice).
func SluiceBinaryPath() (string, error) {
	sluiceBin.mu.Lock()
	defer sluiceBin.mu.Unlock()
	if sluiceBin.path != "" {
		return sluiceBin.path, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "sluice-bench-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "sluice")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, "./cmd/sluice")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("building %s/cmd/sluice: %v\n%s", root, err, msg)
	}
	sluiceBin.path, sluiceBin.built = out, dir
	return out, nil
}

// RemoveBuiltSluice removes the binary SluiceBinaryPath built, if any.
func RemoveBuiltSluice() {
	sluiceBin.mu.Lock()
	defer sluiceBin.mu.Unlock()
	if sluiceBin.built != "" {
		os.RemoveAll(sluiceBin.built)
		sluiceBin.path, sluiceBin.built = "", ""
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// moduleRoot finds this module's directory from the working directory
// (go env GOMOD), so that the process target can build ./cmd/sluice.
func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (the process target builds ./cmd/sluice: run from the sluice repository, or give a binary)", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: the process target builds ./cmd/sluice, so run from the sluice repository or give a binary")
	}
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			if strings.Trim(strings.TrimSpace(mod), `"`) != modulePath {
				return "", fmt.Errorf("%s is module %s, not %s: run from the sluice repository or give a binary", gomod, mod, modulePath)
			}
			return filepath.Dir(gomod), nil
		}
	}
	return "", fmt.Errorf("%s: no module line", gomod)
}

// freeAddrs returns n loopback addresses with ports free right now.
func freeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// childEnv is the environment without SLUICE_* and OTEL_* variables, so
// that only the flags configure the child, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SLUICE_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startSluiceProcess starts `sluice serve` with state under dir and waits
// until its /readyz answers.
func startSluiceProcess(dir string, o TargetOptions) (t *Target, err error) {
	if o.Configure != nil {
		return nil, errors.New(ProcessTarget + ": a Configure function cannot reach a broker in another process (give sluice serve flags in TargetOptions.Flags)")
	}
	bin, err := SluiceBinaryPath()
	if err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	kafkaAddr, adminAddr := addrs[0], addrs[1]
	parts := o.Partitions
	if parts <= 0 {
		parts = DefaultPartitions
	}
	args := []string{"serve", "--kafka-addr", kafkaAddr, "--admin-addr", adminAddr,
		"--data-dir", filepath.Join(dir, "data"), "--default-partitions", strconv.Itoa(int(parts)),
		"--log-level", "warn", "--metrics", "none", "--traces", "none"}
	var env []string
	var sink *OTLPSink
	if o.Tracing {
		// The broker exports its sampled spans the way it would in
		// production (OTLP over HTTP, batched) to a sink in this process.
		if sink, err = StartOTLPSink(); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				sink.Close()
			}
		}()
		args = append(args, "--traces", "otlp", "--trace-sample-ratio", strconv.FormatFloat(o.TraceRatio, 'g', -1, 64))
		env = append(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+sink.URL(), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
		if o.TraceRatio >= 1 {
			// Every request traced (a breakdown): export often, and queue
			// enough that spans are not dropped, so that the window's spans
			// reach the collector while it is on.
			env = append(env, "OTEL_BSP_SCHEDULE_DELAY=250", "OTEL_BSP_MAX_QUEUE_SIZE=262144", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=8192")
		}
	}
	args = append(args, o.Flags...)
	logPath := filepath.Join(dir, "sluice.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = childEnv(env...)
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	logf.Close() // the child has its own descriptor
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(processStopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	if err := waitReady(adminAddr, exited); err != nil {
		stop()
		if waitErr != nil {
			err = fmt.Errorf("%w (%v)", err, waitErr)
		}
		return nil, fmt.Errorf("%s: %w; its log:\n%s", ProcessTarget, err, logTail(logPath, 20))
	}
	t = &Target{Name: ProcessTarget, Bootstrap: kafkaAddr, PID: cmd.Process.Pid, Fresh: true,
		Counters: httpCounters(adminAddr)}
	t.Notes = append(t.Notes, fmt.Sprintf("broker in its own process (sluice serve, pid %d, admin %s): CPU, RSS and store counters are the broker's alone", t.PID, adminAddr))
	t.stop = stop
	if sink != nil {
		t.Spans, t.otlp = sink.Collector(), sink
		t.Notes = append(t.Notes, fmt.Sprintf("tracing on, sample ratio %v, spans exported over OTLP/HTTP (batched) to a collector in the benchmark process", o.TraceRatio))
		t.stop = func() {
			stop()
			sink.Close()
		}
	}
	return t, nil
}

// waitReady polls the admin address's /readyz until it answers 200, the
// child exits, or processReadyTimeout passes.
func waitReady(admin string, exited <-chan struct{}) error {
	cl := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(processReadyTimeout)
	var last error
	for {
		resp, err := cl.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		last = err
		select {
		case <-exited:
			return errors.New("the broker exited before it was ready")
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", processReadyTimeout, last)
		}
	}
}

func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	ls := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return string(bytes.Join(ls, []byte("\n")))
}

// httpCounters reads a broker's counters from its admin address.
func httpCounters(admin string) *CounterSource {
	cl := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + admin + broker.StatsPath
	return &CounterSource{Name: "GET " + broker.StatsPath, Read: func() (Counters, error) {
		resp, err := cl.Get(url)
		if err != nil {
			return Counters{}, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return Counters{}, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		var s broker.Stats
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			return Counters{}, fmt.Errorf("GET %s: %w", url, err)
		}
		return countersOf(s), nil
	}}
}
