package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/server"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
)

var _ server.SilenceAPI = (*admin)(nil)

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
		if err := server.DecodeJSON(body, &list); err != nil {
			return nil, fmt.Errorf("silences: want a JSON list of silences: %w", err)
		}
		return list, nil
	}
	var one SilenceInput
	if err := server.DecodeJSON(body, &one); err != nil {
		return nil, fmt.Errorf("silence: want JSON {\"matchers\": [\"code=131048\"], \"for\": \"2h\", \"comment\": \"...\", \"author\": \"...\"}: %w", err)
	}
	return []SilenceInput{one}, nil
}

// SaveSilences checks every input first and stores them only when all are
// good, so a bad entry in an import changes nothing. An input with an id
// replaces that silence; import clears ids to add copies instead.
func SaveSilences(p *pipeline.Pipeline, in []SilenceInput, asNew bool) ([]silence.Silence, error) {
	now := p.Now()
	built := make([]silence.Silence, len(in))
	var errs []error
	for i := range in {
		if asNew {
			in[i].ID = ""
			in[i].Created = time.Time{}
			in[i].Updated = time.Time{}
		}
		s, err := in[i].Build(now)
		if err == nil && s.ID != "" {
			var old silence.Silence
			if old, err = p.GetSilence(s.ID); err == nil {
				s.Created, s.Updated = old.Created, now
			}
		}
		if err != nil {
			if len(in) > 1 {
				err = fmt.Errorf("silence %d: %w", i+1, err)
			}
			errs = append(errs, err)
		}
		built[i] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, invalidSilence{fmt.Errorf("%w (nothing was changed)", err)}
	}
	out := make([]silence.Silence, 0, len(built))
	for _, s := range built {
		var err error
		if s.ID != "" {
			s, err = p.UpdateSilence(s)
		} else {
			s, err = p.AddSilence(s)
		}
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// invalidSilence is a silence that failed its checks: the caller's
// mistake, not the store's.
type invalidSilence struct{ error }

func (e invalidSilence) Unwrap() error { return e.error }

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

func (a *admin) ListSilences(ctx context.Context, q url.Values) (any, error) {
	f, err := ParseSilenceFilter(q)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", server.ErrBadRequest, err)
	}
	l, err := a.p.ListSilences()
	if err != nil {
		return nil, err
	}
	return f.Filter(l), nil
}

// AddSilence adds or replaces the silence in the body, or every silence of
// a JSON list (all or none). A list answers a list.
func (a *admin) AddSilence(ctx context.Context, body []byte) (any, error) {
	in, err := DecodeSilences(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", server.ErrBadRequest, err)
	}
	list := len(in) > 1 || bytes.HasPrefix(bytes.TrimSpace(body), []byte("["))
	out, err := SaveSilences(a.p, in, false)
	var invalid invalidSilence
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: %w", server.ErrNotFound, err)
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("%w: %w", server.ErrBadRequest, err)
	case err != nil:
		return nil, err
	}
	if list {
		return out, nil
	}
	return out[0], nil
}

func (a *admin) ExpireSilence(ctx context.Context, id string) (any, error) {
	s, err := a.p.ExpireSilence(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no silence %q", server.ErrNotFound, id)
	}
	return s, err
}
