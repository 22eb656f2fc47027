package spanneremu

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	instance "cloud.google.com/go/spanner/admin/instance/apiv1"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"

	"github.com/sluicedata/sluice/sinks/meta/metatest"
)

const (
	TestProject  = "sluice-test"
	TestInstance = "projects/" + TestProject + "/instances/test"
	// emulatorEnv overrides where emulator_main is.
	emulatorEnv     = "SLUICE_SPANNER_EMULATOR"
	defaultEmulator = "/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/emulator_main"
)

var emu struct {
	once sync.Once
	cmd  *exec.Cmd
	host string
	log  *os.File
	err  error
	dbs  atomic.Int64
}

// emulatorPath finds emulator_main or says how to get it.
func emulatorPath() (string, error) {
	if p := os.Getenv(emulatorEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %v; install the Cloud Spanner emulator with `apt-get install google-cloud-cli-spanner-emulator`", emulatorEnv, p, err)
		}
		return p, nil
	}
	cands := []string{defaultEmulator}
	if p, err := exec.LookPath("emulator_main"); err == nil {
		cands = append(cands, p)
	}
	if gc, err := exec.LookPath("gcloud"); err == nil {
		if real, err := filepath.EvalSymlinks(gc); err == nil {
			cands = append(cands, filepath.Join(filepath.Dir(real), "cloud_spanner_emulator", "emulator_main"))
		}
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("the Cloud Spanner emulator (emulator_main) is not installed: the spannermeta tests need it. "+
		"Install it with `apt-get install google-cloud-cli-spanner-emulator` (Google Cloud CLI apt repository), "+
		"or `gcloud components install cloud-spanner-emulator`, or set %s to emulator_main's path", emulatorEnv)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startEmulator() {
	path, err := emulatorPath()
	if err != nil {
		emu.err = err
		return
	}
	for range 3 { // a port picked free can be taken before the emulator binds it
		if emu.err = tryEmulator(path); emu.err == nil {
			break
		}
	}
	if emu.err != nil {
		return
	}
	os.Setenv("SPANNER_EMULATOR_HOST", emu.host)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ic, err := instance.NewInstanceAdminClient(ctx)
	if err != nil {
		emu.err = err
		return
	}
	defer ic.Close()
	op, err := ic.CreateInstance(ctx, &instancepb.CreateInstanceRequest{
		Parent:     "projects/" + TestProject,
		InstanceId: "test",
		Instance: &instancepb.Instance{
			Config:      "projects/" + TestProject + "/instanceConfigs/emulator-config",
			DisplayName: "sluice test",
			NodeCount:   1,
		},
	})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		emu.err = fmt.Errorf("create emulator instance: %w", err)
	}
}

func tryEmulator(path string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	logf, err := os.CreateTemp("", "spanner-emulator-*.log")
	if err != nil {
		return err
	}
	cmd := exec.Command(path, "--host_port", host)
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", path, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			logf.Close()
			return fmt.Errorf("emulator exited at start: %s", strings.TrimSpace(string(b)))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			logf.Close()
			return fmt.Errorf("emulator not listening on %s after 20s", host)
		}
	}
	emu.cmd, emu.host, emu.log = cmd, host, logf
	return nil
}

// Stop kills the emulator started by this process, if any; call it from
// TestMain after m.Run.
func Stop() {
	if emu.cmd != nil {
		emu.cmd.Process.Kill()
		emu.log.Close()
		os.Remove(emu.log.Name())
	}
}

// Host starts the emulator (once per process), points the Spanner client
// at it (SPANNER_EMULATOR_HOST) and returns its host:port. A missing
// emulator fails the test, never skips it.
func Host(t testing.TB) string {
	t.Helper()
	if metatest.InChild() {
		// A MultiProcess child uses its parent's emulator.
		return os.Getenv("SPANNER_EMULATOR_HOST")
	}
	emu.once.Do(startEmulator)
	if emu.err != nil {
		t.Fatal(emu.err)
	}
	return emu.host
}

// NewDatabase creates an empty database (no schema) in the test instance
// and returns its spanner:// URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	Host(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dc, err := database.NewDatabaseAdminClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	name := fmt.Sprintf("db%d", emu.dbs.Add(1))
	op, err := dc.CreateDatabase(ctx, &databasepb.CreateDatabaseRequest{
		Parent:          TestInstance,
		CreateStatement: "CREATE DATABASE `" + name + "`",
	})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return "spanner://" + TestInstance + "/databases/" + name
}
