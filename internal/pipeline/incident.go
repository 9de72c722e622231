package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/rules"
)

// incidentState is the committer's copy of the incidents that are pending
// or open, so evaluating an event reads no record from disk. The store
// holds the truth: the copy is loaded from it, changed only inside the
// committer's transactions, and dropped when one fails.
type incidentState struct {
	byFP map[string]*incident.Incident
	// perRule counts the pending and open incidents of each rule, for
	// max_open_incidents.
	perRule map[string]int
	// held are resolved incidents with a deferred story to tell once their
	// rule may notify again.
	held map[string]*incident.Incident

	// set is the rule set the inhibit index was built for; a reload that
	// swaps the set rebuilds it.
	set *rules.Set
	// inhibit holds, per inhibit rule, the open incidents whose event
	// matches its source_match, keyed by the values of its equal fields.
	inhibit []map[string]map[string]struct{}
}

func (p *Pipeline) loadIncidents(ctx context.Context) (*incidentState, error) {
	f, err := p.fenced(ctx)
	if err != nil {
		return nil, err
	}
	all, err := p.st.LiveIncidents(ctx, f)
	if err != nil {
		return nil, err
	}
	s := &incidentState{byFP: make(map[string]*incident.Incident, len(all)),
		perRule: map[string]int{}, held: map[string]*incident.Incident{}}
	for i := range all {
		switch {
		case all[i].Status != incident.Resolved:
			s.add(&all[i])
		case all[i].Deferred != nil:
			s.held[all[i].Fingerprint] = &all[i]
		}
	}
	return s, nil
}

// add tracks a pending or open incident.
func (s *incidentState) add(inc *incident.Incident) {
	s.byFP[inc.Fingerprint] = inc
	s.perRule[inc.Rule]++
}

// remove stops tracking an incident (resolved or forgotten).
func (s *incidentState) remove(inc *incident.Incident) {
	if s.byFP[inc.Fingerprint] != inc {
		return
	}
	delete(s.byFP, inc.Fingerprint)
	if s.perRule[inc.Rule]--; s.perRule[inc.Rule] <= 0 {
		delete(s.perRule, inc.Rule)
	}
}

// incidents returns the state, loading it when needed, with the inhibit
// index built for set. The caller holds stateMu.
func (p *Pipeline) incidents(ctx context.Context, set *rules.Set) (*incidentState, error) {
	if p.state == nil {
		s, err := p.loadIncidents(ctx)
		if err != nil {
			return nil, err
		}
		p.state = s
	}
	if p.state.inhibit == nil || p.state.set != set {
		p.state.set = set
		inh := set.Inhibits()
		p.state.inhibit = make([]map[string]map[string]struct{}, len(inh))
		for i := range inh {
			p.state.inhibit[i] = map[string]map[string]struct{}{}
		}
		for _, inc := range p.state.byFP {
			if inc.Status == incident.Open {
				p.state.indexInhibit(inc, true)
			}
		}
	}
	return p.state, nil
}

func equalKey(fields []string, e *event.Event) string {
	if len(fields) == 1 {
		return e.Field(fields[0])
	}
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(e.Field(f))
		b.WriteByte(0)
	}
	return b.String()
}

// indexInhibit adds (or removes) an open incident to the inhibit index.
func (s *incidentState) indexInhibit(inc *incident.Incident, add bool) {
	for i, in := range s.set.Inhibits() {
		if !in.SourceMatches(&inc.Event) {
			continue
		}
		k := equalKey(in.Equal, &inc.Event)
		m := s.inhibit[i][k]
		if add {
			if m == nil {
				m = map[string]struct{}{}
				s.inhibit[i][k] = m
			}
			m[inc.Fingerprint] = struct{}{}
			continue
		}
		delete(m, inc.Fingerprint)
		if len(m) == 0 {
			delete(s.inhibit[i], k)
		}
	}
}

// inhibitedBy returns the fingerprint of an open incident that inhibits e,
// or "". An incident never inhibits its own events.
func (s *incidentState) inhibitedBy(e *event.Event, fp string) string {
	for i, in := range s.set.Inhibits() {
		if len(s.inhibit[i]) == 0 || !in.TargetMatches(e) {
			continue
		}
		for src := range s.inhibit[i][equalKey(in.Equal, e)] {
			if src != fp {
				return src
			}
		}
	}
	return ""
}

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
	return &notification.Incident{
		Fingerprint: inc.Fingerprint, Status: incidentStatus(inc.Status), Count: inc.Count,
		NewSince: inc.NewSince, FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen, SinceTime: inc.SinceTime,
		Note: note,
	}
}

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
	for _, a := range r.Actions {
		if _, err := t.enqueueEvent(r, a, op, inc, note, ev); err != nil {
			return 0, err
		}
	}
	return len(r.Actions), nil
}

// hold records that a muted rule held back an event of inc.
func (t *incTx) hold(inc *incident.Incident) {
	if inc.Deferred == nil {
		inc.Deferred = &incident.Deferred{From: t.now}
	}
	inc.Deferred.Count++
	inc.Deferred.Last = t.now
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

// match applies one event to one rule that matched it: silences,
// inhibition, threshold, group_wait, and the open or join of its incident.
// A rule without actions only stops evaluation: it opens no incident.
func (t *incTx) match(ev *event.Event, r *rules.Rule, silence string) error {
	if len(r.Actions) == 0 {
		t.decide(ev, r, "", OutcomeIgnored, 0, "the rule has no actions: it only stops evaluation")
		return nil
	}
	fp := rules.Fingerprint(r, ev)
	if silence != "" {
		t.decide(ev, r, fp, OutcomeSilenced, 0, "silence "+silence)
		return nil
	}
	if src := t.st.inhibitedBy(ev, fp); src != "" {
		t.decide(ev, r, fp, OutcomeInhibited, 0, "open incident "+src)
		return nil
	}
	t.holding = !r.Active(t.now)
	defer func() { t.holding = false }()
	seen := ev.Timestamp
	if seen.IsZero() {
		seen = t.now
	}
	inc := t.st.byFP[fp]
	capped := false
	if inc == nil {
		// Only resolve_when remembers recoveries: other rules need no read.
		if r.HasResolveWhen() && !ev.Timestamp.IsZero() {
			prev, err := t.stored(fp)
			if err != nil {
				return err
			}
			if prev != nil && prev.Status == incident.Resolved && prev.Recovered != nil &&
				ev.Timestamp.Before(prev.Recovered.At) {
				return t.late(ev, r, prev, seen)
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
	if t.holding {
		t.hold(inc)
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
	if th := r.Threshold; th != nil {
		// A sliding window of at most count arrival times: the threshold is
		// met when the oldest of the last count events is within the window.
		w := inc.Window[:0]
		for _, at := range inc.Window {
			if t.now.Sub(at) < th.Within {
				w = append(w, at)
			}
		}
		if len(w) == 0 {
			inc.Event, inc.FirstSeen, inc.WABAID = *ev, seen, ev.WABAID
			t.start(inc)
		}
		w = append(w, t.now)
		if len(w) > th.Count {
			w = w[len(w)-th.Count:]
		}
		inc.Window = w
		if len(w) < th.Count {
			inc.Count = len(w)
			t.decideHeld(ev, r, fp, OutcomeBelowThreshold, 0, fmt.Sprintf("%d of %d within %s", len(w), th.Count, th.Within), capped)
			return nil
		}
		inc.Window, inc.Count = nil, th.Count
	} else {
		inc.Count++
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
		describe(ev), seen.UTC().Format(time.RFC3339), rec.What, rec.At.UTC().Format(time.RFC3339))
	if t.holding {
		t.hold(prev)
		prev.Deferred.Opened, prev.Deferred.Resolved = true, true
		prev.Deferred.Note = joinSentences(prev.Deferred.Note, note)
		t.st.held[prev.Fingerprint] = prev
	}
	n, err := t.send(r, prev, notification.OpOpenResolved, note)
	if err != nil {
		return err
	}
	t.decideHeld(ev, r, prev.Fingerprint, OutcomeLate, n, "its recovery arrived first: told once, as already resolved", false)
	return nil
}

// describe names an event in a few words for notes: "account_update
// disabled_update (reinstate)".
func describe(ev *event.Event) string {
	s := string(ev.Kind)
	if ev.Status != "" {
		s += " " + ev.Status
	}
	if st := ev.Attr("state"); st != "" && st != ev.Status {
		s += " (" + st + ")"
	}
	if ev.Code != 0 {
		s += fmt.Sprintf(" code %d", ev.Code)
	}
	return s
}

// open sends the incident's first message and ticket.
func (t *incTx) open(r *rules.Rule, inc *incident.Incident, note string) (int, error) {
	inc.Status, inc.OpenedAt, inc.LastRepeat = incident.Open, t.now, t.now
	inc.NewSince, inc.SinceTime, inc.OpenAt, inc.Pending, inc.ResolvedAt = 0, t.now, time.Time{}, nil, time.Time{}
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
	inc.Count++
	inc.NewSince++
	if seen.After(inc.LastSeen) {
		inc.LastSeen = seen
	}
	if worse, how := r.Escalates(&inc.Event, ev); worse && !inc.Overflow {
		return t.escalate(ev, r, inc, how)
	}
	if t.holding {
		t.decideHeld(ev, r, inc.Fingerprint, OutcomeJoined, 0, fmt.Sprintf("count %d", inc.Count), capped)
		return nil
	}
	queued, coalesced := 0, 0
	for _, a := range r.Actions {
		if a.Notifier == rules.NotifierJira {
			continue // Jira learns counts from repeat comments only
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
	if r.RepeatInterval > 0 && t.now.Sub(inc.LastRepeat) >= r.RepeatInterval {
		n, err := t.sendEvent(r, inc, notification.OpRepeat, "", ev)
		if err != nil {
			return err
		}
		queued += n
		detail += fmt.Sprintf(", repeat summary of %d since %s", inc.NewSince, inc.SinceTime.Format(time.RFC3339))
		inc.NewSince, inc.SinceTime, inc.LastRepeat = 0, t.now, t.now
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
	if t.holding {
		inc.Deferred.Escalated = joinNote(inc.Deferred.Escalated, how)
		t.decideHeld(ev, r, inc.Fingerprint, OutcomeEscalated, 0, how, false)
		return nil
	}
	n, err := t.send(r, inc, notification.OpEscalate, note)
	if err != nil {
		return err
	}
	inc.NewSince, inc.SinceTime, inc.LastRepeat = 0, t.now, t.now
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
	inc.Status, inc.ResolvedAt, inc.Pending, inc.Window, inc.OpenAt = incident.Resolved, t.now, nil, nil, time.Time{}
	if by != nil && !by.Timestamp.IsZero() {
		inc.Recovered = &incident.Recovery{At: by.Timestamp, What: describe(by)}
	}
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
		note = joinSentences(deferredNote(inc.Deferred), note)
		if inc.Deferred.Opened {
			inc.Deferred = nil
			return t.send(r, inc, notification.OpOpenResolved, note)
		}
		inc.Deferred = nil
	}
	return t.send(r, inc, notification.OpResolve, note)
}

func joinSentences(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
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
			prev.Recovered = &incident.Recovery{At: ev.Timestamp, What: describe(ev), Orphan: true}
			t.touch(prev)
		}
		t.decide(ev, r, fp, OutcomeResolved, 0, "resolve_when: nothing open; remembered, so an older event of this incident that arrives later is told as already resolved")
		return nil
	}
	t.holding = !r.Active(t.now)
	defer func() { t.holding = false }()
	was := inc.Status
	n, err := t.resolve(r, inc, ev, fmt.Sprintf("Resolved by %s at %s.", describe(ev), ev.Timestamp.UTC().Format(time.RFC3339)))
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

// deferredNote says what a mute held back.
func deferredNote(d *incident.Deferred) string {
	if d == nil || d.Count == 0 && d.Escalated == "" && !d.Resolved {
		return ""
	}
	s := fmt.Sprintf("While the rule was muted (mute_time or outside active_time), %d event%s arrived", d.Count, plural(d.Count))
	if !d.From.IsZero() {
		s += fmt.Sprintf(" between %s and %s", d.From.UTC().Format(time.RFC3339), d.Last.UTC().Format(time.RFC3339))
	}
	if d.Escalated != "" {
		s += "; it escalated: " + d.Escalated
	}
	if d.Resolved {
		s += "; it was resolved"
	}
	return joinSentences(s+".", d.Note)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// release tells, in one notification per action, what a mute held back of
// an incident whose rule may notify again.
func (t *incTx) release(r *rules.Rule, inc *incident.Incident) (int, string, error) {
	d := inc.Deferred
	inc.Deferred = nil
	t.touch(inc)
	note := deferredNote(d)
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
		inc.NewSince, inc.SinceTime, inc.LastRepeat = 0, t.now, t.now
	}
	n, err := t.send(r, inc, op, note)
	return n, string(op), err
}

// tick does what time alone decides: pending incidents whose group_wait
// is over open, open incidents quiet for resolve_after resolve, threshold
// windows that emptied are forgotten, and what a mute held back is told
// once the rule may notify.
func (t *incTx) tick() error {
	set := t.rt.Rules
	for fp, inc := range t.st.held {
		r := set.Rule(inc.Rule)
		switch {
		case r == nil || !r.Enabled:
			delete(t.st.held, fp)
			inc.Deferred = nil
			t.touch(inc)
		case r.Active(t.now):
			n, op, err := t.release(r, inc)
			if err != nil {
				return err
			}
			t.decide(&inc.Event, r, fp, OutcomeResolved, n, "the rule may notify again: told what its mute held back ("+op+")")
		}
	}
	for fp, inc := range t.st.byFP {
		r := set.Rule(inc.Rule)
		switch {
		case r == nil || !r.Enabled:
			if inc.Status == incident.Pending {
				// Its rule was removed or disabled by a reload: nothing
				// will ever open it.
				t.st.remove(inc)
				if err := t.tx.DeleteIncident(fp); err != nil {
					return err
				}
			}
		case inc.Status == incident.Pending && !inc.OpenAt.IsZero():
			if t.now.Before(inc.OpenAt) {
				continue
			}
			t.holding = !r.Active(t.now)
			n, err := t.open(r, inc, "")
			t.holding = false
			if err != nil {
				return err
			}
			t.decide(&inc.Event, r, fp, OutcomeOpened, n, fmt.Sprintf("group_wait over, %d events", inc.Count))
		case inc.Status == incident.Pending:
			if r.Threshold != nil && len(inc.Window) > 0 && t.now.Sub(inc.Window[len(inc.Window)-1]) < r.Threshold.Within {
				continue
			}
			t.st.remove(inc)
			delete(t.dirty, fp)
			if err := t.tx.DeleteIncident(fp); err != nil {
				return err
			}
		case r.ResolveAfter > 0 && t.now.Sub(inc.Touched) >= r.ResolveAfter:
			t.holding = !r.Active(t.now)
			n, err := t.resolve(r, inc, nil, "Resolved after "+humanDuration(r.ResolveAfter)+" without events (resolve_after).")
			t.holding = false
			if err != nil {
				return err
			}
			t.decide(&inc.Event, r, fp, OutcomeResolved, n, "resolve_after: quiet for "+r.ResolveAfter.String())
		case inc.Deferred != nil && r.Active(t.now):
			n, op, err := t.release(r, inc)
			if err != nil {
				return err
			}
			t.decide(&inc.Event, r, fp, OutcomeJoined, n, "the rule may notify again: told what its mute held back ("+op+")")
		}
	}
	return nil
}

// due reports whether tick has anything to do for inc at now.
func due(inc *incident.Incident, r *rules.Rule, now time.Time) bool {
	switch {
	case r == nil || !r.Enabled:
		return inc.Status == incident.Pending || inc.Deferred != nil
	case inc.Status == incident.Resolved:
		return inc.Deferred != nil && r.Active(now)
	case inc.Status == incident.Pending && !inc.OpenAt.IsZero():
		return !now.Before(inc.OpenAt)
	case inc.Status == incident.Pending:
		return r.Threshold == nil || len(inc.Window) == 0 || now.Sub(inc.Window[len(inc.Window)-1]) >= r.Threshold.Within
	case r.ResolveAfter > 0 && now.Sub(inc.Touched) >= r.ResolveAfter:
		return true
	}
	return inc.Deferred != nil && r.Active(now)
}

// humanDuration writes whole days as days: "24h0m0s" reads worse than "1d".
func humanDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// fillLinks adds the links of what the incident's other actions made (the
// Jira ticket for the Slack message, the Slack message for the ticket).
func (p *Pipeline) fillLinks(ctx context.Context, e *outbox.Entry) {
	n := &e.Notification
	rt := p.runtime()
	if rt == nil || rt.Rules == nil || !linkable(n.Action.Notifier) {
		return
	}
	r := rt.Rules.Rule(n.Rule.Name)
	if r == nil {
		return
	}
	for _, a := range r.Actions {
		if a.Notifier == n.Action.Notifier || !linkable(a.Notifier) {
			continue
		}
		if _, known := n.Incident.Links[a.Notifier]; known {
			continue
		}
		ref, err := p.st.GetRef(ctx, OrderingKey(n.Incident.Fingerprint, a))
		if err != nil || ref.Link == "" {
			continue
		}
		if n.Incident.Links == nil {
			n.Incident.Links = map[string]string{}
		}
		n.Incident.Links[a.Notifier] = ref.Link
	}
}

// fillIncident brings a notification's incident up to date at send time:
// the reference its message or ticket got (the refs are the one record of
// them), and for open and update the latest counts, so a coalesced update
// shows every event that joined while it waited.
func (p *Pipeline) fillIncident(ctx context.Context, e *outbox.Entry) {
	inc := e.Notification.Incident
	if inc == nil || inc.Fingerprint == "" {
		return
	}
	if ref, err := p.st.GetRef(ctx, e.Key); err == nil {
		inc.Ref, inc.Link = ref.Ref, ref.Link
	}
	p.fillLinks(ctx, e)
	switch e.Notification.Op {
	case notification.OpOpen, notification.OpUpdate:
	default:
		return // a repeat or resolve tells the counts as they were then
	}
	cur, err := p.st.GetIncident(ctx, inc.Fingerprint)
	if err != nil || cur.Status != incident.Open {
		return
	}
	inc.Count, inc.NewSince, inc.FirstSeen, inc.LastSeen, inc.SinceTime =
		cur.Count, cur.NewSince, cur.FirstSeen, cur.LastSeen, cur.SinceTime
}
