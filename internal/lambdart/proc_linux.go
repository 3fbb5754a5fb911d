package lambdart

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the function if this process dies
// first, so a crashed test leaves no function running.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
