package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
)

// TestCrashWhileSlackIsSlowPostsOnce: SIGKILL while Slack is slow, with
// opens in flight; after the restart each interrupted open is looked for in
// the channel's history (by the message metadata) before it is sent again.
// Counted over several crashes: the duplicates per crash.
func TestCrashWhileSlackIsSlowPostsOnce(t *testing.T) {
	const (
		rounds    = 3
		perRound  = 12
		slowSlack = time.Second // within the 2s client timeout
	)
	slack := newDeliverySlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := deliveryConfig(t, dir, addr, slack.APIURL(), "", fmt.Sprintf(oneIncidentPerEvent, slackAction()), "")
	inst := start(t, cfg, addr)
	defer func() { inst.stop() }()

	for r := range rounds {
		base := 1000 + r*perRound
		slack.SetDelay(slowSlack)
		before := len(slack.Posts())
		for i := range perRound {
			if code := post(t, addr, failedStatus(base+i, 131031)); code != 200 {
				t.Fatalf("round %d: post %d: %d", r, i, code)
			}
		}
		// Some posted, the others on their way: kill.
		waitFor(t, "the first slow posts", 30*time.Second, func() bool { return len(slack.Posts()) > before }, inst.logs.String)
		inst.kill()
		slack.SetDelay(0)
		inst = start(t, cfg, addr)
		waitFor(t, "every alert of the round", 60*time.Second, func() bool {
			return len(slack.Posts()) >= before+perRound
		}, inst.logs.String)
		waitFor(t, "the outbox to empty", 60*time.Second, func() bool {
			return scrape(t, addr, "wabridge_outbox_depth", nil) == 0
		}, inst.logs.String)
	}

	perEvent := map[int]int{}
	for _, m := range slack.Posts() {
		for i := range rounds * perRound {
			if containsMasked(string(m.Blocks), 1000+i) {
				perEvent[1000+i]++
			}
		}
	}
	dups := 0
	for i := range rounds * perRound {
		switch c := perEvent[1000+i]; {
		case c == 0:
			t.Errorf("event %d never reached Slack", 1000+i)
		case c > 1:
			dups += c - 1
		}
	}
	found := scrape(t, addr, "wabridge_notifications_reconciled_total", map[string]string{"result": "found"})
	t.Logf("%d crashes with opens in flight to a slow Slack: %d duplicate messages (%.1f per crash); the restarted process found %v interrupted posts in the history (this process's count)",
		rounds, dups, float64(dups)/rounds, found)
	if dups > 0 {
		t.Errorf("%d duplicate Slack messages over %d crashes, want none", dups, rounds)
	}
	for _, m := range slack.Posts() {
		var md struct {
			EventType string `json:"event_type"`
		}
		if json.Unmarshal(m.Metadata, &md) != nil || md.EventType == "" {
			t.Fatalf("a message without wabridge's metadata: %s", m.Metadata)
		}
	}
}

// TestCrashWhileJiraIsSlowCreatesOnce: SIGKILL while a slow Jira, whose
// search shows a new issue only 3s after it was created, has creates in
// flight; after the restart each interrupted open searches for the
// incident's label until search_delay (5s) past its timeout before it
// creates again.
func TestCrashWhileJiraIsSlowCreatesOnce(t *testing.T) {
	const (
		rounds   = 2
		perRound = 8
	)
	slack := newDeliverySlack(t)
	jira := jiratest.New(t, jiratest.Options{User: jiraUser, Token: jiraToken, SearchDelay: 3 * time.Second})
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := deliveryConfig(t, dir, addr, slack.APIURL(), jira.URL, fmt.Sprintf(oneIncidentPerEvent, jiraAction()), "")
	inst := start(t, cfg, addr)
	defer func() { inst.stop() }()

	for r := range rounds {
		jira.SetDelay(time.Second) // within the 2s client timeout
		before := len(jira.Issues())
		for i := range perRound {
			if code := post(t, addr, failedStatus(2000+r*perRound+i, 131031)); code != 200 {
				t.Fatalf("round %d: post %d: %d", r, i, code)
			}
		}
		// Kill while creates are on their way: Jira has them, not answered.
		waitFor(t, "creates in flight", 30*time.Second, func() bool {
			waiting := 0
			for _, r := range jira.Find(http.MethodPost, "/rest/api/2/issue") {
				if r.Status == 0 {
					waiting++
				}
			}
			return waiting >= 2
		}, inst.logs.String)
		inst.kill()
		jira.SetDelay(0)
		inst = start(t, cfg, addr)
		waitFor(t, "every ticket of the round", 90*time.Second, func() bool { return len(jira.Issues()) >= before+perRound }, inst.logs.String)
		waitFor(t, "the outbox to empty", 90*time.Second, func() bool {
			return scrape(t, addr, "wabridge_outbox_depth", nil) == 0
		}, inst.logs.String)
		// The killed process's creates land late; count after them.
		waitFor(t, "every create answered", 30*time.Second, func() bool {
			for _, r := range jira.Find(http.MethodPost, "/rest/api/2/issue") {
				if r.Status == 0 {
					return false
				}
			}
			return true
		}, inst.logs.String)
	}
	perIncident := map[string]int{}
	for _, is := range jira.Issues() {
		for _, l := range is.Labels {
			if strings.HasPrefix(l, "wabridge-") {
				perIncident[l]++
			}
		}
	}
	dups := 0
	for _, c := range perIncident {
		dups += c - 1
	}
	t.Logf("%d crashes with creates in flight to a slow Jira (search 3s behind): %d tickets for %d incidents, %d duplicates (%.1f per crash)",
		rounds, len(jira.Issues()), len(perIncident), dups, float64(dups)/rounds)
	if len(perIncident) != rounds*perRound {
		t.Errorf("%d incidents have tickets, want %d", len(perIncident), rounds*perRound)
	}
	if dups > 0 {
		t.Errorf("%d duplicate Jira tickets over %d crashes, want none", dups, rounds)
	}
}
