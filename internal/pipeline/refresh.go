package pipeline

import (
	"context"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
)

// fillLinks adds the links of what the incident's other actions made (the
// Jira ticket for the Slack message, the Slack message for the ticket).
func (p *Pipeline) fillLinks(ctx context.Context, e *outbox.Entry) {
	n := &e.Notification
	rt := p.runtime()
	if rt == nil || rt.Rules == nil || !linkable(rt.Rules, n.Action.Notifier) {
		return
	}
	r := rt.Rules.Rule(n.Rule.Name)
	if r == nil {
		return
	}
	for _, a := range r.Actions {
		if a.Notifier == n.Action.Notifier || !linkable(rt.Rules, a.Notifier) {
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
	op := e.Notification.Op
	switch op {
	case notification.OpOpen, notification.OpUpdate, notification.OpNote, notification.OpAck:
	default:
		return // a repeat or resolve tells the counts as they were then
	}
	cur, err := p.st.GetIncident(ctx, inc.Fingerprint)
	if err != nil || cur.Status != incident.Open {
		return
	}
	// The message is edited whole: it shows the acknowledgement as it is
	// now, whether the edit was queued before or after it.
	inc.AckedBy, inc.AckedAt = "", time.Time{}
	if cur.Ack != nil {
		inc.AckedBy, inc.AckedAt = cur.Ack.By, cur.Ack.At
	}
	if rt := p.runtime(); rt != nil && rt.Rules != nil {
		inc.OnDemand = offered(rt.Rules.Rule(e.Notification.Rule.Name), &cur)
	}
	if op == notification.OpNote || op == notification.OpAck {
		return
	}
	inc.Count, inc.NewSince, inc.FirstSeen, inc.LastSeen, inc.SinceTime =
		cur.Count, cur.NewSince, cur.FirstSeen, cur.LastSeen, cur.SinceTime
}
