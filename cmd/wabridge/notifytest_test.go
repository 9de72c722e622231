package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestNotifyTestSendsThroughRule runs notify-test in process against a fake
// Slack: a rule whose sample event has no attributes yet must still send.
func TestNotifyTestSendsThroughRule(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: "127.0.0.1:0", SlackURL: slack.srv.URL, SlackToken: "xoxb-good"})

	var stdout, stderr bytes.Buffer
	code := run([]string{"notify-test", "--config", cfg, "--rule", "failed-sends"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "slack: sent to #whatsapp-ops") {
		t.Errorf("stdout does not say where it sent:\n%s", stdout.String())
	}
	posts := slack.posted()
	if len(posts) != 1 {
		t.Fatalf("slack got %d posts, want 1", len(posts))
	}
	if ch := posts[0].Form["channel"]; ch != "#whatsapp-ops" {
		t.Errorf("posted to %q, want #whatsapp-ops", ch)
	}
}

// TestNotifyTestReportsFailure: a rejected token is a failed action, exit 1,
// and the output says which notifier and why.
func TestNotifyTestReportsFailure(t *testing.T) {
	slack := newFakeSlack(t)
	dir := t.TempDir()
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: "127.0.0.1:0", SlackURL: slack.srv.URL, SlackToken: "xoxb-wrong"})

	var stdout, stderr bytes.Buffer
	code := run([]string{"notify-test", "--config", cfg, "--rule", "failed-sends"}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "slack: FAILED (auth)") {
		t.Errorf("stdout does not name the failure:\n%s", stdout.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "xoxb-wrong") {
		t.Errorf("output leaks the token")
	}
}

// TestNotifyTestStandInIsNotSent: with no Slack credentials and
// notifiers.unconfigured: log, the action lands in the log, and notify-test
// must not claim it reached Slack.
func TestNotifyTestStandInIsNotSent(t *testing.T) {
	dir := t.TempDir()
	cfg := writeE2EConfig(t, e2eConfig{Dir: dir, Addr: "127.0.0.1:0", SlackURL: "http://127.0.0.1:1", SlackToken: "",
		Extra: "\n"})
	// writeE2EConfig always writes a slack block; blank its token and let
	// the log stand in.
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "notifiers:\n", "notifiers:\n  unconfigured: log\n", 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	code := run([]string{"notify-test", "--config", cfg, "--rule", "failed-sends"}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), "slack: sent") {
		t.Errorf("claims Slack got it:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "slack: NOT SENT") {
		t.Errorf("does not say Slack was not sent to:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "warning: notifiers.slack: no credentials") {
		t.Errorf("stderr lacks the stand-in warning:\n%s", stderr.String())
	}
}
