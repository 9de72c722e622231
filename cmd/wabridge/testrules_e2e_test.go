package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedRulesTests: the tests shipped for rules.example.yaml pass with
// config.example.yaml.
func TestShippedRulesTests(t *testing.T) {
	cmd := exec.Command(binPath, "test", "rules", "--config", "config.example.yaml", "rules.example.tests.yaml")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rule tests passed") {
		t.Fatalf("shipped rules tests: %v\n%s", err, out)
	}
}

// TestRulesTestFailureShowsDiff: one passing and one failing case exit 1,
// and the failing case prints what was expected and what was queued.
func TestRulesTestFailureShowsDiff(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	dir := t.TempDir()
	tests := `rule_files: [` + filepath.Join(root, "rules.example.yaml") + `]
tests:
  - name: a locked account pages and opens a ticket
    payload: ` + filepath.Join(root, "examples/payloads/meta-131031.json") + `
    expect:
      - {rule: account-blocked, notifier: slack, target: "#whatsapp-ops", op: open}
      - {rule: account-blocked, notifier: jira, target: WAOPS, op: open}
  - name: a spam rate limit goes to the wrong channel
    payload: ` + filepath.Join(root, "examples/payloads/meta-131048.json") + `
    expect:
      - {rule: spam-and-rate-limits, notifier: slack, target: "#spam", op: open}
`
	file := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(file, []byte(tests), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binPath, "test", "rules", "--config", filepath.Join(root, "config.example.yaml"), file).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"ok   " + file + ":3: a locked account pages and opens a ticket",
		"FAIL " + file + ":8: a spam rate limit goes to the wrong channel",
		"- rule=spam-and-rate-limits notifier=slack target=#spam op=open",
		"+ rule=spam-and-rate-limits notifier=slack target=#whatsapp-ops op=open",
		"1 of 2 rule tests failed",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestRulesTestBadInput: a missing payload file and an expected rule that
// does not exist each fail their case with a message; a file that is not a
// tests file cannot run at all.
func TestRulesTestBadInput(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	dir := t.TempDir()
	cfg := filepath.Join(root, "config.example.yaml")
	for _, tc := range []struct {
		name, file, want string
	}{
		{"missing payload", "tests:\n  - name: x\n    payload: nope.json\n    expect: none\n", "payload nope.json: open"},
		{"unknown rule", "rule_files: [" + filepath.Join(root, "rules.example.yaml") + "]\ntests:\n  - name: x\n    payload: {\"object\": \"whatsapp_business_account\", \"entry\": []}\n    expect:\n      - {rule: no-such-rule, notifier: slack}\n", `no rule named "no-such-rule"`},
		{"unknown key", "tests:\n  - name: x\n    paylod: a.json\n", "field paylod not found"},
		{"no expect", "tests:\n  - name: x\n    payload: {\"object\": \"x\"}\n", "expect: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(f, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(binPath, "test", "rules", "--config", cfg, f).CombinedOutput()
			if exitCode(err) != 1 || !strings.Contains(string(out), tc.want) {
				t.Errorf("exit %d:\n%s\nwant %q", exitCode(err), out, tc.want)
			}
		})
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
