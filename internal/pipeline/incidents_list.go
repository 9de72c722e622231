package pipeline

import (
	"sort"

	"github.com/wabridge/wabridge/internal/store"
)

// ListIncidents returns the incidents in the store, the most recently active
// first: open and pending ones, and resolved ones too when all is set (they
// stay until the sweeper removes them).
func (p *Pipeline) ListIncidents(all bool) ([]Incident, error) {
	list, err := p.st.Incidents()
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, inc := range list {
		if all || inc.Status != store.IncidentResolved {
			out = append(out, inc)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out, nil
}
