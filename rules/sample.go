package rules

import (
	"regexp/syntax"
	"strings"

	"github.com/wabridge/wabridge/internal/event"
)

// Values for fields a rule does not constrain: shaped like Meta's, so a
// test notification looks like the real thing.
const (
	samplePhoneNumberID = "106540352242922"
	sampleDisplayPhone  = "+1 555-010-0199"
	sampleWABAID        = "102290129340398"
	sampleRecipientID   = "16505550123"
	sampleSource        = "meta"
)

// SampleEvent builds a plausible event this rule matches, for `wabridge
// notify-test --rule NAME`: the first value of each matcher, the lowest code
// of a range, and for a regexp attribute the shortest string it accepts. A
// `when` expression cannot be solved in general, so an event for a rule
// with one may still fail it; Matches tells. Timestamp is left zero for the
// caller to set from its clock.
func (r *Rule) SampleEvent() event.Event {
	m := r.m
	e := event.Event{
		ID:                 "sample-" + r.Name,
		Source:             sampleSource,
		PhoneNumberID:      samplePhoneNumberID,
		DisplayPhoneNumber: sampleDisplayPhone,
		WABAID:             sampleWABAID,
		RecipientID:        sampleRecipientID,
		MessageID:          "wamid.sample",
		Title:              "Sample event for rule " + r.Name,
		Message:            "This is a test notification sent by wabridge notify-test.",
	}
	switch {
	case len(m.codeList) > 0:
		e.Code = m.codeList[0]
	case len(m.ranges) > 0:
		e.Code = m.ranges[0].lo
	}
	if k := first(m.kinds); k != "" {
		e.Kind = event.Kind(k)
	} else if e.Code != 0 {
		e.Kind = event.KindStatus // coded errors mostly arrive as failed statuses
	} else {
		e.Kind = event.KindError
	}
	if s := first(m.statuses); s != "" {
		e.Status = s
	} else if e.Kind == event.KindStatus {
		e.Status = "failed"
	}
	if s := first(m.severities); s != "" {
		e.Severity = event.Severity(s)
	} else if e.Code != 0 {
		e.Severity = event.SeverityCritical
	} else {
		e.Severity = event.SeverityWarning
	}
	if s := first(m.sources); s != "" {
		e.Source = s
	}
	if s := first(m.phones); s != "" {
		e.PhoneNumberID = s
	}
	if s := first(m.wabas); s != "" {
		e.WABAID = s
	}
	for _, a := range m.attrs {
		if len(a.exact) > 0 {
			// An exact "" matches a missing attribute, which SetAttr leaves out.
			e.SetAttr(a.key, a.exact[0])
			continue
		}
		for i, src := range a.srcs {
			if v, ok := shortestMatch(src); ok && a.res[i].MatchString(v) {
				if e.Attributes == nil {
					e.Attributes = map[string]string{}
				}
				e.Attributes[a.key] = v
				break
			}
		}
	}
	return e
}

// first returns the smallest value of a set, so the choice is stable.
func first(s *strSet) string {
	if s == nil {
		return ""
	}
	return s.vals[0]
}

// shortestMatch builds a short string the regexp accepts by walking its
// syntax tree: the first alternative, the minimum of each repetition, the
// first character of each class. Assertions it cannot satisfy this way
// (word boundaries) are checked by the caller.
func shortestMatch(src string) (string, bool) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	ok := writeShortest(&b, re.Simplify())
	return b.String(), ok
}

func writeShortest(b *strings.Builder, re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpNoMatch:
		return false
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return false
		}
		lo := re.Rune[0]
		// Prefer a letter or digit when the class allows one: "[^,]" as
		// "!" is valid but an odd sample.
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if pick, ok := printable(re.Rune[i], re.Rune[i+1]); ok {
				lo = pick
				break
			}
		}
		b.WriteRune(lo)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('x')
	case syntax.OpCapture:
		return writeShortest(b, re.Sub[0])
	case syntax.OpStar, syntax.OpQuest:
		// zero repetitions
	case syntax.OpPlus:
		return writeShortest(b, re.Sub[0])
	case syntax.OpRepeat:
		for i := 0; i < re.Min; i++ {
			if !writeShortest(b, re.Sub[0]) {
				return false
			}
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !writeShortest(b, s) {
				return false
			}
		}
	case syntax.OpAlternate:
		return writeShortest(b, re.Sub[0])
	}
	// Empty matches and anchors add nothing.
	return true
}

func printable(lo, hi rune) (rune, bool) {
	for _, r := range []rune{'a', 'A', '0'} {
		if lo <= r && r <= hi {
			return r, true
		}
	}
	if lo >= '!' && lo <= '~' {
		return lo, true
	}
	return 0, false
}
