package bench

import "syscall"

// childProcAttr has a child broker killed if the benchmark dies first.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
