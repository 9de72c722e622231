package main

// End-to-end tests: the real binary in a subprocess, real signed deliveries
// over loopback, a real store on disk, and Slack faked at the wire by an
// httptest server that speaks its Web API.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/pgtest"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wabridge-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "wabridge")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build wabridge:", err)
		os.Exit(1)
	}
	// pgtest.Main runs the tests and stops the PostgreSQL server the
	// replica tests share, when one was started.
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

const e2eSecret = "e2e-app-secret"

// fakeSlack is the strict fake Slack (slacktest) the binary's real
// slack-go client talks to, with the views these tests read.
type fakeSlack struct {
	*slacktest.Server
	srv *httptest.Server // what the binary is pointed at
}

type slackCall struct {
	Method string
	At     time.Time
	Form   map[string]string
	Error  string
}

// e2eChannels are the channels the tests' rules post to.
// "#no-such-channel" is not one: Slack answers channel_not_found.
var e2eChannels = map[string]string{
	"#whatsapp-ops": "C0OPS", "#whatsapp-inbox": "C0INBOX", "#escalations": "C0ESC", "#ops": "C0OPS2", "#spam": "C0SPAM",
	"#one": "C01", "#two": "C02", "#cm-one": "C0CM1", "#cm-two": "C0CM2",
}

func newFakeSlack(t *testing.T) *fakeSlack {
	s := slacktest.New(t, slacktest.Options{Token: "xoxb-good", Channels: e2eChannels})
	return &fakeSlack{Server: s, srv: s.Server}
}

func toCall(c slacktest.Call) slackCall {
	form := map[string]string{}
	for k := range c.Form {
		form[k] = c.Form.Get(k)
	}
	return slackCall{Method: c.Method, At: c.At, Form: form, Error: c.Error}
}

// posted returns the top-level messages Slack accepted, as sent.
func (f *fakeSlack) posted() []slackCall {
	var out []slackCall
	for _, c := range f.CallsOf("chat.postMessage") {
		if c.Error == "" && c.Form.Get("thread_ts") == "" {
			out = append(out, toCall(c))
		}
	}
	return out
}

// allCalls returns every call, refused ones included.
func (f *fakeSlack) allCalls() []slackCall {
	var out []slackCall
	for _, c := range f.Calls() {
		out = append(out, toCall(c))
	}
	return out
}

// checkAccepted fails the test when Slack would have refused a call by its
// own rules (faults the test injected aside).
func (f *fakeSlack) checkAccepted(t *testing.T) {
	t.Helper()
	for _, c := range f.Failed() {
		if c.Error == "invalid_auth" || c.Error == "token_revoked" {
			continue // the tests that use a wrong token mean it
		}
		t.Errorf("Slack would refuse %s: %s", c.Method, c.Error)
	}
}

type instance struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	logs   *syncBuffer
	done   chan struct{}
	config string
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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type e2eConfig struct {
	Dir, Addr, SlackURL, SlackToken, Rules, Extra string
}

func writeE2EConfig(t *testing.T, c e2eConfig) string {
	t.Helper()
	if c.Rules == "" {
		c.Rules = `
rules:
  - name: failed-sends
    match: {kinds: [status], statuses: [failed]}
    group_by: [id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
`
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "rules.yaml"), []byte(c.Rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s, admin_token: %q}
storage: {dir: %q}
log: {level: debug, format: json}
sources:
  - {name: meta, type: meta, app_secret: %q, verify_token: e2e-verify}
notifiers:
  slack: {token: %q, api_url: %q, channel: "#whatsapp-ops", timeout: 2s}
pipeline: {backoff_base: 100ms, backoff_max: 1s, max_attempts: 50, max_age: 1h}
rules: {files: [rules.yaml]}
%s`, c.Addr, e2eAdminToken, filepath.Join(c.Dir, "data"), e2eSecret, c.SlackToken, c.SlackURL+"/api/", c.Extra)
	p := filepath.Join(c.Dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func start(t *testing.T, config, addr string) *instance {
	t.Helper()
	return startUnder(t, config, addr)
}

// startUnder starts the binary behind a wrapper command (prlimit ...) when
// one is given.
func startUnder(t *testing.T, config, addr string, wrapper ...string) *instance {
	t.Helper()
	inst := &instance{t: t, addr: addr, logs: &syncBuffer{}, done: make(chan struct{}), config: config}
	args := append(append([]string(nil), wrapper...), binPath, "serve", "--config", config)
	inst.cmd = exec.Command(args[0], args[1:]...)
	inst.cmd.Stdout = inst.logs
	inst.cmd.Stderr = inst.logs
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = inst.cmd.Wait(); close(inst.done) }()
	t.Cleanup(func() { inst.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-inst.done:
			t.Fatalf("wabridge exited at start:\n%s", inst.logs.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return inst
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("wabridge not ready in time:\n%s", inst.logs.String())
	return nil
}

func (i *instance) kill() {
	if i.cmd.Process != nil {
		_ = i.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-i.done
}

func (i *instance) stop() {
	_ = i.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-i.done:
	case <-time.After(15 * time.Second):
		i.t.Fatalf("wabridge did not stop on SIGTERM:\n%s", i.logs.String())
	}
}

func sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(e2eSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func post(t *testing.T, addr string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/meta", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", sign(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// failedStatus is a Meta delivery with one failed status; recipient's last
// four digits identify it in the masked alert.
func failedStatus(n int, code int) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.E2E-%d","status":"failed","timestamp":"1751142888","recipient_id":"1650555%04d","errors":[{"code":%d,"title":"Business Account locked","message":"Business Account locked","error_data":{"details":"Business account has been locked."}}]}]},"field":"messages"}]}]}`, n, 7000+n, code))
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s\nlogs:\n%s", what, logs())
}

// TestCrashLosesNothingAcknowledged: deliveries acknowledged while Slack is
// down survive a SIGKILL and are all sent once Slack is back.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	slack := newFakeSlack(t)
	slack.FailHTTP("", 1<<20, http.StatusInternalServerError)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})

	inst := start(t, cfg, addr)
	const n = 15
	for i := 0; i < n; i++ {
		if code := post(t, addr, failedStatus(i, 131031)); code != http.StatusOK {
			t.Fatalf("delivery %d: status %d\n%s", i, code, inst.logs.String())
		}
	}
	// Let the pipeline try (and fail) against the broken Slack.
	waitFor(t, "a failed attempt", 10*time.Second, func() bool { return len(slack.allCalls()) > 0 }, inst.logs.String)
	inst.kill()

	slack.ClearFaults()
	inst = start(t, cfg, addr)
	seen := func() map[string]bool {
		got := map[string]bool{}
		for _, c := range slack.posted() {
			for i := 0; i < n; i++ {
				if strings.Contains(c.Form["blocks"]+c.Form["text"], fmt.Sprintf("%04d", 7000+i)) {
					got[strconv.Itoa(i)] = true
				}
			}
		}
		return got
	}
	waitFor(t, "every acknowledged event to reach Slack", 30*time.Second, func() bool { return len(seen()) == n }, inst.logs.String)
	for _, c := range slack.posted() {
		if strings.Contains(c.Form["blocks"], "1650555") {
			t.Fatalf("an alert shows a full phone number: %s", c.Form["blocks"])
		}
		if !strings.Contains(c.Form["blocks"], "131031") {
			t.Fatalf("alert lacks the code: %s", c.Form["blocks"])
		}
	}
	inst.stop()
}

// TestRedeliveryNotifiesOnce: Meta redelivers; three copies, one alert.
func TestRedeliveryNotifiesOnce(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	inst := start(t, cfg, addr)
	body := failedStatus(1, 131031)
	for i := 0; i < 3; i++ {
		if code := post(t, addr, body); code != 200 {
			t.Fatalf("post %d: %d", i, code)
		}
	}
	// A different delivery after the copies proves the pipeline has moved on.
	if code := post(t, addr, failedStatus(2, 131031)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the second event's alert", 20*time.Second, func() bool { return len(slack.posted()) >= 2 }, inst.logs.String)
	time.Sleep(300 * time.Millisecond)
	if got := len(slack.posted()); got != 2 {
		t.Fatalf("want 2 alerts (one per distinct event), got %d", got)
	}
	inst.stop()
}

// TestRateLimitIsWaitedOut: a 429 with Retry-After delays the next attempt
// by at least that long, and the alert is still delivered.
func TestRateLimitIsWaitedOut(t *testing.T) {
	slack := newFakeSlack(t)
	slack.RateLimit("", 1, 2)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	inst := start(t, cfg, addr)
	if code := post(t, addr, failedStatus(7, 131048)); code != 200 {
		t.Fatal(code)
	}
	waitFor(t, "the alert after the rate limit", 20*time.Second, func() bool {
		calls := slack.allCalls()
		return len(calls) >= 2
	}, inst.logs.String)
	calls := slack.allCalls()
	if gap := calls[1].At.Sub(calls[0].At); gap < 2*time.Second {
		t.Fatalf("retried %v after a 429 with Retry-After: 2", gap)
	}
	inst.stop()
}

// TestDeadLetterReplayAfterFix: a bad token is a permanent failure: the
// notification goes to the dead-letter list at once; after the token is
// fixed, `dlq replay` sends it.
func TestDeadLetterReplayAfterFix(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-revoked"})
	inst := start(t, cfg, addr)
	if code := post(t, addr, failedStatus(3, 131031)); code != 200 {
		t.Fatal(code)
	}
	var dead []map[string]any
	waitFor(t, "a dead letter", 20*time.Second, func() bool {
		out, _ := exec.Command(binPath, "dlq", "list", "--json", "--config", cfg).Output()
		dead = nil
		_ = json.Unmarshal(out, &dead)
		return len(dead) == 1
	}, inst.logs.String)
	calls := len(slack.allCalls())
	if calls != 1 {
		t.Fatalf("a permanent failure must not be retried: %d calls", calls)
	}
	// The recipient's number is masked in what the operator sees, through
	// the running server and offline; the replay below still reaches Slack.
	masked := func(where string, args ...string) {
		out, err := exec.Command(binPath, append(args, "--config", cfg)...).Output()
		if err != nil {
			t.Fatalf("%v (%s): %v", args, where, err)
		}
		if strings.Contains(string(out), "16505557003") || !strings.Contains(string(out), "*******7003") {
			t.Errorf("%v (%s) does not mask the recipient:\n%s", args, where, out)
		}
	}
	masked("running server", "dlq", "list", "--json")
	masked("running server", "dlq", "show", fmt.Sprint(dead[0]["id"]))
	inst.stop()
	masked("offline", "dlq", "list", "--json")

	// Fix the token and replay offline (the server is stopped).
	cfg = writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	id := fmt.Sprint(dead[0]["id"])
	out, err := exec.Command(binPath, "dlq", "replay", id, "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("dlq replay: %v\n%s", err, out)
	}
	// posted counts what Slack accepted: the refused first try is not one.
	if len(slack.posted()) != 1 {
		t.Fatalf("replay did not send: %d posts", len(slack.posted()))
	}
	out, _ = exec.Command(binPath, "dlq", "list", "--json", "--config", cfg).Output()
	if strings.Contains(string(out), id) {
		t.Fatalf("replayed dead letter still listed: %s", out)
	}
}

// TestShutdownUnderLoad: SIGTERM while deliveries arrive; everything that
// got a 200 is sent after a restart, nothing is acknowledged twice.
func TestSIGTERMDrains(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: addr, SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})
	inst := start(t, cfg, addr)
	acked := 0
	for i := 0; i < 10; i++ {
		if post(t, addr, failedStatus(100+i, 131031)) == 200 {
			acked++
		}
	}
	inst.stop()
	if !strings.Contains(inst.logs.String(), "stopped") {
		t.Fatalf("no clean stop in the log:\n%s", inst.logs.String())
	}
	inst = start(t, cfg, addr)
	waitFor(t, "all acknowledged alerts", 20*time.Second, func() bool { return len(slack.posted()) >= acked }, inst.logs.String)
	inst.stop()
	if got := len(slack.posted()); got != acked {
		t.Fatalf("acknowledged %d, sent %d", acked, got)
	}
}

var _ = context.Background
