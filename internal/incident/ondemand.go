package incident

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrAlreadyRequested refuses a second request for what an action makes
// only on demand: the ticket is created once.
var ErrAlreadyRequested = errors.New("already asked for")

// RequestOnDemand records that a person asked for what the action under
// key (its ordering key) makes only on demand, a Jira ticket with
// on_demand: true: from now on that action is sent as the rule's other
// actions are. Only an open incident can be asked; asking twice is
// refused, saying by whom, so the ticket is created once.
func (inc *Incident) RequestOnDemand(key string, a Ack) error {
	a.By = strings.TrimSpace(a.By)
	switch {
	case a.By == "":
		return ErrNoActor
	case inc.Status == Resolved:
		return ErrResolved
	case inc.Status != Open:
		return ErrNotOpen
	}
	if prev, ok := inc.OnDemand[key]; ok {
		return fmt.Errorf("%w by %s at %s", ErrAlreadyRequested, prev.By, prev.At.UTC().Format(time.RFC3339))
	}
	a.At = a.At.UTC()
	m := make(map[string]Ack, len(inc.OnDemand)+1)
	for k, v := range inc.OnDemand {
		m[k] = v
	}
	m[key] = a
	inc.OnDemand = m
	return nil
}

// Requested reports whether the on-demand action under key was asked for.
func (inc *Incident) Requested(key string) bool {
	_, ok := inc.OnDemand[key]
	return ok
}
