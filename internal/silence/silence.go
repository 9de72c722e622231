// Package silence owns silences: what an operator writes (matchers on
// event fields, a time span, a comment and an author), the checks that keep
// a silence from never matching or from matching everything, and the
// compiled set the pipeline matches every event against.
package silence

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/event"
)

// Silence suppresses the events its matchers all match between StartsAt
// and EndsAt. It is the one shape the admin API takes and returns, so a
// silence listed as JSON can be imported or posted back as it is.
type Silence struct {
	ID       string    `json:"id,omitempty"`
	Matchers []Matcher `json:"matchers"`
	StartsAt time.Time `json:"starts_at,omitzero"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	Comment  string    `json:"comment"`
	Author   string    `json:"author,omitempty"`
	Created  time.Time `json:"created,omitzero"`
	Updated  time.Time `json:"updated,omitzero"`
	// State (active, pending, expired) is filled when silences are listed;
	// it is ignored on input.
	State string `json:"state,omitempty"`
}

// Active reports whether the silence is in force at t.
func (s Silence) Active(t time.Time) bool { return !t.Before(s.StartsAt) && t.Before(s.EndsAt) }

// StateAt is active, pending (it starts later) or expired at t.
func (s Silence) StateAt(t time.Time) string {
	switch {
	case s.Active(t):
		return "active"
	case t.Before(s.StartsAt):
		return "pending"
	}
	return "expired"
}

// Matcher is one condition of a silence: the event field Name (as
// event.Event.Field names it) compared with Value by Op: "=" equal, "!="
// not equal, "=~" matches the regular expression as a whole, "!~" does not.
// Silences stored before Op existed have no Op, and a Value starting with
// "~" for a regular expression.
type Matcher struct {
	Name  string `json:"name"`
	Op    string `json:"op,omitempty"`
	Value string `json:"value"`
}

// MaxSilence bounds how long one silence may last: a forgotten silence
// should not hide an account ban for a year.
const MaxSilence = 90 * 24 * time.Hour

// Matcher operators, as amtool writes them.
const (
	OpEqual    = "="
	OpNotEqual = "!="
	OpRegexp   = "=~"
	OpNotRegex = "!~"
)

// ParseMatcher reads "key=value", "key!=value", "key=~regex" or
// "key!~regex". A regular expression must match the whole value. Keys are
// event field names: code, phone_number_id, waba_id, status, kind, source,
// attributes.template_name ...
func ParseMatcher(s string) (Matcher, error) {
	i := strings.IndexAny(s, "=!")
	if i < 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want key=value, key!=value, key=~regex or key!~regex (for example code=131048)", s)
	}
	name, rest := strings.TrimSpace(s[:i]), s[i:]
	var op string
	switch {
	case strings.HasPrefix(rest, OpRegexp):
		op = OpRegexp
	case strings.HasPrefix(rest, OpNotRegex):
		op = OpNotRegex
	case strings.HasPrefix(rest, OpNotEqual):
		op = OpNotEqual
	case strings.HasPrefix(rest, OpEqual):
		op = OpEqual
	default:
		return Matcher{}, fmt.Errorf("matcher %q: want key=value, key!=value, key=~regex or key!~regex (for example code=131048)", s)
	}
	m := Matcher{Name: name, Op: op, Value: rest[len(op):]}
	if _, err := compileMatcher(m); err != nil {
		return Matcher{}, err
	}
	return m, nil
}

// Normalize gives a matcher stored before Op existed its operator.
func Normalize(m Matcher) Matcher {
	if m.Op == "" {
		m.Op = OpEqual
		if v, ok := strings.CutPrefix(m.Value, "~"); ok {
			m.Op, m.Value = OpRegexp, v
		}
	}
	return m
}

// String writes the matcher as ParseMatcher reads it.
func matcherString(m Matcher) string {
	m = Normalize(m)
	return m.Name + m.Op + m.Value
}

// MatcherString writes a matcher as `--match` takes it: code=~1310.*
func MatcherString(m Matcher) string { return matcherString(m) }

// Check normalizes a silence an operator wrote and reports every
// problem with it at once: no matchers, a matcher that can never match or
// that would silence everything, no comment, no author, a bad time span.
// now is the time a silence without StartsAt starts.
func Check(s Silence, now time.Time) (Silence, error) {
	var errs []error
	if len(s.Matchers) == 0 {
		errs = append(errs, errors.New("a silence needs at least one matcher (--match key=value), or it would silence everything"))
	}
	ms := make([]fieldMatcher, 0, len(s.Matchers))
	for i, m := range s.Matchers {
		m = Normalize(m)
		s.Matchers[i] = m
		fm, err := compileMatcher(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms = append(ms, fm)
	}
	if len(ms) > 0 && len(ms) == len(s.Matchers) && matchesEverything(ms) {
		var parts []string
		for _, m := range s.Matchers {
			parts = append(parts, matcherString(m))
		}
		errs = append(errs, fmt.Errorf("matchers %s would silence every event: at least one must not match an empty value (narrow it, for example code=131048)", strings.Join(parts, " ")))
	}
	if strings.TrimSpace(s.Comment) == "" {
		errs = append(errs, errors.New("a silence needs a comment (--comment): why, for whoever finds it later"))
	}
	if strings.TrimSpace(s.Author) == "" {
		errs = append(errs, errors.New("a silence needs an author (--author)"))
	}
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	switch d := s.EndsAt.Sub(s.StartsAt); {
	case s.EndsAt.IsZero():
		errs = append(errs, errors.New("a silence needs an end (--for 2h, or ends_at)"))
	case d <= 0:
		errs = append(errs, fmt.Errorf("ends_at %s is not after starts_at %s", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339)))
	case d > MaxSilence:
		errs = append(errs, fmt.Errorf("a silence may last at most %s, this one lasts %s", duration.Format(MaxSilence), duration.Format(d)))
	}
	if err := errors.Join(errs...); err != nil {
		return Silence{}, err
	}
	if s.Created.IsZero() {
		s.Created = now
	}
	s.State = ""
	return s, nil
}

// New builds a silence starting at now and lasting d, checking what
// an operator typed.
func New(matchers []Matcher, now time.Time, d time.Duration, comment, author string) (Silence, error) {
	if d <= 0 {
		return Silence{}, fmt.Errorf("duration %v: want a positive duration such as 2h", d)
	}
	return Check(Silence{Matchers: matchers, StartsAt: now, EndsAt: now.Add(d), Comment: comment, Author: author}, now)
}

// matchesEverything reports whether every compiled matcher accepts an empty
// value, as Alertmanager checks: such a silence matches every event that
// lacks the fields, and with regexes like .* or a != every event at all.
func matchesEverything(ms []fieldMatcher) bool {
	for _, m := range ms {
		if !m.matchValue("") {
			return false
		}
	}
	return true
}

type fieldMatcher struct {
	name  string
	op    string
	value string
	re    *regexp.Regexp
}

// compileMatcher checks a matcher and compiles its regular expression,
// anchored as a whole: the expression must compile on its own first, so
// `131048)|(.*` cannot close the anchoring group and match anything.
func compileMatcher(m Matcher) (fieldMatcher, error) {
	m = Normalize(m)
	fm := fieldMatcher{name: m.Name, op: m.Op, value: m.Value}
	text := matcherString(m)
	if m.Name == "" {
		return fm, fmt.Errorf("matcher %q: the key is empty", text)
	}
	if strings.ContainsAny(m.Name, " \t") {
		return fm, fmt.Errorf("matcher %q: the key has spaces", text)
	}
	if !event.KnownField(m.Name) {
		return fm, fmt.Errorf("matcher %q: %q is not an event field (fields: %s; attributes as attributes.NAME)",
			text, m.Name, strings.Join(event.FieldNames(), ", "))
	}
	switch m.Op {
	case OpEqual, OpNotEqual:
	case OpRegexp, OpNotRegex:
		if _, err := regexp.Compile(m.Value); err != nil {
			return fm, fmt.Errorf("matcher %q: bad regular expression: %w", text, err)
		}
		c, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fm, fmt.Errorf("matcher %q: bad regular expression: %w", text, err)
		}
		fm.re = c
	default:
		return fm, fmt.Errorf("matcher %q: operator %q is not =, !=, =~ or !~", text, m.Op)
	}
	if reason := neverMatches(fm); reason != "" {
		return fm, fmt.Errorf("matcher %q can never match: %s", text, reason)
	}
	return fm, nil
}

// neverMatches says why a positive matcher on a field with known values
// can match no event, or "".
func neverMatches(m fieldMatcher) string {
	switch m.op {
	case OpEqual:
		if m.value == "" {
			return ""
		}
		switch m.name {
		case "code":
			if n, err := strconv.Atoi(m.value); err != nil || n <= 0 || strconv.Itoa(n) != m.value {
				return "code is a positive number such as 131048"
			}
		case "kind":
			if !event.ValidKind(event.Kind(m.value)) {
				return fmt.Sprintf("kind is one of %s", event.KindList())
			}
		case "severity":
			if !event.ValidSeverity(event.Severity(m.value)) {
				return fmt.Sprintf("severity is one of %s", event.SeverityList())
			}
		}
	case OpRegexp:
		if m.name != "code" {
			return ""
		}
		prefix, _ := regexp.MustCompile(m.value).LiteralPrefix()
		if strings.IndexFunc(prefix, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			return "code is a number, and this expression starts with " + strconv.Quote(prefix)
		}
	}
	return ""
}

func (m *fieldMatcher) matchValue(v string) bool {
	switch m.op {
	case OpNotEqual:
		return v != m.value
	case OpRegexp:
		return m.re.MatchString(v)
	case OpNotRegex:
		return !m.re.MatchString(v)
	}
	return v == m.value
}

func (m *fieldMatcher) matches(e *event.Event) bool { return m.matchValue(e.Field(m.name)) }

// HasMatcher reports whether a silence has a matcher on f's field
// whose value f accepts: the filter of `silence query`.
func HasMatcher(s Silence, f Matcher) bool {
	fm, err := compileFilter(f)
	if err != nil {
		return false
	}
	for _, m := range s.Matchers {
		if m = Normalize(m); m.Name == f.Name && fm.matchValue(m.Value) {
			return true
		}
	}
	return false
}

func compileFilter(m Matcher) (fieldMatcher, error) {
	m = Normalize(m)
	fm := fieldMatcher{name: m.Name, op: m.Op, value: m.Value}
	if m.Op == OpRegexp || m.Op == OpNotRegex {
		if _, err := regexp.Compile(m.Value); err != nil {
			return fm, err
		}
		c, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fm, err
		}
		fm.re = c
	}
	return fm, nil
}

type compiled struct {
	s        Silence
	matchers []fieldMatcher
}

// Set is silences compiled for matching: what the committer reads for
// every event. It is immutable once built, so readers share it without
// locks.
type Set struct {
	list []compiled
}

// Compile builds the set of the silences that have not ended at now. A
// silence with a matcher that does not compile (one stored by an older
// version, say) is left out and reported to bad, so one bad record does not
// stop the others from applying.
func Compile(all []Silence, now time.Time, bad func(id string, err error)) *Set {
	s := &Set{}
	for _, sil := range all {
		if !sil.EndsAt.After(now) {
			continue
		}
		c := compiled{s: sil}
		for _, m := range sil.Matchers {
			fm, err := compileMatcher(m)
			if err != nil {
				if bad != nil {
					bad(sil.ID, err)
				}
				c.matchers = nil
				break
			}
			c.matchers = append(c.matchers, fm)
		}
		if len(c.matchers) > 0 {
			s.list = append(s.list, c)
		}
	}
	return s
}

// Len is how many silences the set holds: those not ended when it was
// compiled.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.list)
}

// Match returns the id of a silence active at now that matches e, or "".
func (s *Set) Match(e *event.Event, now time.Time) string {
	if s == nil {
		return ""
	}
next:
	for i := range s.list {
		c := &s.list[i]
		if !c.s.Active(now) {
			continue
		}
		for j := range c.matchers {
			if !c.matchers[j].matches(e) {
				continue next
			}
		}
		return c.s.ID
	}
	return ""
}
