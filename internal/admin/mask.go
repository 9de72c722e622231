package admin

import (
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
)

// MaskDead masks the recipient's number in a dead letter shown to a person;
// the stored one, which a replay sends, keeps it.
func MaskDead(d outbox.DeadLetter) outbox.DeadLetter {
	d.Notification.Event = d.Notification.Event.Masked()
	return d
}

// MaskIncident masks the recipient's number in an incident shown to a person.
func MaskIncident(inc incident.Incident) incident.Incident {
	inc.Event = inc.Event.Masked()
	return inc
}
