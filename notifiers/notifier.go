// Package notifiers defines what every notifier (slack, jira, log)
// satisfies. The notification they are handed is internal/notification.
// Notifiers classify their failures; the pipeline alone decides when to
// retry.
package notifiers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/notification"
)

// Notifier sends notifications. Implementations are safe for concurrent use
// and never sleep to retry: they return an *Error saying whether to.
type Notifier interface {
	Render(n *notification.Notification) (notification.Message, error)
	Notify(ctx context.Context, n *notification.Notification) (notification.Result, error)
}

// Reason classifies a failure for logs, metrics and the retry decision.
type Reason string

const (
	ReasonRateLimited Reason = "rate_limited" // 429: retry after RetryAfter
	ReasonTransient   Reason = "transient"    // 5xx, timeouts, connection errors: retry with backoff
	ReasonAuth        Reason = "auth"         // bad token or permissions: fix the config
	ReasonPermanent   Reason = "permanent"    // bad channel, Jira field errors ...: retrying cannot help
)

// Error is a classified notifier failure.
type Error struct {
	Notifier   string
	Reason     Reason
	RetryAfter time.Duration // set with ReasonRateLimited when the server said
	Err        error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Notifier, e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the failure may succeed later.
func (e *Error) Retryable() bool {
	return e.Reason == ReasonRateLimited || e.Reason == ReasonTransient
}

// Classify returns the classification of err. An error that is not an
// *Error (a send cut off by shutdown, say) is treated as transient: an
// unknown failure is worth a retry, and retries are bounded by the pipeline.
func Classify(err error) (reason Reason, retryAfter time.Duration, retryable bool) {
	var ne *Error
	if errors.As(err, &ne) {
		return ne.Reason, ne.RetryAfter, ne.Retryable()
	}
	return ReasonTransient, 0, true
}

// Finder is implemented by notifiers that can find again what an open
// created when the pipeline cannot know whether it went out: the process
// died during the send, or the request timed out. The pipeline asks before
// sending such an open again, so it does not create a second message or
// ticket.
type Finder interface {
	// Find looks for the message or ticket an open of n created at or
	// after since; found false means none is visible now.
	Find(ctx context.Context, n *notification.Notification, since time.Time) (res notification.Result, found bool, err error)
	// FindWindow is how long after a send started what it created may
	// still become visible (the request's timeout, a search index's delay).
	FindWindow() time.Duration
}
