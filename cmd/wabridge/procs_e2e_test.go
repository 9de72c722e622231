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

// TestServeRunsTwiceTheProcs: the server runs Go code on twice the Ps Go
// chose from the CPUs, so threads waiting in fdatasync do not leave the
// CPUs idle; a GOMAXPROCS the operator set stands.
func TestServeRunsTwiceTheProcs(t *testing.T) {
	chosen := startProcs
	if os.Getenv("GOMAXPROCS") != "" {
		// This test's own number was set, so Go's choice is not known here.
		chosen = runtime.NumCPU()
	}
	for _, tc := range []struct {
		name string
		env  []string
		want int
	}{
		{"unset", []string{"env", "-u", "GOMAXPROCS"}, 2 * chosen},
		{"set by the operator", []string{"env", "GOMAXPROCS=3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := freeAddr(t)
			cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: "http://127.0.0.1:1", SlackToken: "xoxb-good"})
			inst := startUnder(t, cfg, addr, tc.env...)
			inst.stop()
			if got := listeningProcs(t, inst.logs.String()); got != tc.want {
				t.Errorf("procs = %d, want %d", got, tc.want)
			}
		})
	}
}

// listeningProcs reads procs from the "wabridge listening" log line.
func listeningProcs(t *testing.T, logs string) int {
	t.Helper()
	for line := range strings.SplitSeq(logs, "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Procs *int   `json:"procs"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "wabridge listening" {
			if rec.Procs == nil {
				t.Fatalf("the listening line has no procs: %s", line)
			}
			return *rec.Procs
		}
	}
	t.Fatalf("no listening line in the logs:\n%s", logs)
	return 0
}
