package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	instance "cloud.google.com/go/spanner/admin/instance/apiv1"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Config describes the local cluster.
type Config struct {
	// Sluice is the sluice binary to run; empty builds ./cmd/sluice.
	Sluice string
	// Zones lists each broker's zone, e.g. a, a, b.
	Zones []string
	// BasePort is the first broker's Kafka port; broker i listens on
	// BasePort+i and serves admin on BasePort+100+i.
	BasePort int
	// Dir holds the brokers' data and logs; empty makes a temporary one.
	Dir string
	// Emulator is emulator_main's path; empty looks in the usual place.
	Emulator string
	Out      io.Writer
}

// DefaultEmulator is where the Debian package puts the Spanner emulator.
const DefaultEmulator = "/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/emulator_main"

// Cluster is a running local cluster.
type Cluster struct {
	// Bootstrap lists the brokers' Kafka addresses.
	Bootstrap []string
	procs     []*exec.Cmd
	s3        *http.Server
	dir       string
	temp      bool
}

// Start brings the cluster up; Stop takes it down.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	if len(cfg.Zones) == 0 {
		cfg.Zones = []string{"a", "a", "b"}
	}
	if cfg.BasePort == 0 {
		cfg.BasePort = 9092
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	c := &Cluster{dir: cfg.Dir}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "sluice-local-"); err != nil {
			return nil, err
		}
		c.temp = true
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()

	// The Spanner emulator and a database.
	emu := cfg.Emulator
	if emu == "" {
		emu = DefaultEmulator
	}
	if _, err := os.Stat(emu); err != nil {
		return nil, fmt.Errorf("the Cloud Spanner emulator is not at %s: install it with `apt-get install google-cloud-cli-spanner-emulator`", emu)
	}
	emuAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	ecmd := exec.Command(emu, "--host_port", emuAddr)
	ecmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.startLogged(ecmd, "spanner-emulator"); err != nil {
		return nil, err
	}
	if err := waitListening(ctx, emuAddr, 30*time.Second); err != nil {
		return nil, fmt.Errorf("spanner emulator: %w", err)
	}
	os.Setenv("SPANNER_EMULATOR_HOST", emuAddr)
	dbURL, err := createDatabase(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "spanner emulator on %s, database %s\n", emuAddr, dbURL)

	// An S3 server in process.
	backend := s3mem.New()
	if err := backend.CreateBucket("sluice"); err != nil {
		return nil, err
	}
	s3ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.s3 = &http.Server{Handler: gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server(), ReadHeaderTimeout: 10 * time.Second}
	go c.s3.Serve(s3ln)
	objects := "s3://sluice?region=us-east-1&use_path_style=true&endpoint=http://" + s3ln.Addr().String()
	fmt.Fprintf(cfg.Out, "s3 server on %s, bucket sluice\n", s3ln.Addr())

	// The brokers.
	bin := cfg.Sluice
	if bin == "" {
		bin = filepath.Join(c.dir, "sluice")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sluicedata/sluice/cmd/sluice")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
		}
	}
	env := append(os.Environ(), "SPANNER_EMULATOR_HOST="+emuAddr,
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	for i, zone := range cfg.Zones {
		kafka := fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+i)
		admin := fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+100+i)
		name := fmt.Sprintf("broker-%d", i)
		cmd := exec.Command(bin, "serve", "--kafka-addr", kafka, "--admin-addr", admin, "--zone", zone,
			"--node-id", fmt.Sprint(i), "--data-dir", filepath.Join(c.dir, name),
			"--metadata", dbURL, "--auto-migrate", "--objects", objects, "--default-partitions", "8")
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := c.startLogged(cmd, name); err != nil {
			return nil, err
		}
		if err := waitReady(ctx, admin, 60*time.Second); err != nil {
			return nil, fmt.Errorf("%s: %w (log: %s)", name, err, filepath.Join(c.dir, name+".log"))
		}
		c.Bootstrap = append(c.Bootstrap, kafka)
		fmt.Fprintf(cfg.Out, "%s (zone %s): kafka %s, admin http://%s\n", name, zone, kafka, admin)
	}
	return c, nil
}

func (c *Cluster) startLogged(cmd *exec.Cmd, name string) error {
	logf, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// Stop stops the brokers (SIGTERM: they drain in-flight produces), then the
// emulator and the S3 server, and removes a temporary directory.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	c.procs = nil
	if c.s3 != nil {
		c.s3.Close()
	}
	if c.temp {
		os.RemoveAll(c.dir)
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(ctx context.Context, addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not listening on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitReady(ctx context.Context, admin string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createDatabase makes an instance and a database in the emulator.
func createDatabase(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	const project, inst, db = "sluice-local", "local", "sluice"
	ic, err := instance.NewInstanceAdminClient(ctx)
	if err != nil {
		return "", err
	}
	defer ic.Close()
	op, err := ic.CreateInstance(ctx, &instancepb.CreateInstanceRequest{
		Parent: "projects/" + project, InstanceId: inst,
		Instance: &instancepb.Instance{Config: "projects/" + project + "/instanceConfigs/emulator-config", DisplayName: "sluice local", NodeCount: 1},
	})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("create emulator instance: %w", err)
	}
	dc, err := database.NewDatabaseAdminClient(ctx)
	if err != nil {
		return "", err
	}
	defer dc.Close()
	parent := "projects/" + project + "/instances/" + inst
	dop, err := dc.CreateDatabase(ctx, &databasepb.CreateDatabaseRequest{Parent: parent, CreateStatement: "CREATE DATABASE `" + db + "`"})
	if err == nil {
		_, err = dop.Wait(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return "spanner://" + parent + "/databases/" + db, nil
}

// ParseZones reads a comma-separated zone list.
func ParseZones(s string) []string {
	var out []string
	for _, z := range strings.Split(s, ",") {
		if z = strings.TrimSpace(z); z != "" {
			out = append(out, z)
		}
	}
	return out
}
