package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

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

// ParseMatcher reads "key=value" (value exact) or "key=~regex" (the whole
// value must match). Keys are event field names: code, phone_number_id,
// waba_id, status, kind, source, attributes.template_name ...
func ParseMatcher(s string) (Matcher, error) {
	name, value, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return Matcher{}, fmt.Errorf("matcher %q: want key=value or key=~regex (for example code=131048)", s)
	}
	if strings.ContainsAny(name, " \t") {
		return Matcher{}, fmt.Errorf("matcher %q: the key has spaces", s)
	}
	if !knownField(name) {
		return Matcher{}, fmt.Errorf("matcher %q: %q is not an event field (fields: %s; attributes as attributes.NAME)",
			s, name, strings.Join(event.FieldNames, ", "))
	}
	m := Matcher{Name: name, Value: value}
	if _, err := compileMatcher(m); err != nil {
		return Matcher{}, err
	}
	return m, nil
}

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

// NewSilence builds a silence starting at now and lasting d, checking what
// an operator typed.
func NewSilence(matchers []Matcher, now time.Time, d time.Duration, comment string) (Silence, error) {
	var errs []error
	if len(matchers) == 0 {
		errs = append(errs, errors.New("a silence needs at least one --match key=value, or it would silence everything"))
	}
	for _, m := range matchers {
		if _, err := compileMatcher(m); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case d <= 0:
		errs = append(errs, fmt.Errorf("duration %v: want a positive duration such as 2h", d))
	case d > MaxSilence:
		errs = append(errs, fmt.Errorf("duration %v is longer than the %v a silence may last", d, MaxSilence))
	}
	if err := errors.Join(errs...); err != nil {
		return Silence{}, err
	}
	return Silence{Matchers: matchers, StartsAt: now, EndsAt: now.Add(d), Comment: comment, Created: now}, nil
}

type fieldMatcher struct {
	name  string
	value string
	re    *regexp.Regexp
}

func compileMatcher(m Matcher) (fieldMatcher, error) {
	fm := fieldMatcher{name: m.Name, value: m.Value}
	if m.Name == "" {
		return fm, fmt.Errorf("matcher =%s: the key is empty", m.Value)
	}
	if re, ok := strings.CutPrefix(m.Value, "~"); ok {
		c, err := regexp.Compile("^(?:" + re + ")$")
		if err != nil {
			return fm, fmt.Errorf("matcher %s=%s: bad regular expression: %w", m.Name, m.Value, err)
		}
		fm.re = c
	}
	return fm, nil
}

func (m *fieldMatcher) matches(e *event.Event) bool {
	v := e.Field(m.name)
	if m.re != nil {
		return m.re.MatchString(v)
	}
	return v == m.value
}

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

// AddSilence stores a silence; the pipeline applies it from the next event.
func (p *Pipeline) AddSilence(s Silence) (Silence, error) {
	s, err := p.st.AddSilence(s)
	if err != nil {
		return Silence{}, err
	}
	p.silenceChanged()
	p.log.Info("silence added", "id", s.ID, "ends", s.EndsAt, "comment", s.Comment)
	return s, nil
}

// ListSilences lists every silence, expired ones included, oldest first.
func (p *Pipeline) ListSilences() ([]Silence, error) {
	return p.st.Silences()
}

// ExpireSilence ends a silence now; a missing id is store.ErrNotFound.
func (p *Pipeline) ExpireSilence(id string) (Silence, error) {
	s, err := p.st.ExpireSilence(id, p.now())
	if err != nil {
		return Silence{}, err
	}
	p.silenceChanged()
	p.log.Info("silence expired", "id", id)
	return s, nil
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
