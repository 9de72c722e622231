package main

// End-to-end tests of incidents: the real binary, signed Meta deliveries,
// Slack and Jira faked at the wire.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
)

// fakeJira is the strict fake Jira (jiratest) the binary's real go-jira
// client talks to: Data Center, basic auth as ops@example.com.
type fakeJira struct {
	*jiratest.Server
	srv *jiratest.Server
}

func newFakeJira(t *testing.T) *fakeJira {
	s := jiratest.New(t, jiratest.Options{User: "ops@example.com", Token: "jira-e2e-token"})
	return &fakeJira{Server: s, srv: s}
}

// snapshot is the issues (not deleted) and the comments they hold.
func (f *fakeJira) snapshot() (issues []string, comments int) {
	return f.Keys(), f.Comments()
}

// checkAccepted fails the test when Jira would have refused a request.
func (f *fakeJira) checkAccepted(t *testing.T) {
	t.Helper()
	for _, r := range f.Rejected() {
		t.Errorf("Jira would refuse %s %s (%d): %s", r.Method, r.Path, r.Status, r.Body)
	}
}

// slackCounts splits Slack's calls: top-level posts, thread replies, updates.
func slackCounts(f *fakeSlack) (posts, replies, updates int) {
	for _, c := range f.allCalls() {
		switch {
		case c.Error != "":
		case c.Method == "chat.postMessage" && strings.HasPrefix(c.Form["text"], "Jira ticket "):
			// The thread's link to the ticket, not a repeat or resolution.
		case c.Method == "chat.postMessage" && c.Form["thread_ts"] != "":
			replies++
		case c.Method == "chat.postMessage":
			posts++
		case c.Method == "chat.update":
			updates++
		}
	}
	return
}

func writeIncidentConfig(t *testing.T, dir, addr, slackURL, jiraURL, rules string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	jira := ""
	if jiraURL != "" {
		jira = fmt.Sprintf(`  jira: {url: %q, user: ops@example.com, token: jira-e2e-token, project: WAOPS, api_type: datacenter, resolve_transition: Done, timeout: 2s}`, jiraURL)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s, admin_token: e2e-admin-token-0123456789abcdef0123}
storage: {dir: %q}
log: {level: debug, format: json}
sources:
  - {name: meta, type: meta, app_secret: %q, verify_token: e2e-verify}
notifiers:
  slack: {token: xoxb-good, api_url: %q, channel: "#whatsapp-ops", timeout: 2s}
%s
pipeline: {backoff_base: 100ms, backoff_max: 1s, max_attempts: 50, max_age: 1h}
rules: {files: [rules.yaml]}
`, addr, filepath.Join(dir, "data"), e2eSecret, slackURL+"/api/", jira)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// failedFrom is a failed status of one phone number; id makes it unique.
func failedFrom(id string, phone string, code int) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},"statuses":[{"id":"wamid.INC-%s","status":"failed","timestamp":"1751142888","recipient_id":"16505557000","errors":[{"code":%d,"title":"Spam rate limit hit","message":"Spam rate limit hit"}]}]},"field":"messages"}]}]}`, phone, id, code))
}

func banUpdate(state string, at int64) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","time":%d,"changes":[{"value":{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":[%q],"waba_ban_date":"April 18, 2025"}},"field":"account_update"}]}]}`, at, state))
}

// postAll posts bodies with a few concurrent clients.
func postAll(t *testing.T, addr string, bodies [][]byte) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan []byte)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				if code := post(t, addr, b); code != http.StatusOK {
					t.Errorf("post: status %d", code)
				}
			}
		}()
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
}

// settle waits until Slack has been called and then quiet for a while.
func settle(t *testing.T, slack *fakeSlack, inst *instance) {
	t.Helper()
	waitFor(t, "a Slack call", 10*time.Second, func() bool { return len(slack.allCalls()) > 0 }, inst.logs.String)
	last, since := -1, time.Now()
	waitFor(t, "Slack to go quiet", 12*time.Second, func() bool {
		n := len(slack.allCalls())
		if n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) > 800*time.Millisecond
	}, inst.logs.String)
}

const spamE2ERules = `
rules:
  - name: spam-and-rate-limits
    match: {codes: [131048]}
    group_by: [code, phone_number_id]
    repeat_interval: 2s
    actions:
      - slack: {channel: "#whatsapp-ops"}
      - jira: {project: WAOPS}
`

// TestBurstIsOneIncident: 500 spam-limit failures of one number make one
// Slack message with in-place updates and a few thread summaries, and one
// Jira ticket with a few comments.
func TestBurstIsOneIncident(t *testing.T) {
	slack, jira := newFakeSlack(t), newFakeJira(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, jira.srv.URL, spamE2ERules)
	inst := start(t, cfg, addr)
	began := time.Now()
	bodies := make([][]byte, 500)
	for i := range bodies {
		bodies[i] = failedFrom(fmt.Sprintf("burst-%d", i), "106540352242922", 131048)
	}
	postAll(t, addr, bodies)
	settle(t, slack, inst)
	elapsed := time.Since(began)
	posts, replies, updates := slackCounts(slack)
	issues, comments := jira.snapshot()
	t.Logf("500 events in %v: %d Slack posts, %d updates, %d thread replies; %d Jira issues, %d comments",
		elapsed.Round(time.Millisecond), posts, updates, replies, len(issues), comments)
	if posts != 1 {
		t.Errorf("%d top-level Slack messages, want 1", posts)
	}
	if updates < 1 || updates >= 500 {
		t.Errorf("%d chat.update calls, want some and fewer than 500", updates)
	}
	// One summary per repeat_interval (2s) at most, for the time it took.
	maxRepeats := int(elapsed/(2*time.Second)) + 1
	if replies > maxRepeats {
		t.Errorf("%d thread replies in %v, want at most %d (one per 2s)", replies, elapsed, maxRepeats)
	}
	if len(issues) != 1 {
		t.Errorf("%d Jira issues, want 1: %v", len(issues), issues)
	}
	if comments > maxRepeats {
		t.Errorf("%d Jira comments, want at most %d", comments, maxRepeats)
	}
	inst.stop()
}

// TestTwoNumbersTwoIncidents: the default grouping is per code and number.
func TestTwoNumbersTwoIncidents(t *testing.T) {
	slack, jira := newFakeSlack(t), newFakeJira(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, jira.srv.URL, spamE2ERules)
	inst := start(t, cfg, addr)
	var bodies [][]byte
	for i := range 20 {
		bodies = append(bodies, failedFrom(fmt.Sprintf("a-%d", i), "111111111111111", 131048),
			failedFrom(fmt.Sprintf("b-%d", i), "222222222222222", 131048))
	}
	postAll(t, addr, bodies)
	settle(t, slack, inst)
	posts, _, _ := slackCounts(slack)
	issues, _ := jira.snapshot()
	if posts != 2 || len(issues) != 2 {
		t.Errorf("%d Slack messages and %d Jira issues for two numbers, want 2 and 2", posts, len(issues))
	}
	// The on-call view: through the running server's admin API, then
	// offline on the store once it stopped; both show the two incidents.
	checkIncidents := func(where string) {
		out, err := exec.Command(binPath, "incidents", "--json", "--config", cfg).Output()
		if err != nil {
			t.Fatalf("wabridge incidents (%s): %v", where, err)
		}
		var list []struct {
			Rule, Status string
			Count        int
			Event        struct {
				PhoneNumberID string `json:"phone_number_id"`
			}
		}
		if err := json.Unmarshal(out, &list); err != nil {
			t.Fatalf("incidents --json (%s): %v\n%s", where, err, out)
		}
		// The recipient's number is masked, as in every alert and log.
		if strings.Contains(string(out), "16505557000") || !strings.Contains(string(out), "*******7000") {
			t.Errorf("incidents --json (%s) does not mask the recipient:\n%s", where, out)
		}
		phones := map[string]int{}
		for _, inc := range list {
			if inc.Status != "open" {
				t.Errorf("%s: incident %+v is not open", where, inc)
			}
			phones[inc.Event.PhoneNumberID] = inc.Count
		}
		if len(list) != 2 || phones["111111111111111"] != 20 || phones["222222222222222"] != 20 {
			t.Errorf("%s: incidents %+v, want two open ones with 20 events each", where, list)
		}
	}
	checkIncidents("running server")
	inst.stop()
	checkIncidents("offline")
}

// TestThresholdFiresAtTwentieth: 19 events within the window stay quiet;
// the 20th opens the incident.
func TestThresholdFiresAtTwentieth(t *testing.T) {
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", `
rules:
  - name: undeliverable-bursts
    match: {codes: [131026]}
    threshold: {count: 20, within: 10m}
    actions:
      - slack: {channel: "#whatsapp-ops"}
`)
	inst := start(t, cfg, addr)
	for i := range 19 {
		if code := post(t, addr, failedFrom(fmt.Sprintf("t-%d", i), "106540352242922", 131026)); code != 200 {
			t.Fatal(code)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(slack.allCalls()); n != 0 {
		t.Fatalf("%d Slack calls after 19 events, want none below the threshold", n)
	}
	if code := post(t, addr, failedFrom("t-19", "106540352242922", 131026)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the alert at the 20th event", 10*time.Second, func() bool { p, _, _ := slackCounts(slack); return p == 1 }, inst.logs.String)
	inst.stop()
}

// TestSilenceThroughRunningServer: a silence added with the CLI while the
// server holds the store (so through its admin API) stops notifications;
// once it expires they resume.
func TestSilenceThroughRunningServer(t *testing.T) {
	slack := newFakeSlack(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, "", `
rules:
  - name: spam
    match: {codes: [131048]}
    group_by: [id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
`)
	inst := start(t, cfg, addr)
	out, err := exec.Command(binPath, "silence", "add", "--match", "code=131048",
		"--match", "phone_number_id=~1065.*", "--for", "3s", "--comment", "campaign paused", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("silence add: %v\n%s", err, out)
	}
	added := time.Now()
	out, err = exec.Command(binPath, "silence", "list", "--json", "--config", cfg).Output()
	if err != nil {
		t.Fatalf("silence list: %v", err)
	}
	var list []map[string]any
	if err := json.Unmarshal(out, &list); err != nil || len(list) != 1 || list[0]["comment"] != "campaign paused" {
		t.Fatalf("silence list = %s (%v)", out, err)
	}
	for i := range 5 {
		if code := post(t, addr, failedFrom(fmt.Sprintf("s-%d", i), "106540352242922", 131048)); code != 200 {
			t.Fatal(code)
		}
	}
	time.Sleep(time.Second)
	if n := len(slack.allCalls()); n != 0 {
		t.Fatalf("%d Slack calls while silenced", n)
	}
	time.Sleep(time.Until(added.Add(3*time.Second + 200*time.Millisecond)))
	if code := post(t, addr, failedFrom("after", "106540352242922", 131048)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "notifications to resume after the silence", 10*time.Second, func() bool { return len(slack.posted()) == 1 }, inst.logs.String)

	// Bad input is refused with a message a person can act on.
	out, err = exec.Command(binPath, "silence", "add", "--match", "code", "--for", "1h", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "key=value") {
		t.Errorf("silence add with a bad matcher: %v\n%s", err, out)
	}
	out, err = exec.Command(binPath, "silence", "expire", "42", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no silence") {
		t.Errorf("silence expire of a missing id: %v\n%s", err, out)
	}
	inst.stop()
}

// TestBanThenReinstateResolves: with the example rules, a ban opens an
// incident and the reinstate resolves it: the message is updated to
// resolved and the thread says so.
func TestBanThenReinstateResolves(t *testing.T) {
	rulesYAML, err := os.ReadFile(filepath.Join("..", "..", "rules.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slack, jira := newFakeSlack(t), newFakeJira(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeIncidentConfig(t, dir, addr, slack.srv.URL, jira.srv.URL, string(rulesYAML))
	inst := start(t, cfg, addr)
	if code := post(t, addr, banUpdate("DISABLE", 1745001000)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the ban alert", 10*time.Second, func() bool { p, _, _ := slackCounts(slack); return p == 1 }, inst.logs.String)
	waitFor(t, "the ban ticket", 10*time.Second, func() bool { i, _ := jira.snapshot(); return len(i) == 1 }, inst.logs.String)
	if code := post(t, addr, banUpdate("REINSTATE", 1745001200)); code != 200 {
		t.Fatal(code)
	}
	resolved := func() bool {
		for _, c := range slack.allCalls() {
			if c.Method == "chat.update" && strings.Contains(strings.ToLower(c.Form["text"]+c.Form["blocks"]), "resolved") {
				return true
			}
		}
		return false
	}
	waitFor(t, "the message updated to resolved", 10*time.Second, resolved, inst.logs.String)
	waitFor(t, "a thread reply", 10*time.Second, func() bool { _, r, _ := slackCounts(slack); return r == 1 }, inst.logs.String)
	waitFor(t, "the ticket resolved", 10*time.Second, func() bool {
		is, _ := jira.Issue("WAOPS-1")
		return len(is.Transitions) == 1
	}, inst.logs.String)
	if p, _, _ := slackCounts(slack); p != 1 {
		t.Errorf("%d top-level messages, want the one ban alert", p)
	}
	inst.stop()
}

// TestAccountBlockedReachesSlackAndJira: one signed 131031 delivery through
// the example's kind of rule gives a Slack alert and a Jira ticket, made by
// the real slack-go and go-jira clients, that carry the code and Meta's
// recommended action.
func TestAccountBlockedReachesSlackAndJira(t *testing.T) {
	slack := newFakeSlack(t)
	jira := newFakeJira(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	rules := `
rules:
  - name: account-blocked
    match: {codes: [131031]}
    actions:
      - slack: {channel: "#whatsapp-ops"}
      - jira: {project: WAOPS, issue_type: Incident, priority: Highest, labels: [whatsapp, account-blocked]}
`
	inst := start(t, writeIncidentConfig(t, dir, addr, slack.srv.URL, jira.srv.URL, rules), addr)
	if code := post(t, addr, failedStatus(1, 131031)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the Slack alert and the Jira ticket", 15*time.Second, func() bool {
		issues, _ := jira.snapshot()
		return len(slack.posted()) == 1 && len(issues) == 1
	}, inst.logs.String)
	defer inst.stop()

	const action = "Policy Enforcement" // from the catalogue's recommended actions for 131031
	blocks := slack.posted()[0].Form["blocks"]
	for _, want := range []string{"131031", action} {
		if !strings.Contains(blocks, want) {
			t.Errorf("Slack blocks lack %q: %s", want, blocks)
		}
	}
	jira.checkAccepted(t)
	slack.checkAccepted(t)
	c, _ := jira.Issue("WAOPS-1")
	auth := jira.Requests()[0].Header.Get("Authorization")
	desc, _ := c.Description.(string)
	if c.Project != "WAOPS" || c.Type != "Incident" || c.Priority != "Highest" {
		t.Errorf("ticket fields: %+v", c)
	}
	for _, want := range []string{"131031", action} {
		if !strings.Contains(desc, want) {
			t.Errorf("Jira description lacks %q:\n%s", want, desc)
		}
	}
	if len(c.Summary) > 255 || !strings.Contains(c.Summary, "131031") {
		t.Errorf("summary %q", c.Summary)
	}
	labels := strings.Join(c.Labels, " ")
	if !strings.Contains(labels, "wabridge-") || !strings.Contains(labels, "account-blocked") {
		t.Errorf("labels %v: want the fingerprint label and the rule's labels", c.Labels)
	}
	if strings.Contains(desc, "16505557001") {
		t.Errorf("the ticket shows the full recipient number")
	}
	// Each side links to the other once both exist.
	waitFor(t, "the ticket linked to the Slack message", 10*time.Second, func() bool {
		is, _ := jira.Issue("WAOPS-1")
		return len(is.Links) == 1 && strings.Contains(is.Links[0].URL, "/archives/C0OPS/p")
	}, inst.logs.String)
	waitFor(t, "the Slack thread linked to the ticket", 10*time.Second, func() bool {
		p := slack.Posts()
		return len(p) == 1 && len(slack.Replies(p[0].TS)) == 1 && strings.Contains(slack.Replies(p[0].TS)[0].Text, jira.URL+"/browse/WAOPS-1")
	}, inst.logs.String)
	if !strings.HasPrefix(auth, "Basic ") {
		t.Errorf("Jira auth header %q, want basic auth with user and token", auth)
	}
}
