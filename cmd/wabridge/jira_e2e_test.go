package main

// End-to-end tests of what the notifiers tell: the real binary, the real
// slack-go and go-jira clients, the strict fakes at the wire.

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
)

const lockRules = `
rules:
  - name: account-blocked
    match: {codes: [131031]}
    repeat_interval: 1s
    actions:
      - slack: {channel: "#whatsapp-ops"}
      - jira: {project: WAOPS}
`

// TestLockAfterTicketClosedInJira: a lock, its ticket closed by a person in
// Jira, a lock again. The second lock must reopen the ticket (with
// reopen_transition) or open a new one (without), never only comment on
// the closed ticket; every request is one real Jira accepts.
func TestLockAfterTicketClosedInJira(t *testing.T) {
	for _, tc := range []struct {
		name, reopen, wantKey string
	}{
		{"reopened", jiratest.TransitionReopen, "WAOPS-1"},
		{"replaced", "", "WAOPS-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slack, jira := newFakeSlack(t), newFakeJira(t)
			dir, addr := t.TempDir(), freeAddr(t)
			cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, jira.srv.URL, lockRules)
			if tc.reopen != "" {
				b, err := os.ReadFile(cfg)
				if err != nil {
					t.Fatal(err)
				}
				b = []byte(strings.Replace(string(b), "resolve_transition: Done,", "resolve_transition: Done, reopen_transition: "+tc.reopen+",", 1))
				if err := os.WriteFile(cfg, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			inst := start(t, cfg, addr)
			defer inst.stop()
			if code := post(t, addr, failedStatus(1, 131031)); code != 200 {
				t.Fatal(code)
			}
			waitFor(t, "the ticket", 15*time.Second, func() bool { k, _ := jira.snapshot(); return len(k) == 1 }, inst.logs.String)
			jira.CloseIssue("WAOPS-1", jiratest.ResolutionDone)
			// repeat_interval is 1s: the next lock is a repeat, not an update.
			time.Sleep(1500 * time.Millisecond)
			if code := post(t, addr, failedStatus(2, 131031)); code != 200 {
				t.Fatal(code)
			}
			waitFor(t, "the incident's ticket open again", 15*time.Second, func() bool {
				is, ok := jira.Issue(tc.wantKey)
				return ok && is.Category != jiratest.CategoryDone && (tc.wantKey != "WAOPS-1" || len(is.Comments) == 1)
			}, inst.logs.String)
			jira.checkAccepted(t)
			slack.checkAccepted(t)
			for _, is := range jira.Issues() {
				for _, c := range is.Comments {
					if c.Category == jiratest.CategoryDone {
						t.Errorf("a comment landed on %s while it was closed: %s", is.Key, c.Text)
					}
				}
			}
			if tc.wantKey == "WAOPS-1" {
				is, _ := jira.Issue("WAOPS-1")
				if len(is.Transitions) != 1 || is.Transitions[0] != jiratest.TransitionReopen {
					t.Errorf("transitions %v, want the reopen", is.Transitions)
				}
				// The repeat comment names the latest event, not the first.
				desc, _ := is.Description.(string)
				first := regexp.MustCompile(`\|Event ID\|([^|]+)\|`).FindStringSubmatch(desc)
				latest := regexp.MustCompile(`\(event ([^)]+)\)`).FindStringSubmatch(is.Comments[0].Text)
				if first == nil || latest == nil || first[1] == latest[1] {
					t.Errorf("comment %q names the first event %v, want the latest", is.Comments[0].Text, first)
				}
			} else if !strings.Contains(inst.logs.String(), "closed in Jira and reopen_transition is not set: opening a new one") {
				t.Errorf("the log does not say why a new ticket was opened")
			}
		})
	}
}

// TestDeletedTicketIsRecreatedOnce: a ticket deleted in Jira is recreated
// at the next repeat, once, with a log line naming it.
func TestDeletedTicketIsRecreatedOnce(t *testing.T) {
	slack, jira := newFakeSlack(t), newFakeJira(t)
	dir, addr := t.TempDir(), freeAddr(t)
	inst := start(t, writeIncidentConfig(t, dir, addr, slack.srv.URL, jira.srv.URL, lockRules), addr)
	defer inst.stop()
	if code := post(t, addr, failedStatus(1, 131031)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the ticket", 15*time.Second, func() bool { k, _ := jira.snapshot(); return len(k) == 1 }, inst.logs.String)
	jira.Delete("WAOPS-1")
	for i := 2; i <= 3; i++ {
		time.Sleep(1500 * time.Millisecond)
		if code := post(t, addr, failedStatus(i, 131031)); code != 200 {
			t.Fatal(code)
		}
	}
	waitFor(t, "the recreated ticket with the second repeat's comment", 15*time.Second, func() bool {
		is, ok := jira.Issue("WAOPS-2")
		return ok && len(is.Comments) == 1
	}, inst.logs.String)
	if k := jira.Keys(); len(k) != 1 || k[0] != "WAOPS-2" {
		t.Errorf("issues %v, want the one recreated", k)
	}
	if n := strings.Count(inst.logs.String(), "deleted in Jira (404): opening a new one"); n != 1 {
		t.Errorf("%d log lines about the deleted ticket, want 1", n)
	}
	jira.checkAccepted(t)
}

// TestStandInIsLogged: with no Slack credentials and
// notifiers.unconfigured: log, the notification is logged, and logs,
// metrics and the audit trail all say "logged", never "sent".
func TestStandInIsLogged(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: "http://127.0.0.1:1", SlackToken: ""})
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "notifiers:\n", "notifiers:\n  unconfigured: log\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := start(t, cfg, addr)
	defer inst.stop()
	if code := post(t, addr, failedStatus(1, 131031)); code != 200 {
		t.Fatal(code)
	}
	logged := map[string]string{"notifier": "slack", "result": "logged"}
	waitFor(t, "the stand-in counted as logged", 15*time.Second, func() bool {
		return scrape(t, addr, "wabridge_notifications_total", logged) == 1
	}, inst.logs.String)
	if n := scrape(t, addr, "wabridge_notifications_total", map[string]string{"notifier": "slack", "result": "sent"}); n != 0 {
		t.Errorf("%v stand-in notifications counted as sent", n)
	}
	// The count goes up when the send returns, the log line once the
	// outbox knows: wait for it.
	waitFor(t, "the log to say logged", 10*time.Second, func() bool {
		return strings.Contains(inst.logs.String(), `"msg":"notification logged: slack is not configured`)
	}, inst.logs.String)
	if logs := inst.logs.String(); strings.Contains(logs, `"msg":"notification sent"`) {
		t.Errorf("logs say sent:\n%s", logs)
	}
	var out string
	waitFor(t, "the audit trail", 10*time.Second, func() bool {
		out = runCLI(t, "audit", "--config", cfg)
		return strings.Contains(out, "slack:logged")
	}, func() string { return out })
	if strings.Contains(out, "slack:sent") {
		t.Errorf("the audit trail says sent:\n%s", out)
	}
}
