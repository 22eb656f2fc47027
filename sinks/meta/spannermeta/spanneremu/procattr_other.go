//go:build !linux

package spanneremu

import "os/exec"

func setProcAttr(*exec.Cmd) {}
