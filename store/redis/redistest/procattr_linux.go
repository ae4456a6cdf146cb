//go:build linux

package redistest

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill redis-server when the test binary dies,
// so a crashed or killed test run leaves no server behind.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
