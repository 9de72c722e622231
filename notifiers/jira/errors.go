package jira

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

// maxDetail caps how much of Jira's error text an error carries.
const maxDetail = 1000

// statusError is a non-2xx answer from Jira, with the messages it gave.
type statusError struct {
	status int
	detail string // errorMessages and field errors, "priority: Priority name 'Urgent' is not valid"
	hint   string
}

func (e *statusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %d (%s)", e.status, http.StatusText(e.status))
	if e.detail != "" {
		b.WriteString(": ")
		b.WriteString(e.detail)
	}
	if e.hint != "" {
		b.WriteString(" (")
		b.WriteString(e.hint)
		b.WriteString(")")
	}
	return b.String()
}

// fail classifies what a go-jira call returned. no may be nil when the call
// is not about one notification.
func (n *Notifier) fail(no *notification.Notification, what string, resp *gojira.Response, err error) error {
	var hr *http.Response
	if resp != nil {
		hr = resp.Response
	}
	if hr == nil {
		// No answer: connection refused, timeout, cancelled. The *url.Error
		// is unwrapped because its text carries the full URL and query.
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err
		}
		return &notifiers.Error{Notifier: name, Reason: notifiers.ReasonTransient, Err: fmt.Errorf("%s: %w", what, cause)}
	}
	se := &statusError{status: hr.StatusCode, detail: apiDetail(hr, err)}
	e := &notifiers.Error{Notifier: name}
	switch code := hr.StatusCode; {
	case code >= 200 && code < 300:
		// Jira did the work but its answer did not read: a retry could do
		// it twice.
		se.detail = "the answer could not be read"
		e.Reason = notifiers.ReasonPermanent
	case code == http.StatusBadRequest:
		e.Reason = notifiers.ReasonPermanent
		attrs := []any{"op", what, "status", code, "errors", se.detail}
		if no != nil {
			attrs = append(attrs, "rule", no.Rule.Name, "notification", no.ID)
		}
		n.logger.Warn("jira rejected the request", attrs...)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		se.hint = "check notifiers.jira.user and token, and the account's permissions on the project"
		e.Reason = notifiers.ReasonAuth
	case code == http.StatusNotFound:
		se.hint = "the project or issue does not exist, or the account cannot see it"
		e.Reason = notifiers.ReasonPermanent
	case code == http.StatusGone:
		if !n.cloud {
			se.hint = "Jira Cloud retired /rest/api/2/search: set notifiers.jira.api_type to cloud"
		}
		e.Reason = notifiers.ReasonPermanent
	case code == http.StatusTooManyRequests:
		e.Reason = notifiers.ReasonRateLimited
		e.RetryAfter = retryAfter(hr.Header.Get("Retry-After"), n.now())
	case code == http.StatusRequestTimeout || code >= 500:
		e.Reason = notifiers.ReasonTransient
	default:
		e.Reason = notifiers.ReasonPermanent
	}
	// Wrapped last: fmt.Errorf formats now, after the hint is known.
	e.Err = fmt.Errorf("%s: %w", what, se)
	return e
}

// apiDetail returns Jira's errorMessages and field errors. go-jira has read
// the body into a *gojira.Error for most calls; Create leaves it unread.
func apiDetail(hr *http.Response, err error) string {
	var je *gojira.Error
	if errors.As(err, &je) {
		return formatDetail(je.ErrorMessages, je.Errors)
	}
	if hr == nil || hr.Body == nil {
		return ""
	}
	defer hr.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(hr.Body, 64<<10))
	if rerr != nil || len(b) == 0 {
		return ""
	}
	var body struct {
		ErrorMessages []string          `json:"errorMessages"`
		Errors        map[string]string `json:"errors"`
	}
	// Anything but Jira's JSON (a proxy's HTML page) is left out.
	if json.Unmarshal(b, &body) != nil {
		return ""
	}
	return formatDetail(body.ErrorMessages, body.Errors)
}

func formatDetail(messages []string, fields map[string]string) string {
	parts := make([]string, 0, len(messages)+len(fields))
	for _, m := range messages {
		if m = strings.TrimSpace(m); m != "" {
			parts = append(parts, m)
		}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+": "+fields[k])
	}
	return truncate(strings.Join(parts, "; "), maxDetail, "…")
}

// retryAfter reads Retry-After as seconds or as an HTTP date; 0 when absent
// or unreadable, leaving the wait to the pipeline's backoff.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}
