// Package audit holds the audit trail's records: what the provider sent
// for each delivery, what wabridge answered, what the rules decided for
// each event and what came of each notification, with the query that
// selects them. The store keeps them; the admin API and `wabridge audit`
// show them.
package audit

import (
	"fmt"
	"strings"
	"time"
)

// Signature results recorded for a delivery.
const (
	SignatureValid   = "valid"   // the source's authentication passed
	SignatureInvalid = "invalid" // missing or wrong signature or credentials: 401
)

// Event outcomes recorded for an event before the rules.
const (
	EventEvaluated = "evaluated" // reached the rules
	EventDropped   = "dropped"   // the source's accept filter dropped it
	EventDuplicate = "duplicate" // its id was seen within the dedup window
)

// Notification results.
const (
	NotePending = "pending" // in the outbox, not attempted yet
	NoteSent    = "sent"
	NoteLogged  = "logged" // written to the log standing in for an unconfigured notifier: nothing was sent
	NoteFailed  = "failed" // an attempt failed; it will be retried
	NoteDead    = "dead"   // dead-lettered
)

// Record is one delivery as the audit trail keeps it.
type Record struct {
	ID          string    `json:"id"`
	DeliveryID  string    `json:"delivery_id"`
	Source      string    `json:"source"`
	ReceivedAt  time.Time `json:"received_at"`
	ProcessedAt time.Time `json:"processed_at,omitzero"`
	RemoteAddr  string    `json:"remote_addr"`
	Signature   string    `json:"signature"`
	HTTPStatus  int       `json:"http_status"`
	// Reason says why a delivery was rejected or could not be parsed.
	Reason string `json:"reason,omitempty"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	// PayloadKept is how many bytes of the payload are kept: all of an
	// accepted delivery, a bounded prefix of a rejected one, none of one
	// rejected as unauthenticated (401).
	PayloadKept   int            `json:"payload_kept"`
	Events        []Event        `json:"events"`
	Notifications []Notification `json:"notifications"`
	// Payload is the raw body as kept; filled only when a query asks.
	Payload string `json:"payload,omitempty"`
}

// Event is one event of a delivery and what the rules decided.
type Event struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Status    string     `json:"status"`
	Code      int        `json:"code,omitempty"`
	Outcome   string     `json:"outcome"` // evaluated, dropped, duplicate
	Decisions []Decision `json:"decisions,omitempty"`
}

// Decision is what one rule decided for one event: matched, muted,
// silenced, inhibited ... with a detail where one helps (the silence id,
// the inhibiting rule).
type Decision struct {
	Rule    string `json:"rule"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Notification is the latest result of one notification a delivery
// produced.
type Notification struct {
	ID       string    `json:"id"` // outbox / dead-letter id
	Event    string    `json:"event"`
	Rule     string    `json:"rule"`
	Notifier string    `json:"notifier"`
	Target   string    `json:"target,omitempty"`
	Op       string    `json:"op,omitempty"`
	Result   string    `json:"result"` // pending, sent, failed, dead
	Ref      string    `json:"ref,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Error    string    `json:"error,omitempty"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

// Query selects audit records. Zero fields select everything.
type Query struct {
	Since  time.Time // received at or after
	Code   int       // an event with this code
	Source string
	Limit  int  // most records returned, newest first; 0 = no limit
	Body   bool // fill Payload
	// Before, a record ID, starts the walk at the first record older than
	// it: the cursor of the next page.
	Before string
}

// ID is the record ID of a delivery: the receive time in fixed-width
// hex (so IDs sort by time) and the delivery ID.
func ID(receivedAt time.Time, deliveryID string) string {
	return fmt.Sprintf("%016x.%s", uint64(receivedAt.UnixNano()), deliveryID)
}

// Matches reports whether the query selects r (Limit, Before and Body
// are for the walk, not the record).
func (q Query) Matches(r *Record) bool {
	if !q.Since.IsZero() && r.ReceivedAt.Before(q.Since) {
		return false
	}
	if q.Source != "" && !strings.EqualFold(r.Source, q.Source) {
		return false
	}
	if q.Code != 0 {
		for _, e := range r.Events {
			if e.Code == q.Code {
				return true
			}
		}
		return false
	}
	return true
}
