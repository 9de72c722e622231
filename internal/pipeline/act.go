package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/rules"
)

// openIncident returns the open (or pending) incident under fp with its
// rule and its partition, locked (the caller unlocks pt.mu), or an error:
// store.ErrNotFound for an unknown fingerprint, ErrAlreadyResolved (with
// the stored incident) for one that is over, ErrNotOwned for one in a
// partition another replica owns.
func (p *Pipeline) openIncident(fp string) (*partition, *incidentState, *incident.Incident, *rules.Rule, *Runtime, error) {
	rt := p.runtime()
	set := rulesOf(rt)
	pt, state, err := p.partitionOf(context.Background(), set, fp)
	if err != nil {
		return nil, nil, nil, nil, rt, err
	}
	if pt != nil {
		inc := state.byFP[fp]
		return pt, state, inc, set.Rule(inc.Rule), rt, nil
	}
	stored, err := p.notLive(context.Background(), fp, func(t time.Time) string { return t.UTC().Format(time.RFC3339) })
	return nil, nil, stored, nil, rt, err
}

// NoteIncident tells what a person did to an open incident on its Slack
// messages (the message shows the note, its thread records it), through
// the outbox like every notification. Jira actions are not told: a ticket
// learns of silences and acknowledgements from the people who work it.
// It returns the incident and the notifications queued; an incident that
// is over is ErrAlreadyResolved and nothing is queued.
func (p *Pipeline) NoteIncident(fp, note string) (incident.Incident, int, error) {
	fp = strings.TrimSpace(fp)
	return p.localOrForward(fp, cmdNote, noteArgs{Note: note}, "", func() (incident.Incident, int, error) { return p.noteLocal(fp, note) })
}

// noteLocal is NoteIncident in a partition of this process.
func (p *Pipeline) noteLocal(fp, note string) (incident.Incident, int, error) {
	fp = strings.TrimSpace(fp)
	pt, state, inc, r, rt, err := p.openIncident(fp)
	if err != nil {
		return refused(inc, err)
	}
	defer pt.mu.Unlock()
	if r == nil || inc.Status != incident.Open {
		// A pending incident sent nothing yet; a rule that is gone has
		// no actions to tell.
		return *inc, 0, nil
	}
	now := p.now()
	var t *incTx
	err = p.commit(context.Background(), pt, func(tx store.CommitTx) error {
		t = &incTx{p: p, tx: tx, st: state, rt: rt, now: now, received: now}
		for _, a := range r.Actions {
			if sp, _ := rt.Rules.Spec(a.Notifier); !sp.Notes || !sent(a, inc) {
				continue
			}
			if _, err := t.enqueue(r, a, notification.OpNote, inc, note); err != nil {
				return err
			}
		}
		t.decide(&inc.Event, r, fp, OutcomeJoined, len(t.outbox), note)
		return nil
	})
	if err != nil {
		return incident.Incident{}, 0, err
	}
	p.committed(pt, t)
	return *inc, len(t.outbox), nil
}

// IncidentSilence is a silence of an open incident's group: one matcher
// per group_by field of its rule, with the value of the event that started
// it, so the silence holds back what would join this incident and nothing
// else the rule matches.
func (p *Pipeline) IncidentSilence(fp string, d time.Duration, comment, author string) (silence.Silence, error) {
	fp = strings.TrimSpace(fp)
	pt, _, inc, r, rt, err := p.openIncident(fp)
	switch {
	case errors.Is(err, ErrNotOwned) && inc != nil:
		// Its group is in the stored incident: nothing here changes it.
		r = rulesOf(rt).Rule(inc.Rule)
	case err != nil:
		return silence.Silence{}, err
	default:
		pt.mu.Unlock()
	}
	if r == nil {
		return silence.Silence{}, fmt.Errorf("incident %s: its rule %s %w in the loaded rules, so its group is unknown", fp, inc.Rule, ErrRuleGone)
	}
	var ms []silence.Matcher
	for _, f := range r.GroupBy {
		ms = append(ms, silence.Matcher{Name: f, Op: silence.OpEqual, Value: inc.Event.Field(f)})
	}
	return silence.New(ms, p.now(), d, comment, author)
}

// AcknowledgeIncident records that a person took an open incident on: its
// repeats are held back until it escalates (which clears the
// acknowledgement and tells everyone) or resolves. The Slack message shows
// who and when, and its thread records it, through the outbox. It returns
// the incident and the notifications queued. Refused, changing nothing:
// an unknown fingerprint (store.ErrNotFound), one that is over
// (ErrAlreadyResolved), pending (incident.ErrNotOpen) or acknowledged by
// someone else (incident.ErrAcknowledged). The same person acknowledging
// again is no change and queues nothing.
func (p *Pipeline) AcknowledgeIncident(fp string, a incident.Ack) (incident.Incident, int, error) {
	fp = strings.TrimSpace(fp)
	return p.localOrForward(fp, cmdAck, ackArgs{By: a.By, Via: a.Via, At: a.At}, a.By, func() (incident.Incident, int, error) { return p.acknowledgeLocal(fp, a) })
}

// acknowledgeLocal is AcknowledgeIncident in a partition of this process.
func (p *Pipeline) acknowledgeLocal(fp string, a incident.Ack) (incident.Incident, int, error) {
	fp = strings.TrimSpace(fp)
	pt, state, inc, r, rt, err := p.openIncident(fp)
	if err != nil {
		return refused(inc, err)
	}
	defer pt.mu.Unlock()
	if a.At.IsZero() {
		a.At = p.now()
	}
	acked := *inc
	changed, err := acked.Acknowledge(a)
	if err != nil {
		return *inc, 0, fmt.Errorf("incident %s: %w", fp, err)
	}
	if !changed {
		return *inc, 0, nil // the same person again
	}
	note := "Acknowledged by " + acked.Ack.By
	if acked.Ack.Via != "" {
		var set *rules.Set
		if rt != nil {
			set = rt.Rules
		}
		note += " from " + viaName(set, acked.Ack.Via)
	}
	note += " at " + acked.Ack.At.Format(ackTime) + ". Repeats are held until it escalates or resolves."
	now := p.now()
	var t *incTx
	err = p.commit(context.Background(), pt, func(tx store.CommitTx) error {
		t = &incTx{p: p, tx: tx, st: state, rt: rt, now: now, received: now}
		*inc = acked
		t.touch(inc)
		if r != nil {
			for _, act := range r.Actions {
				if sp, _ := rt.Rules.Spec(act.Notifier); !sp.Notes || !sent(act, inc) {
					continue
				}
				if _, err := t.enqueue(r, act, notification.OpAck, inc, note); err != nil {
					return err
				}
			}
		}
		t.decide(&inc.Event, r, fp, OutcomeAcknowledged, len(t.outbox), "acknowledged by "+acked.Ack.By)
		return t.flush()
	})
	if err != nil {
		return incident.Incident{}, 0, err
	}
	p.committed(pt, t)
	return *inc, len(t.outbox), nil
}

// viaName is how a note names where something was done: a notifier by
// its spec's title (a click on a Slack button), else the operator's tool.
func viaName(set *rules.Set, via string) string {
	if sp, ok := set.Spec(strings.ToLower(via)); ok {
		return sp.Title
	}
	switch via {
	case "cli":
		return "the command line"
	}
	return "the " + via
}

// ErrNothingOnDemand refuses a request for an on-demand action of a rule
// that has none.
var ErrNothingOnDemand = errors.New("has no action with on_demand: true")

// OpenOnDemand sends, for an open incident, the rule's actions that are
// sent only on demand (a Jira ticket with on_demand: true), once: each is
// queued as the incident's open, and follows the incident from then on
// (repeats, escalation, resolve). Its Slack messages drop the offer and
// their thread records who asked; the ticket's link follows in the thread
// once it exists. It returns the incident and the notifications queued.
// Refused, changing nothing: an unknown fingerprint (store.ErrNotFound),
// one that is over (ErrAlreadyResolved) or pending (incident.ErrNotOpen),
// a rule without such an action (ErrNothingOnDemand), or one asked for
// already (incident.ErrAlreadyRequested, saying by whom).
func (p *Pipeline) OpenOnDemand(fp string, a incident.Ack) (incident.Incident, int, error) {
	fp = strings.TrimSpace(fp)
	return p.localOrForward(fp, cmdOnDemand, ackArgs{By: a.By, Via: a.Via, At: a.At}, a.By, func() (incident.Incident, int, error) { return p.openOnDemandLocal(fp, a) })
}

// openOnDemandLocal is OpenOnDemand in a partition of this process.
func (p *Pipeline) openOnDemandLocal(fp string, a incident.Ack) (incident.Incident, int, error) {
	fp = strings.TrimSpace(fp)
	pt, state, inc, r, rt, err := p.openIncident(fp)
	if err != nil {
		return refused(inc, err)
	}
	defer pt.mu.Unlock()
	if r == nil {
		return *inc, 0, fmt.Errorf("incident %s: its rule %s %w in the loaded rules, so its actions are unknown", fp, inc.Rule, ErrRuleGone)
	}
	if a.At.IsZero() {
		a.At = p.now()
	}
	asked := *inc
	var todo []notification.Action
	var names []string
	for _, act := range r.Actions {
		if !act.OnDemand {
			continue
		}
		if err := asked.RequestOnDemand(OrderingKey(fp, act), a); err != nil {
			if errors.Is(err, incident.ErrAlreadyRequested) {
				continue
			}
			return *inc, 0, fmt.Errorf("incident %s: %w", fp, err)
		}
		todo = append(todo, act)
		if !slices.Contains(names, act.Notifier) {
			names = append(names, act.Notifier)
		}
	}
	if len(todo) == 0 {
		for _, act := range r.Actions {
			if act.OnDemand {
				prev := inc.OnDemand[OrderingKey(fp, act)]
				return *inc, 0, fmt.Errorf("incident %s: its %s was %w by %s at %s", fp, act.Notifier,
					incident.ErrAlreadyRequested, prev.By, prev.At.UTC().Format(time.RFC3339))
			}
		}
		return *inc, 0, fmt.Errorf("incident %s: rule %s %w", fp, r.Name, ErrNothingOnDemand)
	}
	note := onDemandTitle(rt.Rules, names) + " asked for by " + a.By
	if a.Via != "" {
		note += " from " + viaName(rt.Rules, a.Via)
	}
	note += "; its link follows in this thread once it exists."
	now := p.now()
	var t *incTx
	err = p.commit(context.Background(), pt, func(tx store.CommitTx) error {
		t = &incTx{p: p, tx: tx, st: state, rt: rt, now: now, received: now}
		*inc = asked
		t.touch(inc)
		for _, act := range todo {
			if _, err := t.enqueue(r, act, notification.OpOpen, inc, ""); err != nil {
				return err
			}
		}
		for _, act := range r.Actions {
			if sp, _ := rt.Rules.Spec(act.Notifier); !sp.Notes || !sent(act, inc) {
				continue
			}
			if _, err := t.enqueue(r, act, notification.OpNote, inc, note); err != nil {
				return err
			}
		}
		t.decide(&inc.Event, r, fp, OutcomeJoined, len(t.outbox), strings.ToLower(note[:1])+note[1:])
		return t.flush()
	})
	if err != nil {
		return incident.Incident{}, 0, err
	}
	p.committed(pt, t)
	return *inc, len(t.outbox), nil
}

// onDemandTitle names what on-demand actions make, for notes: "Jira
// ticket".
func onDemandTitle(set *rules.Set, notifiers []string) string {
	var names []string
	for _, n := range notifiers {
		sp, _ := set.Spec(n)
		switch {
		case sp.LinkName != nil:
			names = append(names, sp.LinkName(""))
		case sp.Title != "":
			names = append(names, sp.Title+" notification")
		default:
			names = append(names, n+" notification")
		}
	}
	return strings.Join(names, " and ")
}

// refused is an incident action's answer when openIncident refused it:
// the stored incident when there is one, nothing queued.
func refused(inc *incident.Incident, err error) (incident.Incident, int, error) {
	if inc != nil {
		return *inc, 0, err
	}
	return incident.Incident{}, 0, err
}
