package spannermeta

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
)

// The Spanner tests run against the Cloud Spanner emulator, which
// spanneremu starts once per test binary.
const (
	testProject  = spanneremu.TestProject
	testInstance = spanneremu.TestInstance
)

func TestMain(m *testing.M) {
	code := m.Run()
	spanneremu.Stop()
	os.Exit(code)
}

func emulator(t testing.TB) string { return spanneremu.Host(t) }

func newDatabase(t testing.TB) string { return spanneremu.NewDatabase(t) }

// migratedDatabase creates a database with the current schema.
func migratedDatabase(t testing.TB) string {
	t.Helper()
	url := newDatabase(t)
	if _, _, err := Migrate(context.Background(), url); err != nil {
		t.Fatalf("Migrate(%s): %v", url, err)
	}
	return url
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
