package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/rules"
)

// Incident is the durable state of one incident.
type Incident = store.Incident

// incidentState is the committer's copy of the incidents that are pending
// or open, so evaluating an event reads no record from disk. The store
// holds the truth: the copy is loaded from it, changed only inside the
// committer's transactions, and dropped when one fails.
type incidentState struct {
	byFP map[string]*store.Incident

	// set is the rule set the inhibit index was built for; a reload that
	// swaps the set rebuilds it.
	set *rules.Set
	// inhibit holds, per inhibit rule, the open incidents whose event
	// matches its source_match, keyed by the values of its equal fields.
	inhibit []map[string]map[string]struct{}
}

func (p *Pipeline) loadIncidents() (*incidentState, error) {
	all, err := p.st.Incidents()
	if err != nil {
		return nil, err
	}
	s := &incidentState{byFP: make(map[string]*store.Incident, len(all))}
	for i := range all {
		if all[i].Status != store.IncidentResolved {
			s.byFP[all[i].Fingerprint] = &all[i]
		}
	}
	return s, nil
}

// incidents returns the state, loading it when needed, with the inhibit
// index built for set. The caller holds stateMu.
func (p *Pipeline) incidents(set *rules.Set) (*incidentState, error) {
	if p.state == nil {
		s, err := p.loadIncidents()
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
			if inc.Status == store.IncidentOpen {
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
func (s *incidentState) indexInhibit(inc *store.Incident, add bool) {
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
	tx        store.Tx
	st        *incidentState
	rt        *Runtime
	now       time.Time
	received  time.Time
	outbox    []store.OutboxEntry
	decisions []Decision
	dirty     map[string]*store.Incident
	// started holds the incidents whose Event changed: written once, not
	// with every count.
	started map[string]bool
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
		if inc.Status == store.IncidentResolved {
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
func (t *incTx) start(inc *store.Incident) {
	if t.started == nil {
		t.started = map[string]bool{}
	}
	t.started[inc.Fingerprint] = true
}

func (t *incTx) touch(inc *store.Incident) {
	if t.dirty == nil {
		t.dirty = map[string]*store.Incident{}
	}
	t.dirty[inc.Fingerprint] = inc
}

func (t *incTx) enqueue(r *rules.Rule, a notifiers.Action, op notifiers.Op, inc *store.Incident) (store.OutboxEntry, error) {
	var entry catalog.Entry
	if t.rt != nil && t.rt.Catalog != nil {
		entry, _ = t.rt.Catalog.ForEvent(&inc.Event)
	}
	n := notifiers.Notification{
		Rule:     r.Ref(),
		Action:   a,
		Op:       op,
		Event:    inc.Event,
		Catalog:  entry,
		Incident: snapshot(inc),
	}
	e, err := t.tx.AddOutbox(store.OutboxEntry{
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

func snapshot(inc *store.Incident) *notifiers.Incident {
	return &notifiers.Incident{
		Fingerprint: inc.Fingerprint, Status: incidentStatus(inc.Status), Count: inc.Count,
		NewSince: inc.NewSince, FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen, SinceTime: inc.SinceTime,
	}
}

// incidentStatus is what notifiers see: open until resolved.
func incidentStatus(s string) string {
	if s == store.IncidentResolved {
		return store.IncidentResolved
	}
	return store.IncidentOpen
}

// match applies one event to one rule that matched it: silences,
// inhibition, threshold, group_wait, and the open or join of its incident.
func (t *incTx) match(ev *event.Event, r *rules.Rule, silence string) error {
	if !r.Active(t.now) {
		t.decide(ev, r, "", OutcomeMuted, 0, "outside active_time or inside mute_time")
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
	seen := ev.Timestamp
	if seen.IsZero() {
		seen = t.now
	}
	inc := t.st.byFP[fp]
	if inc == nil {
		inc = &store.Incident{Fingerprint: fp, Rule: r.Name, Status: store.IncidentPending,
			FirstSeen: seen, Event: *ev, WABAID: ev.WABAID}
		t.st.byFP[fp] = inc
		t.start(inc)
	}
	t.touch(inc)
	inc.Touched = t.now
	if inc.Status == store.IncidentOpen {
		return t.join(ev, r, inc, seen)
	}
	inc.LastSeen = seen
	if !inc.OpenAt.IsZero() {
		inc.Count++
		t.decide(ev, r, fp, OutcomeJoined, 0, fmt.Sprintf("pending until %s (group_wait), %d events", inc.OpenAt.Format(time.RFC3339), inc.Count))
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
			t.decide(ev, r, fp, OutcomeBelowThreshold, 0, fmt.Sprintf("%d of %d within %s", len(w), th.Count, th.Within))
			return nil
		}
		inc.Window, inc.Count = nil, th.Count
	} else {
		inc.Count++
	}
	if r.GroupWait > 0 {
		inc.OpenAt = t.now.Add(r.GroupWait)
		t.decide(ev, r, fp, OutcomeMatched, 0, "opens at "+inc.OpenAt.Format(time.RFC3339)+" (group_wait)")
		return nil
	}
	n, err := t.open(r, inc)
	if err != nil {
		return err
	}
	t.decide(ev, r, fp, OutcomeOpened, n, fmt.Sprintf("%d events", inc.Count))
	return nil
}

// open sends the incident's first message and ticket.
func (t *incTx) open(r *rules.Rule, inc *store.Incident) (int, error) {
	inc.Status, inc.OpenedAt, inc.LastRepeat = store.IncidentOpen, t.now, t.now
	inc.NewSince, inc.SinceTime, inc.OpenAt, inc.Pending, inc.ResolvedAt = 0, t.now, time.Time{}, nil, time.Time{}
	t.touch(inc)
	t.st.indexInhibit(inc, true)
	for _, a := range r.Actions {
		if _, err := t.enqueue(r, a, notifiers.OpOpen, inc); err != nil {
			return 0, err
		}
	}
	return len(r.Actions), nil
}

// join counts an event into an open incident: one waiting update per
// action, and a repeat summary at most once per repeat_interval.
func (t *incTx) join(ev *event.Event, r *rules.Rule, inc *store.Incident, seen time.Time) error {
	inc.Count++
	inc.NewSince++
	if seen.After(inc.LastSeen) {
		inc.LastSeen = seen
	}
	queued, coalesced := 0, 0
	for _, a := range r.Actions {
		if a.Notifier == rules.NotifierJira {
			continue // Jira learns counts from repeat comments only
		}
		key := OrderingKey(inc.Fingerprint, a)
		if id := inc.Pending[key]; id != "" && t.tx.OutboxHas(id) {
			coalesced++
			continue
		}
		e, err := t.enqueue(r, a, notifiers.OpUpdate, inc)
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
		for _, a := range r.Actions {
			if _, err := t.enqueue(r, a, notifiers.OpRepeat, inc); err != nil {
				return err
			}
			queued++
		}
		detail += fmt.Sprintf(", repeat summary of %d since %s", inc.NewSince, inc.SinceTime.Format(time.RFC3339))
		inc.NewSince, inc.SinceTime, inc.LastRepeat = 0, t.now, t.now
	}
	if coalesced > 0 {
		detail += fmt.Sprintf(", %d update(s) already waiting", coalesced)
	}
	t.decide(ev, r, inc.Fingerprint, OutcomeJoined, queued, detail)
	return nil
}

// resolve ends an incident: a resolved message and ticket for each action.
// A pending incident sent nothing, so it just goes.
func (t *incTx) resolve(r *rules.Rule, inc *store.Incident) (int, error) {
	wasOpen := inc.Status == store.IncidentOpen
	if wasOpen {
		t.st.indexInhibit(inc, false)
	}
	inc.Status, inc.ResolvedAt, inc.Pending, inc.Window, inc.OpenAt = store.IncidentResolved, t.now, nil, nil, time.Time{}
	delete(t.st.byFP, inc.Fingerprint)
	t.touch(inc)
	if !wasOpen {
		return 0, nil
	}
	for _, a := range r.Actions {
		if _, err := t.enqueue(r, a, notifiers.OpResolve, inc); err != nil {
			return 0, err
		}
	}
	return len(r.Actions), nil
}

// resolveBy resolves the incident a resolve_when rule's fingerprint names.
func (t *incTx) resolveBy(ev *event.Event, r *rules.Rule) error {
	fp := rules.Fingerprint(r, ev)
	inc := t.st.byFP[fp]
	if inc == nil {
		return nil
	}
	was := inc.Status
	n, err := t.resolve(r, inc)
	if err != nil {
		return err
	}
	detail := "resolve_when"
	if was != store.IncidentOpen {
		detail += ": it had not opened yet, nothing was sent"
	}
	t.decide(ev, r, fp, OutcomeResolved, n, detail)
	return nil
}

// tick does what time alone decides: pending incidents whose group_wait
// is over open, open incidents quiet for resolve_after resolve, and
// threshold windows that emptied are forgotten.
func (t *incTx) tick() error {
	set := t.rt.Rules
	for fp, inc := range t.st.byFP {
		r := set.Rule(inc.Rule)
		switch {
		case r == nil || !r.Enabled:
			if inc.Status == store.IncidentPending {
				// Its rule was removed or disabled by a reload: nothing
				// will ever open it.
				delete(t.st.byFP, fp)
				if err := t.tx.DeleteIncident(fp); err != nil {
					return err
				}
			}
		case inc.Status == store.IncidentPending && !inc.OpenAt.IsZero():
			if t.now.Before(inc.OpenAt) {
				continue
			}
			n, err := t.open(r, inc)
			if err != nil {
				return err
			}
			t.decide(&inc.Event, r, fp, OutcomeOpened, n, fmt.Sprintf("group_wait over, %d events", inc.Count))
		case inc.Status == store.IncidentPending:
			if r.Threshold != nil && len(inc.Window) > 0 && t.now.Sub(inc.Window[len(inc.Window)-1]) < r.Threshold.Within {
				continue
			}
			delete(t.st.byFP, fp)
			delete(t.dirty, fp)
			if err := t.tx.DeleteIncident(fp); err != nil {
				return err
			}
		case r.ResolveAfter > 0 && t.now.Sub(inc.Touched) >= r.ResolveAfter:
			n, err := t.resolve(r, inc)
			if err != nil {
				return err
			}
			t.decide(&inc.Event, r, fp, OutcomeResolved, n, "resolve_after: quiet for "+r.ResolveAfter.String())
		}
	}
	return nil
}

// fillIncident brings a notification's incident up to date at send time:
// the reference its message or ticket got (the refs are the one record of
// them), and for open and update the latest counts, so a coalesced update
// shows every event that joined while it waited.
func (p *Pipeline) fillIncident(e *store.OutboxEntry) {
	inc := e.Notification.Incident
	if inc == nil || inc.Fingerprint == "" {
		return
	}
	if ref, err := p.st.GetRef(e.Key); err == nil {
		inc.Ref = ref.Ref
	}
	switch e.Notification.Op {
	case notifiers.OpOpen, notifiers.OpUpdate:
	default:
		return // a repeat or resolve tells the counts as they were then
	}
	cur, err := p.st.GetIncident(inc.Fingerprint)
	if err != nil || cur.Status != store.IncidentOpen {
		return
	}
	inc.Count, inc.NewSince, inc.FirstSeen, inc.LastSeen, inc.SinceTime =
		cur.Count, cur.NewSince, cur.FirstSeen, cur.LastSeen, cur.SinceTime
}
