package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

func TestExplain(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "r.yaml")
	src := `
rules:
  - name: blocked
    match: {codes: [131031], statuses: [failed]}
    actions: [{log: {}}]
  - name: spam
    match: {codes: [131048, 131049]}
    actions: [{log: {}}]
  - name: range
    match: {codes: ["131000-131099"], kinds: [status]}
    actions: [{log: {}}]
  - name: off
    enabled: false
    match: {codes: [131031]}
    actions: [{log: {}}]
  - name: phone
    match: {codes: [131031], phone_number_ids: ["PN2"]}
    actions: [{log: {}}]
  - name: template
    match: {kinds: [status], attributes: {template_name: [promo, "~promo-.*"]}}
    actions: [{log: {}}]
`
	if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	set, _, err := Load([]string{f}, Options{Specs: builtin.Specs(), Notifiers: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	e := event.Event{Kind: event.KindStatus, Status: "failed", Code: 131031, PhoneNumberID: "PN1"}
	got := map[string]Explanation{}
	for _, x := range set.Explain(&e) {
		got[x.Rule] = x
	}
	want := map[string]string{
		"blocked":  "",
		"spam":     "code 131031 is not in [131048, 131049]",
		"range":    `not evaluated: rule "blocked" matched first and has no continue: true`,
		"off":      "disabled (enabled: false)",
		"phone":    `phone_number_id "PN1" is not in [PN2]`,
		"template": `attribute template_name "" is not in [promo, promo-.*]`,
	}
	for name, reason := range want {
		x, ok := got[name]
		if !ok {
			t.Errorf("%s: not explained", name)
			continue
		}
		if x.Matched != (reason == "") || !strings.Contains(x.Reason, reason) {
			t.Errorf("%s: %+v, want reason %q", name, x, reason)
		}
	}
	// Matched in Explain is exactly what Match returns.
	var n int
	for _, x := range got {
		if x.Matched {
			n++
		}
	}
	if m := set.Match(&e); len(m) != n {
		t.Errorf("Match = %d rules, Explain says %d matched", len(m), n)
	}
}
