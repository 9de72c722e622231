// Package notification is what a rule asks a notifier to send: the
// notification with its action, what it does to the incident (Op), the
// incident as the notifier sees it, and what a send or a render returns. It
// is data only, so the rules, the templates, the store and the notifiers
// share it without importing one another.
package notification

import (
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
)

// Op says what a notification does to an incident's message or ticket.
type Op string

const (
	OpOpen    Op = "open"    // first occurrence: post the message, create the ticket
	OpUpdate  Op = "update"  // counters changed: edit the message in place (Slack chat.update)
	OpRepeat  Op = "repeat"  // a repeat summary: a thread reply, a Jira comment
	OpResolve Op = "resolve" // the incident ended: mark the message resolved, transition the ticket
	// OpEscalate: it got worse (a higher severity, a later state): edit the
	// message, say how in its thread, comment on the ticket and raise its
	// priority when the rule says. Sent at once, whatever repeat_interval.
	OpEscalate Op = "escalate"
	// OpOpenResolved tells an incident that was already over when it could
	// first be told (its recovery arrived first, or it opened and resolved
	// while the rule was muted): one new message and ticket, resolved.
	OpOpenResolved Op = "open_resolved"
	// OpNote tells what a person did to an open incident (silenced it from
	// Slack): the message shows the note, and a thread reply records it.
	// Only Slack actions are sent it.
	OpNote Op = "note"
	// OpAck tells that a person acknowledged an open incident: the message
	// shows who and when (Incident.AckedBy, AckedAt), and a thread reply
	// (Incident.Note) records it. Only Slack actions are sent it.
	OpAck Op = "ack"
	// OpLink tells an incident's message or ticket where the incident's
	// other one is, once that exists: the Jira ticket's link in the Slack
	// thread, the Slack message's permalink on the Jira ticket. Incident.Links
	// carries it.
	OpLink Op = "link"
)

// Action is one action of a rule, as written in the rules file
// (`- slack: {channel: "#ops"}`), after the file's defaults are applied.
// Fields a notifier does not use are rejected when rules load.
type Action struct {
	Notifier string `yaml:"-" json:"notifier"`

	// Slack
	Channel string `yaml:"channel,omitempty" json:"channel,omitempty"`

	// Jira
	Project    string         `yaml:"project,omitempty" json:"project,omitempty"`
	IssueType  string         `yaml:"issue_type,omitempty" json:"issue_type,omitempty"`
	Priority   string         `yaml:"priority,omitempty" json:"priority,omitempty"`
	Labels     []string       `yaml:"labels,omitempty" json:"labels,omitempty"`
	Components []string       `yaml:"components,omitempty" json:"components,omitempty"`
	Fields     map[string]any `yaml:"fields,omitempty" json:"fields,omitempty"` // any Jira field; string values are templates
	// EscalatePriority is the priority the ticket is raised to when its
	// incident escalates (the rule's escalate.priority); "" leaves it.
	EscalatePriority string `yaml:"-" json:"escalate_priority,omitempty"`

	// Templates replaces default template names for this action, keyed by
	// role: slack uses "title" and "text", jira "summary" and "description".
	Templates map[string]string `yaml:"templates,omitempty" json:"templates,omitempty"`
}

// RuleRef is what a notification tells about the rule that produced it.
type RuleRef struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Incident is the state of the incident a notification belongs to. The
// pipeline owns it; notifiers read it and return a Ref on open.
type Incident struct {
	Fingerprint string    `json:"fingerprint"`
	Status      string    `json:"status"` // open, resolved
	Count       int       `json:"count"`  // events since the incident opened
	NewSince    int       `json:"new_since"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	// SinceTime is when the events counted by NewSince started.
	SinceTime time.Time `json:"since_time"`
	// Ref is what the notifier returned when the incident opened:
	// "CHANNEL/TS" for Slack, the issue key for Jira.
	Ref string `json:"ref,omitempty"`
	// Note is what this notification tells beyond the event: how the
	// incident escalated, what happened while the rule was muted, that it
	// is already resolved, or that the rule is past max_open_incidents.
	Note string `json:"note,omitempty"`
	// Link is the URL of that message or ticket, when the notifier gave
	// one; filled at send time with Ref.
	Link string `json:"link,omitempty"`
	// AckedBy is who acknowledged the incident, "" while nobody has (or
	// since it escalated); AckedAt is when. Messages show it.
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
	// Links are the URLs a person opens for what the incident's other
	// actions made, by notifier name: "jira" is the ticket's browse URL,
	// "slack" the message's permalink. Filled at send time.
	Links map[string]string `json:"links,omitempty"`
}

// Notification is one thing to send. It is stored in the outbox as JSON and
// rendered at send time, so a replay uses the current templates.
type Notification struct {
	ID       string        `json:"id"`
	Rule     RuleRef       `json:"rule"`
	Action   Action        `json:"action"`
	Op       Op            `json:"op"`
	Event    event.Event   `json:"event"`
	Catalog  catalog.Entry `json:"catalog"` // zero when the event has no catalogue entry
	Incident *Incident     `json:"incident,omitempty"`
	// Test marks a notification of `wabridge notify-test`: its Slack title
	// and Jira summary start with TestMarker, so nobody takes it for an
	// incident.
	Test bool `json:"test,omitempty"`
}

// TestMarker starts the title of a test notification.
const TestMarker = "[TEST] "

// Message is a notification rendered for one notifier, without sending it:
// what `wabridge test` prints and the audit trail keeps.
type Message struct {
	Notifier string `json:"notifier"`
	Target   string `json:"target"`  // channel, project, file
	Summary  string `json:"summary"` // Slack title, Jira summary
	Body     string `json:"body"`    // Slack text, Jira description
}

// Result is what a successful send returns.
type Result struct {
	// Ref identifies what was created, for later updates: "CHANNEL/TS" for
	// a Slack message, the issue key for Jira; empty when nothing can be
	// updated (incoming webhooks, the log).
	Ref string `json:"ref,omitempty"`
	// Link is the URL a person opens to see it: a Slack permalink, a Jira
	// browse URL; empty when there is none.
	Link string `json:"link,omitempty"`
	// Logged says the notification was only written to the log, standing
	// in for the notifier the action names: nothing reached that service.
	// It is reported as "logged", never "sent".
	Logged bool `json:"logged,omitempty"`
}
