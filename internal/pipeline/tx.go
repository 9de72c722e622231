package pipeline

import (
	"fmt"
	"slices"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/rules"
)

// incTx is one committer transaction: the store transaction, the state it
// changes, and what to do once it committed.
type incTx struct {
	p         *Pipeline
	tx        store.CommitTx
	st        *incidentState
	rt        *Runtime
	now       time.Time
	received  time.Time
	outbox    []outbox.Entry
	decisions []Decision
	dirty     map[string]*incident.Incident
	// started holds the incidents whose Event changed: written once, not
	// with every count.
	started map[string]bool
	// holding is set while applying an event or the timer to a rule that
	// may not notify now (mute_time, outside active_time): what would be
	// sent is recorded in the incident's Deferred instead.
	holding bool
}

func (t *incTx) decide(ev *event.Event, r *rules.Rule, fp string, o Outcome, queued int, detail string) {
	d := Decision{At: t.now, EventID: ev.ID, Source: ev.Source, Code: ev.Code, Fingerprint: fp,
		Outcome: o, Detail: detail, Notifications: queued}
	if r != nil {
		d.Rule = r.Name
	}
	t.decisions = append(t.decisions, d)
}

// flush writes the incidents the transaction changed.
func (t *incTx) flush() error {
	for _, inc := range t.dirty {
		var until time.Time
		if inc.Status == incident.Resolved {
			until = inc.ResolvedAt.Add(t.p.cfg.Retention)
		}
		if err := t.tx.PutIncident(inc, until); err != nil {
			return err
		}
		if t.started[inc.Fingerprint] {
			if err := t.tx.PutIncidentEvent(inc.Fingerprint, &inc.Event); err != nil {
				return err
			}
		}
	}
	return nil
}

// start records that an incident's Event is new.
func (t *incTx) start(inc *incident.Incident) {
	if t.started == nil {
		t.started = map[string]bool{}
	}
	t.started[inc.Fingerprint] = true
}

func (t *incTx) touch(inc *incident.Incident) {
	if t.dirty == nil {
		t.dirty = map[string]*incident.Incident{}
	}
	t.dirty[inc.Fingerprint] = inc
}

func (t *incTx) enqueue(r *rules.Rule, a notification.Action, op notification.Op, inc *incident.Incident, note string) (outbox.Entry, error) {
	return t.enqueueEvent(r, a, op, inc, note, &inc.Event)
}

// enqueueEvent is enqueue telling of ev rather than the incident's event:
// a repeat names the latest event, not the first.
func (t *incTx) enqueueEvent(r *rules.Rule, a notification.Action, op notification.Op, inc *incident.Incident, note string, ev *event.Event) (outbox.Entry, error) {
	var entry catalog.Entry
	if t.rt != nil && t.rt.Catalog != nil {
		entry, _ = t.rt.Catalog.ForEvent(ev)
	}
	n := notification.Notification{
		Rule:     r.Ref(),
		Action:   a,
		Op:       op,
		Event:    *ev,
		Catalog:  entry,
		Incident: snapshot(inc, note),
	}
	n.Incident.OnDemand = offered(r, inc)
	e, err := t.tx.AddOutbox(outbox.Entry{
		Notification: n,
		Key:          OrderingKey(inc.Fingerprint, a),
		Created:      t.now,
		ReceivedAt:   t.received,
		NextAttempt:  t.now,
	})
	if err != nil {
		return e, err
	}
	t.outbox = append(t.outbox, e)
	return e, nil
}

func snapshot(inc *incident.Incident, note string) *notification.Incident {
	if note == "" && inc.Overflow {
		note = overflowNote
	}
	n := &notification.Incident{
		Fingerprint: inc.Fingerprint, Status: incidentStatus(inc.Status), Count: inc.Count,
		NewSince: inc.NewSince, FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen, SinceTime: inc.SinceTime,
		Note: note,
	}
	if inc.Ack != nil {
		n.AckedBy, n.AckedAt = inc.Ack.By, inc.Ack.At
	}
	return n
}

// ackTime is how notes write the time of an acknowledgement.
const ackTime = "2006-01-02 15:04:05 UTC"

// overflowNote says why an incident gathers events of many groups.
const overflowNote = "This rule has reached its max_open_incidents: events that would open further incidents are counted in this one until some resolve."

// send queues one notification per action of the rule, or, while holding,
// nothing. It returns how many it queued.
func (t *incTx) send(r *rules.Rule, inc *incident.Incident, op notification.Op, note string) (int, error) {
	return t.sendEvent(r, inc, op, note, &inc.Event)
}

// sendEvent is send telling of ev (a repeat's latest event).
func (t *incTx) sendEvent(r *rules.Rule, inc *incident.Incident, op notification.Op, note string, ev *event.Event) (int, error) {
	if t.holding || r == nil {
		return 0, nil
	}
	queued := 0
	for _, a := range r.Actions {
		if !sent(a, inc) {
			continue
		}
		if _, err := t.enqueueEvent(r, a, op, inc, note, ev); err != nil {
			return 0, err
		}
		queued++
	}
	return queued, nil
}

// sent reports whether action a is sent for inc: every action is, but one
// sent only on demand, until a person asked for it.
func sent(a notification.Action, inc *incident.Incident) bool {
	return !a.OnDemand || inc.Requested(OrderingKey(inc.Fingerprint, a))
}

// Offered names the notifiers of inc's on-demand actions nobody asked for
// yet, by the loaded rules: empty unless inc is open and its rule has one.
func (p *Pipeline) Offered(inc *incident.Incident) []string {
	return offered(rulesOf(p.runtime()).Rule(inc.Rule), inc)
}

// offered names the notifiers of r's on-demand actions not yet asked for
// for inc, which its messages offer.
func offered(r *rules.Rule, inc *incident.Incident) []string {
	if r == nil || inc.Status != incident.Open {
		return nil
	}
	var out []string
	for _, a := range r.Actions {
		if !sent(a, inc) && !slices.Contains(out, a.Notifier) {
			out = append(out, a.Notifier)
		}
	}
	return out
}

// stored returns the incident record under fp as this transaction sees it:
// changed in it, held, or on disk; nil when there is none.
func (t *incTx) stored(fp string) (*incident.Incident, error) {
	if inc := t.dirty[fp]; inc != nil {
		return inc, nil
	}
	if inc := t.st.held[fp]; inc != nil {
		return inc, nil
	}
	inc, ok, err := t.tx.Incident(fp)
	if err != nil || !ok {
		return nil, err
	}
	return &inc, nil
}

// incidentStatus is what notifiers see: open until resolved.
func incidentStatus(s string) string {
	if s == incident.Resolved {
		return incident.Resolved
	}
	return incident.Open
}

// decideHeld records a decision, saying when it was held by a mute or
// counted past the rule's max_open_incidents.
func (t *incTx) decideHeld(ev *event.Event, r *rules.Rule, fp string, o Outcome, queued int, detail string, capped bool) {
	if t.holding {
		o = OutcomeMuted
		detail = "held while outside active_time or inside mute_time (told when the rule may notify): " + detail
	}
	if capped {
		detail = fmt.Sprintf("over max_open_incidents (%d): counted in the rule's overflow incident; ", r.MaxOpen) + detail
	}
	t.decide(ev, r, fp, o, queued, detail)
	if capped {
		t.decisions[len(t.decisions)-1].Capped = true
	}
}
