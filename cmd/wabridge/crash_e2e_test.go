package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
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
