package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/notifiers/slack"
)

// TestSlackButtonWarnings: wabridge check says why alerts carry no
// buttons, for each setup that lacks what they need.
func TestSlackButtonWarnings(t *testing.T) {
	tok, hook, sign := secret.Secret("xoxb-1"), secret.Secret("https://hooks.slack.com/services/T/B/x"), secret.Secret("s")
	for _, tt := range []struct {
		name string
		cfg  slack.Config
		want string // "" for no warning
	}{
		{"token and signing secret", slack.Config{Token: tok, SigningSecret: sign}, ""},
		{"nothing", slack.Config{}, ""},
		{"webhook only", slack.Config{WebhookURL: hook}, "incoming webhook cannot"},
		{"webhook and signing secret", slack.Config{WebhookURL: hook, SigningSecret: sign}, "incoming webhook cannot"},
		{"signing secret alone", slack.Config{SigningSecret: sign}, "without notifiers.slack.token"},
		{"token alone", slack.Config{Token: tok}, "signing_secret: not set"},
		{"allow-list without buttons", slack.Config{Token: tok, AllowedUsers: []string{"U1"}}, "not used"},
	} {
		got := strings.Join(slackButtonWarnings(tt.cfg), "\n")
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%s: warnings %q, want %q", tt.name, got, tt.want)
		}
		if tt.want != "" && !strings.Contains(got, "no buttons") {
			t.Errorf("%s: %q does not say the buttons are off", tt.name, got)
		}
	}
}

// TestOnDemandWithoutButtonsWarns: check says how an on-demand ticket is
// opened when alerts carry no button for it.
func TestOnDemandWithoutButtonsWarns(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(`
rules:
  - name: tickets-on-demand
    match: {codes: [131048]}
    actions:
      - jira: {project: WAOPS, on_demand: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`
sources: [{name: meta, type: meta, app_secret: s}]
notifiers: {unconfigured: log}
rules: {files: [rules.yaml]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, rt, err := Load(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if got := strings.Join(rt.Warnings, "\n"); !strings.Contains(got, `rule "tickets-on-demand": its jira action is on_demand: true, and alerts carry no buttons`) {
		t.Errorf("warnings %q", got)
	}
}
