package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

func TestGroupByWarnsAboutFieldsTheKindsNeverCarry(t *testing.T) {
	src := `
defaults:
  group_by: [code, phone_number_id]
rules:
  - name: quality
    match: {kinds: [quality_update]}
    group_by: [phone_number_id]
    actions: [{slack: {}}]
  - name: quality-by-number
    match: {kinds: [quality_update]}
    group_by: [waba_id, display_phone_number]
    actions: [{slack: {}}]
  - name: bans-from-file-defaults
    match: {kinds: [account_update]}
    actions: [{slack: {}}]
  - name: any-kind
    group_by: [phone_number_id]
    actions: [{slack: {}}]
  - name: ignore-quality
    match: {kinds: [quality_update]}
    group_by: [phone_number_id]
    actions: []
`
	_, warns, err := Parse("r.yaml", []byte(src), Options{Specs: builtin.Specs()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		`r.yaml:7: rule "quality": group_by field "phone_number_id" is never set on quality_update events, so it tells no incidents apart; group by a field they carry (display_phone_number, waba_id)`,
		`r.yaml:3: rule "bans-from-file-defaults": group_by field "code" is never set on account_update events, so it tells no incidents apart; group by a field they carry (display_phone_number, waba_id)`,
		`r.yaml:3: rule "bans-from-file-defaults": group_by field "phone_number_id" is never set on account_update events, so it tells no incidents apart; group by a field they carry (display_phone_number, waba_id)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestResolveAfterDefaultAndNever(t *testing.T) {
	s := mustParse(t, `
defaults:
  resolve_after: 2h
  max_open_incidents: 50
rules:
  - {name: from-defaults, actions: [{slack: {}}]}
  - {name: never, resolve_after: never, actions: [{slack: {}}]}
  - {name: own, resolve_after: 30m, max_open_incidents: 3, actions: [{slack: {}}]}
`)
	for name, want := range map[string]time.Duration{"from-defaults": 2 * time.Hour, "never": 0, "own": 30 * time.Minute} {
		if got := s.Rule(name).ResolveAfter; got != want {
			t.Errorf("%s: resolve_after %v, want %v", name, got, want)
		}
	}
	if s.Rule("from-defaults").MaxOpen != 50 || s.Rule("own").MaxOpen != 3 {
		t.Errorf("max_open_incidents: %d, %d", s.Rule("from-defaults").MaxOpen, s.Rule("own").MaxOpen)
	}
	_, _, err := Parse("r.yaml", []byte(`
rules:
  - {name: a, resolve_after: sometimes, max_open_incidents: 0, actions: [{slack: {}}]}
  - {name: b, escalate: {priority: Highest}, actions: [{slack: {}}]}
  - {name: c, escalate: {priorty: High}, actions: [{jira: {}}]}
`), Options{Specs: builtin.Specs()})
	want := []string{
		`r.yaml:3: rule "a": resolve_after: "sometimes" is not a duration; use a number and a unit, largest first: 90s, 15m, 1h30m, 7d, 1w (units ms, s, m, h, d, w, y)`,
		`r.yaml:3: rule "a": max_open_incidents must be a whole number of at least 1, not "0"`,
		`r.yaml:4: rule "b": escalate.priority is a Jira priority, and the rule has no jira action`,
		`r.yaml:5: rule "c": unknown key "priorty" in escalate (known: priority, order)`,
	}
	if got := problems(t, err); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEscalates(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: builtin
    escalate: {priority: Highest}
    actions: [{slack: {}}, {jira: {project: OPS, priority: High}}]
  - name: own-order
    escalate: {order: [low, MID, high]}
    actions: [{slack: {}}]
`)
	b := s.Rule("builtin")
	if a := flatten(t, b.Actions); a[1].EscalatePriority != "Highest" || a[1].Settings["priority"] != "High" || a[0].EscalatePriority != "" {
		t.Errorf("escalate.priority reaches only the jira action: %+v", b.Actions)
	}
	ban := func(state string) *event.Event {
		return &event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", Severity: event.SeverityCritical,
			Attributes: map[string]string{"state": state}}
	}
	quality := func(st string) *event.Event {
		return &event.Event{Kind: event.KindQuality, Status: st, Severity: event.SeverityWarning}
	}
	tmpl := func(st string) *event.Event {
		return &event.Event{Kind: event.KindTemplate, Status: st, Severity: event.SeverityTemplate}
	}
	sev := func(s event.Severity) *event.Event {
		return &event.Event{Kind: event.KindStatus, Status: "failed", Severity: s}
	}
	own := func(st string) *event.Event { return &event.Event{Kind: event.KindStatus, Status: st} }
	tests := []struct {
		rule       string
		prev, next *event.Event
		want       string // "" = no escalation
	}{
		{"builtin", ban("schedule_for_disable"), ban("disable"), "schedule_for_disable → disable"},
		{"builtin", ban("disable"), ban("schedule_for_disable"), ""},
		{"builtin", ban("disable"), ban("disable"), ""},
		{"builtin", quality("flagged"), quality("downgrade"), "flagged → downgrade"},
		{"builtin", quality("downgrade"), quality("flagged"), ""},
		{"builtin", tmpl("paused"), tmpl("disabled"), "paused → disabled"},
		{"builtin", sev(event.SeverityThrottle), sev(event.SeverityCritical), "severity throttle → critical"},
		{"builtin", sev(event.SeverityCritical), sev(event.SeverityThrottle), ""},
		{"own-order", own("low"), own("high"), "low → high"},
		{"own-order", own("high"), own("mid"), ""},
	}
	for _, tt := range tests {
		ok, how := s.Rule(tt.rule).Escalates(tt.prev, tt.next)
		if ok != (tt.want != "") || how != tt.want {
			t.Errorf("%s: %s/%s → %s/%s = %v %q, want %q", tt.rule, tt.prev.Status, tt.prev.Attr("state"),
				tt.next.Status, tt.next.Attr("state"), ok, how, tt.want)
		}
	}
}
