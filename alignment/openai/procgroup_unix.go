//go:build unix

package openai

import (
	"os/exec"
	"syscall"
)

// killGroup makes cmd the leader of a process group of its own and has
// the cancellation of its context kill the whole group: a training
// command's shell, its Python and the data loader workers that Python
// forked, rather than the shell alone.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
