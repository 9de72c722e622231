package app

import (
	"os"
	"runtime"
	"runtime/debug"
)

// ServeGCPercent is the garbage collector's target (GOGC) a server runs
// with unless the GOGC environment variable sets one.
const ServeGCPercent = 200

// ServeRuntime tunes the Go runtime for serving, each setting only where
// the environment variable of the same name (GOMAXPROCS, GOGC) does not
// already: Go code runs on twice the Ps Go chose from the CPUs it may use
// (a cgroup's CPU limit included), and the collector lets the heap grow
// to three times what is live (GOGC=200) before it collects. The
// listening log line reports both as the runtime has them.
//
// The Ps: each acknowledgement waits for the inbox log's fdatasync, and
// each committed batch and sent notification for bbolt's. A thread in
// one of those keeps its P until the call returns or the runtime's
// monitor takes the P back, so with one P per CPU two syncs in flight
// leave runnable handlers waiting while the CPUs are idle: on two CPUs
// the execution trace of a closed loop of 32 senders showed 17
// goroutines runnable on average while the process used 0.9 of its 2
// CPUs. The spare Ps run them; the CPUs still bound the Go code that
// runs at once, since a P in a syscall uses none. Setting the number
// turns off the runtime's own tracking of a CPU limit that changes while
// the process runs; a restart picks a new limit up.
//
// The collector: what a delivery allocates (its body, parsed events,
// the transaction's records) is garbage once the committer's batch is
// committed, and the live heap is small (about 20 MB under load), so at
// the default GOGC=100 the collector ran often for little: at GOGC=200
// the bench's CPU per durable delivery fell by a quarter for 6 MB more
// heap at its peak. GOMEMLIMIT, when set, still bounds the heap.
func ServeRuntime() {
	setProcs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS)
	setGCPercent(os.Getenv("GOGC"), debug.SetGCPercent)
}

// setProcs is ServeRuntime's Ps with the environment and the runtime's
// setter given, for tests.
func setProcs(env string, gomaxprocs func(int) int) {
	if env == "" { // else the operator's number stands
		gomaxprocs(2 * gomaxprocs(0))
	}
}

// setGCPercent is ServeRuntime's collector target with the environment
// and the runtime's setter given, for tests.
func setGCPercent(env string, set func(int) int) {
	if env == "" { // else the operator's number stands
		set(ServeGCPercent)
	}
}
