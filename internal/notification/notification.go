// Package notification is what a rule asks a notifier to send: the
// notification with its action, what it does to the incident (Op), the
// incident as the notifier sees it, and what a send or a render returns. It
// is data only, so the rules, the templates, the store and the notifiers
// share it without importing one another.
package notification

import (
	"encoding/json"
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
// What the settings mean is the notifier's business: its Spec parses them
// when rules load, and the notifier reads them back when it sends.
type Action struct {
	Notifier string `json:"notifier"`
	// Target is where the action sends (the Slack channel, the Jira
	// project), computed from the settings when rules load; "" leaves it
	// to the notifier's configuration. It keys the incident's sends and
	// refs, and audit notes show it.
	Target string `json:"target,omitempty"`
	// Templates replaces default template names for this action, keyed by
	// the roles the notifier's Spec declares.
	Templates map[string]string `json:"templates,omitempty"`
	// EscalatePriority is the priority the ticket is raised to when its
	// incident escalates (the rule's escalate.priority); "" leaves it.
	EscalatePriority string `json:"escalate_priority,omitempty"`
	// Settings are the notifier's own settings, as JSON.
	Settings json.RawMessage `json:"settings,omitempty"`
	// OnDemand: the action is sent only once a person asks for it for an
	// incident (a jira action with on_demand: true, asked for with the
	// Open Jira ticket button); from then on it follows the incident.
	// Computed from the settings when rules load, as Target is.
	OnDemand bool `json:"on_demand,omitempty"`
}

// UnmarshalJSON reads an action as this version stores it, and as earlier
// versions did, with the notifier's settings beside the common fields
// ({"notifier":"slack","channel":"#ops"}): an outbox entry or a dead letter
// written by them is still sent. The old shape's target was its channel,
// else its project.
func (a *Action) UnmarshalJSON(b []byte) error {
	type plain Action
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*a = Action(p)
	if _, ok := fields["settings"]; ok {
		return nil
	}
	for _, k := range []string{"notifier", "target", "templates", "escalate_priority"} {
		delete(fields, k)
	}
	if len(fields) == 0 {
		return nil
	}
	var old struct {
		Channel string `json:"channel"`
		Project string `json:"project"`
	}
	if err := json.Unmarshal(b, &old); err != nil {
		return err
	}
	a.Target = old.Channel
	if a.Target == "" {
		a.Target = old.Project
	}
	settings, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	a.Settings = settings
	return nil
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
	// OnDemand names the notifiers of the rule's on-demand actions nobody
	// asked for yet for this incident ("jira"): a message offers them (the
	// Open Jira ticket button).
	OnDemand []string `json:"on_demand,omitempty"`
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
