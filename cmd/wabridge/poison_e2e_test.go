package main

// A delivery whose processing crashes the process must not crash-loop it:
// the real binary (built with -tags faults, whose only difference is a
// panic in processing for a body carrying a marker) is restarted after each
// crash, as a supervisor would, until the delivery is quarantined.

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	faultsBinOnce sync.Once
	faultsBin     string
	faultsBinErr  error
)

func buildFaultsBinary(t *testing.T) string {
	t.Helper()
	faultsBinOnce.Do(func() {
		faultsBin = filepath.Join(filepath.Dir(binPath), "wabridge-faults")
		out, err := exec.Command("go", "build", "-tags", "faults", "-o", faultsBin, ".").CombinedOutput()
		if err != nil {
			faultsBinErr = fmt.Errorf("build with -tags faults: %v\n%s", err, out)
		}
	})
	if faultsBinErr != nil {
		t.Fatal(faultsBinErr)
	}
	return faultsBin
}

// TestPoisonDeliveryIsQuarantined: three acknowledged deliveries, the middle
// one crashing processing. The process dies; restarted, it processes the
// crashed batch one delivery at a time, so the neighbours are alerted and
// only the poison crashes it again; after the third crash the poison is
// quarantined with the reason, and everything after it is processed.
func TestPoisonDeliveryIsQuarantined(t *testing.T) {
	bin := buildFaultsBinary(t)
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	const marker = "wamid.POISON"

	logs := &syncBuffer{}
	run := func() (cmd *exec.Cmd, done chan error) {
		cmd = exec.Command(bin, "serve", "--config", cfg)
		cmd.Env = append(os.Environ(), "WABRIDGE_FAULT_PANIC_ON="+marker)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done = make(chan error, 1)
		exited := make(chan struct{})
		go func() { done <- cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		return cmd, done
	}

	// Intake: accepted and stored before processing can crash.
	cmd, done := run()
	waitFor(t, "the server to be ready", 20*time.Second, func() bool {
		return isReady(addr)
	}, logs.String)
	poison := []byte(strings.Replace(string(failedStatus(2, 131031)), "wamid.E2E-2", marker, 1))
	for i, body := range [][]byte{failedStatus(1, 131031), poison, failedStatus(3, 131031)} {
		// The crash may come before the last post; it is posted again
		// after the restarts.
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/meta", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", sign(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Logf("delivery %d: %v", i+1, err)
			continue
		}
		resp.Body.Close()
		if i < 2 && resp.StatusCode != 200 {
			t.Fatalf("delivery %d: %d", i+1, resp.StatusCode)
		}
	}

	crashes := 0
	for restart := 0; ; restart++ {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("wabridge ended with %v, want the panic's exit status 2:\n%s", err, logs.String())
			}
			crashes++
			if crashes > 3 {
				t.Fatalf("crashed %d times: the poison delivery was not quarantined:\n%s", crashes, logs.String())
			}
			cmd, done = run()
			continue
		case <-time.After(250 * time.Millisecond):
		}
		if strings.Contains(logs.String(), "delivery quarantined unprocessed") {
			break
		}
		if restart > 400 {
			t.Fatalf("neither a crash nor a quarantine:\n%s", logs.String())
		}
	}
	_ = cmd
	if crashes != 3 {
		t.Errorf("crashes = %d, want 3 (quarantined after the third)", crashes)
	}
	waitFor(t, "the server to be ready after the quarantine", 20*time.Second, func() bool { return isReady(addr) }, logs.String)
	if !strings.Contains(logs.String(), "processing this delivery crashed the process 3 times") {
		t.Errorf("the quarantine does not give its reason:\n%s", logs.String())
	}
	if got := scrape(t, addr, "wabridge_inbox_crash_quarantined_total", nil); got != 1 {
		t.Errorf("wabridge_inbox_crash_quarantined_total = %v, want 1", got)
	}
	// Post the third again in case the first process died before storing
	// it (a redelivery: dedup keeps it to one alert), then one more.
	for _, body := range [][]byte{failedStatus(3, 131031), failedStatus(4, 131031)} {
		if code := post(t, addr, body); code != 200 {
			t.Fatal(code)
		}
	}
	seen := map[string]int{}
	count := func() bool {
		clear(seen)
		for _, c := range slack.posted() {
			for _, n := range []int{1, 2, 3, 4} {
				if strings.Contains(c.Form["text"]+c.Form["blocks"], fmt.Sprintf("%04d", 7000+n)) {
					seen[fmt.Sprint(n)]++
				}
			}
		}
		return seen["1"] > 0 && seen["3"] > 0 && seen["4"] > 0
	}
	waitFor(t, "the neighbours and the later delivery to be alerted", 20*time.Second, count, logs.String)
	time.Sleep(time.Second) // the poison's alert, were there one, would show up meanwhile
	count()
	// A crash right after a send, before its record commits, sends it
	// again after the restart (at-least-once delivery), so the neighbours
	// are counted as alerted, not alerted once.
	if seen["1"] == 0 || seen["3"] == 0 || seen["4"] == 0 || seen["2"] != 0 {
		t.Errorf("alerts per delivery = %v, want 1, 3 and 4 alerted and the poison never\n%s", seen, logs.String())
	}
	t.Logf("alerts per delivery after 3 crashes: %v", seen)
}

func isReady(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// TestCheckRefusesUnboundedWhen: `wabridge check` refuses the expression
// that used to pass check and then kill the process on its first event.
func TestCheckRefusesUnboundedWhen(t *testing.T) {
	dir := t.TempDir()
	rules := "rules:\n  - name: oom\n    match: {kinds: [status]}\n    when: 'len(repeat(repeat(\"a\",999999),999999)) > 0'\n    actions:\n      - slack: {channel: \"#ops\"}\n"
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: freeAddr(t), SlackURL: "http://127.0.0.1:1", SlackToken: "xoxb-good", Rules: rules})
	out, err := exec.Command(binPath, "check", "--config", cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("check: %v, want exit 1\n%s", err, out)
	}
	if want := filepath.Join(dir, "rules.yaml") + `:4: rule "oom": when: repeat() is not allowed`; !strings.Contains(string(out), want) {
		t.Errorf("check output lacks %q:\n%s", want, out)
	}
}
