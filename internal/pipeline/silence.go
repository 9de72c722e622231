package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/store"
)

// Silence is a durable, expiring rule that suppresses matching events.
type Silence = store.Silence

// Matcher is one key=value condition of a silence.
type Matcher = store.Matcher

// MaxSilence bounds how long one silence may last: a forgotten silence
// should not hide an account ban for a year.
const MaxSilence = 90 * 24 * time.Hour

// SilenceRefresh is how often the pipeline reloads silences from the store
// even when nobody told it they changed (so one that expires is seen).
const SilenceRefresh = 10 * time.Second

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

// normalize gives a matcher stored before Op existed its operator.
func normalize(m Matcher) Matcher {
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
	m = normalize(m)
	return m.Name + m.Op + m.Value
}

// MatcherString writes a matcher as `--match` takes it: code=~1310.*
func MatcherString(m Matcher) string { return matcherString(m) }

// knownField keeps a typo (phone_number=...) from becoming a silence that
// never matches: attributes must be named as attributes.NAME here.
func knownField(name string) bool {
	if strings.HasPrefix(name, "attributes.") && len(name) > len("attributes.") {
		return true
	}
	for _, f := range event.FieldNames {
		if f == name {
			return true
		}
	}
	return false
}

// CheckSilence normalizes a silence an operator wrote and reports every
// problem with it at once: no matchers, a matcher that can never match or
// that would silence everything, no comment, no author, a bad time span.
// now is the time a silence without StartsAt starts.
func CheckSilence(s Silence, now time.Time) (Silence, error) {
	var errs []error
	if len(s.Matchers) == 0 {
		errs = append(errs, errors.New("a silence needs at least one matcher (--match key=value), or it would silence everything"))
	}
	ms := make([]fieldMatcher, 0, len(s.Matchers))
	for i, m := range s.Matchers {
		m = normalize(m)
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

// NewSilence builds a silence starting at now and lasting d, checking what
// an operator typed.
func NewSilence(matchers []Matcher, now time.Time, d time.Duration, comment, author string) (Silence, error) {
	if d <= 0 {
		return Silence{}, fmt.Errorf("duration %v: want a positive duration such as 2h", d)
	}
	return CheckSilence(Silence{Matchers: matchers, StartsAt: now, EndsAt: now.Add(d), Comment: comment, Author: author}, now)
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
	m = normalize(m)
	fm := fieldMatcher{name: m.Name, op: m.Op, value: m.Value}
	text := matcherString(m)
	if m.Name == "" {
		return fm, fmt.Errorf("matcher %q: the key is empty", text)
	}
	if strings.ContainsAny(m.Name, " \t") {
		return fm, fmt.Errorf("matcher %q: the key has spaces", text)
	}
	if !knownField(m.Name) {
		return fm, fmt.Errorf("matcher %q: %q is not an event field (fields: %s; attributes as attributes.NAME)",
			text, m.Name, strings.Join(event.FieldNames, ", "))
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
				return fmt.Sprintf("kind is one of %s", kindNames())
			}
		case "severity":
			if !event.ValidSeverity(event.Severity(m.value)) {
				return fmt.Sprintf("severity is one of %s", severityNames())
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

func kindNames() string {
	var out []string
	for _, k := range event.Kinds {
		out = append(out, string(k))
	}
	return strings.Join(out, ", ")
}

func severityNames() string {
	var out []string
	for _, s := range event.Severities {
		out = append(out, string(s))
	}
	return strings.Join(out, ", ")
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

type compiledSilence struct {
	s        Silence
	matchers []fieldMatcher
}

// silences is the in-memory copy the committer reads for every event.
type silences struct {
	list   []compiledSilence
	loaded time.Time
}

// match returns the id of an active silence that matches e, or "".
func (s *silences) match(e *event.Event, now time.Time) string {
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

// loadSilences reads the silences that have not ended from the store.
func (p *Pipeline) loadSilences() error {
	all, err := p.st.Silences()
	if err != nil {
		return err
	}
	now := p.now()
	s := &silences{loaded: now}
	for _, sil := range all {
		if !sil.EndsAt.After(now) {
			continue
		}
		c := compiledSilence{s: sil}
		for _, m := range sil.Matchers {
			fm, err := compileMatcher(m)
			if err != nil {
				p.log.Warn("pipeline: silence has a bad matcher; it is ignored", "silence", sil.ID, "err", err)
				c.matchers = nil
				break
			}
			c.matchers = append(c.matchers, fm)
		}
		if len(c.matchers) > 0 {
			s.list = append(s.list, c)
		}
	}
	p.silences.Store(s)
	return nil
}

// currentSilences returns the cached silences, reloading them when they are
// older than SilenceRefresh.
func (p *Pipeline) currentSilences(now time.Time) *silences {
	s := p.silences.Load()
	if s == nil || now.Sub(s.loaded) >= SilenceRefresh || now.Before(s.loaded) {
		if err := p.loadSilences(); err != nil {
			p.m.processingErrors.WithLabelValues("read_silences").Inc()
			p.log.Error("pipeline: read silences; using the last ones read", "err", err)
		}
		s = p.silences.Load()
	}
	return s
}

// AddSilence checks and stores a silence; the pipeline applies it from the
// next event.
func (p *Pipeline) AddSilence(s Silence) (Silence, error) {
	s, err := CheckSilence(s, p.now())
	if err != nil {
		return Silence{}, err
	}
	if s, err = p.st.AddSilence(s); err != nil {
		return Silence{}, err
	}
	p.silenceChanged()
	p.log.Info("silence added", "id", s.ID, "ends", s.EndsAt, "author", s.Author, "comment", s.Comment)
	s.State = s.StateAt(p.now())
	return s, nil
}

// UpdateSilence checks a silence and replaces the stored one of its id.
func (p *Pipeline) UpdateSilence(s Silence) (Silence, error) {
	id := s.ID
	s, err := CheckSilence(s, p.now())
	if err != nil {
		return Silence{}, err
	}
	s.ID = id
	if s.Updated.IsZero() {
		s.Updated = p.now()
	}
	if err := p.st.PutSilence(s); err != nil {
		return Silence{}, err
	}
	p.silenceChanged()
	p.log.Info("silence updated", "id", s.ID, "ends", s.EndsAt, "author", s.Author, "comment", s.Comment)
	s.State = s.StateAt(p.now())
	return s, nil
}

// ListSilences lists every silence, expired ones included, oldest first,
// each with its state now and its matchers in the current form.
func (p *Pipeline) ListSilences() ([]Silence, error) {
	l, err := p.st.Silences()
	if err != nil {
		return nil, err
	}
	now := p.now()
	for i := range l {
		for j := range l[i].Matchers {
			l[i].Matchers[j] = normalize(l[i].Matchers[j])
		}
		l[i].State = l[i].StateAt(now)
	}
	return l, nil
}

// GetSilence returns one silence; a missing id is store.ErrNotFound.
func (p *Pipeline) GetSilence(id string) (Silence, error) {
	l, err := p.ListSilences()
	if err != nil {
		return Silence{}, err
	}
	for _, s := range l {
		if s.ID == id {
			return s, nil
		}
	}
	return Silence{}, fmt.Errorf("no silence %q: %w", id, store.ErrNotFound)
}

// ExpireSilence ends a silence now; a missing id is store.ErrNotFound.
func (p *Pipeline) ExpireSilence(id string) (Silence, error) {
	s, err := p.st.ExpireSilence(id, p.now())
	if err != nil {
		return Silence{}, err
	}
	p.silenceChanged()
	p.log.Info("silence expired", "id", id)
	s.State = s.StateAt(p.now())
	return s, nil
}

// SilenceHasMatcher reports whether a silence has a matcher on f's field
// whose value f accepts: the filter of `silence query`.
func SilenceHasMatcher(s Silence, f Matcher) bool {
	fm, err := compileFilter(f)
	if err != nil {
		return false
	}
	for _, m := range s.Matchers {
		if m = normalize(m); m.Name == f.Name && fm.matchValue(m.Value) {
			return true
		}
	}
	return false
}

func compileFilter(m Matcher) (fieldMatcher, error) {
	m = normalize(m)
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

func (p *Pipeline) silenceChanged() {
	if err := p.loadSilences(); err != nil {
		// The timer reloads them soon; until then the old list applies.
		p.log.Warn("pipeline: reload silences", "err", err)
		p.silences.Store(nil)
	}
}

// Now is the pipeline's clock, for callers that build silences.
func (p *Pipeline) Now() time.Time { return p.now() }
