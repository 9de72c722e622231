package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/wabridge/wabridge/internal/event"
)

// Explanation is how one rule judged one event, for a dry run.
type Explanation struct {
	Rule    string `json:"rule"`
	Matched bool   `json:"matched"`
	// Reason is the first condition the event failed, or why a matching
	// rule was not evaluated (disabled, an earlier rule without continue).
	Reason string `json:"reason,omitempty"`
}

// Explain evaluates every rule of the set against e in order, as Match
// does, and says for each whether it matched and, if not, the first
// condition that failed. The rules Explain reports as matched are exactly
// those Match returns.
func (s *Set) Explain(e *event.Event) []Explanation {
	matched := map[*Rule]bool{}
	for _, r := range s.Match(e) {
		matched[r] = true
	}
	stopped := ""
	var out []Explanation
	for _, r := range s.Rules() {
		x := Explanation{Rule: r.Name}
		switch {
		case matched[r]:
			x.Matched = true
			if !r.Continue && stopped == "" {
				stopped = r.Name
			}
		case !r.Enabled:
			x.Reason = "disabled (enabled: false)"
		case stopped != "" && r.m.matches(e):
			x.Reason = fmt.Sprintf("not evaluated: rule %q matched first and has no continue: true", stopped)
		default:
			x.Reason = r.m.explain(e)
		}
		out = append(out, x)
	}
	return out
}

// explain returns the first condition of m that e fails, or "".
func (m *matcher) explain(e *event.Event) string {
	if !m.matchCode(e.Code) {
		return fmt.Sprintf("code %s is not in %s", codeText(e.Code), m.codeText())
	}
	if m.kindMask != 0 && m.kindMask&kindBit(e.Kind) == 0 {
		return fmt.Sprintf("kind %q is not in %s", e.Kind, m.kinds.text())
	}
	if m.sevMask != 0 && m.sevMask&severityBit(e.Severity) == 0 {
		return fmt.Sprintf("severity %q is not in %s", e.Severity, m.severities.text())
	}
	if m.statuses != nil && !m.statuses.hasFold(e.Status) {
		return fmt.Sprintf("status %q is not in %s", e.Status, m.statuses.text())
	}
	if m.sources != nil && !m.sources.has(e.Source) {
		return fmt.Sprintf("source %q is not in %s", e.Source, m.sources.text())
	}
	if m.phones != nil && !m.phones.has(e.PhoneNumberID) {
		return fmt.Sprintf("phone_number_id %q is not in %s", e.PhoneNumberID, m.phones.text())
	}
	if m.wabas != nil && !m.wabas.has(e.WABAID) {
		return fmt.Sprintf("waba_id %q is not in %s", e.WABAID, m.wabas.text())
	}
	for i := range m.attrs {
		a := &m.attrs[i]
		if v := e.Attributes[a.key]; !a.match(v) {
			vals := append(append([]string(nil), a.exact...), a.srcs...)
			return fmt.Sprintf("attribute %s %q is not in [%s]", a.key, v, strings.Join(vals, ", "))
		}
	}
	if m.when != nil && !m.when.eval(e) {
		return "when is false (" + m.when.where + ")"
	}
	return ""
}

func codeText(c int) string {
	if c == 0 {
		return "(none)"
	}
	return strconv.Itoa(c)
}

func (m *matcher) codeText() string {
	var parts []string
	for _, c := range m.codeList {
		parts = append(parts, strconv.Itoa(c))
	}
	if len(parts) == 0 {
		for c := range m.codes {
			parts = append(parts, strconv.Itoa(c))
		}
		sort.Strings(parts)
	}
	for _, r := range m.ranges {
		parts = append(parts, fmt.Sprintf("%d-%d", r.lo, r.hi))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (s *strSet) text() string {
	if s == nil {
		return "[]"
	}
	return "[" + strings.Join(s.vals, ", ") + "]"
}
