package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The kinds of failure that are the caller's, not the service's. Errors
// wrap one of them; Status maps them to HTTP and Client maps HTTP back, so
// a caller tests the same errors whether the service is local or remote.
var (
	// ErrNotFound: no such incident, silence or dead letter (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the action cannot be done now (409): an incident
	// already resolved, a replay whose send failed again.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a request the service cannot read (400).
	ErrInvalid = errors.New("bad request")
	// ErrTooLarge: a request body over its limit (413).
	ErrTooLarge = errors.New("request too large")
	// ErrUnavailable: the action needs what is not here (503): a reload
	// without a running server.
	ErrUnavailable = errors.New("unavailable")
)

// ErrReloadRunning is what Reload returns while another reload runs (409).
var ErrReloadRunning = kind{errors.New("a reload is already running; try again when it has finished"), ErrConflict}

// Status is the HTTP status of an operator error: the one place errors
// become codes.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fromStatus is Status read back: the error a client reports for an
// answer of the admin API, with the server's text.
func fromStatus(code int, msg string) error {
	var k error
	switch code {
	case http.StatusNotFound:
		k = ErrNotFound
	case http.StatusConflict:
		k = ErrConflict
	case http.StatusBadRequest:
		k = ErrInvalid
	case http.StatusRequestEntityTooLarge:
		k = ErrTooLarge
	case http.StatusServiceUnavailable:
		k = ErrUnavailable
	default:
		return errors.New(msg)
	}
	return kind{errors.New(msg), k}
}

// kind is an error of one of the kinds above whose text is its cause's
// alone, which already says what is wrong.
type kind struct {
	err  error
	kind error
}

func (k kind) Error() string   { return k.err.Error() }
func (k kind) Unwrap() []error { return []error{k.err, k.kind} }

// Conflict marks err as ErrConflict, keeping its text.
func Conflict(err error) error { return kind{err, ErrConflict} }

// Invalid marks err as ErrInvalid, keeping its text.
func Invalid(err error) error { return kind{err, ErrInvalid} }

// NotFound marks err as ErrNotFound, keeping its text.
func NotFound(err error) error { return kind{err, ErrNotFound} }

// DecodeJSON reads body as exactly one JSON value into v: a field v does
// not have, or anything after the value, is an error wrapping ErrInvalid.
// Admin requests change state, so a typo'd field must not be ignored, and
// trailing bytes mean the body is not what the client meant to send.
func DecodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %v", tok)
		}
		return fmt.Errorf("%w: after the JSON value: %v", ErrInvalid, err)
	}
	return nil
}
