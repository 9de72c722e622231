package main

// End-to-end tests of the incident lifecycle through the real binary:
// identity in fingerprints, escalation, deferral by mute_time, manual
// resolve, and a recovery that arrives before its event.

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
)

// newJiraWithPriorities is the strict fake Jira, which lists its
// priorities (highest first, as Jira orders them) and refuses an edit to a
// name it does not know.
func newJiraWithPriorities(t *testing.T) *fakeJira { return newFakeJira(t) }

// edits are the priority edits Jira accepted, as "KEY=Name".
func (f *fakeJira) edits() []string {
	var out []string
	for _, r := range f.Requests() {
		if r.Method != http.MethodPut || r.Status != http.StatusNoContent {
			continue
		}
		var body struct {
			Fields struct {
				Priority struct{ Name string } `json:"priority"`
			} `json:"fields"`
		}
		if json.Unmarshal(r.Body, &body) == nil && body.Fields.Priority.Name != "" {
			out = append(out, strings.TrimPrefix(r.Path, "/rest/api/2/issue/")+"="+body.Fields.Priority.Name)
		}
	}
	return out
}

func qualityDowngrade(display string, at int64) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","time":%d,"changes":[{"value":{"display_phone_number":%q,"event":"DOWNGRADE","old_limit":"TIER_10K","current_limit":"TIER_1K"},"field":"phone_number_quality_update"}]}]}`, at, display))
}

// TestQualityDowngradesOfTwoNumbersAreTwoIncidents: Meta's quality update
// names the number only by display_phone_number; under the default
// group_by the two numbers are two incidents, two Slack messages.
func TestQualityDowngradesOfTwoNumbersAreTwoIncidents(t *testing.T) {
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", `
rules:
  - name: quality-downgrades
    match: {kinds: [quality_update], statuses: [downgrade]}
    actions:
      - slack: {channel: "#whatsapp-ops"}
`)
	inst := start(t, cfg, addr)
	for _, b := range [][]byte{qualityDowngrade("15550001111", 1748454394), qualityDowngrade("15550002222", 1748454395)} {
		if code := post(t, addr, b); code != http.StatusOK {
			t.Fatal(code)
		}
	}
	waitFor(t, "two Slack messages", 10*time.Second, func() bool { p, _, _ := slackCounts(slack); return p == 2 }, inst.logs.String)
	settle(t, slack, inst)
	if p, _, _ := slackCounts(slack); p != 2 {
		t.Errorf("%d Slack messages for two numbers' downgrades, want 2", p)
	}
	shown := slack.posted()[0].Form["blocks"] + slack.posted()[1].Form["blocks"]
	for _, n := range []string{"15550001111", "15550002222"} {
		if !strings.Contains(shown, n) {
			t.Errorf("no message names %s", n)
		}
	}
	inst.stop()
}

// TestScheduleForDisableThenDisableNotifiesTwice: with the example rules,
// the ban that follows its schedule joins the same incident, and is a page:
// the message is updated, the thread says what changed, the ticket gets a
// comment and the priority the rule asks for, all within repeat_interval.
func TestScheduleForDisableThenDisableNotifiesTwice(t *testing.T) {
	rulesYAML, err := os.ReadFile(filepath.Join("..", "..", "rules.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slack, jira := newFakeSlack(t), newJiraWithPriorities(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, jira.srv.URL, string(rulesYAML))
	inst := start(t, cfg, addr)
	if code := post(t, addr, banUpdate("SCHEDULE_FOR_DISABLE", 1745001000)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the scheduled-ban alert and ticket", 10*time.Second, func() bool {
		p, _, _ := slackCounts(slack)
		i, _ := jira.snapshot()
		return p == 1 && len(i) == 1
	}, inst.logs.String)
	if code := post(t, addr, banUpdate("DISABLE", 1745001060)); code != 200 {
		t.Fatal(code)
	}
	reply := func() string {
		for _, c := range slack.allCalls() {
			// The thread's first reply may be its link to the Jira ticket.
			if c.Method == "chat.postMessage" && c.Form["thread_ts"] != "" && !strings.HasPrefix(c.Form["text"], "Jira ticket ") {
				return c.Form["text"]
			}
		}
		return ""
	}
	waitFor(t, "a thread reply naming the escalation", 10*time.Second, func() bool { return reply() != "" }, inst.logs.String)
	waitFor(t, "the Jira comment and the priority raised", 10*time.Second, func() bool {
		_, comments := jira.snapshot()
		return comments == 1 && len(jira.edits()) == 1
	}, inst.logs.String)
	settle(t, slack, inst)
	if r := reply(); !strings.Contains(r, "schedule_for_disable → disable") {
		t.Errorf("thread reply %q does not name the change", r)
	}
	posts, replies, updates := slackCounts(slack)
	if posts != 1 || replies != 1 || updates < 1 {
		t.Errorf("Slack: %d posts, %d replies, %d updates; want 1 message, 1 reply, its update", posts, replies, updates)
	}
	issues, comments := jira.snapshot()
	edits := jira.edits()
	jira.checkAccepted(t)
	if len(issues) != 1 || comments != 1 || len(edits) != 1 || edits[0] != issues[0]+"=Highest" {
		t.Errorf("Jira: issues %v, %d comments, priority edits %v; want one ticket raised to Highest with one comment", issues, comments, edits)
	}
	inst.stop()
}

// TestEventInMuteWindowIsToldWhenItOpens: a ban during mute_time (the
// current minute) sends nothing then, and one alert saying what happened
// once the minute is over.
func TestEventInMuteWindowIsToldWhenItOpens(t *testing.T) {
	t.Parallel() // it waits for the minute to end
	now := time.Now().UTC()
	if now.Second() >= 50 {
		// Too close to the end of the minute to post inside it.
		time.Sleep(time.Until(now.Truncate(time.Minute).Add(time.Minute + 100*time.Millisecond)))
		now = time.Now().UTC()
	}
	from := now.Truncate(time.Minute)
	to := from.Add(time.Minute)
	end := to.Format("15:04")
	if end == "00:00" {
		end = "24:00"
	}
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", fmt.Sprintf(`
rules:
  - name: account-banned
    match: {kinds: [account_update], attributes: {state: [disable]}}
    group_by: [waba_id]
    mute_time:
      - times: [{start: %q, end: %q}]
    actions:
      - slack: {channel: "#whatsapp-ops"}
`, from.Format("15:04"), end))
	inst := start(t, cfg, addr)
	if code := post(t, addr, banUpdate("DISABLE", 1745001000)); code != 200 {
		t.Fatal(code)
	}
	posted := time.Now()
	if !posted.Before(to) {
		t.Skip("the machine was too slow to post within the mute minute")
	}
	// While the mute lasts, nothing reaches Slack.
	time.Sleep(min(time.Until(to)-200*time.Millisecond, 2*time.Second))
	if time.Now().Before(to) && len(slack.allCalls()) != 0 {
		t.Fatalf("Slack was called inside mute_time: %+v", slack.allCalls())
	}
	waitFor(t, "the held alert once the mute is over", time.Until(to)+15*time.Second, func() bool { return len(slack.posted()) == 1 }, inst.logs.String)
	call := slack.posted()[0]
	if call.At.Before(to) {
		t.Errorf("alert sent at %s, inside the mute that ends at %s", call.At.Format(time.RFC3339Nano), to.Format(time.RFC3339))
	}
	if b := call.Form["blocks"]; !strings.Contains(b, "muted") || !strings.Contains(b, "1 event arrived") {
		t.Errorf("the alert does not say what the mute held back: %s", b)
	}
	settle(t, slack, inst)
	if n := len(slack.posted()); n != 1 {
		t.Errorf("%d messages, want the one alert", n)
	}
	inst.stop()
}

// incidentList runs `wabridge incidents --json` (through the running
// server's admin API when one runs).
func incidentList(t *testing.T, cfg string, all bool) []struct {
	Fingerprint, Rule, Status string
	Count                     int
} {
	t.Helper()
	args := []string{"incidents", "--json", "--config", cfg}
	if all {
		args = append(args, "--all")
	}
	out, err := exec.Command(binPath, args...).Output()
	if err != nil {
		t.Fatalf("wabridge incidents: %v", err)
	}
	var list []struct {
		Fingerprint, Rule, Status string
		Count                     int
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("incidents --json: %v\n%s", err, out)
	}
	return list
}

// TestManualResolveThenNewEventPagesAgain: a person resolves the incident
// (through the running server, then offline); its message is marked
// resolved, and the next failure pages again.
func TestManualResolveThenNewEventPagesAgain(t *testing.T) {
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", spamE2ERules[:strings.Index(spamE2ERules, "      - jira")])
	inst := start(t, cfg, addr)
	if code := post(t, addr, failedFrom("m-1", "106540352242922", 131048)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the alert", 10*time.Second, func() bool { return len(slack.posted()) == 1 }, inst.logs.String)
	list := incidentList(t, cfg, false)
	if len(list) != 1 {
		t.Fatalf("incidents = %+v, want one open", list)
	}
	fp := list[0].Fingerprint

	out, err := exec.Command(binPath, "incidents", "resolve", "0000000000000000", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no incident") {
		t.Errorf("resolve of an unknown fingerprint: %v\n%s", err, out)
	}
	out, err = exec.Command(binPath, "incidents", "resolve", fp, "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "resolved incident "+fp) {
		t.Fatalf("incidents resolve: %v\n%s", err, out)
	}
	resolved := func() int {
		n := 0
		for _, c := range slack.allCalls() {
			if c.Method == "chat.update" && strings.Contains(c.Form["blocks"], "Resolved by hand") {
				n++
			}
		}
		return n
	}
	waitFor(t, "the message marked resolved", 10*time.Second, func() bool { return resolved() == 1 }, inst.logs.String)
	out, err = exec.Command(binPath, "incidents", "resolve", fp, "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already resolved") {
		t.Errorf("second resolve: %v\n%s", err, out)
	}
	if list := incidentList(t, cfg, false); len(list) != 0 {
		t.Errorf("open incidents after the resolve: %+v", list)
	}

	if code := post(t, addr, failedFrom("m-2", "106540352242922", 131048)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "a new alert after the resolve", 10*time.Second, func() bool { return len(slack.posted()) == 2 }, inst.logs.String)

	// Offline: the server is stopped, the resolve is stored, and sent once
	// it runs again.
	inst.stop()
	out, err = exec.Command(binPath, "incidents", "resolve", fp, "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sent when it starts") {
		t.Fatalf("offline incidents resolve: %v\n%s", err, out)
	}
	inst = start(t, cfg, addr)
	waitFor(t, "the offline resolve sent", 10*time.Second, func() bool { return resolved() == 2 }, inst.logs.String)
	inst.stop()
}

// TestReinstateBeforeBanLeavesNoOpenIncident: the provider delivers the
// reinstate first and the ban after it (by their own times the ban came
// first). Nothing stays open, and one message and one ticket say both,
// already resolved.
func TestReinstateBeforeBanLeavesNoOpenIncident(t *testing.T) {
	rulesYAML, err := os.ReadFile(filepath.Join("..", "..", "rules.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slack, jira := newFakeSlack(t), newFakeJira(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, jira.srv.URL, string(rulesYAML))
	inst := start(t, cfg, addr)
	if code := post(t, addr, banUpdate("REINSTATE", 1745001200)); code != 200 {
		t.Fatal(code)
	}
	time.Sleep(500 * time.Millisecond)
	if code := post(t, addr, banUpdate("DISABLE", 1745001000)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the ticket created and resolved", 10*time.Second, func() bool {
		keys := jira.Keys()
		if len(keys) != 1 {
			return false
		}
		is, _ := jira.Issue(keys[0])
		return len(is.Transitions) == 1
	}, inst.logs.String)
	settle(t, slack, inst)
	posts, replies, _ := slackCounts(slack)
	if posts != 1 || replies != 0 {
		t.Fatalf("Slack: %d posts and %d replies, want one message", posts, replies)
	}
	b := slack.posted()[0].Form["blocks"]
	for _, want := range []string{"Resolved", "Already resolved", "2025-04-18T18:30:00Z", "2025-04-18T18:33:20Z", "reinstate"} {
		if !strings.Contains(b, want) {
			t.Errorf("the message lacks %q: %s", want, b)
		}
	}
	if list := incidentList(t, cfg, false); len(list) != 0 {
		t.Errorf("open incidents after a reinstate and its late ban: %+v", list)
	}
	inst.stop()
}

// TestOpenIncidentsPastTheCapAreToldNotDropped: a rule that groups by
// message id and may keep 2 open: the third and later groups join one
// overflow incident, whose message says so, and the metrics count them.
func TestOpenIncidentsPastTheCapAreToldNotDropped(t *testing.T) {
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", `
rules:
  - name: per-message
    match: {codes: [131048]}
    group_by: [id]
    max_open_incidents: 2
    actions:
      - slack: {channel: "#whatsapp-ops"}
`)
	inst := start(t, cfg, addr)
	for i := range 6 {
		if code := post(t, addr, failedFrom(fmt.Sprintf("cap-%d", i), "106540352242922", 131048)); code != 200 {
			t.Fatal(code)
		}
	}
	waitFor(t, "three Slack messages", 10*time.Second, func() bool { return len(slack.posted()) == 3 }, inst.logs.String)
	settle(t, slack, inst)
	if n := len(slack.posted()); n != 3 {
		t.Fatalf("%d messages, want two incidents and the overflow one", n)
	}
	// Sends of different incidents keep no order among themselves: one of
	// the three is the overflow's.
	overflow := 0
	for _, p := range slack.posted() {
		if strings.Contains(p.Form["blocks"], "max_open_incidents") {
			overflow++
		}
	}
	if overflow != 1 {
		t.Errorf("%d of the three messages say the rule is over max_open_incidents, want the overflow's alone", overflow)
	}
	if v := scrape(t, addr, "wabridge_incidents_capped_total", map[string]string{"rule": "per-message"}); v != 4 {
		t.Errorf("wabridge_incidents_capped_total = %v, want 4", v)
	}
	if v := scrape(t, addr, "wabridge_incidents_open", map[string]string{"rule": "per-message"}); v != 3 {
		t.Errorf("wabridge_incidents_open = %v, want 3", v)
	}
	inst.stop()
}
