package broker_test

import (
	"os"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
)

// TestMain stops the Spanner emulator that tests may have started.
func TestMain(m *testing.M) {
	code := m.Run()
	spanneremu.Stop()
	os.Exit(code)
}
