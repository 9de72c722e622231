// Package sources turns what each provider POSTs into normalized events: one
// adapter per source type, each with the authentication its provider uses.
package sources

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

// Source is one configured provider endpoint (/webhooks/{name}).
type Source interface {
	Name() string
	Type() string
	// Authenticate checks the request's credentials against the raw body.
	// It returns an error wrapping ErrUnauthorized, whose text says what was
	// wrong without echoing any secret or signature.
	Authenticate(r *http.Request, body []byte) error
	// Parse turns a delivery into events. An error wrapping ErrNotJSON or
	// ErrBadPayload means the provider sent something this type cannot read
	// (the webhook answers 400). Events carry Source, a deterministic ID and
	// whatever the provider said; the catalogue enriches them later.
	Parse(d delivery.Delivery) ([]event.Event, error)
	// Accept reports whether an event passes the source's `accept` filter.
	Accept(e *event.Event) bool
}

// Verifier is implemented by sources that answer a GET verification
// handshake (Meta's hub.challenge).
type Verifier interface {
	Verify(q url.Values) (challenge string, ok bool)
}

var (
	// ErrUnauthorized: missing or wrong credentials (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotJSON: the body is not JSON (or form data, for form sources) at all (400).
	ErrNotJSON = errors.New("body is not JSON")
	// ErrBadPayload: the body parses but is not this source type's payload (400).
	ErrBadPayload = errors.New("not a payload of this source type")
)

// Unauthorized wraps ErrUnauthorized with a reason a person can act on.
func Unauthorized(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, fmt.Sprintf(format, a...))
}

// BadPayload wraps ErrBadPayload naming the source type and what was missing.
func BadPayload(sourceType, format string, a ...any) error {
	return fmt.Errorf("%w %s: %s", ErrBadPayload, sourceType, fmt.Sprintf(format, a...))
}
