package notifiers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		reason    Reason
		after     time.Duration
		retryable bool
	}{
		{"rate limited", &Error{Notifier: "slack", Reason: ReasonRateLimited, RetryAfter: 7 * time.Second, Err: errors.New("429")}, ReasonRateLimited, 7 * time.Second, true},
		{"wrapped transient", fmt.Errorf("send: %w", &Error{Reason: ReasonTransient, Err: errors.New("502")}), ReasonTransient, 0, true},
		{"auth", &Error{Reason: ReasonAuth, Err: errors.New("invalid_auth")}, ReasonAuth, 0, false},
		{"permanent", &Error{Reason: ReasonPermanent, Err: errors.New("channel_not_found")}, ReasonPermanent, 0, false},
		{"unclassified", errors.New("boom"), ReasonTransient, 0, true},
		{"canceled", context.Canceled, ReasonTransient, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, after, retry := Classify(tt.err)
			if reason != tt.reason || after != tt.after || retry != tt.retryable {
				t.Fatalf("Classify = (%s, %v, %v), want (%s, %v, %v)", reason, after, retry, tt.reason, tt.after, tt.retryable)
			}
		})
	}
	e := &Error{Notifier: "jira", Reason: ReasonPermanent, Err: errors.New("priority: not valid")}
	if e.Error() != "jira: permanent: priority: not valid" {
		t.Fatalf("Error() = %q", e.Error())
	}
}
