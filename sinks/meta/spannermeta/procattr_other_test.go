//go:build !linux

package spannermeta

import "os/exec"

func setProcAttr(*exec.Cmd) {}
