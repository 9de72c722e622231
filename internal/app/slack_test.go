package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

const (
	slackSigning = "slack-signing-secret-for-tests"
	slackMeta    = "slack-test-app-secret"
)

// slackService runs a real service (store, pipeline, router, senders)
// posting to the strict fake Slack, with buttons on.
func slackService(t *testing.T, fake *slacktest.Server) (*Service, http.Handler) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(`
rules:
  - name: failed-sends
    match: {kinds: [status], statuses: [failed]}
    actions:
      - slack: {channel: "#ops"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
server: {listen: "127.0.0.1:0", shutdown_timeout: 5s}
storage: {dir: data}
sources:
  - {name: meta, type: meta, app_secret: %s, verify_token: v}
notifiers:
  slack: {token: %s, api_url: %q, channel: "#ops", timeout: 5s, signing_secret: %s, allowed_users: [U0ALICE, U0BOB]}
pipeline: {backoff_base: 100ms, backoff_max: 1s}
rules: {files: [rules.yaml]}
`, slackMeta, slacktest.DefaultToken, fake.APIURL(), slackSigning)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(cfg, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
	})
	return s, s.Handler()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// click is a block_actions payload in the shape Slack documents.
func click(user, name, actionID, fp, actionTS, channel, messageTS string) string {
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "username": name, "name": name, "team_id": "T0TEAM"},
		"api_app_id":   "A0APP",
		"token":        "legacy-verification-token",
		"container":    map[string]any{"type": "message", "message_ts": messageTS, "channel_id": channel, "is_ephemeral": false},
		"trigger_id":   "1.2.3",
		"team":         map[string]any{"id": "T0TEAM", "domain": "wabridge-test"},
		"channel":      map[string]any{"id": channel, "name": "ops"},
		"message":      map[string]any{"type": "message", "ts": messageTS, "text": "alert"},
		"response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
		"actions": []any{map[string]any{
			"action_id": actionID, "block_id": "wabridge_incident", "value": fp, "type": "button",
			"text": map[string]any{"type": "plain_text", "text": actionID, "emoji": true}, "action_ts": actionTS,
		}},
	}
	b, _ := json.Marshal(p)
	return url.Values{"payload": {string(b)}}.Encode()
}

func slackSign(secret, ts, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

func interact(h http.Handler, body string, at time.Time, secret string, retry int) *httptest.ResponseRecorder {
	ts := strconv.FormatInt(at.Unix(), 10)
	req := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slackSign(secret, ts, body))
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestSlackButtons clicks the buttons of a real alert: each refusal
// (forged, replayed, not allowed, a retry, an incident already over)
// changes nothing; silence and resolve change the store, update the
// message in place and say who did it in the thread.
func TestSlackButtons(t *testing.T) {
	fake := slacktest.New(t, slacktest.Options{})
	s, h := slackService(t, fake)
	payload, err := os.ReadFile(filepath.Join("..", "..", "examples", "payloads", "meta-131048.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte(slackMeta))
	m.Write(payload)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/meta", strings.NewReader(string(payload)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("webhook: %d %s", w.Code, w.Body)
	}
	waitFor(t, "the alert", func() bool { return len(fake.Posts()) == 1 })
	alert := fake.Posts()[0]
	for _, want := range []string{`"type":"actions"`, `"action_id":"resolve"`, `"action_id":"silence_1h"`, `"action_id":"silence_24h"`} {
		if !strings.Contains(string(alert.Blocks), want) {
			t.Fatalf("alert blocks lack %s: %s", want, alert.Blocks)
		}
	}
	incs, err := s.Pipeline().ListIncidents(false)
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents: %v %v", incs, err)
	}
	fp := incs[0].Fingerprint
	calls := func() int { return len(fake.Calls()) }
	silences := func() int {
		l, err := s.Pipeline().ListSilences()
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	now := time.Now()
	silence := click("U0ALICE", "alice", "silence_1h", fp, "1764633600.000100", alert.Channel, alert.TS)

	// Refused: nothing changes.
	if w := interact(h, silence, now, "not-the-secret", 0); w.Code != http.StatusUnauthorized {
		t.Errorf("forged signature: %d %s, want 401", w.Code, w.Body)
	}
	if w := interact(h, silence, now.Add(-6*time.Minute), slackSigning, 0); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "5 minutes") {
		t.Errorf("replayed request: %d %s, want 401 saying it is stale", w.Code, w.Body)
	}
	w = interact(h, click("U0MALLORY", "mallory", "silence_24h", fp, "1764633600.000200", alert.Channel, alert.TS), now, slackSigning, 0)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "not allowed") {
		t.Errorf("user not allowed: %d %s, want 200 with a message", w.Code, w.Body)
	}
	if n := silences(); n != 0 {
		t.Fatalf("%d silences after refused clicks, want 0", n)
	}

	// Silence 1h, then Slack's retry of the same click.
	w = interact(h, silence, now, slackSigning, 0)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Silenced for 1h by @alice") {
		t.Fatalf("silence: %d %s", w.Code, w.Body)
	}
	if w := interact(h, silence, now, slackSigning, 1); w.Code != http.StatusOK {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
	l, _ := s.Pipeline().ListSilences()
	if len(l) != 1 {
		t.Fatalf("%d silences after a click and its retry, want 1", len(l))
	}
	sil := l[0]
	if sil.Author != "@alice (U0ALICE)" || sil.Comment != "from Slack by @alice" || sil.EndsAt.Sub(sil.StartsAt) != time.Hour {
		t.Errorf("silence %+v", sil)
	}
	var ms []string
	for _, m := range sil.Matchers {
		ms = append(ms, m.Name+m.Op+m.Value)
	}
	if got := strings.Join(ms, " "); got != "waba_id=102290129340398 phone_number_id=106540352242922 display_phone_number=15550783881 code=131048" {
		t.Errorf("silence matchers %s, want the incident's group", got)
	}
	waitFor(t, "the silence's thread reply", func() bool { return len(fake.Replies(alert.TS)) == 1 })
	if r := fake.Replies(alert.TS)[0]; !strings.Contains(r.Text, "Silenced for 1h by @alice from Slack") {
		t.Errorf("thread reply %q", r.Text)
	}
	if got := fake.Messages()[0]; got.Updates != 1 || !strings.Contains(string(got.Blocks), "Silenced for 1h by @alice") {
		t.Errorf("message after the silence: %d updates, blocks %s", got.Updates, got.Blocks)
	}
	if n := len(fake.CallsOf("chat.update")); n != 1 {
		t.Errorf("%d chat.update calls after a click and its retry, want 1", n)
	}

	// Resolve: the message is marked resolved in place, without buttons,
	// and the thread says who.
	w = interact(h, click("U0BOB", "bob", "resolve", fp, "1764633600.000300", alert.Channel, alert.TS), now, slackSigning, 0)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Resolved incident") {
		t.Fatalf("resolve: %d %s", w.Code, w.Body)
	}
	waitFor(t, "the resolve's thread reply", func() bool { return len(fake.Replies(alert.TS)) == 2 })
	if r := fake.Replies(alert.TS)[1]; !strings.Contains(r.Text, "Resolved from Slack by @bob") {
		t.Errorf("resolve reply %q", r.Text)
	}
	msg := fake.Messages()[0]
	if !strings.Contains(string(msg.Blocks), "Resolved") || strings.Contains(string(msg.Blocks), `"type":"actions"`) {
		t.Errorf("resolved message: %s", msg.Blocks)
	}

	// A button on the resolved incident: a message, nothing changes.
	after := calls()
	w = interact(h, click("U0ALICE", "alice", "silence_24h", fp, "1764633600.000400", alert.Channel, alert.TS), now, slackSigning, 0)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "already resolved") {
		t.Errorf("silence of a resolved incident: %d %s", w.Code, w.Body)
	}
	w = interact(h, click("U0ALICE", "alice", "resolve", fp, "1764633600.000500", alert.Channel, alert.TS), now, slackSigning, 0)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "already resolved") {
		t.Errorf("resolve of a resolved incident: %d %s", w.Code, w.Body)
	}
	if n := silences(); n != 1 {
		t.Errorf("%d silences after clicks on a resolved incident, want 1", n)
	}
	time.Sleep(200 * time.Millisecond) // give a wrongly queued send the chance to show
	if n := calls(); n != after {
		t.Errorf("Slack was called %d more times after clicks on a resolved incident", n-after)
	}
}
