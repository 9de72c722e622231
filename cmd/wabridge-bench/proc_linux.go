package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the child when the bench dies, so an interrupted
// or crashed bench leaves no server holding a port.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
