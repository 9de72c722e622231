package main

// Operations through the real binary: metrics move when events flow, the
// audit trail finds a delivery with its rule decisions (online through the
// admin API and offline on the store), and the whole process output, at
// debug level in both log formats, holds no secret and no full phone number.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
)

// Secrets the ops test configures; none may reach the process output.
const (
	opsAppSecret   = "ops-app-secret-77c1a9"
	opsVerifyToken = "ops-verify-token-19ab4e"
	opsSlackToken  = "xoxb-ops-slack-token-3c9d2f"
	opsJiraToken   = "ops-jira-token-8e4f6b"
	opsAdminToken  = "ops-admin-token-5f2e90-0123456789abcdef"
)

// Phone numbers in the payloads: display number, recipient id, wa_id.
var opsPhones = []string{"15550783881", "16505557001", "5511987654321"}

func writeOpsConfig(t *testing.T, dir, addr, format, slackURL, jiraURL string) string {
	t.Helper()
	rules := `
rules:
  - name: failed-sends
    match: {kinds: [status], statuses: [failed]}
    group_by: [id]
    actions:
      - slack: {channel: "#whatsapp-ops"}
      - jira: {project: WAOPS}
  - name: customer-messages
    match: {kinds: [message]}
    group_by: [id]
    actions:
      - slack: {channel: "#whatsapp-inbox"}
`
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s, admin_token: %q}
storage: {dir: %q}
log: {level: debug, format: %s}
sources:
  - {name: meta, type: meta, app_secret: %q, verify_token: %q}
notifiers:
  slack: {token: %q, api_url: %q, channel: "#whatsapp-ops", timeout: 2s}
  jira: {url: %q, token: %q, project: WAOPS, api_type: datacenter, timeout: 2s}
pipeline: {backoff_base: 100ms, backoff_max: 1s, max_attempts: 5, max_age: 1h}
rules: {files: [rules.yaml]}
`, addr, opsAdminToken, filepath.Join(dir, "data"), format, opsAppSecret, opsVerifyToken,
		opsSlackToken, slackURL+"/api/", jiraURL, opsJiraToken)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func opsSign(body []byte) string {
	return signWith(opsAppSecret, body)
}

func signWith(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// postSigned posts body with the given signature header and returns the status.
func postSigned(t *testing.T, addr string, body []byte, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/meta", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func incomingMessage() []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Ana"},"wa_id":"5511987654321"}],"messages":[{"from":"5511987654321","id":"wamid.OPS-IN-1","timestamp":"1751142888","type":"text","text":{"body":"my order did not arrive"}}]},"field":"messages"}]}]}`)
}

// scrape returns the value of one sample of /metrics: name and a subset
// of its labels; 0 when absent.
func scrape(t *testing.T, addr, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		series, val := line[:sp], line[sp+1:]
		got, rest, _ := strings.Cut(series, "{")
		if got != name {
			continue
		}
		have := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				have[k] = strings.Trim(v, `"`)
			}
		}
		match := true
		for k, v := range labels {
			if have[k] != v {
				match = false
			}
		}
		if match {
			f, _ := strconv.ParseFloat(val, 64)
			total += f
		}
	}
	return total
}

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("wabridge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestOpsMetricsAuditAndCleanLogs(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) { opsFlow(t, format) })
	}
}

func opsFlow(t *testing.T, format string) {
	slack := newFakeSlack(t)
	slack.SetToken(opsSlackToken)
	jira := jiratest.New(t, jiratest.Options{Token: opsJiraToken})
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeOpsConfig(t, dir, addr, format, slack.srv.URL, jira.URL)
	inst := start(t, cfg, addr)

	type series struct {
		name   string
		labels map[string]string
	}
	moving := []series{
		{"wabridge_deliveries_total", map[string]string{"source": "meta", "code": "200"}},
		{"wabridge_deliveries_total", map[string]string{"source": "meta", "code": "401"}},
		{"wabridge_deliveries_total", map[string]string{"source": "meta", "code": "400"}},
		{"wabridge_events_total", map[string]string{"source": "meta", "kind": "status", "code": "131031"}},
		{"wabridge_events_total", map[string]string{"source": "meta", "kind": "message"}},
		{"wabridge_rule_matches_total", map[string]string{"rule": "failed-sends"}},
		{"wabridge_notifications_total", map[string]string{"notifier": "slack", "result": "sent"}},
		{"wabridge_notifications_total", map[string]string{"notifier": "jira", "result": "sent"}},
		{"wabridge_notification_latency_seconds_count", nil},
		{"wabridge_audit_records_total", map[string]string{"kind": "processed"}},
		{"wabridge_audit_records_total", map[string]string{"kind": "rejected"}},
	}
	before := map[int]float64{}
	for i, s := range moving {
		before[i] = scrape(t, addr, s.name, s.labels)
	}

	// The handshake carries the verify token in its query.
	resp, err := http.Get("http://" + addr + "/webhooks/meta?hub.mode=subscribe&hub.verify_token=" + opsVerifyToken + "&hub.challenge=42")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("handshake: %d", resp.StatusCode)
	}
	failedBody := failedStatus(1, 131031)
	msgBody := incomingMessage()
	badSig := signWith("not-the-app-secret", failedBody)
	notJSON := []byte("this is not json 16505557001")
	for _, c := range []struct {
		body []byte
		sig  string
		want int
	}{
		{failedBody, opsSign(failedBody), 200},
		{msgBody, opsSign(msgBody), 200},
		{failedBody, badSig, 401},
		{notJSON, opsSign(notJSON), 400},
	} {
		if got := postSigned(t, addr, c.body, c.sig); got != c.want {
			t.Fatalf("post: %d, want %d\n%s", got, c.want, inst.logs.String())
		}
	}
	waitFor(t, "the alerts", 20*time.Second, func() bool {
		return scrape(t, addr, "wabridge_notifications_total", map[string]string{"result": "sent"}) >= before[6]+before[7]+3 &&
			scrape(t, addr, "wabridge_audit_records_total", map[string]string{"kind": "rejected"}) >= before[10]+2
	}, inst.logs.String)
	for i, s := range moving {
		if after := scrape(t, addr, s.name, s.labels); after <= before[i] {
			t.Errorf("%s%v did not move: %v before, %v after", s.name, s.labels, before[i], after)
		}
	}

	// The audit trail, through the admin API while the server holds the store.
	out := runCLI(t, "audit", "--code", "131031", "--config", cfg)
	if !strings.Contains(out, "failed-sends:opened") || !strings.Contains(out, "slack:sent") || !strings.Contains(out, "131031") {
		t.Errorf("audit --code 131031 lacks the delivery's decisions or results:\n%s", out)
	}
	if strings.Contains(out, "customer-messages") {
		t.Errorf("audit --code 131031 lists a delivery without that code:\n%s", out)
	}
	out = runCLI(t, "audit", "--since", "1h", "--source", "meta", "--config", cfg)
	t.Logf("wabridge audit --since 1h --source meta:\n%s", out)
	for _, want := range []string{"401 bad signature", "400", "customer-messages:opened"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit --since 1h lacks %q:\n%s", want, out)
		}
	}
	inst.stop()

	// Offline, on the store the server left.
	var recs []struct {
		HTTPStatus int    `json:"http_status"`
		SHA256     string `json:"sha256"`
		Payload    string `json:"payload"`
		Events     []struct {
			Code      int `json:"code"`
			Decisions []struct {
				Rule, Outcome string
			} `json:"decisions"`
		} `json:"events"`
		Notifications []struct {
			Notifier, Result, Ref string
		} `json:"notifications"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, "audit", "--code", "131031", "--json", "--config", cfg)), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].HTTPStatus != 200 || recs[0].Payload != string(failedBody) ||
		len(recs[0].Events) != 1 || len(recs[0].Events[0].Decisions) != 1 || len(recs[0].Notifications) != 2 {
		t.Fatalf("offline audit --code 131031 --json: %+v", recs)
	}
	for _, n := range recs[0].Notifications {
		if n.Result != "sent" || n.Ref == "" {
			t.Errorf("notification %+v, want sent with a ref", n)
		}
	}

	// Nothing secret in the whole process output.
	logs := inst.logs.String()
	secrets := []string{opsAppSecret, opsVerifyToken, opsSlackToken, opsJiraToken, opsAdminToken,
		strings.TrimPrefix(opsSign(failedBody), "sha256="), strings.TrimPrefix(badSig, "sha256="),
		strings.TrimPrefix(opsSign(msgBody), "sha256=")}
	for _, s := range append(secrets, opsPhones...) {
		if strings.Contains(logs, s) {
			t.Errorf("the %s log output contains %q", format, s)
		}
	}
	if !strings.Contains(logs, "notification sent") || !strings.Contains(logs, "http request") {
		t.Errorf("the log lacks the per-delivery or per-notification lines:\n%s", logs)
	}
	if format == "json" {
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Errorf("not a JSON log line: %s", line)
			}
		}
	}
}
