package pipeline

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/rules"
)

// ListIncidents returns the incidents in the store, the most recently active
// first: open and pending ones, and resolved ones too when all is set (they
// stay until the sweeper removes them).
func (p *Pipeline) ListIncidents(all bool) ([]incident.Incident, error) {
	list, err := p.st.Incidents(context.Background())
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, inc := range list {
		if all || inc.Status != incident.Resolved {
			out = append(out, inc)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out, nil
}

// ErrAlreadyResolved is returned by ResolveIncident for an incident that is
// no longer open.
var ErrAlreadyResolved = incident.ErrResolved

// ResolveIncident resolves an open (or pending) incident by hand, as its
// rule's resolve would: the Slack message is marked resolved, the ticket
// takes resolve_transition, and the next event of the kind opens a new
// incident and pages again. An unknown fingerprint is store.ErrNotFound.
// It returns the incident as resolved and the notifications queued; while
// no server runs on the store they are sent when one starts.
func (p *Pipeline) ResolveIncident(fp string) (incident.Incident, int, error) {
	return p.ResolveIncidentBy(fp, "Resolved by hand (wabridge incidents resolve).", "resolved by hand")
}

// ResolveIncidentBy is ResolveIncident with what its resolve message says
// (note: who resolved it, from where) and what the audit trail records
// (detail).
func (p *Pipeline) ResolveIncidentBy(fp, note, detail string) (incident.Incident, int, error) {
	fp = strings.TrimSpace(fp)
	return p.localOrForward(fp, cmdResolve, resolveArgs{Note: note, Detail: detail}, note, func() (incident.Incident, int, error) {
		return p.resolveLocal(fp, note, detail)
	})
}

// resolveLocal is ResolveIncidentBy in a partition of this process.
func (p *Pipeline) resolveLocal(fp, note, detail string) (incident.Incident, int, error) {
	fp = strings.TrimSpace(fp)
	rt := p.runtime()
	var set *rules.Set
	if rt != nil {
		set = rt.Rules
	}
	pt, state, err := p.partitionOf(context.Background(), set, fp)
	if err != nil {
		return incident.Incident{}, 0, err
	}
	if pt == nil {
		stored, err := p.notLive(context.Background(), fp, func(t time.Time) string { return t.Local().Format(time.DateTime) })
		if stored != nil {
			return *stored, 0, err
		}
		return incident.Incident{}, 0, err
	}
	defer pt.mu.Unlock()
	inc := state.byFP[fp]
	r := set.Rule(inc.Rule)
	now := p.now()
	var t *incTx
	var queued int
	err = p.commit(context.Background(), pt, func(tx store.CommitTx) error {
		t = &incTx{p: p, tx: tx, st: state, rt: rt, now: now, received: now}
		t.holding = r != nil && !r.Active(now)
		n, err := t.resolve(r, inc, nil, note)
		if err != nil {
			return err
		}
		queued = n
		if r == nil {
			detail += "; its rule is gone, so nothing was sent"
		}
		t.decide(&inc.Event, r, fp, OutcomeResolved, n, detail)
		return t.flush()
	})
	if err != nil {
		return incident.Incident{}, 0, err
	}
	p.committed(pt, t)
	return *inc, queued, nil
}
