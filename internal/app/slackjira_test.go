package app

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

// TestOpenJiraTicketButton: a rule whose jira action says on_demand: true
// opens no ticket by itself; its alert offers Open Jira ticket, the click
// creates the ticket once, the thread records who asked and links the
// ticket, and a second click is told it was asked for already.
func TestOpenJiraTicketButton(t *testing.T) {
	fake := slacktest.New(t, slacktest.Options{})
	jira := jiratest.New(t, jiratest.Options{Token: "jira-test-token"})
	s, h := slackServiceFull(t, fake, "allowed_users: []", `
rules:
  - name: failed-sends
    match: {kinds: [status], statuses: [failed]}
    actions:
      - slack: {channel: "#ops"}
      - jira: {project: WAOPS, on_demand: true}
`, fmt.Sprintf(`  jira: {url: %q, token: jira-test-token, project: WAOPS, api_type: datacenter, timeout: 5s}`, jira.URL))
	alert, fp := alertFor(t, s, h, fake)
	if !strings.Contains(string(alert.Blocks), `"action_id":"open_jira"`) {
		t.Fatalf("the alert does not offer the ticket: %s", alert.Blocks)
	}
	time.Sleep(200 * time.Millisecond) // a wrongly sent ticket would show by now
	if n := len(jira.Issues()); n != 0 {
		t.Fatalf("%d tickets before anyone asked", n)
	}

	click1 := click(fake, "U0BOB", "bob", "open_jira", fp, "1764633600.000100", alert.Channel, alert.TS)
	if w := interact(h, click1, time.Now(), slackSigning, 0); w.Code != http.StatusOK {
		t.Fatalf("click: %d %s", w.Code, w.Body)
	}
	waitFor(t, "the ticket", func() bool { return len(jira.Issues()) == 1 })
	key := jira.Keys()[0]
	waitFor(t, "the thread to record it and link the ticket", func() bool { return len(fake.Replies(alert.TS)) == 2 })
	replies := fake.Replies(alert.TS)[0].Text + "\n" + fake.Replies(alert.TS)[1].Text
	if !strings.Contains(replies, "Jira ticket asked for by @bob (U0BOB) from Slack") || !strings.Contains(replies, key) {
		t.Errorf("thread replies %q, want who asked and the ticket %s", replies, key)
	}
	waitFor(t, "the outbox to drain", func() bool { return s.Pipeline().Stats().Outbox == 0 })
	if m := fake.Messages()[0]; strings.Contains(string(m.Blocks), `"action_id":"open_jira"`) {
		t.Errorf("the message still offers the ticket: %s", m.Blocks)
	}

	// Again, from the old buttons: told, and no second ticket.
	before := len(fake.Responses())
	click2 := click(fake, "U0ALICE", "alice", "open_jira", fp, "1764633600.000200", alert.Channel, alert.TS)
	if w := interact(h, click2, time.Now(), slackSigning, 0); w.Code != http.StatusOK {
		t.Fatalf("second click: %d %s", w.Code, w.Body)
	}
	waitFor(t, "the answer", func() bool { return len(fake.Responses()) == before+1 })
	if r := fake.Responses()[before]; !strings.Contains(r.Text, "already asked for by @bob") {
		t.Errorf("second click answered %q", r.Text)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(jira.Issues()); n != 1 {
		t.Errorf("%d tickets after two clicks, want 1", n)
	}
	if f := fake.Failed(); len(f) != 0 {
		t.Errorf("Slack refused %d calls: first %s %s", len(f), f[0].Method, f[0].Error)
	}
}
