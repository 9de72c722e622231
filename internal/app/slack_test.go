package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

const (
	slackSigning = "slack-signing-secret-for-tests"
	slackMeta    = "slack-test-app-secret"
)

// slackService runs a real service (store, pipeline, router, senders)
// posting to the strict fake Slack, with buttons on.
func slackService(t *testing.T, fake *slacktest.Server) (*Service, http.Handler) {
	return slackServiceWith(t, fake, "allowed_users: [U0ALICE], allowed_groups: [S0ONCALL]")
}

const slackRules = `
rules:
  - name: failed-sends
    match: {kinds: [status], statuses: [failed]}
    actions:
      - slack: {channel: "#ops"}
`

func slackServiceWith(t *testing.T, fake *slacktest.Server, allow string) (*Service, http.Handler) {
	return slackServiceFull(t, fake, allow, slackRules, "")
}

// slackServiceFull is slackServiceWith with rules of its own and more
// notifiers (a jira line).
func slackServiceFull(t *testing.T, fake *slacktest.Server, allow, rulesYAML, more string) (*Service, http.Handler) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
server: {listen: "127.0.0.1:0", shutdown_timeout: 5s}
storage: {dir: data}
sources:
  - {name: meta, type: meta, app_secret: %s, verify_token: v}
notifiers:
  slack: {token: %s, api_url: %q, channel: "#ops", timeout: 5s, signing_secret: %s, %s}
%s
pipeline: {backoff_base: 100ms, backoff_max: 1s}
rules: {files: [rules.yaml]}
`, slackMeta, slacktest.DefaultToken, fake.APIURL(), slackSigning, allow, more)), 0o600); err != nil {
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

// click is a block_actions payload in the shape Slack documents, with a
// response_url the fake takes.
func click(fake *slacktest.Server, user, name, actionID, fp, actionTS, channel, messageTS string) string {
	return slacktest.Click{UserID: user, UserName: name, ActionID: actionID, Value: fp, ActionTS: actionTS,
		ChannelID: channel, MessageTS: messageTS, ResponseURL: fake.ResponseURL()}.Form()
}

func interact(h http.Handler, body string, at time.Time, secret string, retry int) *httptest.ResponseRecorder {
	ts, sig := slacktest.Sign(secret, at, body)
	req := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// alertFor sends meta-131048 to the service and waits for its Slack alert.
func alertFor(t *testing.T, s *Service, h http.Handler, fake *slacktest.Server) (slacktest.Message, string) {
	t.Helper()
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
	incs, err := s.Pipeline().ListIncidents(false)
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents: %v %v", incs, err)
	}
	return fake.Posts()[0], incs[0].Fingerprint
}

// TestSlackButtons clicks the buttons of a real alert through the router:
// each refusal (forged, replayed, not allowed, a retry, an incident
// already over) changes nothing, and the person is told through the
// click's response_url; acknowledge, silence and resolve change the
// store, update the message in place with chat.update and say who did it
// in the thread.
func TestSlackButtons(t *testing.T) {
	fake := slacktest.New(t, slacktest.Options{
		Scopes:     []string{"chat:write", "channels:history", "channels:read", "usergroups:read"},
		UserGroups: map[string][]string{"S0ONCALL": {"U0BOB", "U0CAROL"}},
	})
	s, h := slackService(t, fake)
	alert, fp := alertFor(t, s, h, fake)
	for _, want := range []string{`"type":"actions"`, `"action_id":"ack"`, `"action_id":"resolve"`, `"action_id":"silence_1h"`, `"action_id":"silence_24h"`} {
		if !strings.Contains(string(alert.Blocks), want) {
			t.Fatalf("alert blocks lack %s: %s", want, alert.Blocks)
		}
	}
	calls := func() int { return len(fake.Calls()) }
	silences := func() int {
		l, err := s.Pipeline().ListSilences()
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	acked := func() *incident.Incident {
		inc, err := s.store.GetIncident(t.Context(), fp)
		if err != nil {
			t.Fatal(err)
		}
		return &inc
	}
	responses := func() []slacktest.Response { return fake.Responses() }
	now := time.Now()
	ack := click(fake, "U0ALICE", "alice", "ack", fp, "1764633600.000100", alert.Channel, alert.TS)

	// Refused: 401, nothing changes, nothing is said.
	if w := interact(h, ack, now, "not-the-secret", 0); w.Code != http.StatusUnauthorized {
		t.Errorf("forged signature: %d %s, want 401", w.Code, w.Body)
	}
	if w := interact(h, ack, now.Add(-6*time.Minute), slackSigning, 0); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "5 minutes") {
		t.Errorf("replayed request: %d %s, want 401 saying it is stale", w.Code, w.Body)
	}
	tampered := strings.Replace(ack, "U0ALICE", "U0MALLORY", 1)
	ts, sig := slacktest.Sign(slackSigning, now, ack)
	req := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(tampered))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("a body changed under its signature: %d, want 401", w.Code)
	}
	// Signed, but by a user on neither list: told so, nothing changes.
	w = interact(h, click(fake, "U0MALLORY", "mallory", "silence_24h", fp, "1764633600.000200", alert.Channel, alert.TS), now, slackSigning, 0)
	if w.Code != http.StatusOK {
		t.Errorf("user not allowed: %d %s, want 200", w.Code, w.Body)
	}
	waitFor(t, "the refusal through response_url", func() bool { return len(responses()) == 1 })
	if r := responses()[0]; r.ResponseType != "ephemeral" || !strings.Contains(r.Text, "not allowed") || !strings.Contains(r.Text, "U0MALLORY") {
		t.Errorf("refusal %+v", r)
	}
	if n := silences(); n != 0 || acked().Ack != nil {
		t.Fatalf("%d silences, ack %+v after refused clicks, want none", n, acked().Ack)
	}
	if n := len(fake.CallsOf("chat.update")); n != 0 {
		t.Fatalf("%d chat.update after refused clicks", n)
	}

	// Acknowledge (alice by allowed_users), then Slack's retry of it.
	if w := interact(h, ack, now, slackSigning, 0); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("ack: %d %q, want 200 and nothing for Slack to ignore", w.Code, w.Body)
	}
	if w := interact(h, ack, now, slackSigning, 1); w.Code != http.StatusOK {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
	if a := acked().Ack; a == nil || a.By != "@alice (U0ALICE)" || a.Via != "Slack" {
		t.Fatalf("ack stored %+v", a)
	}
	waitFor(t, "the ack's thread reply", func() bool { return len(fake.Replies(alert.TS)) == 1 })
	if r := fake.Replies(alert.TS)[0]; !strings.Contains(r.Text, "Acknowledged by @alice (U0ALICE) from Slack at ") {
		t.Errorf("thread reply %q", r.Text)
	}
	msg := fake.Messages()[0]
	if msg.Updates != 1 || !strings.Contains(string(msg.Blocks), "*Acknowledged* by @alice (U0ALICE) at \\u003c!date^") ||
		strings.Contains(string(msg.Blocks), `"action_id":"ack"`) || !strings.Contains(string(msg.Blocks), `"action_id":"resolve"`) {
		t.Errorf("message after the ack: %d updates, blocks %s", msg.Updates, msg.Blocks)
	}
	// Bob (by allowed_groups) acknowledging too is told who has it.
	interact(h, click(fake, "U0BOB", "bob", "ack", fp, "1764633600.000250", alert.Channel, alert.TS), now, slackSigning, 0)
	waitFor(t, "the answer to a second ack", func() bool { return len(responses()) == 2 })
	if r := responses()[1]; !strings.Contains(r.Text, "already acknowledged by @alice (U0ALICE)") {
		t.Errorf("second ack answered %q", r.Text)
	}

	// Silence 1h by bob, a member of S0ONCALL.
	silence := click(fake, "U0BOB", "bob", "silence_1h", fp, "1764633600.000300", alert.Channel, alert.TS)
	if w := interact(h, silence, now, slackSigning, 0); w.Code != http.StatusOK {
		t.Fatalf("silence: %d %s", w.Code, w.Body)
	}
	l, _ := s.Pipeline().ListSilences()
	if len(l) != 1 {
		t.Fatalf("%d silences after a click, want 1", len(l))
	}
	sil := l[0]
	if sil.Author != "@bob (U0BOB)" || sil.Comment != "incident "+fp+" from Slack by @bob (U0BOB)" || sil.EndsAt.Sub(sil.StartsAt) != time.Hour {
		t.Errorf("silence %+v", sil)
	}
	var ms []string
	for _, m := range sil.Matchers {
		ms = append(ms, m.Name+m.Op+m.Value)
	}
	if got := strings.Join(ms, " "); got != "waba_id=102290129340398 phone_number_id=106540352242922 display_phone_number=15550783881 code=131048" {
		t.Errorf("silence matchers %s, want the incident's group", got)
	}
	waitFor(t, "the silence's thread reply", func() bool { return len(fake.Replies(alert.TS)) == 2 })
	if r := fake.Replies(alert.TS)[1]; !strings.Contains(r.Text, "Silenced for 1h by @bob (U0BOB) from Slack") {
		t.Errorf("thread reply %q", r.Text)
	}
	if got := fake.Messages()[0]; got.Updates != 2 || !strings.Contains(string(got.Blocks), "Silenced for 1h by @bob (U0BOB) from Slack") ||
		!strings.Contains(string(got.Blocks), "*Acknowledged* by @alice") {
		t.Errorf("message after the silence: %d updates, blocks %s", got.Updates, got.Blocks)
	}

	// Resolve: the message is marked resolved in place, without buttons,
	// and the thread says who.
	if w := interact(h, click(fake, "U0BOB", "bob", "resolve", fp, "1764633600.000400", alert.Channel, alert.TS), now, slackSigning, 0); w.Code != http.StatusOK {
		t.Fatalf("resolve: %d %s", w.Code, w.Body)
	}
	waitFor(t, "the resolve's thread reply", func() bool { return len(fake.Replies(alert.TS)) == 3 })
	if r := fake.Replies(alert.TS)[2]; !strings.Contains(r.Text, "Resolved by @bob (U0BOB) from Slack.") {
		t.Errorf("resolve reply %q", r.Text)
	}
	msg = fake.Messages()[0]
	if !strings.Contains(string(msg.Blocks), "Resolved") || strings.Contains(string(msg.Blocks), `"type":"actions"`) {
		t.Errorf("resolved message: %s", msg.Blocks)
	}

	// Buttons of the message as it was before: the incident resolved
	// meanwhile. Each is told so, and nothing changes.
	waitFor(t, "the outbox to drain", func() bool { return s.Pipeline().Stats().Outbox == 0 })
	after := calls()
	before := len(responses())
	for i, id := range []string{"silence_24h", "resolve", "ack"} {
		w := interact(h, click(fake, "U0ALICE", "alice", id, fp, fmt.Sprintf("1764633600.00050%d", i), alert.Channel, alert.TS), now, slackSigning, 0)
		if w.Code != http.StatusOK {
			t.Errorf("%s of a resolved incident: %d %s", id, w.Code, w.Body)
		}
	}
	waitFor(t, "three answers", func() bool { return len(responses()) == before+3 })
	for _, r := range responses()[before:] {
		if !strings.Contains(r.Text, "already resolved") || !strings.Contains(r.Text, "Nothing was changed") {
			t.Errorf("answer to a click on a resolved incident: %q", r.Text)
		}
	}
	if n := silences(); n != 1 {
		t.Errorf("%d silences after clicks on a resolved incident, want 1", n)
	}
	if got := calls() - after; got != 3 {
		t.Errorf("%d calls to Slack after clicks on a resolved incident, want the 3 answers only", got)
	}
	if f := fake.Failed(); len(f) != 0 {
		t.Errorf("Slack refused %d calls: first %s %s", len(f), f[0].Method, f[0].Error)
	}
	// forged, stale, tampered; mallory; the ack's retry; ack, silence,
	// resolve; bob's second ack and the three on the resolved incident.
	for result, want := range map[string]float64{"unauthorized": 3, "not_allowed": 1, "retry": 1, "done": 3, "unchanged": 4} {
		if got := clicksCounted(t, s, result); got != want {
			t.Errorf("wabridge_slack_interactions_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// TestSlackButtonsGroupNeedsScope: allowed_groups without the
// usergroups:read scope refuses the click, saying what is missing.
func TestSlackButtonsGroupNeedsScope(t *testing.T) {
	fake := slacktest.New(t, slacktest.Options{
		Scopes:     []string{"chat:write", "channels:history", "channels:read"},
		UserGroups: map[string][]string{"S0ONCALL": {"U0BOB"}},
	})
	s, h := slackServiceWith(t, fake, "allowed_groups: [S0ONCALL]")
	alert, fp := alertFor(t, s, h, fake)
	w := interact(h, click(fake, "U0BOB", "bob", "ack", fp, "1764633600.000100", alert.Channel, alert.TS), time.Now(), slackSigning, 0)
	if w.Code != http.StatusOK {
		t.Fatalf("click: %d %s", w.Code, w.Body)
	}
	waitFor(t, "the refusal", func() bool { return len(fake.Responses()) == 1 })
	if r := fake.Responses()[0]; !strings.Contains(r.Text, "usergroups:read") || !strings.Contains(r.Text, "Nothing was changed") {
		t.Errorf("refusal %q", r.Text)
	}
	if inc, _ := s.store.GetIncident(t.Context(), fp); inc.Ack != nil {
		t.Errorf("acknowledged by %+v", inc.Ack)
	}
}

// clicksCounted reads wabridge_slack_interactions_total{result} from the
// service's registry.
func clicksCounted(t *testing.T, s *Service, result string) float64 {
	t.Helper()
	mfs, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "wabridge_slack_interactions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "result" && lp.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
