//go:build !linux

package main

import (
	"io/fs"
	"os/exec"
)

// setDeathSignal has no portable equivalent; the bench stops its children
// on every path it controls.
func setDeathSignal(*exec.Cmd) {}

// allocatedBytes is the file's size where blocks are not portable.
func allocatedBytes(info fs.FileInfo) int64 { return info.Size() }
