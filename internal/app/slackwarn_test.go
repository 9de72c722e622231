package app

import (
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
