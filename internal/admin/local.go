package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
)

// Local is the operator service on the pipeline and its store: what the
// CLI uses when no server holds the store, and what a server serves.
type Local struct {
	P *pipeline.Pipeline
	// Planner returns what a dry run is planned with now (the runtime
	// changes on reload); nil serves no dry runs.
	Planner func() Planner
	// State is the store a dry run starts from (a snapshot of it).
	State Snapshotter
	// ReloadFunc reloads the running server; nil answers ErrUnavailable.
	ReloadFunc func(ctx context.Context) (ReloadResult, error)
}

var _ Service = (*Local)(nil)

// Incidents lists the incidents q selects, masked.
func (l *Local) Incidents(ctx context.Context, q IncidentQuery) ([]incident.Incident, error) {
	list, err := l.P.ListIncidents(q.All || q.Status == incident.Resolved)
	if err != nil {
		return nil, err
	}
	out := []incident.Incident{}
	for _, inc := range list {
		if q.Matches(&inc) {
			inc.Offered = l.P.Offered(&inc)
			out = append(out, MaskIncident(inc))
		}
	}
	return out, nil
}

// Matches reports whether q selects inc (All aside).
func (q IncidentQuery) Matches(inc *incident.Incident) bool {
	if q.Status != "" && inc.Status != q.Status {
		return false
	}
	if q.Rule != "" && inc.Rule != q.Rule {
		return false
	}
	if q.Account != "" && inc.WABAID != q.Account && inc.Event.WABAID != q.Account {
		return false
	}
	if q.Number != "" && !strings.Contains(inc.Event.PhoneNumberID, q.Number) &&
		!strings.Contains(digits(inc.Event.DisplayPhoneNumber), digits(q.Number)) {
		return false
	}
	return true
}

// digits keeps the digits of a phone number, so "+55 11 9999-0000" and
// "5511999990000" compare equal; a text without digits stays as it is.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return s
	}
	return b.String()
}

// Incident returns one incident, masked.
func (l *Local) Incident(ctx context.Context, fp string) (incident.Incident, error) {
	list, err := l.P.ListIncidents(true)
	if err != nil {
		return incident.Incident{}, err
	}
	fp = strings.TrimSpace(fp)
	for _, inc := range list {
		if inc.Fingerprint == fp {
			inc.Offered = l.P.Offered(&inc)
			return MaskIncident(inc), nil
		}
	}
	return incident.Incident{}, fmt.Errorf("%w: no incident %q (wabridge incidents --all lists them)", ErrNotFound, fp)
}

// ResolveIncident resolves an incident by hand.
func (l *Local) ResolveIncident(ctx context.Context, fp string, by Actor) (Resolved, error) {
	var inc incident.Incident
	var n int
	var err error
	if by == (Actor{}) {
		inc, n, err = l.P.ResolveIncident(fp)
	} else {
		who := by.Name + by.from()
		inc, n, err = l.P.ResolveIncidentBy(fp, "Resolved by "+who+".", "resolved by "+who)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Resolved{}, fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.Is(err, pipeline.ErrAlreadyResolved):
		return Resolved{}, fmt.Errorf("%w: %v", ErrConflict, err)
	case errors.Is(err, pipeline.ErrCommandExpired):
		return Resolved{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	case err != nil:
		return Resolved{}, err
	}
	return Resolved{Status: "resolved", Fingerprint: inc.Fingerprint, Rule: inc.Rule, Notifications: n}, nil
}

// Silences lists the silences f selects.
func (l *Local) Silences(ctx context.Context, f SilenceFilter) ([]silence.Silence, error) {
	list, err := l.P.ListSilences()
	if err != nil {
		return nil, err
	}
	return f.Filter(list), nil
}

// SaveSilences checks every input first and stores them only when all are
// good, so a bad entry in an import changes nothing. An input with an id
// replaces that silence; asNew clears ids to add copies instead.
func (l *Local) SaveSilences(ctx context.Context, in []SilenceInput, asNew bool) ([]silence.Silence, error) {
	now := l.P.Now()
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
			if old, err = l.P.GetSilence(s.ID); err == nil {
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
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w (nothing was changed)", ErrNotFound, err)
		}
		return nil, fmt.Errorf("%w: %w (nothing was changed)", ErrInvalid, err)
	}
	out := make([]silence.Silence, 0, len(built))
	for _, s := range built {
		var err error
		if s.ID != "" {
			s, err = l.P.UpdateSilence(s)
		} else {
			s, err = l.P.AddSilence(s)
		}
		if errors.Is(err, store.ErrNotFound) {
			return out, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ExpireSilence ends a silence now.
func (l *Local) ExpireSilence(ctx context.Context, id string) (silence.Silence, error) {
	s, err := l.P.ExpireSilence(id)
	if errors.Is(err, store.ErrNotFound) {
		return silence.Silence{}, fmt.Errorf("%w: no silence %q", ErrNotFound, id)
	}
	return s, err
}

// PreviewSilence lists the unresolved incidents a silence with these
// matchers would hold back.
func (l *Local) PreviewSilence(ctx context.Context, ms []silence.Matcher) ([]incident.Incident, error) {
	list, err := l.P.ListIncidents(false)
	if err != nil {
		return nil, err
	}
	out, err := previewMatch(ms, list, l.P.Now())
	for i := range out {
		out[i] = MaskIncident(out[i])
	}
	return out, err
}

// DeadLetters lists the dead letters, masked.
func (l *Local) DeadLetters(ctx context.Context) ([]outbox.DeadLetter, error) {
	dl, err := l.P.ListDead()
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

// DeadLetter returns one dead letter, masked.
func (l *Local) DeadLetter(ctx context.Context, id string) (outbox.DeadLetter, error) {
	d, err := l.P.GetDead(id)
	if err != nil {
		return outbox.DeadLetter{}, deadNotFound(id, err)
	}
	return MaskDead(d), nil
}

// ReplayDead sends a dead letter again.
func (l *Local) ReplayDead(ctx context.Context, id string) error {
	err := l.P.ReplayDead(ctx, id)
	if errors.Is(err, pipeline.ErrReplaying) || errors.Is(err, pipeline.ErrRuleGone) {
		return Conflict(err)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: replay of %s failed again: %v", ErrConflict, id, err)
	}
	return deadNotFound(id, err)
}

// DropDead deletes a dead letter.
func (l *Local) DropDead(ctx context.Context, id string) error {
	return deadNotFound(id, l.P.DropDead(id))
}

func deadNotFound(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no dead letter %q", ErrNotFound, id)
	}
	return err
}

// Audit returns one page of the audit trail: at most q.Limit records
// (auditPage by default, and never more), from the one before q.Before.
func (l *Local) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	aq := q.Query
	aq.Limit = pageLimit(aq)
	recs, err := l.P.Audit(aq)
	if err != nil {
		return AuditPage{}, err
	}
	page := AuditPage{Records: recs}
	if len(recs) == aq.Limit {
		page.Next = recs[len(recs)-1].ID
	}
	return page, nil
}

// Stats reports the sizes of the lists.
func (l *Local) Stats(ctx context.Context) (Stats, error) {
	s := l.P.Stats()
	return Stats{Inbox: s.Inbox, Outbox: s.Outbox, Dead: s.Dead, Running: s.Running}, nil
}

// DryRun evaluates a payload against the store's state.
func (l *Local) DryRun(ctx context.Context, req DryRunRequest) (*Report, error) {
	if l.Planner == nil {
		return nil, fmt.Errorf("%w: dry runs are not served here", ErrNotFound)
	}
	d, err := NewDryRun(l.Planner(), DryRunOptions{State: l.State, Render: req.Render})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Deliver(ctx, req.Source, req.ContentType, []byte(req.Payload))
}

// Reload reloads the running server.
func (l *Local) Reload(ctx context.Context) (ReloadResult, error) {
	if l.ReloadFunc == nil {
		return ReloadResult{}, fmt.Errorf("%w: no server is running on this store; a server reads its files when it starts", ErrUnavailable)
	}
	return l.ReloadFunc(ctx)
}
