package app

import (
	"os"
	"runtime"
)

// ServeProcs sets how many goroutines the server runs Go code on at once
// (GOMAXPROCS) to twice what Go chose from the CPUs it may use (a
// cgroup's CPU limit included), unless the GOMAXPROCS environment
// variable set it. It returns the number in force.
//
// Each acknowledgement waits for the inbox log's fdatasync, and each
// committed batch and sent notification for two of bbolt's. A thread in
// one of those keeps its P until the call returns or the runtime's
// monitor takes the P back, so with one P per CPU two syncs in flight
// leave runnable handlers waiting while the CPUs are idle: on two CPUs
// the execution trace of a closed loop of 32 senders showed 17
// goroutines runnable on average while the process used 0.9 of its 2
// CPUs. The spare Ps run them; the CPUs still bound the Go code that
// runs at once, since a P in a syscall uses none.
//
// Setting it turns off the runtime's own tracking of a CPU limit that
// changes while the process runs; a restart picks a new limit up.
func ServeProcs() int {
	return setProcs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS)
}

// setProcs is ServeProcs with the environment and the runtime's setter
// given, for tests.
func setProcs(env string, gomaxprocs func(int) int) int {
	n := gomaxprocs(0)
	if env != "" {
		return n // the operator's number stands
	}
	gomaxprocs(2 * n)
	return 2 * n
}
