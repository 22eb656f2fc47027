package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestKcatRoundTrip pipes 1,000 lines through kcat (librdkafka) into the
// broker and reads them back with kcat. kcat comes from Debian's package;
// `make test` and .ci/run install it.
func TestKcatRoundTrip(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found: install it with `apt-get install kcat` (make deps does)")
	}
	b := startBroker(t, nil)
	var in bytes.Buffer
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&in, "line %d of the kcat round trip\n", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-t", "kcat", "-P", "-X", "acks=all", "-X", "enable.idempotence=true")
	prod.Stdin = bytes.NewReader(in.Bytes())
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	cons := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-t", "kcat", "-C", "-o", "beginning", "-e", "-q")
	var stderr bytes.Buffer
	cons.Stderr = &stderr
	out, err := cons.Output()
	if err != nil {
		t.Fatalf("kcat consume: %v\n%s", err, stderr.String())
	}
	if got, want := string(out), in.String(); got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		t.Fatalf("kcat read %d lines, wrote %d; first read %q", len(gl)-1, len(wl)-1, gl[0])
	}
}
