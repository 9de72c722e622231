package main

// Hot reload against hostile edits: emptied and half-written files, bare
// config paths, ConfigMap symlink swaps, and templates that would spin or
// grow without end. Each runs the real binary.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadsFailed reads wabridge_config_reloads_total{result="failure"}.
func reloadsFailed(t *testing.T, addr string) float64 {
	t.Helper()
	return scrape(t, addr, "wabridge_config_reloads_total", map[string]string{"result": "failure"})
}

// TestEmptiedRulesFileKeepsOldRules: `: > rules.yaml`, a file cut before
// its rules: key and one cut right after it are each a rejected reload that
// names the file; alerts keep flowing under the old rules. Only an explicit
// `rules: []` empties the set.
func TestEmptiedRulesFileKeepsOldRules(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	rulesPath := filepath.Join(dir, "rules.yaml")
	inst := start(t, cfg, addr)

	n := 0
	alert := func(what string) {
		t.Helper()
		n++
		if code := post(t, addr, failedStatus(n, 131031)); code != 200 {
			t.Fatal(code)
		}
		waitFor(t, what, 15*time.Second, func() bool { return len(slack.posted()) == n }, inst.logs.String)
	}
	alert("the first alert")

	for i, body := range []string{
		"", // `: > rules.yaml`
		"# failed sends page the on-call channel\n",
		"defaults:\n  slack_channel: \"#whatsapp-ops\"\n",
		"defaults:\n  slack_channel: \"#whatsapp-ops\"\nrules:\n",
	} {
		before := reloadsFailed(t, addr)
		if err := os.WriteFile(rulesPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = inst.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, fmt.Sprintf("edit %d to be rejected", i), 10*time.Second, func() bool {
			return reloadsFailed(t, addr) > before
		}, inst.logs.String)
		if g := gauge(metricsText(t, addr), "wabridge_config_last_reload_successful"); g != "0" {
			t.Errorf("edit %d: last_reload_successful = %q, want 0", i, g)
		}
		if !strings.Contains(inst.logs.String(), rulesPath+": no rules: key") &&
			!strings.Contains(inst.logs.String(), rulesPath+":3: rules: holds nothing") {
			t.Errorf("edit %d: the rejection does not name %s:\n%s", i, rulesPath, inst.logs.String())
		}
		alert(fmt.Sprintf("an alert under the old rules after edit %d", i))
	}

	// An explicit empty list is a choice, not an accident.
	if err := os.WriteFile(rulesPath, []byte("rules: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = inst.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "rules: [] to load", 10*time.Second, func() bool {
		return gauge(metricsText(t, addr), "wabridge_config_last_reload_successful") == "1"
	}, inst.logs.String)
	if !strings.Contains(inst.logs.String(), `"rules":0`) {
		t.Errorf("rules: [] did not load as no rules:\n%s", inst.logs.String())
	}
	inst.stop()
}
