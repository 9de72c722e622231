package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/problem"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

func testOptions() Options {
	return Options{
		Specs:     builtin.Specs(),
		Notifiers: func(name string) bool { return name == "slack" || name == "log" },
		TemplateExists: func(name string) bool {
			return strings.HasPrefix(name, "slack.") || strings.HasPrefix(name, "jira.") || name == "my.title"
		},
	}
}

// problems returns the load errors as strings, failing when loading worked.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var le problem.List
	if !errors.As(err, &le) {
		t.Fatalf("error = %v (%T), want a problem.List", err, err)
	}
	out := make([]string, len(le))
	for i, p := range le {
		out[i] = p.String()
	}
	if got := le.Error(); got != strings.Join(out, "\n") {
		t.Errorf("Error() = %q, want one problem per line", got)
	}
	return out
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"nameless rules are numbered by position", `
rules:
  - name: a
    actions: []
  - actions: []
`, []string{"r.yaml:5: rule #2: rule has no name; every rule needs a unique name"}},
		{"yaml syntax", `
rules:
  - name: a
    match: {codes: [1}
`, []string{"r.yaml:3: yaml: did not find expected ',' or ']'"}},
		{"two documents", `
rules: []
---
rules: []
`, []string{"r.yaml:3: a rules file holds one YAML document; move the rules after this --- into the first"}},
		{"top level not a mapping", `
- name: a
`, []string{"r.yaml:2: rules file must be a mapping, not a list"}},
		{"unknown top-level key", `
rule:
  - name: a
`, []string{
			`r.yaml:2: unknown key "rule" in rules file (known: defaults, rules, inhibit)`,
			`r.yaml:2: no rules: key; a file with no rules says rules: []`,
		}},
		{"empty file", ``, []string{`r.yaml: no rules: key; a file with no rules says rules: [] (the file is empty)`}},
		{"comments only", "# rules go here\n", []string{`r.yaml: no rules: key; a file with no rules says rules: [] (the file is empty)`}},
		{"cut after rules:", "defaults:\n  slack_channel: \"#ops\"\nrules:\n", []string{
			`r.yaml:3: rules: holds nothing (a file cut short?); write rules: [] for a file with no rules`,
		}},
		{"cut before rules:", "defaults:\n  slack_channel: \"#ops\"\n", []string{
			`r.yaml:1: no rules: key; a file with no rules says rules: []`,
		}},
		{"rules not a list", `
rules: {name: a}
`, []string{`r.yaml:2: rules must be a list, not a mapping`}},
		{"unknown rule key, missing name, no actions", `
rules:
  - match: {codes: [131031]}
    chanel: "#ops"
`, []string{
			`r.yaml:3: rule #1: rule has no name; every rule needs a unique name`,
			`r.yaml:3: rule #1: rule has no actions; add actions, or write actions: [] for a rule that only stops evaluation`,
			`r.yaml:4: rule #1: unknown key "chanel" in rule (known: name, description, enabled, match, when, actions, continue, group_by, repeat_interval, group_wait, threshold, resolve_when, resolve_after, active_time, mute_time, escalate, max_open_incidents)`,
		}},
		{"empty name", `
rules:
  - name: ""
    actions: []
`, []string{`r.yaml:3: rule #1: rule name is empty`}},
		{"duplicate names name both lines", `
rules:
  - name: blocked
    actions: []
  - name: other
    actions: []
  - name: blocked
    actions: []
`, []string{`r.yaml:7: rule "blocked": duplicate rule name "blocked" (first defined at r.yaml:3)`}},
		{"unknown match key", `
rules:
  - name: a
    match:
      code: [131031]
    actions: []
`, []string{`r.yaml:5: rule "a": unknown key "code" in match (known: codes, kinds, statuses, sources, severities, phone_number_ids, waba_ids, attributes)`}},
		{"bad codes", `
rules:
  - name: a
    match:
      codes:
        - 131031
        - "132069-132000"
        - abc
        - -5
        - [1]
        - "1-99999999999"
    actions: []
`, []string{
			`r.yaml:7: rule "a": match.codes: "132069-132000" is not a code or a range like 200-299`,
			`r.yaml:8: rule "a": match.codes: "abc" is not a code or a range like 200-299`,
			`r.yaml:9: rule "a": match.codes: "-5" is not a code or a range like 200-299`,
			`r.yaml:10: rule "a": match.codes: want a code like 131031 or a range like "132000-132069", not a list`,
			`r.yaml:11: rule "a": match.codes: "1-99999999999" is larger than any provider code (at most 999999999)`,
		}},
		{"unknown kind and severity", `
rules:
  - name: a
    match:
      kinds: [status, ban]
      severities: [critical, urgent]
    actions: []
`, []string{
			`r.yaml:5: rule "a": match: unknown kind "ban" (known: status, error, message, account_update, account_alert, quality_update, template_status, connection, unknown)`,
			`r.yaml:6: rule "a": match: unknown severity "urgent" (known: critical, throttle, recipient, template, transient, warning, info)`,
		}},
		{"bad regex", `
rules:
  - name: a
    match:
      attributes:
        template_name: "~promo_(.*"
    actions: []
`, []string{`r.yaml:6: rule "a": match.attributes.template_name: bad regular expression "promo_(.*": missing closing )`}},
		{"attributes not a mapping", `
rules:
  - name: a
    match:
      attributes: [a, b]
    actions: []
`, []string{`r.yaml:5: rule "a": match.attributes must be a mapping of attribute name to value, not a list`}},
		{"bad when", `
rules:
  - name: a
    when: nosuchfield == 1
    actions: []
  - name: b
    when: code + 1
    actions: []
  - name: c
    when: code ==
    actions: []
`, []string{
			`r.yaml:4: rule "a": when: unknown name nosuchfield (1:1)`,
			`r.yaml:7: rule "b": when: expected bool, but got int`,
			`r.yaml:10: rule "c": when: unexpected token EOF (1:7)`,
		}},
		{"notifier not configured, unknown notifier", `
rules:
  - name: a
    actions:
      - jira: {project: WAOPS}
      - pagerduty: {}
`, []string{
			`r.yaml:5: rule "a": notifier "jira" is not configured; add notifiers.jira to the config or remove this action`,
			`r.yaml:6: rule "a": unknown notifier "pagerduty" (known: jira, log, slack)`,
		}},
		{"field another notifier uses, unknown field", `
rules:
  - name: a
    actions:
      - slack:
          channel: "#ops"
          project: WAOPS
          colour: red
      - log: {channel: "#ops"}
`, []string{
			`r.yaml:7: rule "a": slack action does not use "project" (a jira field; slack knows: channel, templates)`,
			`r.yaml:8: rule "a": unknown key "colour" in slack action (known: channel, templates)`,
			`r.yaml:9: rule "a": log action does not use "channel" (a slack field; log knows: templates)`,
		}},
		{"action shapes", `
rules:
  - name: a
    actions:
      - slack
      - {}
      - slack: {}
        log: {}
`, []string{
			`r.yaml:5: rule "a": an action is one notifier with its settings (- slack: {channel: "#ops"}), not "slack"`,
			`r.yaml:6: rule "a": action is empty; write - slack: {...}, - jira: {...} or - log: {}`,
			`r.yaml:7: rule "a": action names 2 notifiers (slack, log); write one per list item`,
		}},
		{"unquoted channel is a comment", `
rules:
  - name: a
    actions:
      - slack: {channel: }
      - slack:
          channel: #ops
`, []string{
			`r.yaml:5: rule "a": slack channel is empty; quote channel names ("#ops"): an unquoted # starts a YAML comment`,
			`r.yaml:7: rule "a": slack channel is empty; quote channel names ("#ops"): an unquoted # starts a YAML comment`,
		}},
		{"templates", `
rules:
  - name: a
    actions:
      - slack:
          templates: {title: my.title, text: no.such, summary: jira.summary}
`, []string{
			`r.yaml:6: rule "a": template "no.such" does not exist`,
			`r.yaml:6: rule "a": unknown template role "summary" for slack (known: title, text, actions, repeat, resolved)`,
		}},
		{"continue with no actions", `
rules:
  - name: a
    continue: true
    actions: []
`, []string{`r.yaml:5: rule "a": a rule with no actions and continue: true does nothing; add actions or remove continue`}},
		{"bad scalars", `
rules:
  - name: a
    enabled: "yes please"
    continue: 1
    description: [x]
    actions: []
`, []string{
			`r.yaml:4: rule "a": enabled must be true or false, not "yes please"`,
			`r.yaml:5: rule "a": continue must be true or false, not "1"`,
			`r.yaml:6: rule "a": description must be a single value, not a list`,
		}},
		{"bad durations and group_by", `
rules:
  - name: a
    actions: []
    group_by: [code, phone, attributes., attributes.template_name]
    repeat_interval: 4 hours
    group_wait: -1m
    resolve_after: 0s
`, []string{
			`r.yaml:5: rule "a": group_by: unknown field "phone" (use one of id, source, kind, status, code, title, message, details, severity, recommended_action, phone_number_id, display_phone_number, waba_id, recipient_id, recipient_user_id, message_id, or attributes.NAME)`,
			`r.yaml:5: rule "a": group_by: unknown field "attributes." (use one of id, source, kind, status, code, title, message, details, severity, recommended_action, phone_number_id, display_phone_number, waba_id, recipient_id, recipient_user_id, message_id, or attributes.NAME)`,
			`r.yaml:6: rule "a": repeat_interval: "4 hours" is not a duration; use a number and a unit, largest first: 90s, 15m, 1h30m, 7d, 1w (units ms, s, m, h, d, w, y)`,
			`r.yaml:7: rule "a": group_wait: "-1m" is not a duration; use a number and a unit, largest first: 90s, 15m, 1h30m, 7d, 1w (units ms, s, m, h, d, w, y)`,
			`r.yaml:8: rule "a": resolve_after must be longer than 0; write never to keep incidents open until resolve_when or a person resolves them`,
		}},
		{"threshold", `
rules:
  - name: a
    actions: []
    threshold: {count: 0, within: 10m, per: x}
  - name: b
    actions: []
    threshold: {count: 5}
`, []string{
			`r.yaml:5: rule "a": unknown key "per" in threshold (known: count, within)`,
			`r.yaml:5: rule "a": threshold.count must be a whole number of at least 1, not "0"`,
			`r.yaml:8: rule "b": threshold needs within, the window the count must arrive in (10m)`,
		}},
		{"resolve_when", `
rules:
  - name: a
    actions: []
    resolve_when: {}
  - name: b
    actions: []
    resolve_when:
      kinds: [status]
      when: status == 1
`, []string{
			`r.yaml:5: rule "a": resolve_when is empty: it would resolve on every event`,
			`r.yaml:10: rule "b": when: invalid operation: == (mismatched types string and int) (1:8)`,
		}},
		{"time intervals", `
rules:
  - name: a
    actions: []
    active_time:
      - weekdays: [monday:friday, funday]
        times: [{start: "09:00", end: "17:30"}, {start: "18:00", end: "08:00"}, {start: "25:00", end: "26:00"}, {start: "09:00"}]
        location: Mars/Olympus
        timezone: UTC
    mute_time:
      - {weekdays: [saturday], times: [{start: "9", end: "10:00", at: x}]}
`, []string{
			`r.yaml:6: rule "a": active_time.weekdays: "funday" is not a weekday (monday ... sunday, or a range like monday:friday)`,
			`r.yaml:7: rule "a": active_time.times: start must be before end; split a window that crosses midnight into two (22:00-24:00 and 00:00-06:00)`,
			`r.yaml:7: rule "a": active_time.times.start: "25:00" is not a time of day like 09:00 or 17:30`,
			`r.yaml:7: rule "a": active_time.times.end: "26:00" is not a time of day like 09:00 or 17:30`,
			`r.yaml:7: rule "a": active_time.times entry needs start and end ("09:00", "17:30")`,
			`r.yaml:8: rule "a": active_time.location: unknown time zone "Mars/Olympus" (use an IANA name like Europe/Madrid)`,
			`r.yaml:9: rule "a": unknown key "timezone" in active_time entry (known: weekdays, times, location)`,
			`r.yaml:11: rule "a": unknown key "at" in mute_time.times entry (known: start, end)`,
			`r.yaml:11: rule "a": mute_time.times.start: "9" is not a time of day like 09:00 or 17:30`,
		}},
		{"defaults", `
defaults:
  slack_channel: #ops
  jira_project: ""
  group_by: [nope]
  repeat_interval: soon
  jira_priority: High
rules: []
`, []string{
			`r.yaml:3: defaults.slack_channel is empty; quote channel names ("#ops"): an unquoted # starts a YAML comment`,
			`r.yaml:4: defaults.jira_project is empty`,
			`r.yaml:5: defaults.group_by: unknown field "nope" (use one of id, source, kind, status, code, title, message, details, severity, recommended_action, phone_number_id, display_phone_number, waba_id, recipient_id, recipient_user_id, message_id, or attributes.NAME)`,
			`r.yaml:6: defaults.repeat_interval: "soon" is not a duration; use a number and a unit, largest first: 90s, 15m, 1h30m, 7d, 1w (units ms, s, m, h, d, w, y)`,
			`r.yaml:7: unknown key "jira_priority" in defaults (known: slack_channel, jira_project, jira_issue_type, group_by, repeat_interval, resolve_after, max_open_incidents)`,
		}},
		{"inhibit", `
rules: []
inhibit:
  - source_match: {kinds: [account_update]}
    equal: [waba_id, wabaid]
  - source_match: {}
    target_match: {codes: [x]}
    only_when: open
`, []string{
			`r.yaml:4: inhibit #1: inhibit rule needs target_match`,
			`r.yaml:5: inhibit #1: equal: unknown field "wabaid" (use one of id, source, kind, status, code, title, message, details, severity, recommended_action, phone_number_id, display_phone_number, waba_id, recipient_id, recipient_user_id, message_id, or attributes.NAME)`,
			`r.yaml:6: inhibit #2: source_match is empty: it would match every event`,
			`r.yaml:7: inhibit #2: target_match.codes: "x" is not a code or a range like 200-299`,
			`r.yaml:8: inhibit #2: unknown key "only_when" in inhibit rule (known: source_match, target_match, equal)`,
		}},
		{"empty template name; a bare log: is fine", `
rules:
  - name: a
    actions:
      - slack: {}
      - log:
  - name: b
    actions:
      - slack: {templates: {title: ""}}
`, []string{
			`r.yaml:9: rule "b": template name is empty`,
		}},
		{"merge keys", `
rules:
  - &base
    name: a
    actions: []
  - <<: *base
    name: b
`, []string{
			`r.yaml:6: rule "b": merge keys (<<) are not supported in rule; write the keys out`,
			`r.yaml:6: rule "b": rule has no actions; add actions, or write actions: [] for a rule that only stops evaluation`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := Parse("r.yaml", []byte(tt.src), testOptions())
			if s != nil {
				t.Errorf("Set = %v, want nil on error", s)
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			got := problems(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoadFileProblems(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - name: y\n    actions: [{nope: {}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dup := filepath.Join(dir, "dup.yaml")
	if err := os.WriteFile(dup, []byte("rules:\n  - name: x\n    actions: []\n  - name: x\n    actions: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	noMatch := filepath.Join(dir, "none-*.yaml")
	badGlob := filepath.Join(dir, "[.yaml")
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load([]string{missing, bad, noMatch, dup, badGlob, dir, fifo, zero}, Options{Specs: builtin.Specs()})
	want := []string{
		missing + ": rules file not found",
		bad + `:3: rule "y": unknown notifier "nope" (known: jira, log, slack)`,
		noMatch + ": no file matches this pattern",
		dup + `:4: rule "x": duplicate rule name "x" (first defined at ` + dup + `:2)`,
		badGlob + ": bad glob pattern: syntax error in pattern",
		dir + ": cannot read rules file: not a regular file (it is a directory)",
		fifo + ": cannot read rules file: not a regular file (it is a FIFO)",
		zero + ": cannot read rules file: not a regular file (it is a character device)",
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDuplicateNameAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte("\nrules:\n  - name: shared\n    actions: []\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := Load([]string{a, b}, Options{Specs: builtin.Specs()})
	want := []string{b + `:3: rule "shared": duplicate rule name "shared" (first defined at ` + a + `:3)`}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
}

func TestUnknownCodeWarnings(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	src := `
rules:
  - name: a
    match:
      codes: [131031, 999001, "131000-131099", "990000-990099"]
    actions: []
inhibit:
  - source_match: {codes: [999002]}
    target_match: {codes: [131031]}
`
	s, warns, err := Parse("r.yaml", []byte(src), Options{Specs: builtin.Specs(), Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d", s.Len())
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		`r.yaml:5: rule "a": code 999001 is not in the error catalogue`,
		`r.yaml:5: rule "a": no code in 990000-990099 is in the error catalogue`,
		`r.yaml:8: inhibit #1: code 999002 is not in the error catalogue`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Without a catalogue there is nothing to warn about.
	if _, warns, _ := Parse("r.yaml", []byte(src), Options{Specs: builtin.Specs()}); len(warns) != 0 {
		t.Errorf("warnings without catalogue = %v", warns)
	}
	// Warnings come back alongside errors, too.
	_, warns, err = Parse("r.yaml", []byte(src+"  - bogus\n"), Options{Specs: builtin.Specs(), Catalog: cat})
	if err == nil || len(warns) != 3 {
		t.Errorf("with an error: err = %v, %d warnings", err, len(warns))
	}
}

func TestDefaultsAndActions(t *testing.T) {
	src := `
defaults:
  slack_channel: "#whatsapp-ops"
  jira_project: WAOPS
  jira_issue_type: Incident
  group_by: [waba_id]
  repeat_interval: 1d
rules:
  - name: uses-defaults
    actions:
      - slack: {}
      - jira: {priority: Highest}
      - log: {}
  - name: overrides
    group_by: [code, attributes.template_name]
    repeat_interval: 30m
    group_wait: 30s
    resolve_after: 2h
    threshold: {count: 20, within: 10m}
    actions:
      - slack: {channel: "#tmpl", templates: {title: my.title}}
      - jira:
          project: TMPL
          issue_type: Bug
          labels: [whatsapp, template]
          components: [Messaging]
          fields: {customfield_10010: "{{ .Event.WABAID }}", customfield_10011: 3}
          templates: {summary: jira.summary}
  - name: stop
    actions: []
`
	s, _, err := Parse("r.yaml", []byte(src), Options{Specs: builtin.Specs()})
	if err != nil {
		t.Fatal(err)
	}
	a := s.Rule("uses-defaults")
	wantA := []flatAction{
		{Notifier: "slack", Target: "#whatsapp-ops", Settings: map[string]any{"channel": "#whatsapp-ops"}},
		{Notifier: "jira", Target: "WAOPS", Settings: map[string]any{"project": "WAOPS", "issue_type": "Incident", "priority": "Highest"}},
		{Notifier: "log"},
	}
	if got := flatten(t, a.Actions); !reflect.DeepEqual(got, wantA) {
		t.Errorf("actions = %+v, want %+v", got, wantA)
	}
	if !reflect.DeepEqual(a.GroupBy, []string{"waba_id"}) || a.RepeatInterval != 24*time.Hour {
		t.Errorf("file defaults: group_by %v, repeat %v", a.GroupBy, a.RepeatInterval)
	}
	if a.GroupWait != 0 || a.ResolveAfter != DefaultResolveAfter || a.MaxOpen != DefaultMaxOpenIncidents || a.Threshold != nil || a.HasResolveWhen() || !a.Enabled || a.Continue {
		t.Errorf("unset fields: %+v", a)
	}
	if a.File != "r.yaml" || a.Line != 9 {
		t.Errorf("position = %s:%d", a.File, a.Line)
	}

	b := s.Rule("overrides")
	wantB := []flatAction{
		{Notifier: "slack", Target: "#tmpl", Templates: map[string]string{"title": "my.title"}, Settings: map[string]any{"channel": "#tmpl"}},
		{Notifier: "jira", Target: "TMPL", Settings: map[string]any{"project": "TMPL", "issue_type": "Bug",
			"labels":     []any{"whatsapp", "template"},
			"components": []any{"Messaging"},
			"fields":     map[string]any{"customfield_10010": "{{ .Event.WABAID }}", "customfield_10011": float64(3)}},
			Templates: map[string]string{"summary": "jira.summary"}},
	}
	if got := flatten(t, b.Actions); !reflect.DeepEqual(got, wantB) {
		t.Errorf("actions = %+v, want %+v", got, wantB)
	}
	if !reflect.DeepEqual(b.GroupBy, []string{"code", "attributes.template_name"}) || b.RepeatInterval != 30*time.Minute ||
		b.GroupWait != 30*time.Second || b.ResolveAfter != 2*time.Hour ||
		!reflect.DeepEqual(b.Threshold, &Threshold{Count: 20, Within: 10 * time.Minute}) {
		t.Errorf("incident fields: %+v", b)
	}
	if stop := s.Rule("stop"); stop == nil || stop.Actions == nil || len(stop.Actions) != 0 {
		t.Errorf("stop rule actions = %#v, want empty, not nil", stop)
	}
	if s.Rule("nope") != nil {
		t.Error("Rule(unknown) != nil")
	}
	if got := b.Ref(); got != (notification.RuleRef{Name: "overrides"}) {
		t.Errorf("Ref = %+v", got)
	}

	// Without file defaults: every identity field, 4h, resolved after 24h.
	s = mustParse(t, "rules:\n  - {name: x, description: d, actions: [{slack: {}}]}\n")
	x := s.Rule("x")
	if !reflect.DeepEqual(x.GroupBy, []string{"waba_id", "phone_number_id", "display_phone_number", "code"}) || x.RepeatInterval != 4*time.Hour ||
		x.ResolveAfter != 24*time.Hour ||
		x.Actions[0].Target != "" || x.Ref() != (notification.RuleRef{Name: "x", Description: "d"}) {
		t.Errorf("built-in defaults: %+v", x)
	}
}

func TestJiraLabels(t *testing.T) {
	src := `
rules:
  - name: a
    actions:
      - jira: {labels: [ok, "not ok"], fields: [x]}
`
	_, _, err := Parse("r.yaml", []byte(src), Options{Specs: builtin.Specs()})
	want := []string{
		`r.yaml:5: rule "a": jira label "not ok" contains a space, which Jira labels cannot`,
		`r.yaml:5: rule "a": jira fields must be a mapping of field ID to value, not a list`,
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// flatAction is an action with its settings decoded, to compare.
type flatAction struct {
	Notifier         string
	Target           string
	Templates        map[string]string
	EscalatePriority string
	Settings         map[string]any
}

func flatten(t *testing.T, actions []notification.Action) []flatAction {
	t.Helper()
	out := make([]flatAction, len(actions))
	for i, a := range actions {
		out[i] = flatAction{Notifier: a.Notifier, Target: a.Target, Templates: a.Templates, EscalatePriority: a.EscalatePriority}
		if len(a.Settings) > 0 {
			if err := json.Unmarshal(a.Settings, &out[i].Settings); err != nil {
				t.Fatalf("action %d settings %s: %v", i, a.Settings, err)
			}
		}
	}
	return out
}

// TestTemplateRolesAreTheSpecs: an action may replace every template its
// notifier's spec says it renders (the roles rules once refused although
// the notifiers read them), and no other, refused at its line.
func TestTemplateRolesAreTheSpecs(t *testing.T) {
	for _, sp := range builtin.Specs() {
		for _, role := range sp.Roles {
			src := fmt.Sprintf("rules:\n  - name: a\n    actions:\n      - %s:\n          templates: {%s: my.title}\n", sp.Name, role.Name)
			s, _, err := Parse("r.yaml", []byte(src), testOptionsAll())
			if err != nil {
				t.Errorf("%s role %s: %v", sp.Name, role.Name, err)
				continue
			}
			if a := s.Rule("a").Actions[0]; a.Templates[role.Name] != "my.title" || sp.Role(a, role.Name) != "my.title" {
				t.Errorf("%s role %s: templates = %v", sp.Name, role.Name, a.Templates)
			}
		}
		src := fmt.Sprintf("rules:\n  - name: a\n    actions:\n      - %s:\n          templates:\n            nosuchrole: my.title\n", sp.Name)
		_, _, err := Parse("r.yaml", []byte(src), testOptionsAll())
		want := []string{fmt.Sprintf(`r.yaml:6: rule "a": unknown template role "nosuchrole" for %s (known: %s)`, sp.Name, strings.Join(sp.RoleNames(), ", "))}
		if got := problems(t, err); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: problems %q, want %q", sp.Name, got, want)
		}
	}
	// Jira reads repeat comments and resolutions with roles of its own.
	_, _, err := Parse("r.yaml", []byte("rules:\n  - name: a\n    actions:\n      - jira: {templates: {comment: my.title, resolved: my.title, repeat: my.title}}\n"), testOptionsAll())
	want := []string{`r.yaml:4: rule "a": unknown template role "repeat" for jira (known: summary, description, comment, resolved)`}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

// testOptionsAll is testOptions with every notifier configured.
func testOptionsAll() Options {
	o := testOptions()
	o.Notifiers = nil
	return o
}
