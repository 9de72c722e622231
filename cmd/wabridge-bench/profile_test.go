package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/app"
)

// TestProfileInProcess runs the bench's closed-loop load against wabridge
// built in-process with internal/app, so a CPU profile of the test binary
// shows where the server spends its time without changing the binary:
//
//	BENCH_PROFILE=10 go test -run TestProfileInProcess -cpuprofile cpu.out ./cmd/wabridge-bench
//	go tool pprof -top -focus 'wabridge/(internal|notifiers|rules|templates)' cpu.out
//
// BENCH_PROFILE is the load's seconds; without it the test is skipped, so
// `make test` never runs a timed test. BENCH_PROFILE_NOSYNC=1 profiles
// storage.no_sync.
func TestProfileInProcess(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("BENCH_PROFILE"))
	if secs <= 0 {
		t.Skip("set BENCH_PROFILE=SECONDS to profile wabridge under the bench load")
	}
	dir := t.TempDir()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(dir, "notifications.jsonl")
	rules := []string{filepath.Join("..", "..", "rules.example.yaml"), filepath.Join("..", "..", "bench", "rules.yaml")}
	for i, r := range rules {
		abs, err := filepath.Abs(r)
		if err != nil {
			t.Fatal(err)
		}
		rules[i] = abs
	}
	const secret = "profile-secret"
	cfg, err := wabridgeConfig(addr, filepath.Join(dir, "data"), notes, rules, secret, os.Getenv("BENCH_PROFILE_NOSYNC") == "1", "")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	svc, err := app.Open(cfgPath, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	srv := &server{name: "wabridge (in-process)", addr: addr, done: make(chan struct{})}
	if err := srv.waitReady(ctx, "/readyz", 10*time.Second); err != nil {
		t.Fatal(err)
	}

	tg := newTarget(addr, []byte(secret), 32)
	defer tg.close()
	g := &generator{tag: "profile", timestamp: time.Now().Unix()}
	load, err := closedLoop(ctx, tg, g, 32, time.Second, time.Duration(secs)*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	drainStart := time.Now()
	quiet, err := waitQuiet(ctx, notes, 2*time.Second, drainLimit)
	if err != nil {
		t.Fatal(err)
	}
	e, err := measureE2E(notes, load.samples, g)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rps=%.0f ack %s; e2e %s; drained=%v in %s", load.rps(), load.acks(), e.lat, quiet, time.Since(drainStart).Round(time.Millisecond))
}
