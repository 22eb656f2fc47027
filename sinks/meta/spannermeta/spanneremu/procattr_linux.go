package spanneremu

import (
	"os/exec"
	"syscall"
)

// setProcAttr kills the emulator if the test binary dies without
// reaching TestMain's cleanup (a panic, a timeout kill).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
