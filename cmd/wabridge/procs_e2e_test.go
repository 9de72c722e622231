package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
)

// startProcs is the test process's own number, taken before any test runs
// the serve command in this process (which doubles it).
var startProcs = runtime.GOMAXPROCS(0)

// TestServeTunesTheRuntime: the server runs Go code on twice the Ps Go
// chose from the CPUs, so threads waiting in fdatasync do not leave the
// CPUs idle, and collects at GOGC=200; a GOMAXPROCS or GOGC the operator
// set stands.
func TestServeTunesTheRuntime(t *testing.T) {
	chosen := startProcs
	if os.Getenv("GOMAXPROCS") != "" {
		// This test's own number was set, so Go's choice is not known here.
		chosen = runtime.NumCPU()
	}
	for _, tc := range []struct {
		name     string
		env      []string
		want, gc int
	}{
		{"unset", []string{"env", "-u", "GOMAXPROCS", "-u", "GOGC"}, 2 * chosen, 200},
		{"set by the operator", []string{"env", "GOMAXPROCS=3", "GOGC=150"}, 3, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := freeAddr(t)
			cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: "http://127.0.0.1:1", SlackToken: "xoxb-good"})
			inst := startUnder(t, cfg, addr, tc.env...)
			inst.stop()
			procs, gc := listeningTuning(t, inst.logs.String())
			if procs != tc.want || gc != tc.gc {
				t.Errorf("procs = %d, gogc = %d; want %d and %d", procs, gc, tc.want, tc.gc)
			}
		})
	}
}

// listeningTuning reads procs and gogc from the "wabridge listening" log
// line.
func listeningTuning(t *testing.T, logs string) (procs, gc int) {
	t.Helper()
	for line := range strings.SplitSeq(logs, "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Procs *int   `json:"procs"`
			GC    *int   `json:"gogc"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "wabridge listening" {
			if rec.Procs == nil || rec.GC == nil {
				t.Fatalf("the listening line lacks procs or gogc: %s", line)
			}
			return *rec.Procs, *rec.GC
		}
	}
	t.Fatalf("no listening line in the logs:\n%s", logs)
	return 0, 0
}
