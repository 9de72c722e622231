package incident

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ack says that a person took an incident on: who, when and from where.
// While an incident is acknowledged its repeats are held back; an
// escalation clears the acknowledgement and tells everyone again.
type Ack struct {
	// By names the person as they are shown: "@alice (U0ALICE)" from
	// Slack, the OS or console user otherwise.
	By string    `json:"by"`
	At time.Time `json:"at"`
	// Via is where it was done: slack, cli, api, console.
	Via string `json:"via,omitempty"`
}

// The refusals of Acknowledge. Each leaves the incident as it was.
var (
	ErrResolved     = errors.New("incident is already resolved")
	ErrNotOpen      = errors.New("incident is pending: nothing was sent yet, so there is nothing to acknowledge")
	ErrAcknowledged = errors.New("incident is already acknowledged")
	ErrNoActor      = errors.New("an acknowledgement needs the name of who gives it")
)

// Acknowledge marks inc acknowledged by a at a.At, and reports whether
// that changed it. Only an open incident can be: a pending one told
// nobody yet, a resolved one is over. One already acknowledged keeps its
// first acknowledgement, and the error says by whom; the same person
// again is no change and no error, so a retried request is harmless. A
// refusal leaves inc as it was.
func (inc *Incident) Acknowledge(a Ack) (changed bool, err error) {
	a.By = strings.TrimSpace(a.By)
	switch {
	case a.By == "":
		return false, ErrNoActor
	case inc.Status == Resolved:
		return false, ErrResolved
	case inc.Status != Open:
		return false, ErrNotOpen
	case inc.Ack != nil && inc.Ack.By == a.By:
		return false, nil
	case inc.Ack != nil:
		return false, fmt.Errorf("%w by %s at %s", ErrAcknowledged, inc.Ack.By, inc.Ack.At.UTC().Format(time.RFC3339))
	}
	a.At = a.At.UTC()
	inc.Ack = &a
	return true, nil
}

// Unacknowledge drops inc's acknowledgement and returns the one it had
// (nil when none): what an escalation does, so that the worse state pages
// again and repeats resume.
func (inc *Incident) Unacknowledge() *Ack {
	prev := inc.Ack
	inc.Ack = nil
	return prev
}

// RepeatDue reports whether an open incident's repeat summary is due at
// now: its rule repeats (interval > 0), the interval has passed since the
// last one, and nobody acknowledged it.
func (inc *Incident) RepeatDue(interval time.Duration, now time.Time) bool {
	return inc.Status == Open && inc.Ack == nil && interval > 0 && now.Sub(inc.LastRepeat) >= interval
}
