package jira

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
	"github.com/wabridge/wabridge/templates"
)

func TestWikiToADF(t *testing.T) {
	cases := []struct {
		name, wiki string
		want       []string // in the flattened text
		wantJSON   []string
	}{
		{"heading and paragraph", "h2. Locked\n\nThe account\nis locked.", []string{"Locked", "The account\nis locked."}, []string{`"level":2`, `"hardBreak"`}},
		{"lists", "# one\n# two\n* a\n* b", []string{"one", "two", "a", "b"}, []string{`"orderedList"`, `"bulletList"`}},
		{"table with escapes", "||Field||Value||\n|Code|131031|\n|Pipe|a \\| b|", []string{"Field | Value", "Code | 131031", "Pipe | a | b"}, []string{`"tableHeader"`, `"tableCell"`}},
		{"bold and link", "*What happened:* see [the docs|https://example.com/x] now", []string{"What happened:", "the docs (https://example.com/x)"}, []string{`"strong"`, `"href":"https://example.com/x"`}},
		{"escaped braces stay text", `\{code\} and \[x\]`, []string{"{code} and [x]"}, nil},
		{"empty", "", []string{"-"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := roundTrip(t, wikiToADF(tc.wiki))
			if err := jiratest.ValidateADF(doc); err != nil {
				t.Fatalf("not ADF Jira accepts: %v", err)
			}
			text := jiratest.ADFText(doc)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("text %q lacks %q", text, w)
				}
			}
			b, _ := json.Marshal(doc)
			for _, w := range tc.wantJSON {
				if !strings.Contains(string(b), w) {
					t.Errorf("ADF lacks %s: %s", w, b)
				}
			}
		})
	}
}

// TestDefaultTemplatesAreADF renders every default Jira template for every
// sample event and checks the ADF a v3 request would carry.
func TestDefaultTemplatesAreADF(t *testing.T) {
	tm := testTemplates(t)
	for _, ev := range templates.SampleEvents() {
		for _, role := range []string{templateDesc, templateComment, templateResolved} {
			no := &notification.Notification{Rule: notification.RuleRef{Name: "r"}, Event: ev, Incident: &notification.Incident{Fingerprint: "fp", Count: 2}}
			s, err := tm.Execute("jira."+role, templates.DataFor(no))
			if err != nil {
				t.Fatal(err)
			}
			if err := jiratest.ValidateADF(roundTrip(t, wikiToADF(s))); err != nil {
				t.Errorf("%s of %s: %v\n%s", role, ev.ID, err, s)
			}
		}
	}
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
