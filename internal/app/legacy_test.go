package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

// testdata/legacy-outbox/wabridge.db was written by the version before
// notifier specs: two outbox entries whose actions carry their settings
// beside the common fields, {"notifier":"slack","channel":"#legacy-ops"}
// and a jira action with project LEG, issue type Bug, priority High, a
// label, a component and a templated custom field. This version must send
// both where and as they say.
func TestOutboxOfThePreviousVersionIsSent(t *testing.T) {
	slack := slacktest.New(t, slacktest.Options{Channels: map[string]string{"#ops": "C0OPS", "#legacy-ops": "C0LEG"}})
	jira := jiratest.New(t, jiratest.Options{User: "bot@example.com", Token: "jira-secret", Projects: []string{"WAOPS", "LEG"}})

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join("testdata", "legacy-outbox", "wabridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "wabridge.db"), db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(`
rules:
  - name: legacy-rule
    match: {codes: [131031]}
    actions:
      - slack: {channel: "#legacy-ops"}
      - jira: {project: LEG}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
server: {listen: "127.0.0.1:0", shutdown_timeout: 5s}
storage: {dir: data}
sources:
  - {name: meta, type: meta, app_secret: s, verify_token: v}
notifiers:
  slack: {token: %s, api_url: %q, channel: "#ops", timeout: 5s}
  jira: {url: %q, user: bot@example.com, token: jira-secret, project: WAOPS, api_type: datacenter, timeout: 5s}
pipeline: {backoff_base: 100ms, backoff_max: 1s}
rules: {files: [rules.yaml]}
`, slacktest.DefaultToken, slack.APIURL(), jira.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(cfg, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
	}()

	waitFor(t, "the stored slack and jira opens", func() bool {
		return len(slack.Posts()) >= 1 && len(jira.Issues()) >= 1
	})
	var channels []string
	for _, m := range slack.Posts() {
		channels = append(channels, m.Channel)
	}
	if !slices.Equal(channels, []string{"C0LEG"}) {
		t.Errorf("slack posts went to %v, want one to #legacy-ops (C0LEG)", channels)
	}
	is := jira.Issues()
	if len(is) != 1 {
		t.Fatalf("jira issues = %+v, want one", is)
	}
	got := is[0]
	if got.Project != "LEG" || got.Type != "Bug" || got.Priority != "High" || !slices.Contains(got.Labels, "legacy-label") ||
		!slices.Equal(got.Components, []string{"WhatsApp"}) || got.Fields["customfield_10010"] != "code 131031" {
		t.Errorf("jira issue = project %s, type %s, priority %s, labels %v, components %v, fields %v; want LEG, Bug, High, legacy-label, WhatsApp, code 131031",
			got.Project, got.Type, got.Priority, got.Labels, got.Components, got.Fields)
	}
	if len(slack.Failed()) > 0 || len(jira.Rejected()) > 0 {
		t.Errorf("refused calls: slack %+v, jira %+v", slack.Failed(), jira.Rejected())
	}
}
