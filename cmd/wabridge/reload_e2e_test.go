package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// gauge returns the value of an unlabelled metric from the text format
// (its HELP line mentions the name too, so a substring match is not enough).
func gauge(text, name string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestReloadKeepsOldRulesOnError: a broken rules file written while the
// server runs is rejected with FILE:LINE in the log and a metric, alerts keep
// flowing under the old rules, and a fixed file (here through SIGHUP) takes
// over atomically.
func TestReloadKeepsOldRulesOnError(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	rulesPath := filepath.Join(dir, "rules.yaml")
	inst := start(t, cfg, addr)

	if code := post(t, addr, failedStatus(1, 131031)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the first alert", 15*time.Second, func() bool { return len(slack.posted()) == 1 }, inst.logs.String)

	broken := "rules:\n  - name: failed-sends\n    match: {kinds: [status], statuses: [failed]}\n    actions:\n      - slack: {chanel: \"#typo\"}\n"
	if err := os.WriteFile(rulesPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload to be rejected", 10*time.Second, func() bool {
		return strings.Contains(inst.logs.String(), "reload rejected")
	}, inst.logs.String)
	if !strings.Contains(inst.logs.String(), "rules.yaml:5") {
		t.Errorf("the rejected reload does not name FILE:LINE:\n%s", inst.logs.String())
	}
	if m := metricsText(t, addr); gauge(m, "wabridge_config_last_reload_successful") != "0" {
		t.Errorf("reload failure not in metrics")
	}
	if code := post(t, addr, failedStatus(2, 131031)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "an alert under the old rules", 15*time.Second, func() bool { return len(slack.posted()) == 2 }, inst.logs.String)
	if ch := slack.posted()[1].Form["channel"]; ch != "#whatsapp-ops" {
		t.Fatalf("alert went to %q, want the old rules' #whatsapp-ops", ch)
	}

	// A fixed file routes elsewhere; SIGHUP reloads it even if the file
	// watcher missed the write.
	fixed := "rules:\n  - name: failed-sends\n    match: {kinds: [status], statuses: [failed]}\n    group_by: [id]\n    actions:\n      - slack: {channel: \"#escalations\"}\n"
	if err := os.WriteFile(rulesPath, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = inst.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the fixed rules to load", 10*time.Second, func() bool {
		return gauge(metricsText(t, addr), "wabridge_config_last_reload_successful") == "1"
	}, inst.logs.String)
	if code := post(t, addr, failedStatus(3, 131031)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "an alert under the new rules", 15*time.Second, func() bool { return len(slack.posted()) == 3 }, inst.logs.String)
	if ch := slack.posted()[2].Form["channel"]; ch != "#escalations" {
		t.Fatalf("alert went to %q, want the new rules' #escalations", ch)
	}
	inst.stop()
}
