package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process, as main does.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCodes(t *testing.T) {
	code, out, _ := cli(t, "codes")
	if code != 0 || !strings.Contains(out, "131031") || !strings.Contains(out, "63016") || !strings.Contains(out, "Device logged out") {
		t.Fatalf("codes list: exit %d\n%s", code, out)
	}
	code, out, _ = cli(t, "codes", "131031", "--json")
	if code != 0 {
		t.Fatalf("codes 131031 --json: exit %d", code)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(out), &entry); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, key := range []string{"code", "title", "description", "reasons", "actions", "severity"} {
		if _, ok := entry[key]; !ok {
			t.Errorf("codes --json lacks %q: %s", key, out)
		}
	}
	if entry["code"].(float64) != 131031 || entry["severity"] != "critical" {
		t.Errorf("131031: %v", entry)
	}
	code, out, _ = cli(t, "codes", "250")
	if code != 0 || !strings.Contains(out, "200-299") {
		t.Errorf("a code in a range shows its range entry: exit %d\n%s", code, out)
	}
	code, _, errOut := cli(t, "codes", "999999")
	if code != 1 || !strings.Contains(errOut, "999999 is not in the catalogue") {
		t.Errorf("unknown code: exit %d, %q", code, errOut)
	}
}

func TestCheck(t *testing.T) {
	code, out, errOut := cli(t, "check", "--config", "../../config.example.yaml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("check config.example.yaml: exit %d\n%s%s", code, out, errOut)
	}
	dir := t.TempDir()
	rules := "rules:\n  - name: a\n    match: {codes: [\"132000-1\"]}\n    actions:\n      - log: {}\n"
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "server: {listen: \"nowhere\"}\nsources: [{name: meta, type: meta}]\nrules: {files: [rules.yaml]}\n"
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = cli(t, "check", "--config", filepath.Join(dir, "config.yaml"))
	if code != 1 {
		t.Fatalf("a broken config passed check")
	}
	for _, want := range []string{"server.listen", "app_secret", "rules.yaml:3:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s", want, errOut)
		}
	}
	if code, _, errOut := cli(t, "check", "--config", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing config: exit %d %q", code, errOut)
	}
}

func TestDryRun(t *testing.T) {
	for _, tt := range []struct {
		payload, rule, code string
	}{
		{"../../examples/payloads/meta-131031.json", "account-blocked", "131031"},
		{"../../examples/payloads/meta-ban.json", "account-banned", ""},
		{"../../examples/payloads/meta-template-rejected.json", "template-rejected-paused-disabled", ""},
	} {
		t.Run(filepath.Base(tt.payload), func(t *testing.T) {
			code, out, errOut := cli(t, "test", "--config", "../../config.example.yaml", tt.payload)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var res struct {
				Events []struct {
					Kind, RecommendedAction string
				} `json:"events"`
				Notifications []struct{ Rule, Notifier, Target, Summary, Body string } `json:"notifications"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if len(res.Events) == 0 || len(res.Notifications) == 0 {
				t.Fatalf("events %d, notifications %d:\n%s", len(res.Events), len(res.Notifications), out)
			}
			rules := map[string]bool{}
			for _, n := range res.Notifications {
				rules[n.Rule] = true
				if n.Summary == "" || n.Body == "" || n.Target == "" {
					t.Errorf("incomplete notification: %+v", n)
				}
			}
			if !rules[tt.rule] {
				t.Errorf("no notification from rule %s: %v", tt.rule, rules)
			}
			if tt.code != "" && !strings.Contains(out, tt.code) {
				t.Errorf("output lacks code %s", tt.code)
			}
		})
	}
	if code, _, errOut := cli(t, "test", "--config", "../../config.example.yaml", "not json"); code != 1 || errOut == "" {
		t.Errorf("a non-JSON payload: exit %d %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := cli(t, "version"); code != 0 || !strings.HasPrefix(out, "wabridge ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

// The dry run drops what the source's accept filter drops, as serve does,
// and says so: a dropped event is listed apart and sends nothing.
func TestDryRunAcceptFilter(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(`rules:
  - name: every-status
    match: {kinds: [status]}
    actions:
      - log: {}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`storage: {dir: `+filepath.Join(dir, "data")+`}
sources:
  - name: gw
    type: status
    accept: [error]
    auth: {type: none, insecure: true}
notifiers:
  log: {path: ""}
rules: {files: [`+rules+`]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	payload := `[{"event":"delivered","message_id":"m-1","timestamp":1763770000},{"event":"error","message_id":"m-2","timestamp":1763770001,"error":{"code":470,"message":"window closed"}}]`
	code, out, errOut := cli(t, "test", "--config", cfg, "--source", "gw", payload)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Events  []struct{ Status, MessageID string } `json:"events"`
		Dropped []struct {
			Event  struct{ Status, ID string } `json:"event"`
			Reason string                      `json:"reason"`
		} `json:"dropped"`
		Notifications []struct{ Rule, EventID string } `json:"notifications"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(res.Events) != 1 || res.Events[0].Status != "error" {
		t.Errorf("events %+v, want only the error", res.Events)
	}
	if len(res.Dropped) != 1 || res.Dropped[0].Event.Status != "delivered" ||
		!strings.Contains(res.Dropped[0].Reason, "accept") || !strings.Contains(res.Dropped[0].Reason, "gw") {
		t.Errorf("dropped %+v, want the delivered status with a reason naming the filter and the source", res.Dropped)
	}
	if len(res.Notifications) != 1 {
		t.Fatalf("notifications %+v, want one, for the error", res.Notifications)
	}
	for _, d := range res.Dropped {
		if res.Notifications[0].EventID == d.Event.ID {
			t.Errorf("the dropped event would alert: %+v", res.Notifications[0])
		}
	}
}

// check and serve refuse an admin token shorter than 32 characters.
func TestShortAdminTokenRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	body := "server: {listen: \"127.0.0.1:0\", admin_token: \"abc\"}\nstorage: {dir: " + filepath.Join(dir, "data") + "}\nsources: [{name: meta, type: meta, app_secret: s}]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"check", "serve"} {
		code, _, errOut := cli(t, cmd, "--config", cfg)
		if code != 1 || !strings.Contains(errOut, "server.admin_token") || !strings.Contains(errOut, "at least 32") {
			t.Errorf("%s with a 3-character admin token: exit %d\n%s", cmd, code, errOut)
		}
	}
}
