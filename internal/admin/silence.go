package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/silence"
)

// SilenceInput is what POST /api/v1/silences and `wabridge silence import`
// read: a Silence in the shape GET returns, so a listed silence can be sent
// back as it is. Two shortcuts: a matcher may be written as a string
// ("code=~1310.*"), and "for" (a duration from starts_at, or from now) may
// stand in for ends_at. With an id, the silence of that id is replaced.
type SilenceInput struct {
	silence.Silence
	Matchers MatcherList `json:"matchers"`
	For      string      `json:"for,omitempty"`
}

// MatcherList reads matchers as objects ({"name","op","value"}) or strings.
type MatcherList []silence.Matcher

// UnmarshalJSON reads either form of each matcher.
func (l *MatcherList) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("matchers: want a list: %w", err)
	}
	out := make(MatcherList, 0, len(raw))
	for _, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			m, err := silence.ParseMatcher(s)
			if err != nil {
				return err
			}
			out = append(out, m)
			continue
		}
		var m silence.Matcher
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("matcher %s: want \"key=value\" or {\"name\", \"op\", \"value\"}: %w", r, err)
		}
		out = append(out, m)
	}
	*l = out
	return nil
}

// Build checks the input and returns the silence it describes.
func (in SilenceInput) Build(now time.Time) (silence.Silence, error) {
	s := in.Silence
	s.Matchers = append([]silence.Matcher(nil), in.Matchers...)
	if in.For != "" {
		d, err := duration.Parse(in.For)
		if err != nil || d <= 0 {
			return silence.Silence{}, fmt.Errorf("for: %q is not a positive duration; use %s", in.For, duration.Form)
		}
		if !s.EndsAt.IsZero() {
			return silence.Silence{}, errors.New("give for or ends_at, not both")
		}
		start := s.StartsAt
		if start.IsZero() {
			start = now
		}
		s.EndsAt = start.Add(d)
	}
	return silence.Check(s, now)
}

// DecodeSilences reads one SilenceInput or a JSON list of them, strictly:
// unknown fields and anything after the value are refused.
func DecodeSilences(body []byte) ([]SilenceInput, error) {
	var list []SilenceInput
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		if err := DecodeJSON(body, &list); err != nil {
			return nil, fmt.Errorf("silences: want a JSON list of silences: %w", err)
		}
		return list, nil
	}
	var one SilenceInput
	if err := DecodeJSON(body, &one); err != nil {
		return nil, fmt.Errorf("silence: want JSON {\"matchers\": [\"code=131048\"], \"for\": \"2h\", \"comment\": \"...\", \"author\": \"...\"}: %w", err)
	}
	return []SilenceInput{one}, nil
}

// SilenceFilter selects silences, as `silence query` and GET
// /api/v1/silences?match=&state=&text= ask.
type SilenceFilter struct {
	// Matchers select silences with a matcher on the same field whose value
	// the filter accepts: code=131048 finds the silences of code=131048,
	// code=~1310.* those of any 1310xx code.
	Matchers []silence.Matcher
	// States are active, pending, expired; empty means all.
	States []string
	// Text is a case-insensitive substring of the id, comment, author or a
	// matcher.
	Text string
}

// ParseSilenceFilter reads the filter's query parameters (match and state
// repeatable, or state comma-separated).
func ParseSilenceFilter(q url.Values) (SilenceFilter, error) {
	var f SilenceFilter
	var errs []error
	for _, s := range q["match"] {
		m, err := silence.ParseMatcher(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.Matchers = append(f.Matchers, m)
	}
	for _, s := range q["state"] {
		for _, st := range strings.Split(s, ",") {
			switch st = strings.TrimSpace(st); st {
			case "active", "pending", "expired":
				f.States = append(f.States, st)
			case "":
			default:
				errs = append(errs, fmt.Errorf("state %q: want active, pending or expired", st))
			}
		}
	}
	f.Text = q.Get("text")
	return f, errors.Join(errs...)
}

// Values writes the filter as query parameters.
func (f SilenceFilter) Values() url.Values {
	v := url.Values{}
	for _, m := range f.Matchers {
		v.Add("match", silence.MatcherString(m))
	}
	if len(f.States) > 0 {
		v.Set("state", strings.Join(f.States, ","))
	}
	if f.Text != "" {
		v.Set("text", f.Text)
	}
	return v
}

// Filter returns the silences f selects, in order.
func (f SilenceFilter) Filter(list []silence.Silence) []silence.Silence {
	out := []silence.Silence{}
	text := strings.ToLower(f.Text)
next:
	for _, s := range list {
		if len(f.States) > 0 && !contains(f.States, s.State) {
			continue
		}
		for _, fm := range f.Matchers {
			if !silence.HasMatcher(s, fm) {
				continue next
			}
		}
		if text != "" {
			hay := []string{s.ID, s.Comment, s.Author}
			for _, m := range s.Matchers {
				hay = append(hay, silence.MatcherString(m))
			}
			if !strings.Contains(strings.ToLower(strings.Join(hay, "\n")), text) {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// previewMatch lists the unresolved incidents of list whose event a silence
// with these matchers, active at now, would match.
func previewMatch(matchers []silence.Matcher, list []incident.Incident, now time.Time) ([]incident.Incident, error) {
	s := silence.Silence{ID: "preview", Matchers: append([]silence.Matcher(nil), matchers...), StartsAt: now, EndsAt: now.Add(time.Hour)}
	if len(s.Matchers) == 0 {
		return nil, Invalid(errors.New("a silence needs at least one matcher (--match key=value), or it would silence everything"))
	}
	var bad error
	set := silence.Compile([]silence.Silence{s}, now, func(_ string, err error) { bad = err })
	if bad != nil {
		return nil, Invalid(bad)
	}
	out := []incident.Incident{}
	for _, inc := range list {
		if inc.Status == incident.Resolved {
			continue
		}
		if set.Match(&inc.Event, now) != "" {
			out = append(out, inc)
		}
	}
	return out, nil
}
