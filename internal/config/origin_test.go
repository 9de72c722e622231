package config

import (
	"strings"
	"testing"
)

// TestSourceSecretsFromEnv: a source's keys come from
// WABRIDGE_SOURCES_<NAME>_<KEY>, names with '-' as '_'.
func TestSourceSecretsFromEnv(t *testing.T) {
	t.Setenv("WABRIDGE_SOURCES_META_APP_SECRET", "from-env")
	t.Setenv("WABRIDGE_SOURCES_GW_PROD_AUTH_SECRET", "gw-secret")
	t.Setenv("WABRIDGE_SOURCES_GW_PROD_AUTH_INSECURE", "true")
	p := writeConfig(t, `
sources:
  - {name: meta, type: meta}
  - {name: gw-prod, type: status, auth: {type: hmac, header: X-Sig}}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources[0].AppSecret.Value() != "from-env" || c.Sources[1].Auth.Secret.Value() != "gw-secret" || !c.Sources[1].Auth.Insecure {
		t.Errorf("sources from env: %+v", c.Sources)
	}
	if got := c.Where("sources[0].app_secret"); got != "environment WABRIDGE_SOURCES_META_APP_SECRET" {
		t.Errorf("Where(app_secret) = %q", got)
	}
	t.Setenv("WABRIDGE_SOURCES_META_INSECURE_SKIP_SIGNATURE", "maybe")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "environment WABRIDGE_SOURCES_META_INSECURE_SKIP_SIGNATURE") {
		t.Errorf("a bad bool from env: %v", err)
	}
}

// TestProblemsSayWhere: each problem names the file and line, or the
// environment variable, its value came from.
func TestProblemsSayWhere(t *testing.T) {
	p := writeConfig(t, `storage: {dir: ./data}
server:
  listen: "nope"
sources:
  - {name: meta, type: meta, insecure_skip_signature: true}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	probs := c.Problems().Error()
	if !strings.Contains(probs, p+`:3: server.listen: "nope" is not host:port`) {
		t.Errorf("file problem without FILE:LINE:\n%s", probs)
	}
	t.Setenv("WABRIDGE_SERVER_LISTEN", "also-bad")
	c, _ = Load(p)
	if probs := c.Problems().Error(); !strings.Contains(probs, `environment WABRIDGE_SERVER_LISTEN: server.listen: "also-bad"`) {
		t.Errorf("env problem does not name the variable:\n%s", probs)
	}
}

func TestBadDurationNamesKeyAndOrigin(t *testing.T) {
	p := writeConfig(t, "storage:\n  dir: ./data\n  retention: 3days\nsources: [{name: meta, type: meta}]\n")
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p+`:3: storage.retention: "3days" is not a duration; use a number and a unit`) {
		t.Errorf("file: %v", err)
	}
	t.Setenv("WABRIDGE_PIPELINE_MAX_AGE", "2x")
	_, err = Load(p)
	if err == nil || !strings.Contains(err.Error(), `environment WABRIDGE_PIPELINE_MAX_AGE: pipeline.max_age: "2x" is not a duration`) {
		t.Errorf("env: %v", err)
	}
}

// TestYAMLShowsSecretsAsSecret: config show prints the effective values,
// durations in the grammar and secrets as <secret>.
func TestYAMLShowsSecretsAsSecret(t *testing.T) {
	t.Setenv("WABRIDGE_SOURCES_META_APP_SECRET", "very-secret-value")
	t.Setenv("WABRIDGE_NOTIFIERS_SLACK_TOKEN", "xoxb-very-secret")
	t.Setenv("WABRIDGE_STORAGE_RETENTION", "2d")
	p := writeConfig(t, "sources: [{name: meta, type: meta, verify_token: vt-secret}]\nnotifiers: {slack: {channel: \"#ops\"}}\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, leak := range []string{"very-secret-value", "xoxb-very-secret", "vt-secret"} {
		if strings.Contains(s, leak) {
			t.Errorf("config show printed a secret %q:\n%s", leak, s)
		}
	}
	for _, want := range []string{"app_secret: <secret>", "token: <secret>", "retention: 2d", "dedup_window: 1w1d", `channel: '#ops'`} {
		if !strings.Contains(s, want) {
			t.Errorf("config show lacks %q:\n%s", want, s)
		}
	}
}
