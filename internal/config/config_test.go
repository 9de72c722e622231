package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bytes"

	"github.com/wabridge/wabridge/internal/secret"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadExample(t *testing.T) {
	t.Setenv("META_APP_SECRET", "")
	cfg, err := Load("../../config.example.yaml")
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example does not validate: %v", err)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" {
		t.Errorf("listen = %q", cfg.Server.Listen)
	}
	if cfg.Server.MaxBodyBytes != 3<<20 {
		t.Errorf("max_body_bytes = %d", cfg.Server.MaxBodyBytes)
	}
	if len(cfg.Sources) != 1 || cfg.Sources[0].Type != "meta" {
		t.Fatalf("sources = %+v", cfg.Sources)
	}
	if got := cfg.Sources[0].AppSecret.Value(); got != "dev-app-secret" {
		t.Errorf("app_secret default = %q, want the ${VAR:-default} fallback", got)
	}
	if cfg.Notifiers.Slack.Configured() || cfg.Notifiers.Jira.Configured() {
		t.Errorf("example must run with no accounts: slack %v jira %v", cfg.Notifiers.Slack.Configured(), cfg.Notifiers.Jira.Configured())
	}
	if got := cfg.Resolve(cfg.Rules.Files[0]); got != filepath.Join("../..", "rules.example.yaml") {
		t.Errorf("rules path resolves to %q", got)
	}
}

func TestEnvExpansionAndOverrides(t *testing.T) {
	t.Setenv("TEST_APP_SECRET", "s3cr3t")
	t.Setenv("WABRIDGE_NOTIFIERS_SLACK_TOKEN", "xoxb-from-env")
	t.Setenv("WABRIDGE_SERVER_LISTEN", "127.0.0.1:9999")
	t.Setenv("WABRIDGE_PIPELINE_MAX_AGE", "2h")
	t.Setenv("WABRIDGE_RULES_FILES", "a.yaml,b.yaml")
	p := writeConfig(t, `
sources:
  - {name: meta, type: meta, app_secret: "${TEST_APP_SECRET}"}
notifiers:
  slack: {channel: "#ops"}
`)
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Sources[0].AppSecret.Value() != "s3cr3t" {
		t.Errorf("app_secret not expanded: %q", cfg.Sources[0].AppSecret.Value())
	}
	if cfg.Notifiers.Slack.Token.Value() != "xoxb-from-env" {
		t.Errorf("slack token env override: %q", cfg.Notifiers.Slack.Token.Value())
	}
	if cfg.Server.Listen != "127.0.0.1:9999" {
		t.Errorf("listen env override: %q", cfg.Server.Listen)
	}
	if cfg.Pipeline.MaxAge != 2*time.Hour {
		t.Errorf("max_age env override: %v", cfg.Pipeline.MaxAge)
	}
	if strings.Join(cfg.Rules.Files, ",") != "a.yaml,b.yaml" {
		t.Errorf("rules.files env override: %v", cfg.Rules.Files)
	}
	// Keys the file leaves out keep their defaults.
	if cfg.Storage.DedupWindow != 8*24*time.Hour {
		t.Errorf("dedup_window default: %v", cfg.Storage.DedupWindow)
	}
}

func TestUnknownKeysRejected(t *testing.T) {
	for name, body := range map[string]string{
		"top level":   "sources: [{name: m, type: meta, app_secret: x}]\nservr: {listen: x}\n",
		"nested":      "sources: [{name: m, type: meta, app_secret: x}]\nserver: {lisen: \"127.0.0.1:1\"}\n",
		"in a source": "sources: [{name: m, type: meta, app_secret: x, verfy_token: y}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(writeConfig(t, body))
			if err == nil || !strings.Contains(err.Error(), "unknown keys") {
				t.Fatalf("want an unknown keys error, got %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := writeConfig(t, `
server: {listen: "not-an-address", max_body_bytes: 0}
log: {level: loud}
sources:
  - {name: meta, type: meta}
  - {name: meta, type: evolution}
  - {name: "bad name", type: ""}
notifiers:
  jira: {api_type: onprem}
`)
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("invalid config validated")
	}
	for _, want := range []string{
		"server.listen", "server.max_body_bytes", "log.level",
		"app_secret is empty", `"meta" is used twice`, "sources[2].name", "sources[2].type",
		"notifiers.jira.api_type",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation error lacks %q:\n%v", want, err)
		}
	}
}

func TestInsecureSkipSignatureAllowsNoSecret(t *testing.T) {
	cfg, err := Load(writeConfig(t, "sources: [{name: m, type: meta, insecure_skip_signature: true}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("insecure_skip_signature should allow a missing secret: %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Setenv("WABRIDGE_NOTIFIERS_JIRA_TOKEN", "jira-token-value")
	cfg, err := Load(writeConfig(t, `
server: {admin_token: admin-token-value}
sources: [{name: m, type: meta, app_secret: app-secret-value, verify_token: verify-token-value}]
notifiers:
  slack: {token: slack-token-value, channel: "#x", webhook_url: "https://hooks.slack.example/T/B/webhook-secret-value"}
`))
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("config", "cfg", cfg, "token", cfg.Notifiers.Slack.Token)
	outputs := map[string]string{
		"json": string(js),
		"%v":   fmt.Sprintf("%v", cfg),
		"%+v":  fmt.Sprintf("%+v", cfg),
		"%#v":  fmt.Sprintf("%#v", cfg),
		"%s":   fmt.Sprintf("%s", cfg.Notifiers.Slack.Token),
		"slog": logBuf.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "-value") {
			t.Errorf("%s output leaks a secret: %s", name, out)
		}
	}
	var decoded Config
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Notifiers.Slack.Token.Value() != secret.Redacted {
		t.Errorf("json should show %s for set secrets: %s", secret.Redacted, js)
	}
	if cfg.Notifiers.Jira.Token.Value() != "jira-token-value" {
		t.Errorf("Value() must return the secret itself")
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"${A}":            "1",
		"${MISSING}":      "",
		"${MISSING:-def}": "def",
		"${EMPTY:-def}":   "def",
		"$A and $${A}":    "$A and $1",
		"^\\d+$":          "^\\d+$",
	} {
		if got := Expand(in, lookup); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

// A short admin token is refused: a one-character token was guessed in 11
// requests. The message names the key and the minimum, never the token.
func TestAdminTokenAndListenValidated(t *testing.T) {
	base := "sources: [{name: m, type: meta, app_secret: s}]\n"
	for _, tt := range []struct {
		server string
		want   []string // problems expected; none means valid
	}{
		{`{admin_token: "x"}`, []string{"server.admin_token", "at least 32"}},
		{`{admin_token: "0123456789abcdef0123456789abcde"}`, []string{"31 characters"}},
		{`{admin_token: "0123456789abcdef0123456789abcdef"}`, nil},
		{`{}`, nil},
		{`{admin_token: "0123456789abcdef0123456789abcdef", admin_listen: "127.0.0.1:9090"}`, nil},
		{`{admin_token: "0123456789abcdef0123456789abcdef", admin_listen: "nowhere"}`, []string{"server.admin_listen", "host:port"}},
		{`{admin_token: "0123456789abcdef0123456789abcdef", listen: "127.0.0.1:8080", admin_listen: "127.0.0.1:8080"}`, []string{"server.admin_listen", "another port"}},
		{`{admin_listen: "127.0.0.1:9090"}`, []string{"server.admin_listen", "admin_token is empty"}},
	} {
		cfg, err := Load(writeConfig(t, "server: "+tt.server+"\n"+base))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("server %s: %v", tt.server, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("server %s: valid, want %v", tt.server, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("server %s: %q lacks %q", tt.server, err, w)
			}
		}
		if strings.Contains(err.Error(), "0123456789abcde") {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

func TestRejectAuditRateKey(t *testing.T) {
	cfg, err := Load(writeConfig(t, "storage: {reject_audit_rate: 5}\nsources: [{name: m, type: meta, app_secret: s}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.RejectAuditRate != 5 {
		t.Fatalf("reject_audit_rate = %d, want 5", cfg.Storage.RejectAuditRate)
	}
	t.Setenv("WABRIDGE_STORAGE_REJECT_AUDIT_RATE", "7")
	cfg, err = Load(writeConfig(t, "sources: [{name: m, type: meta, app_secret: s}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.RejectAuditRate != 7 {
		t.Fatalf("from the environment: %d, want 7", cfg.Storage.RejectAuditRate)
	}
}

func TestSlackAllowListsValidated(t *testing.T) {
	base := "sources: [{name: m, type: meta, app_secret: s}]\n"
	for _, tt := range []struct {
		slack string
		want  []string
	}{
		{`{allowed_users: [U0ALICE, W0BOB], allowed_groups: [S0ONCALL]}`, nil},
		{`{allowed_users: ["@alice"]}`, []string{"allowed_users[0]", "not a Slack user id"}},
		{`{allowed_groups: ["@oncall"]}`, []string{"allowed_groups[0]", "not a Slack user group id"}},
		{`{allowed_groups: [S0ONCALL, u0alice]}`, []string{"allowed_groups[1]"}},
	} {
		cfg, err := Load(writeConfig(t, "notifiers: {slack: "+tt.slack+"}\n"+base))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("slack %s: %v", tt.slack, err)
			}
			continue
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("slack %s: %v, want it to say %q", tt.slack, err, w)
			}
		}
	}
	// From the environment too, as every key.
	t.Setenv("WABRIDGE_NOTIFIERS_SLACK_ALLOWED_GROUPS", "S0ONE,S0TWO")
	cfg, err := Load(writeConfig(t, base))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Notifiers.Slack.AllowedGroups; len(got) != 2 || got[0] != "S0ONE" || got[1] != "S0TWO" {
		t.Errorf("allowed_groups from the environment = %q", got)
	}
}
