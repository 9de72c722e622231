package pipeline

import (
	"time"
)

// Outcome is what the pipeline decided for one event under one rule.
type Outcome string

// Outcomes, as counted in wabridge_rule_decisions_total{outcome}.
const (
	OutcomeMatched        Outcome = "matched"         // the rule matched; its incident waits (group_wait)
	OutcomeOpened         Outcome = "opened"          // the event opened an incident: notifications queued
	OutcomeJoined         Outcome = "joined"          // the event joined an open or pending incident
	OutcomeSilenced       Outcome = "silenced"        // a silence matched the event
	OutcomeInhibited      Outcome = "inhibited"       // an open incident's inhibit rule suppressed it
	OutcomeBelowThreshold Outcome = "below_threshold" // counted towards the rule's threshold, not met yet
	OutcomeMuted          Outcome = "muted"           // the rule is outside active_time or inside mute_time
	OutcomeResolved       Outcome = "resolved"        // the event (or quiet) resolved an incident
	OutcomeDuplicate      Outcome = "duplicate"       // the event id was seen within the dedup window
	OutcomeIgnored        Outcome = "ignored"         // the rule has no actions: it only stops evaluation
	OutcomeEscalated      Outcome = "escalated"       // the event made an open incident worse: told at once
	OutcomeLate           Outcome = "late"            // older than the recovery that resolved its incident
	OutcomeAcknowledged   Outcome = "acknowledged"    // a person took the open incident on: repeats held until it escalates
)

// Decision is one decision about one event and rule: the single place the
// audit trail and the metrics learn why an event did or did not notify.
// Decisions the timer makes (group_wait over, resolve_after) carry the id
// of the incident's first event.
type Decision struct {
	At          time.Time `json:"at"`
	EventID     string    `json:"event_id"`
	Source      string    `json:"source,omitempty"`
	Code        int       `json:"code,omitempty"`
	Rule        string    `json:"rule,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Outcome     Outcome   `json:"outcome"`
	// Detail says more: the silence id, the inhibiting incident, the
	// count towards the threshold, how many notifications were queued.
	Detail string `json:"detail,omitempty"`
	// Notifications is how many outbox entries the decision queued.
	Notifications int `json:"notifications,omitempty"`
	// Capped: the rule had max_open_incidents open, so the event went to
	// its overflow incident (counted in wabridge_incidents_capped_total).
	Capped bool `json:"capped,omitempty"`
}

// decide counts decisions once their transaction committed and hands them
// to the Decided hook (the audit trail).
func (p *Pipeline) decide(ds []Decision) {
	for i := range ds {
		p.m.decisions.WithLabelValues(ds[i].Rule, string(ds[i].Outcome)).Inc()
		if ds[i].Capped {
			p.m.capped.WithLabelValues(ds[i].Rule).Inc()
		}
	}
	if p.decided != nil && len(ds) > 0 {
		p.decided(ds)
	}
}
