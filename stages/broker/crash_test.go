package broker_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// buildSluice builds the sluice binary once per test binary run.
var buildSluice = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/sluicedata/sluice/cmd/sluice").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs `sluice serve` as a child process, with extra flags
// and environment variables (KEY=value) on top of the test's, and waits
// until it accepts connections.
func startProcess(t *testing.T, bin, addr, dir string, env []string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--kafka-addr", addr, "--admin-addr", "", "--data-dir", dir,
		"--log-level", "warn", "--default-partitions", "4"}, extra...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKill9DuringProduce kills the broker process with SIGKILL while an
// idempotent producer is writing, restarts it on the same data, lets the
// same producer finish (its retries reach the new process), and checks that
// every acknowledged record is there exactly once.
func TestKill9DuringProduce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the broker binary")
	}
	bin, err := buildSluice()
	if err != nil {
		t.Fatal(err)
	}
	addr, dir := freePort(t), t.TempDir()
	proc := startProcess(t, bin, addr, dir, nil)

	cl := newClient(t, addr, kgo.DefaultProduceTopic("crash"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	var mu sync.Mutex
	acked := map[int]bool{}
	var ackedBeforeKill int
	const total = 30_000
	var wg sync.WaitGroup
	killed := make(chan struct{})
	go func() {
		// Kill once a good share is acknowledged, while more is in flight.
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= total/3 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		_ = proc.Process.Signal(syscall.SIGKILL)
		_, _ = proc.Process.Wait()
		mu.Lock()
		ackedBeforeKill = len(acked)
		mu.Unlock()
		close(killed)
	}()
	for i := 0; i < total; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("produce %s: %v", r.Key, err)
				return
			}
			i, _ := strconv.Atoi(string(r.Key))
			mu.Lock()
			acked[i] = true
			mu.Unlock()
		})
		if i == total/2 {
			<-killed
			startProcess(t, bin, addr, dir, nil)
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("acknowledged %d records before the kill, %d in all", ackedBeforeKill, len(acked))
	if ackedBeforeKill == 0 || ackedBeforeKill >= total {
		t.Fatalf("kill came at %d acknowledged records: not during the produce", ackedBeforeKill)
	}

	recs := consumeAll(t, addr, "crash", len(acked))
	seen := map[int]int64{}
	for _, r := range recs {
		i, _ := strconv.Atoi(string(r.Key))
		if off, dup := seen[i]; dup {
			t.Fatalf("record %d read twice (offsets %d and %d)", i, off, r.Offset)
		}
		seen[i] = r.Offset
	}
	for i := range acked {
		if _, ok := seen[i]; !ok {
			t.Fatalf("acknowledged record %d lost", i)
		}
	}
	if len(recs) != len(acked) {
		t.Fatalf("read %d records, acknowledged %d", len(recs), len(acked))
	}
}
