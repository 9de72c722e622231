// Package outbox holds the notifications waiting to be sent and those that
// failed for good, as the store keeps them and the operator commands show
// them.
package outbox

import (
	"time"

	"github.com/wabridge/wabridge/internal/notification"
)

// Entry is one notification waiting to be sent.
type Entry struct {
	ID           string                    `json:"id"`
	Notification notification.Notification `json:"notification"`
	// Key orders entries: entries with the same key are sent one at a time,
	// in creation order.
	Key         string    `json:"key"`
	Attempts    int       `json:"attempts"`
	Created     time.Time `json:"created"`
	ReceivedAt  time.Time `json:"received_at"` // when the delivery arrived, for latency
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	// LastReason classifies LastError (rate_limited, transient, auth ...).
	LastReason string `json:"last_reason,omitempty"`
}

// DeadLetter is a notification that failed for good.
type DeadLetter struct {
	Entry
	Reason string    `json:"reason"` // rate_limited, transient, auth, permanent, no_notifier ...
	Died   time.Time `json:"died"`
}
