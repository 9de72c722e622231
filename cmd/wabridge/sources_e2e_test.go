package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// gatewayConfig serves an Evolution API source, a Twilio source and a Meta
// source, with rules that page Slack on logouts and Twilio failures.
func gatewayConfig(t *testing.T, dir, addr, slackURL string) string {
	t.Helper()
	rules := `
rules:
  - name: gateway-logout
    match: {kinds: [connection], statuses: [logout, close]}
    group_by: [id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
  - name: twilio-failed
    match: {sources: [twilio], statuses: [failed, undelivered]}
    group_by: [id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s}
storage: {dir: %q}
sources:
  - {name: meta, type: meta, app_secret: %q}
  - {name: evo, type: evolution, auth: {type: token, header: apikey, secret: evo-key}}
  - {name: twilio, type: twilio, auth: {type: twilio, secret: twilio-auth-token}}
notifiers:
  slack: {token: xoxb-good, api_url: %q, channel: "#whatsapp-ops", timeout: 2s}
pipeline: {backoff_base: 100ms, backoff_max: 1s}
rules: {files: [rules.yaml]}
`, addr, filepath.Join(dir, "data"), e2eSecret, slackURL+"/api/")
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// twilioSign follows Twilio's documented algorithm: HMAC-SHA1 keyed with the
// auth token over the full URL followed by each POST parameter's name and
// value, sorted by name; base64.
func twilioSign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestGatewayLogoutAndTwilioFailure(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := gatewayConfig(t, dir, addr, slack.srv.URL)
	inst := start(t, cfg, addr)

	// An Evolution API instance was logged out (statusReason 401).
	evo := `{"event":"connection.update","instance":"loja-centro","data":{"instance":"loja-centro","state":"close","statusReason":401},"date_time":"2025-11-21T22:06:40.123Z","sender":"5511999990000@s.whatsapp.net","server_url":"https://evo.example.com"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/evo", strings.NewReader(evo))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("apikey", "wrong-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong apikey: %d, want 401", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/evo", strings.NewReader(evo))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("apikey", "evo-key")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("evolution delivery: %d", resp.StatusCode)
	}
	waitFor(t, "the logout alert", 15*time.Second, func() bool { return len(slack.posted()) == 1 }, inst.logs.String)
	blocks := slack.posted()[0].Form["blocks"]
	for _, want := range []string{"QR code", "loja-centro"} {
		if !strings.Contains(blocks, want) {
			t.Errorf("logout alert lacks %q: %s", want, blocks)
		}
	}

	// A Twilio status callback for a message outside the 24 h window.
	form := url.Values{}
	for k, v := range map[string]string{
		"MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "MessageStatus": "failed", "ErrorCode": "63016",
		"To": "whatsapp:+16505551234", "From": "whatsapp:+14155238886", "AccountSid": "AC00000000000000000000000000000000",
		"ChannelStatusMessage": "Failed to send freeform message because you are outside the allowed window.",
	} {
		form.Set(k, v)
	}
	twURL := "http://" + addr + "/webhooks/twilio"
	postForm := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, twURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := postForm(twilioSign("not-the-token", twURL, form)); code != http.StatusUnauthorized {
		t.Fatalf("bad Twilio signature: %d, want 401", code)
	}
	if code := postForm(twilioSign("twilio-auth-token", twURL, form)); code != http.StatusOK {
		t.Fatalf("signed Twilio callback: %d\n%s", code, inst.logs.String())
	}
	waitFor(t, "the Twilio alert", 15*time.Second, func() bool { return len(slack.posted()) == 2 }, inst.logs.String)
	blocks = slack.posted()[1].Form["blocks"]
	for _, want := range []string{"63016", "ContentSid"} {
		if !strings.Contains(blocks, want) {
			t.Errorf("Twilio alert lacks %q: %s", want, blocks)
		}
	}
	if strings.Contains(blocks, "16505551234") {
		t.Errorf("Twilio alert shows the full recipient number: %s", blocks)
	}
	inst.stop()

	// The same payloads through `wabridge test --source`: a dry run shows the
	// event with its catalogue action and the notification it would send.
	out, err := exec.Command(binPath, "test", "--config", cfg, "--source", "evo", evo).Output()
	if err != nil {
		t.Fatalf("wabridge test: %v", err)
	}
	var dry struct {
		Events []struct {
			Kind              string
			Status            string
			RecommendedAction string `json:"recommended_action"`
			Code              int
		}
		Notifications []struct{ Rule, Notifier, Target, Summary, Body string }
	}
	if err := json.Unmarshal(out, &dry); err != nil {
		t.Fatalf("wabridge test output is not JSON: %v\n%s", err, out)
	}
	if len(dry.Events) != 1 || dry.Events[0].Code != 401 || !strings.Contains(dry.Events[0].RecommendedAction, "QR") {
		t.Fatalf("dry-run events: %+v", dry.Events)
	}
	if len(dry.Notifications) != 1 || dry.Notifications[0].Rule != "gateway-logout" || dry.Notifications[0].Target != "#whatsapp-ops" {
		t.Fatalf("dry-run notifications: %+v", dry.Notifications)
	}
	if len(slack.posted()) != 2 {
		t.Fatal("wabridge test sent something")
	}
}

func TestWrongProviderPayloadIs400(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	inst := start(t, gatewayConfig(t, dir, addr, slack.srv.URL), addr)
	// A Meta payload sent to the Evolution source.
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/evo", bytes.NewReader(failedStatus(1, 131031)))
	req.Header.Set("apikey", "evo-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body.Error, "evolution") {
		t.Fatalf("wrong provider: %d %q, want 400 naming the source type", resp.StatusCode, body.Error)
	}
	inst.stop()
}
