package main

import (
	"io/fs"
	"os/exec"
	"syscall"
)

// setDeathSignal kills the child when the bench dies, so an interrupted
// or crashed bench leaves no server holding a port.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// allocatedBytes is the blocks a file occupies: bbolt grows its file in
// steps and the log preallocates nothing, so this is what the disk loses.
func allocatedBytes(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}
