package main

// End-to-end tests of the Slack buttons through the real binary: a signed
// click on the alert's Acknowledge button, then the incident's second and
// third events.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

const e2eSigning = "e2e-slack-signing-secret"

func writeButtonsConfig(t *testing.T, dir, addr, slackURL, rules string) string {
	return writeButtonsConfigWith(t, dir, addr, slackURL, rules, "")
}

// writeButtonsConfigWith is writeButtonsConfig with more notifiers (a
// jira line).
func writeButtonsConfigWith(t *testing.T, dir, addr, slackURL, rules, more string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s, admin_token: e2e-admin-token-0123456789abcdef0123}
storage: {dir: %q}
log: {level: debug, format: json}
sources:
  - {name: meta, type: meta, app_secret: %q, verify_token: e2e-verify}
notifiers:
  slack: {token: xoxb-good, api_url: %q, channel: "#whatsapp-ops", timeout: 2s, signing_secret: %q, allowed_users: [U0ALICE]}
%s
pipeline: {backoff_base: 100ms, backoff_max: 1s, max_attempts: 50, max_age: 1h}
rules: {files: [rules.yaml]}
`, addr, filepath.Join(dir, "data"), e2eSecret, slackURL+"/api/", e2eSigning, more)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// buttonValue finds the value of a message's button by its action_id.
func buttonValue(t *testing.T, blocks, actionID string) string {
	t.Helper()
	var bs []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	for _, b := range bs {
		for _, e := range b.Elements {
			if b.Type == "actions" && e.ActionID == actionID {
				return e.Value
			}
		}
	}
	t.Fatalf("no %s button in %s", actionID, blocks)
	return ""
}

// clickAt POSTs a signed click to the binary's /slack/interactions.
func clickAt(t *testing.T, addr string, c slacktest.Click, secret string, at time.Time) int {
	t.Helper()
	body := c.Form()
	ts, sig := slacktest.Sign(secret, at, body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("click: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// threadReplies are the thread replies Slack accepted, in order.
func threadReplies(f *fakeSlack) []string {
	var out []string
	for _, c := range f.allCalls() {
		if c.Error == "" && c.Method == "chat.postMessage" && c.Form["thread_ts"] != "" {
			out = append(out, c.Form["text"])
		}
	}
	return out
}

// TestAckThenRepeatSilentThenEscalationNotifies: an alert acknowledged
// from its Slack button stays quiet on its next event although its
// repeat_interval has passed, and its third event, worse, notifies at once
// and clears the acknowledgement. A forged click changes nothing.
func TestAckThenRepeatSilentThenEscalationNotifies(t *testing.T) {
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeButtonsConfig(t, dir, addr, slack.srv.URL, `
rules:
  - name: banned
    match:
      kinds: [account_update]
      statuses: [disabled_update]
      attributes: {state: [schedule_for_disable, disable]}
    group_by: [waba_id]
    repeat_interval: 1s
    actions:
      - slack: {channel: "#whatsapp-ops"}
`)
	inst := start(t, cfg, addr)
	t0 := time.Now().Unix()
	if code := post(t, addr, banUpdate("SCHEDULE_FOR_DISABLE", t0)); code != http.StatusOK {
		t.Fatal(code)
	}
	waitFor(t, "the alert", 10*time.Second, func() bool { return len(slack.posted()) == 1 }, inst.logs.String)
	alert := slack.posted()[0]
	fp := buttonValue(t, alert.Form["blocks"], "ack")
	ack := slacktest.Click{UserID: "U0ALICE", UserName: "alice", ActionID: "ack", Value: fp, ActionTS: "1764633600.000100",
		ChannelID: "C0OPS", MessageTS: slack.Posts()[0].TS, ResponseURL: slack.ResponseURL()}

	if code := clickAt(t, addr, ack, "not-the-signing-secret", time.Now()); code != http.StatusUnauthorized {
		t.Errorf("forged click: %d, want 401", code)
	}
	if code := clickAt(t, addr, ack, e2eSigning, time.Now().Add(-10*time.Minute)); code != http.StatusUnauthorized {
		t.Errorf("replayed click: %d, want 401", code)
	}
	settle(t, slack, inst)
	if n := len(threadReplies(slack)); n != 0 {
		t.Fatalf("refused clicks made %d thread replies", n)
	}

	// The first event's message acknowledged: edited in place, and told
	// in its thread.
	if code := clickAt(t, addr, ack, e2eSigning, time.Now()); code != http.StatusOK {
		t.Fatalf("ack: %d", code)
	}
	waitFor(t, "the acknowledgement in the thread", 10*time.Second, func() bool { return len(threadReplies(slack)) == 1 }, inst.logs.String)
	if r := threadReplies(slack)[0]; !strings.Contains(r, "Acknowledged by @alice (U0ALICE) from Slack") {
		t.Errorf("thread reply %q", r)
	}
	if m := slack.Posts()[0]; m.Updates < 1 || !strings.Contains(string(m.Blocks), "*Acknowledged* by @alice (U0ALICE)") {
		t.Errorf("message after the ack: %d updates, %s", m.Updates, m.Blocks)
	}

	// Second event, after repeat_interval: silent.
	time.Sleep(1100 * time.Millisecond)
	if code := post(t, addr, banUpdate("SCHEDULE_FOR_DISABLE", t0+60)); code != http.StatusOK {
		t.Fatal(code)
	}
	settle(t, slack, inst)
	if posts, replies := len(slack.posted()), len(threadReplies(slack)); posts != 1 || replies != 1 {
		t.Fatalf("the repeat after the ack made %d posts and %d thread replies, want 1 and 1 (nothing new)", posts, replies)
	}

	// Third event, worse: it notifies at once and clears the ack.
	if code := post(t, addr, banUpdate("DISABLE", t0+120)); code != http.StatusOK {
		t.Fatal(code)
	}
	waitFor(t, "the escalation in the thread", 10*time.Second, func() bool { return len(threadReplies(slack)) == 2 }, inst.logs.String)
	r := threadReplies(slack)[1]
	if !strings.Contains(r, "schedule_for_disable → disable") || !strings.Contains(r, "It had been acknowledged by @alice (U0ALICE)") {
		t.Errorf("escalation reply %q", r)
	}
	settle(t, slack, inst)
	if m := slack.Posts()[0]; strings.Contains(string(m.Blocks), "*Acknowledged* by") || !strings.Contains(string(m.Blocks), `"action_id":"ack"`) {
		t.Errorf("message after the escalation still shows the ack, or lacks its button: %s", m.Blocks)
	}

	// Acknowledged again from the command line, through the server's
	// admin API: the same message and thread are told; a second person is
	// refused, saying who has it.
	out, err := exec.Command(binPath, "incidents", "ack", fp, "--by", "carol", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "acknowledged by carol") {
		t.Fatalf("incidents ack: %v\n%s", err, out)
	}
	waitFor(t, "the CLI's acknowledgement in the thread", 10*time.Second, func() bool { return len(threadReplies(slack)) == 3 }, inst.logs.String)
	if r := threadReplies(slack)[2]; !strings.HasPrefix(r, "Acknowledged by carol at ") {
		t.Errorf("thread reply %q", r)
	}
	out, err = exec.Command(binPath, "incidents", "ack", fp, "--by", "dave", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already acknowledged by carol") {
		t.Errorf("a second acknowledgement: %v\n%s; want exit 1 naming carol", err, out)
	}
	out, err = exec.Command(binPath, "incidents", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ACKNOWLEDGED BY") || !strings.Contains(string(out), "carol") {
		t.Errorf("incidents: %v\n%s", err, out)
	}
	settle(t, slack, inst)
	if f := slack.Failed(); len(f) != 0 {
		t.Errorf("Slack refused %d calls: first %s %s", len(f), f[0].Method, f[0].Error)
	}
	inst.stop()
}

// TestOpenJiraTicketFromSlack: a rule's on_demand jira action opens no
// ticket by itself; the alert's Open Jira ticket click, through the
// binary, creates it once and links it in the thread; the resolve then
// takes the ticket's resolve transition.
func TestOpenJiraTicketFromSlack(t *testing.T) {
	slack, jira := newFakeSlack(t), newFakeJira(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeButtonsConfigWith(t, dir, addr, slack.srv.URL, `
rules:
  - name: banned
    match: {kinds: [account_update], statuses: [disabled_update]}
    group_by: [waba_id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
      - jira: {project: WAOPS, on_demand: true}
`, fmt.Sprintf(`  jira: {url: %q, user: ops@example.com, token: jira-e2e-token, project: WAOPS, api_type: datacenter, resolve_transition: Done, timeout: 2s}`, jira.srv.URL))
	inst := start(t, cfg, addr)
	if code := post(t, addr, banUpdate("SCHEDULE_FOR_DISABLE", time.Now().Unix())); code != http.StatusOK {
		t.Fatal(code)
	}
	waitFor(t, "the alert", 10*time.Second, func() bool { return len(slack.posted()) == 1 }, inst.logs.String)
	settle(t, slack, inst)
	if issues, _ := jira.snapshot(); len(issues) != 0 {
		t.Fatalf("tickets %v before anyone asked", issues)
	}
	fp := buttonValue(t, slack.posted()[0].Form["blocks"], "open_jira")
	open := slacktest.Click{UserID: "U0ALICE", UserName: "alice", ActionID: "open_jira", Value: fp, ActionTS: "1764633600.000100",
		ChannelID: "C0OPS", MessageTS: slack.Posts()[0].TS, ResponseURL: slack.ResponseURL()}
	if code := clickAt(t, addr, open, e2eSigning, time.Now()); code != http.StatusOK {
		t.Fatalf("click: %d", code)
	}
	if code := clickAt(t, addr, open, e2eSigning, time.Now()); code != http.StatusOK {
		t.Fatalf("Slack's retry of the click: %d", code)
	}
	waitFor(t, "the ticket linked in the thread", 10*time.Second, func() bool {
		for _, r := range threadReplies(slack) {
			if strings.HasPrefix(r, "Jira ticket ") && strings.Contains(r, "tracks this incident") {
				return true
			}
		}
		return false
	}, inst.logs.String)
	out, err := exec.Command(binPath, "incidents", "ticket", fp, "--by", "bob", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already asked for by @alice (U0ALICE)") {
		t.Errorf("asking again from the CLI: %v\n%s; want exit 1 naming alice", err, out)
	}
	out, err = exec.Command(binPath, "incidents", "resolve", fp, "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("resolve: %v\n%s", err, out)
	}
	waitFor(t, "the ticket resolved", 10*time.Second, func() bool {
		issues, _ := jira.snapshot()
		if len(issues) != 1 {
			return false
		}
		is, _ := jira.Issue(issues[0])
		return is.Category == jiratest.CategoryDone
	}, inst.logs.String)
	settle(t, slack, inst)
	if issues, _ := jira.snapshot(); len(issues) != 1 {
		t.Errorf("tickets %v, want exactly one", issues)
	}
	jira.checkAccepted(t)
	if f := slack.Failed(); len(f) != 0 {
		t.Errorf("Slack refused %d calls: first %s %s", len(f), f[0].Method, f[0].Error)
	}
	inst.stop()
}
