package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

func mustParse(t testing.TB, src string) *Set {
	t.Helper()
	s, _, err := Parse("rules.yaml", []byte(src), Options{Specs: builtin.Specs()})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return s
}

func names(rs []*Rule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

const matchRules = `
rules:
  - name: blocked
    match: {codes: [131031]}
    actions: [{log: {}}]
  - name: template-range
    match: {codes: ["132000-132069"], kinds: [STATUS]}
    actions: [{log: {}}]
  - name: spam-audit
    match: {codes: [131048, 130429]}
    continue: true
    actions: [{log: {}}]
  - name: spam
    match: {codes: [131048, "130000-130999"]}
    actions: [{log: {}}]
  - name: disabled
    enabled: false
    match: {kinds: [connection]}
    actions: [{log: {}}]
  - name: logout
    match: {kinds: [connection], statuses: [Logout, close]}
    actions: [{log: {}}]
  - name: promo-templates
    match:
      kinds: [template_status]
      attributes: {template_name: "~promo_.*", language: [en_US, es]}
    actions: [{log: {}}]
  - name: ban
    match:
      kinds: [account_update]
      statuses: [disabled_update]
      attributes: {state: [DISABLE, SCHEDULE_FOR_DISABLE]}
    actions: [{log: {}}]
  - name: madrid-critical
    match: {severities: [critical], phone_number_ids: ["1065"], sources: [meta]}
    when: 'attributes.tier == "gold" || code > 200000'
    actions: [{log: {}}]
  - name: waba
    match: {waba_ids: [777]}
    actions: [{log: {}}]
  - name: catch-all
    when: kind == "message" && message contains "refund"
    actions: []
`

func TestMatch(t *testing.T) {
	s := mustParse(t, matchRules)
	tests := []struct {
		name string
		e    event.Event
		want []string
	}{
		{"exact code", event.Event{Code: 131031, Kind: event.KindStatus}, []string{"blocked"}},
		{"range low edge", event.Event{Code: 132000, Kind: event.KindStatus}, []string{"template-range"}},
		{"range high edge", event.Event{Code: 132069, Kind: event.KindStatus}, []string{"template-range"}},
		{"range past the end", event.Event{Code: 132070, Kind: event.KindStatus}, []string{}},
		{"range needs kind too", event.Event{Code: 132001, Kind: event.KindError}, []string{}},
		{"kind compared case-insensitively", event.Event{Code: 132001, Kind: "Status"}, []string{"template-range"}},
		{"continue then first match", event.Event{Code: 131048}, []string{"spam-audit", "spam"}},
		{"continue then range", event.Event{Code: 130429}, []string{"spam-audit", "spam"}},
		{"range only", event.Event{Code: 130500}, []string{"spam"}},
		{"disabled rule skipped", event.Event{Kind: event.KindConnection, Status: "logout"}, []string{"logout"}},
		{"status case-insensitive", event.Event{Kind: event.KindConnection, Status: "CLOSE"}, []string{"logout"}},
		{"status not listed", event.Event{Kind: event.KindConnection, Status: "open"}, []string{}},
		{"regex attribute", event.Event{Kind: event.KindTemplate, Attributes: map[string]string{"template_name": "promo_spring", "language": "es"}}, []string{"promo-templates"}},
		{"regex is anchored", event.Event{Kind: event.KindTemplate, Attributes: map[string]string{"template_name": "old_promo_spring", "language": "es"}}, []string{}},
		{"all attributes must match", event.Event{Kind: event.KindTemplate, Attributes: map[string]string{"template_name": "promo_spring", "language": "fr"}}, []string{}},
		{"missing attribute", event.Event{Kind: event.KindTemplate}, []string{}},
		{"any of exact attribute values", event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", Attributes: map[string]string{"state": "SCHEDULE_FOR_DISABLE"}}, []string{"ban"}},
		{"attribute values are case-sensitive", event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", Attributes: map[string]string{"state": "disable"}}, []string{}},
		{"when true by attribute", event.Event{Severity: event.SeverityCritical, PhoneNumberID: "1065", Source: "meta", Attributes: map[string]string{"tier": "gold"}}, []string{"madrid-critical"}},
		{"when true by code", event.Event{Code: 200001, Severity: event.SeverityCritical, PhoneNumberID: "1065", Source: "meta"}, []string{"madrid-critical"}},
		{"when false", event.Event{Severity: event.SeverityCritical, PhoneNumberID: "1065", Source: "meta"}, []string{}},
		{"source is exact", event.Event{Severity: event.SeverityCritical, PhoneNumberID: "1065", Source: "Meta", Attributes: map[string]string{"tier": "gold"}}, []string{}},
		{"numeric waba id written unquoted", event.Event{WABAID: "777"}, []string{"waba"}},
		{"when only, stop rule", event.Event{Kind: event.KindMessage, Message: "I want a refund"}, []string{"catch-all"}},
		{"nothing", event.Event{Kind: event.KindMessage, Message: "hello"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(s.Match(&tt.e))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			// The index must agree with checking every rule in order.
			if scan := names(scanMatch(s, &tt.e)); !reflect.DeepEqual(scan, tt.want) {
				t.Errorf("scan = %v, want %v", scan, tt.want)
			}
			if app := names(s.MatchAppend(nil, &tt.e)); !reflect.DeepEqual(app, tt.want) {
				t.Errorf("MatchAppend = %v, want %v", app, tt.want)
			}
		})
	}
}

// scanMatch is Match without the index: the definition the index must keep.
func scanMatch(s *Set, e *event.Event) []*Rule {
	var out []*Rule
	for _, r := range s.Rules() {
		if !r.Enabled || !r.Matches(e) {
			continue
		}
		out = append(out, r)
		if !r.Continue {
			break
		}
	}
	return out
}

func TestMatchEmptySet(t *testing.T) {
	for _, src := range []string{"rules: []\n", "# nothing yet\nrules: []\n", "rules: []\ninhibit: []\n"} {
		s := mustParse(t, src)
		if got := s.Match(&event.Event{Code: 131031}); len(got) != 0 {
			t.Errorf("%q: Match = %v, want nothing", src, names(got))
		}
		if s.Len() != 0 || len(s.Inhibits()) != 0 {
			t.Errorf("%q: Len = %d, inhibits = %d", src, s.Len(), len(s.Inhibits()))
		}
	}
	s, warns, err := Load(nil, Options{Specs: builtin.Specs()})
	if err != nil || len(warns) != 0 || s.Len() != 0 {
		t.Fatalf("Load(nil) = %v, %v, %v", s, warns, err)
	}
}

func TestMatchOrderAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := write("10-first.yaml", `
rules:
  - name: first-blocked
    match: {codes: [131031]}
    actions: [{log: {}}]
`)
	write("20-second.yaml", `
rules:
  - name: second-blocked
    match: {codes: [131031]}
    actions: [{log: {}}]
  - name: second-any
    continue: true
    actions: [{log: {}}]
`)
	write("30-third.yaml", `
rules:
  - name: third-range
    match: {codes: ["131000-131099"]}
    actions: [{log: {}}]
`)
	tests := []struct {
		name     string
		patterns []string
		code     int
		want     []string
	}{
		{"file order as given", []string{first, filepath.Join(dir, "2*.yaml")}, 131031, []string{"first-blocked"}},
		{"reverse order as given", []string{filepath.Join(dir, "2*.yaml"), first}, 131031, []string{"second-blocked"}},
		{"glob sorted, file named twice read once", []string{filepath.Join(dir, "*.yaml"), first}, 131031, []string{"first-blocked"}},
		{"continue into a later file", []string{filepath.Join(dir, "*.yaml")}, 131050, []string{"second-any", "third-range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := Load(tt.patterns, Options{Specs: builtin.Specs()})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(s.Match(&event.Event{Code: tt.code})); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMatchAllocations keeps the hot path free of allocations. A `when`
// expression is the exception: expr boxes the values it reads.
func TestMatchAllocations(t *testing.T) {
	s := mustParse(t, strings.Split(matchRules, "  - name: madrid-critical")[0])
	events := []event.Event{
		{Code: 131031, Kind: event.KindStatus},
		{Code: 130500},
		{Kind: event.KindTemplate, Attributes: map[string]string{"template_name": "promo_spring", "language": "es"}},
		{Kind: event.KindConnection, Status: "close"},
		{Code: 999999},
	}
	for _, e := range events {
		if n := testing.AllocsPerRun(100, func() { s.Match(&e) }); n != 0 {
			t.Errorf("Match(%d %s) allocates %.0f times", e.Code, e.Kind, n)
		}
	}
}

// TestMatchConcurrent runs under -race: a Set is shared by every worker.
func TestMatchConcurrent(t *testing.T) {
	s := mustParse(t, matchRules)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				e := event.Event{Code: 200001 + i, Severity: event.SeverityCritical, PhoneNumberID: "1065", Source: "meta",
					Attributes: map[string]string{"tier": fmt.Sprint(g)}}
				if got := s.Match(&e); len(got) != 1 || got[0].Name != "madrid-critical" {
					t.Errorf("Match = %v", names(got))
					return
				}
			}
		}(g)
	}
	wg.Wait()
}
