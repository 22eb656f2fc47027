package testservers

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the child if the test process dies first (a test
// timeout, a crash), so that no Azurite outlives its test.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
