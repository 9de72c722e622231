package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/server"
	"github.com/wabridge/wabridge/internal/store"
)

// admin serves the operator API over the pipeline.
type admin struct {
	p   *pipeline.Pipeline
	svc *Service // nil in tests that serve the pipeline alone
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
		dl = []outbox.DeadLetter{}
	}
	for i := range dl {
		dl[i] = MaskDead(dl[i])
	}
	return dl, nil
}

func (a *admin) GetDead(ctx context.Context, id string) (any, error) {
	d, err := a.p.GetDead(id)
	return MaskDead(d), notFound(id, err)
}

// MaskDead masks the recipient's number in a dead letter shown to a person;
// the stored one, which a replay sends, keeps it.
func MaskDead(d outbox.DeadLetter) outbox.DeadLetter {
	d.Notification.Event = d.Notification.Event.Masked()
	return d
}

// MaskIncident masks the recipient's number in an incident shown to a person.
func MaskIncident(inc incident.Incident) incident.Incident {
	inc.Event = inc.Event.Masked()
	return inc
}

func (a *admin) ReplayDead(ctx context.Context, id string) error {
	err := a.p.ReplayDead(ctx, id)
	if errors.Is(err, pipeline.ErrReplaying) || errors.Is(err, pipeline.ErrRuleGone) {
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

func (a *admin) ListIncidents(ctx context.Context, all bool) (any, error) {
	list, err := a.p.ListIncidents(all)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []incident.Incident{}
	}
	for i := range list {
		list[i] = MaskIncident(list[i])
	}
	return list, nil
}

var _ server.DryRunAPI = (*admin)(nil)

// DryRun serves POST /api/v1/test: `wabridge test --state` while a server
// holds the store.
func (a *admin) DryRun(ctx context.Context, body []byte) (any, error) {
	if a.svc == nil {
		return nil, fmt.Errorf("%w: dry runs are not served here", server.ErrNotFound)
	}
	var req DryRunRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: dry run: want JSON {\"source\": \"meta\", \"payload\": \"...\", \"render\": true}: %v", server.ErrBadRequest, err)
	}
	rep, err := a.svc.RunDryRun(ctx, req)
	if _, ok := errors.AsType[badInput](err); ok {
		return nil, fmt.Errorf("%w: %w", server.ErrBadRequest, err)
	}
	return rep, err
}

var _ server.IncidentResolver = (*admin)(nil)

// Resolved is what resolving an incident by hand answers.
type Resolved struct {
	Status        string `json:"status"`
	Fingerprint   string `json:"fingerprint"`
	Rule          string `json:"rule"`
	Notifications int    `json:"notifications"`
}

func (a *admin) ResolveIncident(ctx context.Context, fp string) (any, error) {
	inc, n, err := a.p.ResolveIncident(fp)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: %v", server.ErrNotFound, err)
	case errors.Is(err, pipeline.ErrAlreadyResolved):
		return nil, fmt.Errorf("%w: %v", server.ErrConflict, err)
	case err != nil:
		return nil, err
	}
	return Resolved{Status: "resolved", Fingerprint: inc.Fingerprint, Rule: inc.Rule, Notifications: n}, nil
}
