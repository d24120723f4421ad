//go:build !unix

package openai

import "os/exec"

// killGroup leaves cmd as exec.CommandContext made it: where there are no
// process groups, cancellation kills the command's own process.
func killGroup(cmd *exec.Cmd) {}
