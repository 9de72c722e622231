package pipeline

import (
	"context"
	"strings"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
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

func (p *Pipeline) loadIncidents(ctx context.Context, pt *partition) (*incidentState, error) {
	all, err := p.st.LiveIncidents(ctx, pt.fence)
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

// incidents returns the partition's state, loading it when needed, with
// the inhibit index built for set. The caller holds pt.mu.
func (p *Pipeline) incidents(ctx context.Context, pt *partition, set *rules.Set) (*incidentState, error) {
	if pt.state == nil {
		if pt.isLost() {
			return nil, &store.FencedError{Fence: pt.fence}
		}
		s, err := p.loadIncidents(ctx, pt)
		if err != nil {
			return nil, err
		}
		pt.state = s
	}
	st := pt.state
	if st.inhibit == nil || st.set != set {
		st.set = set
		inh := set.Inhibits()
		st.inhibit = make([]map[string]map[string]struct{}, len(inh))
		for i := range inh {
			st.inhibit[i] = map[string]map[string]struct{}{}
		}
		for _, inc := range st.byFP {
			if inc.Status == incident.Open {
				st.indexInhibit(inc, true)
			}
		}
	}
	return st, nil
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
