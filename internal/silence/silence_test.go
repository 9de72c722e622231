package silence

import (
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

func TestMatcherOperators(t *testing.T) {
	ev := event.Event{Code: 131048, PhoneNumberID: "PN1", Kind: event.KindStatus, Attributes: map[string]string{"template_name": "promo"}}
	tests := []struct {
		in   string
		want bool
	}{
		{"code=131048", true},
		{"code!=131048", false},
		{"code!=131026", true},
		{"code=~1310[0-9]+", true},
		{"code=~1310", false}, // anchored: the whole value must match
		{"code!~1310", true},
		{"code!~13104.", false},
		{"phone_number_id=~PN[12]", true},
		{"attributes.template_name=promo", true},
		{"attributes.template_name!=promo", false},
		{"kind=status", true},
		{"code=~131048|131026", true}, // the alternation stays inside the anchors
		{"code=~1|131048", true},
		{"code=~1|2", false},
	}
	for _, tt := range tests {
		m, err := ParseMatcher(tt.in)
		if err != nil {
			t.Errorf("ParseMatcher(%q): %v", tt.in, err)
			continue
		}
		if got := MatcherString(m); got != tt.in {
			t.Errorf("MatcherString(ParseMatcher(%q)) = %q", tt.in, got)
		}
		fm, err := compileMatcher(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := fm.matches(&ev); got != tt.want {
			t.Errorf("%s on %+v = %v, want %v", tt.in, ev, got, tt.want)
		}
	}
}

func TestLegacyRegexMatcher(t *testing.T) {
	// Silences stored before operators existed wrote a regex as "~...".
	fm, err := compileMatcher(Matcher{Name: "code", Value: "~13104[0-9]"})
	if err != nil {
		t.Fatal(err)
	}
	if fm.op != OpRegexp || !fm.matches(&event.Event{Code: 131048}) || fm.matches(&event.Event{Code: 131026}) {
		t.Errorf("legacy matcher compiled as %+v", fm)
	}
}

// TestSilenceGuard: a silence that can never match, or that would match
// every event, is refused with the reason; the check runs against the
// compiled, anchored matchers.
func TestSilenceGuard(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		matchers []string
		want     string // in the error; "" = accepted
	}{
		{"exact", []string{"code=131048"}, ""},
		{"regex with alternation", []string{"code=~131048|131026"}, ""},
		{"escaping the anchor", []string{"code=~131048)|(.*"}, "bad regular expression"},
		{"dot star", []string{"code=~.*"}, "would silence every event"},
		{"dot star elsewhere", []string{"phone_number_id=~.*", "waba_id=~(.*)"}, "would silence every event"},
		{"not equal", []string{"code!=131048"}, "would silence every event"},
		{"not regex", []string{"code!~abc"}, "would silence every event"},
		{"narrowed by another", []string{"code=~.*", "phone_number_id=PN1"}, ""},
		{"code is a number", []string{"code=abc"}, "can never match: code is a positive number"},
		{"code regex of letters", []string{"code=~abc.*"}, "can never match: code is a number"},
		{"unknown kind", []string{"kind=statuss"}, "can never match: kind is one of"},
		{"unknown severity", []string{"severity=urgent"}, "can never match: severity is one of"},
		{"not-regex on unknown field", []string{"phone!~PN1"}, `"phone" is not an event field`},
		{"bad operator text", []string{"code=~("}, "bad regular expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ms []Matcher
			var err error
			for _, s := range tt.matchers {
				var m Matcher
				if m, err = ParseMatcher(s); err != nil {
					break
				}
				ms = append(ms, m)
			}
			if err == nil {
				_, err = New(ms, now, time.Hour, "why", "ops")
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("accepted; want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestSilenceNeedsCommentAndAuthor(t *testing.T) {
	now := time.Now()
	ms := []Matcher{{Name: "code", Op: OpEqual, Value: "131048"}}
	_, err := New(ms, now, time.Hour, "", "")
	if err == nil || !strings.Contains(err.Error(), "comment") || !strings.Contains(err.Error(), "author") {
		t.Errorf("no comment, no author: %v", err)
	}
}

func TestHasMatcher(t *testing.T) {
	s := Silence{Matchers: []Matcher{{Name: "code", Op: OpEqual, Value: "131048"}, {Name: "phone_number_id", Value: "~PN.*"}}}
	for _, tt := range []struct {
		f    string
		want bool
	}{
		{"code=131048", true},
		{"code=~1310.*", true},
		{"code=131026", false},
		{"phone_number_id=PN.*", true}, // the silence's value as written
		{"waba_id=1", false},
	} {
		m, err := ParseMatcher(tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := HasMatcher(s, m); got != tt.want {
			t.Errorf("HasMatcher(%s) = %v, want %v", tt.f, got, tt.want)
		}
	}
}
