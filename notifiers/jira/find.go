package jira

import (
	"context"
	"time"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

var _ notifiers.Finder = (*Notifier)(nil)

// FindWindow is how long a create may take to show in a label search after
// it was sent: the request's timeout, then the search index's delay.
func (n *Notifier) FindWindow() time.Duration {
	return n.cfg.Timeout + n.cfg.SearchDelay
}

// Find looks for the open ticket an interrupted open of no created: an
// unresolved ticket with the incident's label. A resolved one is not taken
// for it: open decides whether to reopen it or to create another.
func (n *Notifier) Find(ctx context.Context, no *notification.Notification, since time.Time) (notification.Result, bool, error) {
	if no == nil || ref(no) != "" {
		// With a ticket key, open comments on (or reopens) that ticket:
		// nothing a second send would duplicate but a comment.
		return notification.Result{}, false, nil
	}
	t, err := n.search(ctx, fingerprint(no))
	if err != nil || t == nil || t.resolved {
		return notification.Result{}, false, err
	}
	return notification.Result{Ref: t.key}, true, nil
}
