package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func deadIDs(t *testing.T, cfg string) []string {
	t.Helper()
	out, err := exec.Command(binPath, "dlq", "list", "--json", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("dlq list: %v", err)
	}
	var dead []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &dead); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var ids []string
	for _, d := range dead {
		ids = append(ids, d.ID)
	}
	return ids
}

// TestDeadLetterReplayRerenders: a replay renders with the current rules,
// so fixing the rule's channel fixes it; a dead letter whose rule was
// deleted is not sent and says so; --all replays and drops in bulk, with a
// count and only with --yes.
func TestDeadLetterReplayRerenders(t *testing.T) {
	slack := newFakeSlack(t)
	slack.FailAPI("", 1<<20, "channel_not_found")
	dir, addr := t.TempDir(), freeAddr(t)
	rulesWith := func(channel string) string {
		return fmt.Sprintf("rules:\n  - name: spam\n    match: {codes: [131048]}\n    group_by: [id]\n    actions:\n      - slack: {channel: %q}\n", channel)
	}
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", rulesWith("#no-such-channel"))
	inst := start(t, cfg, addr)
	for i := range 4 {
		if code := post(t, addr, failedFrom(fmt.Sprintf("dlq-%d", i), "106540352242922", 131048)); code != 200 {
			t.Fatal(code)
		}
	}
	waitFor(t, "four dead letters", 20*time.Second, func() bool { return len(deadIDs(t, cfg)) == 4 }, inst.logs.String)
	inst.stop()
	slack.ClearFaults()
	ids := deadIDs(t, cfg)
	rulesFile := filepath.Join(dir, "rules.yaml")
	write := func(s string) {
		if err := os.WriteFile(rulesFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The channel fixed in the rule: the replay goes there.
	write(rulesWith("#whatsapp-ops"))
	runCLI(t, "dlq", "replay", ids[0], "--config", cfg)
	// posted counts what Slack accepted: the four refused tries are not.
	if p := slack.posted(); len(p) != 1 || p[0].Form["channel"] != "#whatsapp-ops" {
		t.Fatalf("replay after the fix posted %+v", p)
	}

	// The rule deleted: not sent, kept, and the message says why.
	write("rules:\n  - name: other\n    match: {codes: [131026]}\n    actions:\n      - slack: {}\n")
	out, err := exec.Command(binPath, "dlq", "replay", ids[1], "--config", cfg).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), `rule "spam" no longer exists`) {
		t.Errorf("replay of a deleted rule's dead letter: %v\n%s", err, out)
	}
	if n := len(slack.posted()); n != 1 {
		t.Errorf("a dead letter of a deleted rule was sent (%d posts)", n)
	}
	if got := deadIDs(t, cfg); len(got) != 3 {
		t.Errorf("dead letters after a refused replay: %v", got)
	}

	// --all without --yes counts and changes nothing.
	write(rulesWith("#whatsapp-ops"))
	out, err = exec.Command(binPath, "dlq", "replay", "--all", "--notifier", "slack", "--config", cfg).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "3 dead letters match; add --yes") {
		t.Errorf("replay --all without --yes: %v\n%s", err, out)
	}
	if n := len(slack.posted()); n != 1 {
		t.Errorf("replay --all without --yes sent (%d posts)", n)
	}
	if out := runCLI(t, "dlq", "replay", "--all", "--notifier", "jira", "--yes", "--config", cfg); !strings.Contains(out, "0 of 0") {
		t.Errorf("replay --all of another notifier: %s", out)
	}
	out2 := runCLI(t, "dlq", "drop", "--all", "--reason", "permanent", "--config", cfg, "--yes")
	if !strings.Contains(out2, "3 of 3 dead letters dropped") || len(deadIDs(t, cfg)) != 0 {
		t.Errorf("drop --all --yes: %s", out2)
	}
}
