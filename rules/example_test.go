package rules

import (
	"testing"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

// TestExampleRules keeps rules.example.yaml, which teams copy, loading
// cleanly and doing what its comments say.
func TestExampleRules(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	s, warns, err := Load([]string{"../rules.example.yaml"}, Options{
		Specs:     builtin.Specs(),
		Notifiers: func(name string) bool { return name == "slack" || name == "jira" || name == "log" },
		Catalog:   cat,
	})
	if err != nil {
		t.Fatalf("rules.example.yaml:\n%v", err)
	}
	for _, w := range warns {
		t.Errorf("warning: %s", w)
	}
	tests := []struct {
		name string
		e    event.Event
		want string
	}{
		{"blocked", event.Event{Kind: event.KindStatus, Status: "failed", Code: 131031}, "account-blocked"},
		{"ban", event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", Attributes: map[string]string{"state": "disable"}}, "account-banned"},
		{"reinstated", event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", Attributes: map[string]string{"state": "reinstate"}}, ""},
		{"violation", event.Event{Kind: event.KindAccountUpdate, Status: "account_violation"}, "policy-violations-and-restrictions"},
		{"rate limit", event.Event{Kind: event.KindError, Code: 4}, "spam-and-rate-limits"},
		{"spam", event.Event{Kind: event.KindStatus, Status: "failed", Code: 131048}, "spam-and-rate-limits"},
		{"template paused", event.Event{Kind: event.KindTemplate, Status: "paused"}, "template-rejected-paused-disabled"},
		{"template approved", event.Event{Kind: event.KindTemplate, Status: "approved"}, ""},
		{"template send error", event.Event{Kind: event.KindStatus, Status: "failed", Code: 132015}, "template-send-errors"},
		{"logout", event.Event{Kind: event.KindConnection, Status: "logout"}, "connection-lost"},
		{"open", event.Event{Kind: event.KindConnection, Status: "open"}, ""},
		{"delivered", event.Event{Kind: event.KindStatus, Status: "delivered"}, ""},
	}
	for _, tt := range tests {
		got := ""
		if m := s.Match(&tt.e); len(m) > 0 {
			got = m[0].Name
		}
		if got != tt.want {
			t.Errorf("%s: matched %q, want %q", tt.name, got, tt.want)
		}
	}
	for _, r := range s.Rules() {
		if len(r.Actions) == 0 {
			t.Errorf("%s: no actions", r.Name)
		}
		if e := r.SampleEvent(); !r.Matches(&e) {
			t.Errorf("%s: sample event does not match", r.Name)
		}
	}
	if a := flatten(t, s.Rule("account-blocked").Actions); a[0].Target != "#whatsapp-ops" || a[1].Target != "WAOPS" || a[1].Settings["issue_type"] != "Incident" || a[1].Settings["priority"] != "Highest" {
		t.Errorf("account-blocked actions = %+v", a)
	}

	ban := s.Rule("account-banned")
	reinstate := &event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", WABAID: "1", Attributes: map[string]string{"state": "reinstate"}}
	banned := &event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", WABAID: "1", Attributes: map[string]string{"state": "disable"}}
	if !ban.ResolvedBy(reinstate) || ban.ResolvedBy(banned) || Fingerprint(ban, reinstate) != Fingerprint(ban, banned) {
		t.Error("account-banned: a reinstate of the same WABA should resolve the ban's incident")
	}

	inh := s.Inhibits()
	if len(inh) != 2 {
		t.Fatalf("inhibits = %d, want 2", len(inh))
	}
	blocked := &event.Event{Kind: event.KindStatus, Status: "failed", Code: 131031, WABAID: "1"}
	undeliverable := &event.Event{Kind: event.KindStatus, Status: "failed", Code: 131026, WABAID: "1"}
	otherWABA := &event.Event{Kind: event.KindStatus, Status: "failed", Code: 131026, WABAID: "2"}
	if !inh[0].Suppresses(blocked, undeliverable) || inh[0].Suppresses(blocked, otherWABA) || inh[0].Suppresses(blocked, blocked) {
		t.Error("account-blocked inhibit: want the same WABA's other failures suppressed, and nothing else")
	}
}
