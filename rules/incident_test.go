package rules

import (
	"regexp"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

func TestActive(t *testing.T) {
	src := `
rules:
  - name: always
    actions: []
  - name: office-madrid
    actions: []
    active_time:
      - weekdays: [monday:friday]
        times: [{start: "09:00", end: "17:30"}]
        location: Europe/Madrid
  - name: weekend-wrap
    actions: []
    active_time:
      - weekdays: [Friday:Monday]
  - name: office-but-lunch
    actions: []
    active_time:
      - {weekdays: [mon:fri], times: [{start: "09:00", end: "18:00"}], location: Europe/Madrid}
    mute_time:
      - {times: [{start: "14:00", end: "15:00"}], location: Europe/Madrid}
  - name: muted-nights
    actions: []
    mute_time:
      - times: [{start: "00:00", end: "06:00"}, {start: "22:00", end: "24:00"}]
`
	s := mustParse(t, src)
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	// 2025-03-12 is a Wednesday; Madrid is UTC+1 then.
	at := func(day, hour, min int) time.Time { return time.Date(2025, 3, day, hour, min, 0, 0, madrid) }
	tests := []struct {
		rule string
		t    time.Time
		want bool
	}{
		{"always", at(12, 3, 0), true},
		{"office-madrid", at(12, 9, 0), true},
		{"office-madrid", at(12, 8, 59), false},
		{"office-madrid", at(12, 17, 29), true},
		{"office-madrid", at(12, 17, 30), false},
		// 08:30 UTC is 09:30 in Madrid: the location decides, not the zone of t.
		{"office-madrid", time.Date(2025, 3, 12, 8, 30, 0, 0, time.UTC), true},
		{"office-madrid", time.Date(2025, 3, 12, 7, 30, 0, 0, time.UTC), false},
		{"office-madrid", at(15, 10, 0), false}, // Saturday
		{"weekend-wrap", at(14, 12, 0), true},   // Friday
		{"weekend-wrap", at(16, 12, 0), true},   // Sunday
		{"weekend-wrap", at(17, 12, 0), true},   // Monday
		{"weekend-wrap", at(18, 12, 0), false},  // Tuesday
		{"weekend-wrap", at(12, 12, 0), false},  // Wednesday
		{"office-but-lunch", at(12, 13, 59), true},
		{"office-but-lunch", at(12, 14, 30), false}, // mute wins
		{"office-but-lunch", at(12, 15, 0), true},
		{"muted-nights", time.Date(2025, 3, 12, 23, 59, 0, 0, time.UTC), false},
		{"muted-nights", time.Date(2025, 3, 12, 5, 59, 0, 0, time.UTC), false},
		{"muted-nights", time.Date(2025, 3, 12, 6, 0, 0, 0, time.UTC), true},
	}
	for _, tt := range tests {
		if got := s.Rule(tt.rule).Active(tt.t); got != tt.want {
			t.Errorf("%s.Active(%s) = %v, want %v", tt.rule, tt.t.Format(time.RFC3339), got, tt.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	s := mustParse(t, `
rules:
  - {name: default-group, actions: []}
  - {name: by-template, group_by: [waba_id, attributes.template_name], actions: []}
  - {name: one-incident, group_by: [], actions: []}
  - {name: by-template-twin, group_by: [waba_id, attributes.template_name], actions: []}
`)
	base := event.Event{ID: "a", Code: 131031, PhoneNumberID: "1065", WABAID: "77", Message: "x",
		Attributes: map[string]string{"template_name": "promo"}}
	other := func(f func(e *event.Event)) *event.Event {
		e := base
		e.Attributes = map[string]string{"template_name": "promo"}
		f(&e)
		return &e
	}
	tests := []struct {
		name string
		rule string
		e    *event.Event
		same bool // same fingerprint as base under the rule
	}{
		{"identical", "default-group", other(func(e *event.Event) {}), true},
		{"other fields ignored", "default-group", other(func(e *event.Event) { e.ID, e.Message, e.RecipientID = "b", "y", "78" }), true},
		{"account differs", "default-group", other(func(e *event.Event) { e.WABAID = "78" }), false},
		{"display number differs", "default-group", other(func(e *event.Event) { e.DisplayPhoneNumber = "1555" }), false},
		{"code differs", "default-group", other(func(e *event.Event) { e.Code = 131048 }), false},
		{"phone differs", "default-group", other(func(e *event.Event) { e.PhoneNumberID = "1066" }), false},
		{"attribute differs", "by-template", other(func(e *event.Event) { e.Attributes["template_name"] = "welcome" }), false},
		{"attribute missing", "by-template", other(func(e *event.Event) { delete(e.Attributes, "template_name") }), false},
		{"code ignored by this rule", "by-template", other(func(e *event.Event) { e.Code = 1 }), true},
		{"empty group_by groups all", "one-incident", other(func(e *event.Event) { e.Code, e.WABAID = 4, "9" }), true},
	}
	for _, tt := range tests {
		r := s.Rule(tt.rule)
		a, b := Fingerprint(r, &base), Fingerprint(r, tt.e)
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(a) {
			t.Errorf("%s: fingerprint %q is not 16 hex digits", tt.name, a)
		}
		if (a == b) != tt.same {
			t.Errorf("%s: %s vs %s, want same=%v", tt.name, a, b, tt.same)
		}
	}
	// The rule name is part of it: twin rules do not share incidents.
	if Fingerprint(s.Rule("by-template"), &base) == Fingerprint(s.Rule("by-template-twin"), &base) {
		t.Error("rules with the same group_by share a fingerprint")
	}
	// Stored incidents are keyed by it, so the value must never change; this
	// one is FNV-1a 64 of "default-group\x00waba_id=77\x00phone_number_id=1065
	// \x00display_phone_number=\x00code=131031", computed outside Go.
	if got, want := Fingerprint(s.Rule("default-group"), &base), "d0d88c7a225d8ef0"; got != want {
		t.Errorf("fingerprint = %s, want %s (changing it orphans stored incidents)", got, want)
	}
	// Separators keep values from sliding into each other.
	split := mustParse(t, "rules:\n  - {name: r, group_by: [attributes.a, attributes.b], actions: []}\n").Rule("r")
	x := &event.Event{Attributes: map[string]string{"a": "1", "b": "23"}}
	y := &event.Event{Attributes: map[string]string{"a": "12", "b": "3"}}
	if Fingerprint(split, x) == Fingerprint(split, y) {
		t.Error(`("1","23") and ("12","3") share a fingerprint`)
	}
}

func TestSampleEvent(t *testing.T) {
	s := mustParse(t, `
rules:
  - {name: empty, actions: []}
  - {name: code, match: {codes: [131031]}, actions: []}
  - {name: range, match: {codes: ["132000-132069"], kinds: [template_status]}, actions: []}
  - name: ban
    match:
      kinds: [account_update]
      statuses: [disabled_update]
      attributes: {state: [DISABLE, SCHEDULE_FOR_DISABLE]}
    actions: []
  - name: regex
    match:
      attributes:
        template_name: ["~promo_[0-9]{2,4}_(spring|fall)", "~x"]
        language: "~[^_]+_[A-Z]{2}"
        tier: "~(gold)?"
    actions: []
  - name: specific
    match:
      sources: [twilio]
      severities: [THROTTLE]
      phone_number_ids: ["555"]
      waba_ids: ["888"]
      statuses: [failed, undelivered]
    actions: []
  - {name: with-when, when: 'code >= 131000 && kind == "status"', match: {codes: ["131000-131099"]}, actions: []}
  - {name: connection, match: {kinds: [connection], statuses: [logout, close]}, actions: []}
  - {name: disabled, enabled: false, match: {codes: [4]}, actions: []}
`)
	for _, r := range s.Rules() {
		e := r.SampleEvent()
		if !r.Matches(&e) {
			t.Errorf("%s: sample %+v does not match its rule", r.Name, e)
		}
		if e.ID == "" || e.Kind == "" || e.Severity == "" || !event.ValidKind(e.Kind) || !event.ValidSeverity(e.Severity) {
			t.Errorf("%s: sample is not plausible: %+v", r.Name, e)
		}
	}
	if e := s.Rule("range").SampleEvent(); e.Code != 132000 {
		t.Errorf("range sample code = %d", e.Code)
	}
	if e := s.Rule("regex").SampleEvent(); e.Attributes["template_name"] != "promo_00_spring" {
		t.Errorf("regex sample template_name = %q", e.Attributes["template_name"])
	}
}

func TestInhibits(t *testing.T) {
	s := mustParse(t, `
rules: []
inhibit:
  - source_match:
      kinds: [account_update]
      statuses: [disabled_update]
    target_match:
      kinds: [status]
      statuses: [failed]
    equal: [waba_id]
  - source_match: {codes: [131031]}
    target_match: {codes: ["131000-131099"], when: 'code != 131031'}
`)
	inh := s.Inhibits()
	if len(inh) != 2 {
		t.Fatalf("inhibits = %d", len(inh))
	}
	if inh[0].Line != 4 || inh[0].File != "rules.yaml" || len(inh[0].Equal) != 1 || inh[0].Equal[0] != "waba_id" {
		t.Errorf("inhibit 0 = %+v", inh[0])
	}
	if inh[1].Equal == nil || len(inh[1].Equal) != 0 {
		t.Errorf("inhibit 1 Equal = %#v, want empty", inh[1].Equal)
	}
	ban := &event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", WABAID: "1"}
	failedSame := &event.Event{Kind: event.KindStatus, Status: "failed", Code: 131026, WABAID: "1"}
	failedOther := &event.Event{Kind: event.KindStatus, Status: "failed", Code: 131026, WABAID: "2"}
	blocked := &event.Event{Code: 131031}
	tests := []struct {
		name           string
		in             *Inhibit
		source, target *event.Event
		src, tgt, supp bool
	}{
		{"same waba suppressed", inh[0], ban, failedSame, true, true, true},
		{"other waba kept", inh[0], ban, failedOther, true, true, false},
		{"source does not match", inh[0], failedSame, failedSame, false, true, false},
		{"target does not match", inh[0], ban, ban, true, false, false},
		{"no equal fields", inh[1], blocked, failedOther, true, true, true},
		{"target when", inh[1], blocked, blocked, true, false, false},
	}
	for _, tt := range tests {
		if got := tt.in.SourceMatches(tt.source); got != tt.src {
			t.Errorf("%s: SourceMatches = %v", tt.name, got)
		}
		if got := tt.in.TargetMatches(tt.target); got != tt.tgt {
			t.Errorf("%s: TargetMatches = %v", tt.name, got)
		}
		if got := tt.in.Suppresses(tt.source, tt.target); got != tt.supp {
			t.Errorf("%s: Suppresses = %v", tt.name, got)
		}
	}
}

func TestResolvedBy(t *testing.T) {
	s := mustParse(t, `
rules:
  - name: logout
    match: {kinds: [connection], statuses: [logout, close]}
    resolve_when:
      kinds: [connection]
      statuses: [open]
      when: 'attributes.instance != ""'
    actions: []
  - {name: plain, actions: []}
`)
	r := s.Rule("logout")
	tests := []struct {
		e    event.Event
		want bool
	}{
		{event.Event{Kind: event.KindConnection, Status: "open", Attributes: map[string]string{"instance": "a"}}, true},
		{event.Event{Kind: event.KindConnection, Status: "open"}, false},
		{event.Event{Kind: event.KindConnection, Status: "logout", Attributes: map[string]string{"instance": "a"}}, false},
	}
	for _, tt := range tests {
		if got := r.ResolvedBy(&tt.e); got != tt.want {
			t.Errorf("ResolvedBy(%s %s) = %v, want %v", tt.e.Kind, tt.e.Status, got, tt.want)
		}
	}
	if !r.HasResolveWhen() || s.Rule("plain").HasResolveWhen() || s.Rule("plain").ResolvedBy(&tests[0].e) {
		t.Error("a rule without resolve_when resolves nothing")
	}
	// resolve_when does not change what the rule matches.
	if !r.Matches(&event.Event{Kind: event.KindConnection, Status: "close"}) {
		t.Error("match changed by resolve_when")
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"2d", 48 * time.Hour, true},
		{"1w", 7 * 24 * time.Hour, true},
		{"0", 0, true},
		{"", 0, false},
		{"d", 0, false},
		{"-2d", 0, false},
		{"1.5d", 0, false},
		{"10", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
