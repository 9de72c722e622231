// Package incident holds the durable record of an incident: the events
// one rule grouped under one fingerprint, with its counters, its times and
// what a muted rule held back. The pipeline changes it; the store keeps it;
// the operator commands and the admin API show it.
package incident

import (
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

// Incident statuses.
const (
	// Pending counts events towards a threshold, or waits out
	// group_wait before its first message; nothing was sent yet.
	Pending  = "pending"
	Open     = "open"
	Resolved = "resolved"
)

// Incident is the durable state of one incident: the events one rule
// grouped under one fingerprint. The references to its Slack message and
// Jira ticket are not here: they live in the refs, under each action's
// ordering key, which stay the one source of truth across reopenings.
type Incident struct {
	Fingerprint string `json:"fingerprint"`
	Rule        string `json:"rule"`
	Status      string `json:"status"`
	// Count is the number of events since the incident opened (including
	// those that collected while it was pending).
	Count int `json:"count"`
	// NewSince counts the events since the last repeat summary (or the
	// open), which started at SinceTime.
	NewSince  int       `json:"new_since"`
	SinceTime time.Time `json:"since_time"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Touched is when an event last arrived (the pipeline's clock, not the
	// provider's timestamp): what resolve_after measures quiet from.
	Touched    time.Time `json:"touched"`
	OpenedAt   time.Time `json:"opened_at,omitzero"`
	LastRepeat time.Time `json:"last_repeat,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// OpenAt is when a pending incident opens (group_wait); zero while it
	// still counts towards a threshold.
	OpenAt time.Time `json:"open_at,omitzero"`
	WABAID string    `json:"waba_id,omitempty"`
	// Event is the event that started the incident: what its messages
	// show, and what inhibit rules compare with their source_match and
	// equal fields. It is stored apart from the counters (PutIncidentEvent),
	// so counting an event does not encode it again.
	Event event.Event `json:"event,omitzero"`
	// Window holds the times of the latest events while a threshold is
	// not met yet: at most threshold.count of them.
	Window []time.Time `json:"window,omitempty"`
	// Pending maps an action's ordering key to the outbox id of an update
	// that is still waiting to be sent, so a burst adds one update, not one
	// per event.
	Pending map[string]string `json:"pending,omitempty"`
	// Deferred is what happened while the rule was muted (mute_time, or
	// outside active_time): told in one notification when it may notify.
	Deferred *Deferred `json:"deferred,omitempty"`
	// Recovered is the provider's event that resolved the incident
	// (resolve_when), by its own time: an older event of the incident that
	// arrives after it belongs to a state already over.
	Recovered *Recovery `json:"recovered,omitempty"`
	// Overflow marks the incident a rule's events join once it has
	// max_open_incidents open.
	Overflow bool `json:"overflow,omitempty"`
	// Ack is who acknowledged the open incident, nil while nobody has
	// (or since it escalated). It is kept on the resolved record.
	Ack *Ack `json:"ack,omitempty"`
	// OnDemand holds, by ordering key, who asked for what an action sends
	// only on demand (a Jira ticket with on_demand: true), and when. An
	// action that is not here has not been sent.
	OnDemand map[string]Ack `json:"on_demand,omitempty"`
	// Offered names the notifiers of the rule's on-demand actions nobody
	// has asked for yet on this open incident (the Slack message's "Open
	// Jira ticket" button). The operator service sets it from the loaded
	// rules when it lists or gets incidents; it is never stored.
	Offered []string `json:"offered,omitempty"`
}

// Deferred counts what a muted rule held back for one incident.
type Deferred struct {
	Count int       `json:"count"`
	From  time.Time `json:"from"`
	Last  time.Time `json:"last"`
	// Opened: the incident opened while muted, so nothing was sent yet.
	Opened bool `json:"opened,omitempty"`
	// Resolved: the incident was resolved while muted.
	Resolved bool `json:"resolved,omitempty"`
	// Escalated says how it got worse while muted, "" when it did not.
	Escalated string `json:"escalated,omitempty"`
	// Note is what the held notification had to say besides (an incident
	// already over when its event arrived).
	Note string `json:"note,omitempty"`
}

// Recovery is the event that ended an incident, as its provider dated it.
type Recovery struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
	// Orphan: nothing was open to resolve, so the event it recovers from
	// has not been told; when it arrives, it is told as already resolved.
	Orphan bool `json:"orphan,omitempty"`
}
