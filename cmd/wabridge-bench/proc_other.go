//go:build !linux

package main

import "os/exec"

// setDeathSignal has no portable equivalent; the bench stops its children
// on every path it controls.
func setDeathSignal(*exec.Cmd) {}
