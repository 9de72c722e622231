package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/server"
	"github.com/wabridge/wabridge/internal/store"
)

// admin serves the operator API over the pipeline.
type admin struct {
	p *pipeline.Pipeline
}

var (
	_ server.AdminAPI    = (*admin)(nil)
	_ server.IncidentAPI = (*admin)(nil)
)

func (a *admin) ListDead(ctx context.Context) (any, error) {
	dl, err := a.p.ListDead()
	if err != nil {
		return nil, err
	}
	if dl == nil {
		dl = []pipeline.DeadLetter{}
	}
	return dl, nil
}

func (a *admin) GetDead(ctx context.Context, id string) (any, error) {
	d, err := a.p.GetDead(id)
	return d, notFound(id, err)
}

func (a *admin) ReplayDead(ctx context.Context, id string) error {
	err := a.p.ReplayDead(ctx, id)
	if errors.Is(err, pipeline.ErrReplaying) {
		return conflict{err}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: replay of %s failed again: %v", server.ErrConflict, id, err)
	}
	return notFound(id, err)
}

func (a *admin) DropDead(ctx context.Context, id string) error {
	return notFound(id, a.p.DropDead(id))
}

// conflict is a 409 whose text is its cause's alone, which already says
// what is in the way.
type conflict struct{ err error }

func (c conflict) Error() string   { return c.err.Error() }
func (c conflict) Unwrap() []error { return []error{c.err, server.ErrConflict} }

func notFound(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no dead letter %q", server.ErrNotFound, id)
	}
	return err
}

var _ server.SilenceAPI = (*admin)(nil)

// SilenceRequest is the body of POST /api/v1/silences: what `wabridge
// silence add` sends.
type SilenceRequest struct {
	Matchers []string `json:"matchers"` // key=value or key=~regex
	For      string   `json:"for"`      // a duration: 2h, 30m
	Comment  string   `json:"comment,omitempty"`
}

// NewSilence checks a request and builds the silence it asks for, from now.
func NewSilence(req SilenceRequest, now time.Time) (pipeline.Silence, error) {
	var errs []error
	var ms []pipeline.Matcher
	for _, s := range req.Matchers {
		m, err := pipeline.ParseMatcher(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ms = append(ms, m)
	}
	d, err := time.ParseDuration(req.For)
	if err != nil {
		errs = append(errs, fmt.Errorf("duration %q: want a duration such as 2h or 30m", req.For))
	}
	if len(errs) > 0 {
		return pipeline.Silence{}, errors.Join(errs...)
	}
	return pipeline.NewSilence(ms, now, d, req.Comment)
}

func (a *admin) ListIncidents(ctx context.Context, all bool) (any, error) {
	list, err := a.p.ListIncidents(all)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []pipeline.Incident{}
	}
	return list, nil
}

func (a *admin) ListSilences(ctx context.Context) (any, error) {
	l, err := a.p.ListSilences()
	if err != nil {
		return nil, err
	}
	if l == nil {
		l = []pipeline.Silence{}
	}
	return l, nil
}

func (a *admin) AddSilence(ctx context.Context, body []byte) (any, error) {
	var req SilenceRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: silence: want JSON {\"matchers\": [\"code=131048\"], \"for\": \"2h\", \"comment\": \"...\"}: %v", server.ErrBadRequest, err)
	}
	s, err := NewSilence(req, a.p.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", server.ErrBadRequest, err)
	}
	return a.p.AddSilence(s)
}

func (a *admin) ExpireSilence(ctx context.Context, id string) (any, error) {
	s, err := a.p.ExpireSilence(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no silence %q", server.ErrNotFound, id)
	}
	return s, err
}
