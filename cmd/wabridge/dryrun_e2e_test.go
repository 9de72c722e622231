package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

// wire is Slack and Jira at the wire: the strict fakes every test uses,
// each recording the exact body of every request it took.
type wire struct {
	slack *slacktest.Server
	jira  *jiratest.Server
}

type recorded struct{ method, path, body string }

func newWire(t *testing.T) *wire {
	return &wire{
		slack: slacktest.New(t, slacktest.Options{Token: wireSlackToken, Channels: map[string]string{"#whatsapp-ops": "C0OPS"}}),
		jira:  jiratest.New(t, jiratest.Options{Token: wireJiraToken}),
	}
}

// posts are the POSTs Slack and Jira received, Slack's first: the API
// path each went to and its exact body.
func (w *wire) posts() []recorded {
	var out []recorded
	for _, c := range w.slack.Calls() {
		out = append(out, recorded{http.MethodPost, "/api/" + c.Method, string(c.Body)})
	}
	for _, r := range w.jira.Requests() {
		if r.Method == http.MethodPost {
			out = append(out, recorded{r.Method, r.Path, string(r.Body)})
		}
	}
	return out
}

type dryReport struct {
	Notifications []struct {
		Rule, Notifier, Target, Op string
		Requests                   []struct {
			Method, URL, Body string
		}
	}
	Evaluations []struct {
		EventID   string `json:"event_id"`
		Decisions []struct{ Outcome, Text string }
	}
}

const (
	wireSlackToken = "xoxb-wire-test-token"
	wireJiraToken  = "jira-wire-token"
)

func writeWireConfig(t *testing.T, dir, addr string, w *wire) string {
	t.Helper()
	rules := `
rules:
  - name: account-blocked
    match: {codes: [131031]}
    group_by: [code, waba_id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
      - jira: {project: WAOPS, issue_type: Incident, priority: Highest, labels: [whatsapp]}
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s, admin_token: dry-run-admin-token-0123456789abcdef}
storage: {dir: %q}
sources:
  - {name: meta, type: meta, app_secret: %q}
notifiers:
  slack: {token: %s, api_url: %q, channel: "#whatsapp-ops", timeout: 2s}
  jira: {url: %q, token: %s, project: WAOPS, api_type: datacenter, timeout: 2s}
pipeline: {backoff_base: 100ms, backoff_max: 1s}
rules: {files: [rules.yaml]}
`, addr, filepath.Join(dir, "data"), e2eSecret, wireSlackToken, w.slack.APIURL(), w.jira.URL, wireJiraToken)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRenderIsWhatServeSends: `wabridge test --render` prints, byte for
// byte, the bodies the Slack and Jira servers receive when serve gets the
// same payload (the Slack token, which travels in the body, printed as
// <secret> on both sides of the comparison).
func TestRenderIsWhatServeSends(t *testing.T) {
	wire := newWire(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeWireConfig(t, dir, addr, wire)
	payload := failedStatus(1, 131031)
	pfile := filepath.Join(dir, "payload.json")
	if err := os.WriteFile(pfile, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binPath, "test", "--render", "--config", cfg, pfile).Output()
	if err != nil {
		t.Fatalf("test --render: %v\n%s", err, out)
	}
	if strings.Contains(string(out), wireSlackToken) || strings.Contains(string(out), wireJiraToken) {
		t.Fatal("test --render printed a token")
	}
	var rep dryReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rendered []recorded
	for _, n := range rep.Notifications {
		for _, r := range n.Requests {
			if r.Method == http.MethodPost {
				rendered = append(rendered, recorded{r.Method, r.URL, r.Body})
			}
		}
	}
	if len(rendered) != 2 {
		t.Fatalf("rendered POSTs = %+v, want chat.postMessage and an issue", rendered)
	}
	if got := len(wire.posts()); got != 0 {
		t.Fatalf("test --render sent %d requests", got)
	}

	inst := start(t, cfg, addr)
	defer inst.stop()
	if code := post(t, addr, payload); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "Slack and Jira to receive the alert", 15*time.Second, func() bool { return len(wire.posts()) >= 2 }, inst.logs.String)
	sent := wire.posts()
	// Slack and Jira are sent by different senders, in either order, and
	// the ticket's link may follow in the Slack thread: each rendered
	// request is compared with the first serve sent to its path.
	for i, r := range rendered {
		j := slices.IndexFunc(sent, func(s recorded) bool { return strings.HasSuffix(r.path, s.path) })
		if j < 0 {
			t.Errorf("request %d: rendered %s, serve sent nothing there", i, r.path)
			continue
		}
		s := sent[j]
		body := strings.ReplaceAll(s.body, wireSlackToken, "<secret>")
		if !strings.HasSuffix(r.path, s.path) {
			t.Errorf("request %d: rendered %s, serve sent %s", i, r.path, s.path)
		}
		if body != r.body {
			t.Errorf("request %d (%s): rendered body differs from what serve sent\nrendered: %s\nsent:     %s", i, s.path, r.body, body)
		}
	}
	for _, c := range wire.slack.Failed() {
		t.Errorf("Slack would refuse %s: %s", c.Method, c.Error)
	}
	for _, r := range wire.jira.Rejected() {
		t.Errorf("Jira would refuse %s %s (%d): %s", r.Method, r.Path, r.Status, r.Body)
	}
}

// TestStateSeesSilence: `test --state` evaluates against the store: after
// `silence add`, it reports the event silenced by that silence's id, both
// offline and through a running server's admin API, and changes nothing.
func TestStateSeesSilence(t *testing.T) {
	wire := newWire(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeWireConfig(t, dir, addr, wire)
	payload := string(failedStatus(2, 131031))

	add := runCLI(t, "silence", "add", "--config", cfg, "--match", "code=131031", "--for", "1h", "--comment", "known outage")
	id := regexp.MustCompile(`silence (\d+) added`).FindStringSubmatch(add)
	if id == nil {
		t.Fatalf("silence add: %s", add)
	}
	want := "silenced by " + id[1]
	if out := runCLI(t, "test", "--state", "--output", "text", "--config", cfg, payload); !strings.Contains(out, want) || !strings.Contains(out, "no notifications") {
		t.Errorf("offline test --state:\n%s\nwant %q", out, want)
	}
	if out := runCLI(t, "test", "--output", "text", "--config", cfg, payload); !strings.Contains(out, "opened") {
		t.Errorf("test without --state ignores the store's silences:\n%s", out)
	}

	inst := start(t, cfg, addr)
	defer inst.stop()
	out := runCLI(t, "test", "--state", "--config", cfg, payload)
	var rep dryReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Evaluations) != 1 || len(rep.Evaluations[0].Decisions) != 1 || rep.Evaluations[0].Decisions[0].Text != want || len(rep.Notifications) != 0 {
		t.Errorf("test --state through the admin API: %s", out)
	}
	// Evaluated twice, yet nothing was stored: the real event still opens
	// nothing (silenced) and the audit trail holds no dry run.
	if out := runCLI(t, "audit", "--config", cfg, "--json"); strings.Contains(out, "dry-run") {
		t.Errorf("a dry run reached the audit trail: %s", out)
	}
	if n := len(wire.posts()); n != 0 {
		t.Errorf("%d requests sent by dry runs", n)
	}
}

// TestStateWithoutAdminToken: with a server holding the store and no admin
// API, `test --state` says what to do, exits 1, and changes nothing.
func TestStateWithoutAdminToken(t *testing.T) {
	wire := newWire(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := writeWireConfig(t, dir, addr, wire)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), ", admin_token: dry-run-admin-token-0123456789abcdef", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := start(t, cfg, addr)
	defer inst.stop()
	out, err := exec.Command(binPath, "test", "--state", "--config", cfg, string(failedStatus(3, 131031))).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "in use by a running server, and server.admin_token is not set") {
		t.Errorf("test --state on a held store without the admin API: %v\n%s", err, out)
	}
	// Without --state it needs no store and runs.
	if out := runCLI(t, "test", "--config", cfg, string(failedStatus(3, 131031))); !strings.Contains(out, `"opened"`) {
		t.Errorf("test without --state while a server runs:\n%s", out)
	}
}
