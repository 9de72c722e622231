// Package admin is the operator service: every operator action (incidents,
// silences, dead letters, the audit trail, stats, dry runs, reloads) as one
// interface with typed results. Local does them on the store and the
// pipeline; Client does them through a running server's admin API. The
// CLI, the admin HTTP handler and the web console all speak Service, so
// what an operator can do is written once.
package admin

import (
	"context"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
)

// Service is what an operator can do. Every method takes a context and
// fails with an error wrapping ErrNotFound, ErrConflict or ErrInvalid
// when the fault is the caller's (see Status); anything else is ours.
// Results shown to people have phone numbers masked.
//
// Methods are added as the operator gains actions (acknowledging an
// incident, say); Local and Client implement each one, and the admin
// handler serves it.
type Service interface {
	// Incidents lists the incidents q selects, the most recently active
	// first.
	Incidents(ctx context.Context, q IncidentQuery) ([]incident.Incident, error)
	// Incident returns one incident, resolved ones not yet swept included.
	Incident(ctx context.Context, fingerprint string) (incident.Incident, error)
	// ResolveIncident resolves an open or pending incident by hand, as its
	// rule would; one already resolved is ErrConflict.
	ResolveIncident(ctx context.Context, fingerprint string, by Actor) (Resolved, error)
	// AcknowledgeIncident records that by took an open incident on: its
	// repeats are held until it escalates or resolves, and its Slack
	// message shows who and when. One resolved, pending, or acknowledged
	// by someone else is ErrConflict; by needs a name.
	AcknowledgeIncident(ctx context.Context, fingerprint string, by Actor) (Acknowledged, error)
	// SilenceIncident silences an open incident's group (its rule's
	// group_by values) for d, authored by by, and tells its messages.
	SilenceIncident(ctx context.Context, fingerprint string, d time.Duration, by Actor) (silence.Silence, error)
	// OpenTicket sends an open incident's on-demand actions (a jira action
	// with on_demand: true), once: asked again, or for a rule without
	// one, it is ErrConflict.
	OpenTicket(ctx context.Context, fingerprint string, by Actor) (TicketRequested, error)

	// Silences lists the silences f selects, oldest first.
	Silences(ctx context.Context, f SilenceFilter) ([]silence.Silence, error)
	// SaveSilences checks every input and stores them only when all are
	// good. An input with an id replaces that silence, unless asNew, which
	// adds copies with new ids.
	SaveSilences(ctx context.Context, in []SilenceInput, asNew bool) ([]silence.Silence, error)
	// ExpireSilence ends a silence now.
	ExpireSilence(ctx context.Context, id string) (silence.Silence, error)
	// PreviewSilence lists the open and pending incidents whose event a
	// silence with these matchers would match: what it would hold back.
	PreviewSilence(ctx context.Context, matchers []silence.Matcher) ([]incident.Incident, error)

	// DeadLetters lists the notifications that failed for good, oldest
	// first.
	DeadLetters(ctx context.Context) ([]outbox.DeadLetter, error)
	// DeadLetter returns one dead letter.
	DeadLetter(ctx context.Context, id string) (outbox.DeadLetter, error)
	// ReplayDead sends a dead letter again with the current rules; a send
	// that fails again, or a replay already under way, is ErrConflict.
	ReplayDead(ctx context.Context, id string) error
	// DropDead deletes a dead letter for good.
	DropDead(ctx context.Context, id string) error

	// Audit returns one page of the audit trail, newest first.
	Audit(ctx context.Context, q AuditQuery) (AuditPage, error)
	// Stats reports the sizes of the inbox, outbox and dead letters.
	Stats(ctx context.Context) (Stats, error)
	// DryRun evaluates a payload against the current rules and state
	// without sending or changing anything.
	DryRun(ctx context.Context, req DryRunRequest) (*Report, error)
	// Reload reads the rules, templates and catalogue again; a reload
	// already running is ErrReloadRunning.
	Reload(ctx context.Context) (ReloadResult, error)
}

// IncidentQuery selects incidents. The zero query is every open and
// pending incident.
type IncidentQuery struct {
	// All includes resolved incidents not yet swept.
	All bool `json:"all,omitempty"`
	// Status, when set, keeps only incidents in it: open, pending or
	// resolved (resolved implies All).
	Status string `json:"status,omitempty"`
	// Rule keeps only the incidents of this rule.
	Rule string `json:"rule,omitempty"`
	// Account keeps only incidents of this WhatsApp Business account id.
	Account string `json:"account,omitempty"`
	// Number keeps only incidents whose phone_number_id or display phone
	// number contains it.
	Number string `json:"number,omitempty"`
}

// Actor is who did an operator action and from where, for the messages
// and the audit trail. The zero Actor is a person at the CLI.
type Actor struct {
	Name string `json:"name,omitempty"`
	// Via names the surface: "web console", "Slack".
	Via string `json:"via,omitempty"`
}

// Resolved is what resolving an incident by hand answers.
type Resolved struct {
	Status        string `json:"status"`
	Fingerprint   string `json:"fingerprint"`
	Rule          string `json:"rule"`
	Notifications int    `json:"notifications"`
}

// AuditQuery selects one page of the audit trail.
type AuditQuery struct {
	audit.Query
}

// AuditPage is one page of audit records, newest first. Next, when set, is
// the Before of the next page.
type AuditPage struct {
	Records []audit.Record `json:"records"`
	Next    string         `json:"next,omitempty"`
}

// Stats are the sizes of the durable lists and whether the workers run.
type Stats struct {
	Inbox   int  `json:"inbox"`
	Outbox  int  `json:"outbox"`
	Dead    int  `json:"dead"`
	Running bool `json:"running"`
}

// ReloadResult is the answer of a reload (POST /-/reload).
type ReloadResult struct {
	// Status is "success" or "failure".
	Status string `json:"status"`
	// Rules is how many rules run now (the old ones after a failure).
	Rules    int      `json:"rules"`
	Warnings []string `json:"warnings,omitempty"`
	// Problems are the reasons of a failure, each "FILE:LINE: message"
	// where a line is known.
	Problems []string `json:"problems,omitempty"`
	Error    string   `json:"error,omitempty"`
}
