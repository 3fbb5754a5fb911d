//go:build !linux

package lambdart

import "os/exec"

// setProcAttr has nothing to add where there is no parent-death signal.
func setProcAttr(*exec.Cmd) {}
