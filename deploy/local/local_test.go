package local

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// basePort finds a port p with p, p+1, p+2 and p+100..p+102 free.
func basePort(t *testing.T) int {
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p+102 > 65535 {
			continue
		}
		ok := true
		for _, q := range []int{p, p + 1, p + 2, p + 100, p + 101, p + 102} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", q))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port range")
	return 0
}

// TestLocalClusterWithKcat brings up the local cluster (Spanner emulator,
// S3 server, three brokers in zones a, a, b) and round-trips 500 lines
// through it with kcat.
func TestLocalClusterWithKcat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sluice and starts the Spanner emulator")
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found: install it with `apt-get install kcat` (make deps does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{BasePort: basePort(t), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if len(c.Bootstrap) != 3 {
		t.Fatalf("bootstrap %v", c.Bootstrap)
	}
	var in bytes.Buffer
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&in, "local line %d\n", i)
	}
	bootstrap := strings.Join(c.Bootstrap, ",")
	prod := exec.CommandContext(ctx, kcat, "-b", bootstrap, "-t", "local", "-P", "-p", "0")
	prod.Stdin = bytes.NewReader(in.Bytes())
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	cons := exec.CommandContext(ctx, kcat, "-b", bootstrap, "-t", "local", "-C", "-p", "0", "-o", "beginning", "-e", "-q")
	cons.Stderr = &stderr
	out, err := cons.Output()
	if err != nil {
		t.Fatalf("kcat consume: %v\n%s", err, stderr.String())
	}
	if string(out) != in.String() {
		t.Fatalf("read %d bytes back, wrote %d", len(out), in.Len())
	}
}
