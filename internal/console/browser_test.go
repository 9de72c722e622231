package console_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

const (
	adminToken = "console-browser-admin-token-0123456789"
	appSecret  = "console-browser-app-secret"
)

// stack is a real wabridge (store on disk, pipeline, router) on loopback,
// with the strict fake Slack standing in for slack.com.
type stack struct {
	addr  string
	slack *slacktest.Server
	jira  *jiratest.Server
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testRules = `
rules:
  - name: account-blocked
    match: {codes: [131031]}
    group_by: [code, phone_number_id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
  - name: failed-sends
    match: {kinds: [status], statuses: [failed], codes: [131048]}
    group_by: [code, phone_number_id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
  - name: ticket
    match: {codes: [131049]}
    group_by: [code, phone_number_id]
    actions:
      - jira: {project: WAOPS, issue_type: Incident, priority: High}
  # No ticket by itself: the alert, and the console's row, offer one.
  - name: ticket-on-demand
    match: {codes: [131047]}
    group_by: [code, phone_number_id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
      - jira: {project: WAOPS, issue_type: Incident, priority: High, on_demand: true}
  # Slack has no such channel: its alerts become dead letters.
  - name: undeliverable
    match: {codes: [131026]}
    group_by: [code, phone_number_id]
    actions:
      - slack: {channel: "#nowhere"}
`

func startStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	slack := slacktest.New(t, slacktest.Options{Token: "xoxb-console", Channels: map[string]string{"#whatsapp-ops": "C0OPS"}})
	jira := jiratest.New(t, jiratest.Options{Token: "jira-console"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(testRules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s, admin_token: %q}
storage: {dir: %q, no_sync: true}
log: {level: debug, format: json}
sources:
  - {name: meta, type: meta, app_secret: %q, verify_token: console-verify}
notifiers:
  slack: {token: xoxb-console, api_url: %q, channel: "#whatsapp-ops", timeout: 2s}
  jira: {url: %q, token: jira-console, project: WAOPS, api_type: datacenter, timeout: 2s}
rules: {files: [rules.yaml]}
`, addr, adminToken, filepath.Join(dir, "data"), appSecret, slack.APIURL(), jira.URL)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	svc, err := app.Open(path, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("wabridge run: %v", err)
		}
	})
	st := &stack{addr: addr, slack: slack, jira: jira, logs: logs}
	st.waitFor(t, "readyz", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return st
}

func (st *stack) url(p string) string { return "http://" + st.addr + p }

func (st *stack) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s\nlogs:\n%s", what, st.logs.String())
}

// deliver posts a signed Meta delivery to the real webhook.
func (st *stack) deliver(t *testing.T, body string) {
	t.Helper()
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, st.url("/webhooks/meta"), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
}

// failedDelivery is a Meta delivery of one failed send to recipient.
func failedDelivery(id string, code int, phoneNumberID, recipient string) string {
	return fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},"statuses":[{"id":"wamid.%s","status":"failed","timestamp":"1751142888","recipient_id":%q,"errors":[{"code":%d,"title":"Business Account locked","message":"Business Account locked","error_data":{"details":"Business account has been locked."}}]}]},"field":"messages"}]}]}`, phoneNumberID, id, recipient, code)
}

// browser starts Debian's Chromium headless, as the machine's closed
// network needs it: no background fetches, no QUIC, a fresh profile.
// Without chromium the test is skipped, unless
// WABRIDGE_TEST_BROWSER=required (CI), where it fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if p, err := exec.LookPath("chromium"); err == nil {
			path = p
		} else {
			if os.Getenv("WABRIDGE_TEST_BROWSER") == "required" {
				t.Fatal("chromium not found and WABRIDGE_TEST_BROWSER=required: apt-get install chromium")
			}
			t.Skip("chromium not found: apt-get install chromium to run the console's browser tests (WABRIDGE_TEST_BROWSER=required makes this a failure)")
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// shots writes full-page PNG screenshots (quality 100 is PNG): under WABRIDGE_TEST_SCREENSHOTS when
// set (to keep them), else under the test's temp dir; the log names it.
type shots struct {
	t   *testing.T
	dir string
}

func newShots(t *testing.T) *shots {
	dir := os.Getenv("WABRIDGE_TEST_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return &shots{t: t, dir: dir}
}

func (s *shots) take(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		buf, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, fmt.Errorf("screenshot %s: %w", name, err)
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(s.dir, name+".png"), buf, 0o644)
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// signInAs signs the browser in through the form.
func signInAs(t *testing.T, ctx context.Context, st *stack, token string) {
	t.Helper()
	do(t, ctx, "sign in",
		chromedp.Navigate(st.url("/ui/")),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("signin")),
	)
}

// A person signs in: a wrong token gets the message, the right one the
// console; signing out ends it.
func TestBrowserSignIn(t *testing.T) {
	ctx := browser(t)
	st := startStack(t)
	sh := newShots(t)

	signInAs(t, ctx, st, "not-the-admin-token")
	do(t, ctx, "wrong token", chromedp.WaitVisible(chromedp.ID("login-error")), sh.take("login-wrong-token"))
	if msg := get(t, ctx, "message", chromedp.Text(chromedp.ID("login-error"))); !strings.Contains(msg, "That is not the admin token") {
		t.Fatalf("wrong token: %q", msg)
	}
	do(t, ctx, "right token",
		// The refused page comes back with the field empty.
		chromedp.SendKeys(chromedp.ID("token"), adminToken),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.CSS("form.logout")),
		sh.take("signed-in"),
	)
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS("form.logout button")), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/ui/login") {
		t.Fatalf("after sign-out at %s", loc)
	}
}

// A person works an incident from the console: signs in, sees it firing,
// previews and creates a silence, resolves the incident from its row, runs
// a payload through the playground, and reads the deliveries and dead
// letters; each page is screenshot.
func TestBrowserConsole(t *testing.T) {
	ctx := browser(t)
	st := startStack(t)
	sh := newShots(t)
	st.deliver(t, failedDelivery("lock1", 131031, "106540352242922", recipientLocked))
	st.deliver(t, failedDelivery("spam1", 131048, "106540352242922", recipientLocked))
	st.deliver(t, failedDelivery("gone1", 131026, "106540352242922", recipientGone))
	st.deliver(t, failedDelivery("reengage1", 131047, "106540352242922", recipientLocked))
	var locked, spam, onDemand string
	st.waitFor(t, "three open incidents and a dead letter", func() bool {
		for _, inc := range st.incidents(t) {
			if inc.Status == incident.Open && inc.Rule == "account-blocked" {
				locked = inc.Fingerprint
			}
			if inc.Status == incident.Open && inc.Rule == "failed-sends" {
				spam = inc.Fingerprint
			}
			if inc.Status == incident.Open && inc.Rule == "ticket-on-demand" {
				onDemand = inc.Fingerprint
			}
		}
		return locked != "" && spam != "" && onDemand != "" && len(st.deadLetters(t)) == 1
	})

	do(t, ctx, "sign in with a name",
		chromedp.Navigate(st.url("/ui/")),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), adminToken),
		chromedp.SendKeys(chromedp.ID("name"), "ana"),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("stat-open")),
		sh.take("home"),
	)
	row := `tr[data-fingerprint="` + locked + `"]`
	do(t, ctx, "incidents",
		chromedp.Navigate(st.url("/ui/incidents")),
		chromedp.WaitVisible(chromedp.CSS(row)),
		sh.take("incidents"),
	)
	if txt := get(t, ctx, "incident row", chromedp.Text(chromedp.CSS(row))); !strings.Contains(txt, "131031") || strings.Contains(txt, recipientLocked) {
		t.Fatalf("incident row: %q", txt)
	}

	// A silence, previewed as it is typed.
	do(t, ctx, "silence preview",
		chromedp.Navigate(st.url("/ui/silences")),
		chromedp.WaitVisible(chromedp.ID("matchers")),
		chromedp.SendKeys(chromedp.ID("matchers"), "code=131048"),
		chromedp.WaitVisible(chromedp.CSS(`#silence-preview [data-fingerprint="`+spam+`"]`)),
		sh.take("silence-preview"),
	)
	if txt := get(t, ctx, "preview", chromedp.Text(chromedp.ID("silence-preview"))); !strings.Contains(txt, "1 open or pending") || strings.Contains(txt, locked) {
		t.Fatalf("preview of code=131048: %q", txt)
	}
	do(t, ctx, "create silence",
		chromedp.SendKeys(chromedp.ID("comment"), "campaign paused"),
		chromedp.Click(chromedp.ID("create-silence")),
		chromedp.WaitVisible(chromedp.CSS("#silences tr[data-id]")),
		sh.take("silences"),
	)
	var sils []silence.Silence
	st.api(t, "/silences", &sils)
	if len(sils) != 1 || silence.MatcherString(sils[0].Matchers[0]) != "code=131048" || sils[0].Comment != "campaign paused" || sils[0].Author != "ana" {
		t.Fatalf("silences after create: %+v", sils)
	}

	// Resolve from the row.
	do(t, ctx, "resolve",
		chromedp.Navigate(st.url("/ui/incidents")),
		chromedp.Click(chromedp.CSS(row+" button.resolve")),
		chromedp.WaitVisible(chromedp.CSS(".flash-ok")),
		sh.take("resolved"),
	)
	if msg := get(t, ctx, "flash", chromedp.Text(chromedp.CSS(".flash-ok"))); !strings.Contains(msg, "Resolved incident "+locked) {
		t.Fatalf("after resolve: %q", msg)
	}
	for _, inc := range st.incidents(t) {
		if inc.Fingerprint == locked && inc.Status != incident.Resolved {
			t.Fatalf("incident %s is %s after resolve from the console", locked, inc.Status)
		}
	}
	st.waitFor(t, "the Slack message to say resolved", func() bool {
		for _, m := range st.slack.Messages() {
			if m.Updates > 0 && strings.Contains(string(m.Blocks), "Resolved") {
				return true
			}
		}
		return false
	})

	// Acknowledge from the row: the repeats hold, the row says who.
	spamRow := `tr[data-fingerprint="` + spam + `"]`
	do(t, ctx, "acknowledge",
		chromedp.Navigate(st.url("/ui/incidents")),
		chromedp.Click(chromedp.CSS(spamRow+" button.ack")),
		chromedp.WaitVisible(chromedp.CSS(".flash-ok")),
		chromedp.WaitVisible(chromedp.CSS(spamRow+" .badge.acked")),
		sh.take("acknowledged"),
	)
	if txt := get(t, ctx, "acked row", chromedp.Text(chromedp.CSS(spamRow))); !strings.Contains(txt, "acked by ana") {
		t.Fatalf("acknowledged row: %q", txt)
	}
	for _, inc := range st.incidents(t) {
		if inc.Fingerprint == spam && (inc.Ack == nil || inc.Ack.By != "ana" || inc.Ack.Via != "web console") {
			t.Fatalf("incident %s after ack from the console: %+v", spam, inc.Ack)
		}
	}

	// Open the Jira ticket the rule offers only on demand: one issue, and
	// the row offers it no more.
	ticketRow := `tr[data-fingerprint="` + onDemand + `"]`
	do(t, ctx, "open Jira ticket",
		chromedp.Navigate(st.url("/ui/incidents")),
		chromedp.Click(chromedp.CSS(ticketRow+" button.ticket")),
		chromedp.WaitVisible(chromedp.CSS(".flash-ok")),
		sh.take("ticket"),
	)
	if msg := get(t, ctx, "flash", chromedp.Text(chromedp.CSS(".flash-ok"))); !strings.Contains(msg, "Jira ticket asked for incident "+onDemand) {
		t.Fatalf("after Open Jira ticket: %q", msg)
	}
	if html := get(t, ctx, "ticket row", chromedp.OuterHTML(chromedp.CSS(ticketRow))); strings.Contains(html, "button.ticket") || strings.Contains(html, `class="ticket"`) {
		t.Fatalf("the row still offers the ticket: %s", html)
	}
	st.waitFor(t, "the Jira issue", func() bool { return len(st.jira.Issues()) == 1 })

	// The playground, without sending.
	sent := len(st.slack.Messages())
	do(t, ctx, "playground",
		chromedp.Navigate(st.url("/ui/playground")),
		chromedp.WaitVisible(chromedp.ID("payload")),
		chromedp.SetValue(chromedp.ID("payload"), failedDelivery("play1", 131031, "106540352242922", recipientLocked)),
		chromedp.Click(chromedp.ID("run")),
		chromedp.WaitVisible(chromedp.CSS(`#playground-result[data-ready="1"] .slack .header`)),
		sh.take("playground"),
	)
	if h := get(t, ctx, "slack header", chromedp.Text(chromedp.CSS("#playground-result .slack .header"))); !strings.Contains(h, "Business account locked") {
		t.Fatalf("playground Slack header: %q", h)
	}
	if txt := get(t, ctx, "result", chromedp.Text(chromedp.ID("playground-result"))); !strings.Contains(txt, "matched account-blocked") || strings.Contains(txt, recipientLocked) {
		t.Fatalf("playground result: %q", txt)
	}
	if n := len(st.slack.Messages()); n != sent {
		t.Fatalf("the playground sent to Slack: %d messages, was %d", n, sent)
	}

	do(t, ctx, "deliveries",
		chromedp.Navigate(st.url("/ui/deliveries")),
		chromedp.WaitVisible(chromedp.ID("deliveries")),
		sh.take("deliveries"),
		chromedp.Click(chromedp.CSS("#deliveries a")),
		chromedp.WaitVisible(chromedp.ID("payload")),
		sh.take("delivery"),
	)
	do(t, ctx, "dead letters",
		chromedp.Navigate(st.url("/ui/dead")),
		chromedp.WaitVisible(chromedp.CSS("#dead button.replay")),
		chromedp.Click(chromedp.CSS("#dead button.replay")),
		chromedp.WaitVisible(chromedp.CSS(".flash-error")),
		sh.take("dead-letters"),
	)
	if msg := get(t, ctx, "replay", chromedp.Text(chromedp.CSS(".flash-error"))); !strings.Contains(msg, "channel_not_found") {
		t.Fatalf("replay to a channel Slack does not have: %q", msg)
	}
}
