package pipeline

import (
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/rules"
)

// match applies one event to one rule that matched it: silences,
// inhibition, threshold, group_wait, and the open or join of its incident.
// A rule without actions only stops evaluation: it opens no incident.
func (t *incTx) match(ev *event.Event, r *rules.Rule, silence string) error {
	fp, stopped := t.screen(ev, r, silence)
	if stopped {
		return nil
	}
	t.holding = !r.Active(t.now)
	defer func() { t.holding = false }()
	seen := ev.Timestamp
	if seen.IsZero() {
		seen = t.now
	}
	inc, capped, late, err := t.locate(ev, r, fp, seen)
	if late || err != nil {
		return err
	}
	fp = inc.Fingerprint
	if t.holding {
		inc.Hold(t.now)
	}
	t.touch(inc)
	inc.Touched = t.now
	if inc.Status == incident.Open {
		return t.join(ev, r, inc, seen, capped)
	}
	inc.LastSeen = seen
	if !inc.OpenAt.IsZero() {
		inc.Count++
		t.decideHeld(ev, r, fp, OutcomeJoined, 0, fmt.Sprintf("pending until %s (group_wait), %d events", inc.OpenAt.Format(time.RFC3339), inc.Count), capped)
		return nil
	}
	if !t.count(ev, r, inc, seen, capped) {
		return nil
	}
	if r.GroupWait > 0 {
		inc.OpenAt = t.now.Add(r.GroupWait)
		t.decideHeld(ev, r, fp, OutcomeMatched, 0, "opens at "+inc.OpenAt.Format(time.RFC3339)+" (group_wait)", capped)
		return nil
	}
	n, err := t.open(r, inc, "")
	if err != nil {
		return err
	}
	t.decideHeld(ev, r, fp, OutcomeOpened, n, fmt.Sprintf("%d events", inc.Count), capped)
	return nil
}

// screen decides what stops an event before it reaches an incident: a
// rule without actions, a silence, an open incident that inhibits it. It
// returns the event's fingerprint under r, and whether it stopped there.
func (t *incTx) screen(ev *event.Event, r *rules.Rule, silence string) (fp string, stopped bool) {
	if len(r.Actions) == 0 {
		t.decide(ev, r, "", OutcomeIgnored, 0, "the rule has no actions: it only stops evaluation")
		return "", true
	}
	fp = rules.Fingerprint(r, ev)
	if silence != "" {
		t.decide(ev, r, fp, OutcomeSilenced, 0, "silence "+silence)
		return fp, true
	}
	if src := t.st.inhibitedBy(ev, fp); src != "" {
		t.decide(ev, r, fp, OutcomeInhibited, 0, "open incident "+src)
		return fp, true
	}
	return fp, false
}

// locate finds the incident ev joins under fp, or starts a pending one:
// the rule's overflow incident once it has max_open_incidents, and none
// for an event older than the recovery that resolved its incident (late,
// applied here).
func (t *incTx) locate(ev *event.Event, r *rules.Rule, fp string, seen time.Time) (inc *incident.Incident, capped, late bool, err error) {
	inc = t.st.byFP[fp]
	if inc == nil && t.p.cfg.Shared {
		// A group whose events span accounts spans partitions: another
		// partition may have opened its incident. The read locks it, and
		// the incident moves to this partition rather than opening twice.
		prev, err := t.stored(fp)
		if err != nil {
			return nil, false, false, err
		}
		if prev != nil && prev.Status != incident.Resolved {
			inc = prev
			t.st.add(inc)
			if inc.Status == incident.Open {
				t.st.indexInhibit(inc, true)
			}
		}
	}
	if inc == nil {
		// Only resolve_when remembers recoveries: other rules need no read.
		if r.HasResolveWhen() && !ev.Timestamp.IsZero() {
			prev, err := t.stored(fp)
			if err != nil {
				return nil, false, false, err
			}
			if prev != nil && prev.Status == incident.Resolved && prev.Recovered != nil &&
				ev.Timestamp.Before(prev.Recovered.At) {
				return nil, false, true, t.late(ev, r, prev, seen)
			}
		}
		if t.st.perRule[r.Name] >= r.MaxOpen {
			capped = true
			fp = rules.OverflowFingerprint(r)
			inc = t.st.byFP[fp]
		}
	}
	if inc == nil {
		inc = &incident.Incident{Fingerprint: fp, Rule: r.Name, Status: incident.Pending,
			FirstSeen: seen, Event: *ev, WABAID: ev.WABAID, Overflow: capped}
		if held := t.st.held[fp]; held != nil {
			// Resolved while muted and back before it could be told: the
			// new incident tells both.
			inc.Deferred = held.Deferred
			delete(t.st.held, fp)
		}
		t.st.add(inc)
		t.start(inc)
	}
	return inc, capped, false, nil
}

// count counts ev into a pending incident, against the rule's threshold
// when it has one. It reports whether the incident may open now.
func (t *incTx) count(ev *event.Event, r *rules.Rule, inc *incident.Incident, seen time.Time, capped bool) bool {
	th := r.Threshold
	if th == nil {
		inc.Count++
		return true
	}
	// A sliding window of at most count arrival times: the threshold is
	// met when the oldest of the last count events is within the window.
	w, restarted := incident.Slide(inc.Window, t.now, th.Within, th.Count)
	if restarted {
		inc.Event, inc.FirstSeen, inc.WABAID = *ev, seen, ev.WABAID
		t.start(inc)
	}
	inc.Window = w
	if len(w) < th.Count {
		inc.Count = len(w)
		t.decideHeld(ev, r, inc.Fingerprint, OutcomeBelowThreshold, 0, fmt.Sprintf("%d of %d within %s", len(w), th.Count, th.Within), capped)
		return false
	}
	inc.Window, inc.Count = nil, th.Count
	return true
}

// late applies an event older than the recovery that resolved its
// incident. When that incident never opened (the recovery came first), it
// is told now, once, as already resolved; otherwise it was told already.
func (t *incTx) late(ev *event.Event, r *rules.Rule, prev *incident.Incident, seen time.Time) error {
	rec := prev.Recovered
	if !rec.Orphan {
		t.decide(ev, r, prev.Fingerprint, OutcomeLate, 0, fmt.Sprintf("older than %s at %s, which resolved its incident: nothing sent",
			rec.What, rec.At.Format(time.RFC3339)))
		return nil
	}
	prev.Event, prev.WABAID, prev.Rule = *ev, ev.WABAID, r.Name
	prev.Count, prev.FirstSeen, prev.LastSeen, prev.Touched = 1, seen, seen, t.now
	prev.OpenedAt, prev.ResolvedAt, prev.Status = t.now, t.now, incident.Resolved
	rec.Orphan = false
	t.start(prev)
	t.touch(prev)
	note := fmt.Sprintf("Already resolved: %s at %s, then %s at %s. The recovery arrived first; nothing is open.",
		incident.Describe(ev), seen.UTC().Format(time.RFC3339), rec.What, rec.At.UTC().Format(time.RFC3339))
	if t.holding {
		prev.Hold(t.now)
		prev.Deferred.Opened, prev.Deferred.Resolved = true, true
		prev.Deferred.Note = incident.JoinSentences(prev.Deferred.Note, note)
		t.st.held[prev.Fingerprint] = prev
	}
	n, err := t.send(r, prev, notification.OpOpenResolved, note)
	if err != nil {
		return err
	}
	t.decideHeld(ev, r, prev.Fingerprint, OutcomeLate, n, "its recovery arrived first: told once, as already resolved", false)
	return nil
}

// open sends the incident's first message and ticket.
func (t *incTx) open(r *rules.Rule, inc *incident.Incident, note string) (int, error) {
	inc.MarkOpen(t.now)
	t.touch(inc)
	t.st.indexInhibit(inc, true)
	if t.holding {
		if inc.Deferred == nil {
			inc.Deferred = &incident.Deferred{From: t.now, Last: t.now}
		}
		inc.Deferred.Opened = true
		return 0, nil
	}
	return t.send(r, inc, notification.OpOpen, note)
}

// join counts an event into an open incident: an escalation at once, one
// waiting update per action, and a repeat summary at most once per
// repeat_interval.
func (t *incTx) join(ev *event.Event, r *rules.Rule, inc *incident.Incident, seen time.Time, capped bool) error {
	inc.Join(seen)
	if worse, how := r.Escalates(&inc.Event, ev); worse && !inc.Overflow {
		return t.escalate(ev, r, inc, how)
	}
	if t.holding {
		t.decideHeld(ev, r, inc.Fingerprint, OutcomeJoined, 0, fmt.Sprintf("count %d", inc.Count), capped)
		return nil
	}
	queued, coalesced := 0, 0
	for _, a := range r.Actions {
		if sp, _ := t.rt.Rules.Spec(a.Notifier); !sp.Updates || !sent(a, inc) {
			continue // it learns counts from repeat summaries only
		}
		key := OrderingKey(inc.Fingerprint, a)
		if id := inc.Pending[key]; id != "" {
			waiting, err := t.tx.OutboxWaiting(id)
			if err != nil {
				return err
			}
			if waiting {
				coalesced++
				continue
			}
		}
		e, err := t.enqueue(r, a, notification.OpUpdate, inc, "")
		if err != nil {
			return err
		}
		if inc.Pending == nil {
			inc.Pending = map[string]string{}
		}
		inc.Pending[key] = e.ID
		queued++
	}
	detail := fmt.Sprintf("count %d", inc.Count)
	if inc.Ack != nil && r.RepeatInterval > 0 && t.now.Sub(inc.LastRepeat) >= r.RepeatInterval {
		detail += ", repeat held: acknowledged by " + inc.Ack.By
	}
	if inc.RepeatDue(r.RepeatInterval, t.now) {
		n, err := t.sendEvent(r, inc, notification.OpRepeat, "", ev)
		if err != nil {
			return err
		}
		queued += n
		detail += fmt.Sprintf(", repeat summary of %d since %s", inc.NewSince, inc.SinceTime.Format(time.RFC3339))
		inc.ResetSince(t.now)
	}
	if coalesced > 0 {
		detail += fmt.Sprintf(", %d update(s) already waiting", coalesced)
	}
	t.decideHeld(ev, r, inc.Fingerprint, OutcomeJoined, queued, detail, capped)
	return nil
}

// escalate makes ev the event an open incident shows and tells at once
// that it got worse.
func (t *incTx) escalate(ev *event.Event, r *rules.Rule, inc *incident.Incident, how string) error {
	t.st.indexInhibit(inc, false)
	inc.Event, inc.WABAID = *ev, ev.WABAID
	t.start(inc)
	t.st.indexInhibit(inc, true)
	note := "Escalated: " + how + "."
	if acked := inc.Unacknowledge(); acked != nil {
		note += " It had been acknowledged by " + acked.By + " at " + acked.At.UTC().Format(ackTime) +
			": that acknowledgement no longer holds, and repeats resume."
		how += "; acknowledgement by " + acked.By + " cleared"
	}
	if t.holding {
		inc.Deferred.Escalate(how)
		t.decideHeld(ev, r, inc.Fingerprint, OutcomeEscalated, 0, how, false)
		return nil
	}
	n, err := t.send(r, inc, notification.OpEscalate, note)
	if err != nil {
		return err
	}
	inc.ResetSince(t.now)
	t.decide(ev, r, inc.Fingerprint, OutcomeEscalated, n, how)
	return nil
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", then " + b
}

// resolve ends an incident: a resolved message and ticket for each action.
// A pending incident sent nothing, so it just goes. by is the event that
// resolved it (resolve_when), nil for quiet or a person.
func (t *incTx) resolve(r *rules.Rule, inc *incident.Incident, by *event.Event, note string) (int, error) {
	wasOpen := inc.Status == incident.Open
	if wasOpen {
		t.st.indexInhibit(inc, false)
	}
	inc.MarkResolved(t.now, by)
	t.st.remove(inc)
	t.touch(inc)
	if !wasOpen {
		return 0, nil
	}
	if t.holding {
		if inc.Deferred == nil {
			inc.Deferred = &incident.Deferred{From: t.now, Last: t.now}
		}
		inc.Deferred.Resolved = true
		t.st.held[inc.Fingerprint] = inc
		return 0, nil
	}
	if inc.Deferred != nil {
		// Held back by a mute that is over: the resolve tells it all.
		note = incident.JoinSentences(inc.Deferred.Summary(), note)
		if inc.Deferred.Opened {
			inc.Deferred = nil
			return t.send(r, inc, notification.OpOpenResolved, note)
		}
		inc.Deferred = nil
	}
	return t.send(r, inc, notification.OpResolve, note)
}

// resolveBy resolves the incident a resolve_when rule's fingerprint names.
// Without one open, the recovery is remembered by its time, so the event it
// recovers from, arriving late, does not open an incident for a state that
// is already over.
func (t *incTx) resolveBy(ev *event.Event, r *rules.Rule) error {
	fp := rules.Fingerprint(r, ev)
	inc := t.st.byFP[fp]
	if inc == nil {
		if ev.Timestamp.IsZero() {
			return nil
		}
		prev, err := t.stored(fp)
		if err != nil {
			return err
		}
		if prev == nil {
			prev = &incident.Incident{Fingerprint: fp, Rule: r.Name, Status: incident.Resolved,
				ResolvedAt: t.now, Touched: t.now, WABAID: ev.WABAID}
		}
		if prev.Status != incident.Resolved {
			return nil
		}
		if prev.Recovered == nil || ev.Timestamp.After(prev.Recovered.At) {
			prev.Recovered = &incident.Recovery{At: ev.Timestamp, What: incident.Describe(ev), Orphan: true}
			t.touch(prev)
		}
		t.decide(ev, r, fp, OutcomeResolved, 0, "resolve_when: nothing open; remembered, so an older event of this incident that arrives later is told as already resolved")
		return nil
	}
	t.holding = !r.Active(t.now)
	defer func() { t.holding = false }()
	was := inc.Status
	n, err := t.resolve(r, inc, ev, fmt.Sprintf("Resolved by %s at %s.", incident.Describe(ev), ev.Timestamp.UTC().Format(time.RFC3339)))
	if err != nil {
		return err
	}
	detail := "resolve_when"
	if was != incident.Open {
		detail += ": it had not opened yet, nothing was sent"
	} else if t.holding || n == 0 && inc.Deferred != nil {
		detail += ": held while the rule is muted"
	}
	t.decide(ev, r, fp, OutcomeResolved, n, detail)
	return nil
}

// release tells, in one notification per action, what a mute held back of
// an incident whose rule may notify again.
func (t *incTx) release(r *rules.Rule, inc *incident.Incident) (int, string, error) {
	d := inc.Deferred
	inc.Deferred = nil
	t.touch(inc)
	note := d.Summary()
	var op notification.Op
	switch {
	case d.Opened && inc.Status == incident.Resolved:
		op = notification.OpOpenResolved
	case d.Opened:
		op = notification.OpOpen
	case inc.Status == incident.Resolved:
		op = notification.OpResolve
	case d.Escalated != "":
		op = notification.OpEscalate
	default:
		op = notification.OpRepeat
	}
	if inc.Status == incident.Resolved {
		delete(t.st.held, inc.Fingerprint)
	} else {
		inc.ResetSince(t.now)
	}
	if op == notification.OpRepeat && inc.Ack != nil {
		// Only more of the same, and someone has it: held, as any repeat
		// of an acknowledged incident.
		return 0, "nothing: acknowledged by " + inc.Ack.By, nil
	}
	n, err := t.send(r, inc, op, note)
	return n, string(op), err
}
