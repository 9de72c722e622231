// Package store owns wabridge's durable state: the inbox of received
// deliveries, the outbox of notifications to send, dead letters, dedup
// records and the references notifiers returned. Store is the interface the
// pipeline uses; Bolt is the embedded default, and a shared backend can
// implement the same interface later.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
)

var (
	// ErrLocked means another process holds the store open.
	ErrLocked = errors.New("store is in use by another process")
	// ErrNotFound means no record has the requested id.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt means the file exists but is not a wabridge store (or is
	// damaged); it is never overwritten.
	ErrCorrupt = errors.New("not a wabridge store")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store is closed")
)

// Store is the durable state the pipeline needs. Every method is safe for
// concurrent use. Each method that changes more than one record does so
// atomically: a crash leaves either the state before or the state after.
type Store interface {
	// AddInbox durably stores a delivery before the webhook answers; it
	// returns only once the delivery is on disk. Concurrent calls share
	// commits.
	AddInbox(ctx context.Context, d delivery.Delivery) (InboxEntry, error)
	// Inbox returns up to limit entries with a sequence above after, in
	// receive order. An entry that cannot be decoded stops the read with
	// a *DamagedEntryError naming it, for QuarantineInbox.
	Inbox(after uint64, limit int) ([]InboxEntry, error)
	// QuarantineInbox moves an inbox entry that cannot be decoded out of
	// the inbox into the quarantine, as it is stored, so the entries after
	// it can be processed and the bytes stay for an operator. An entry
	// that decodes is left where it is.
	QuarantineInbox(seq uint64) error
	// BeginBatch durably records that inbox entries lo..hi are about to be
	// processed, before anything that could crash the process runs.
	BeginBatch(lo, hi uint64) error
	// Crashes counts a batch left recorded by a process that died as one
	// crash of each of its entries still in the inbox, and returns every
	// inbox entry's crash count.
	Crashes() (map[uint64]int, error)
	// QuarantineCrashed moves the next inbox entry, whose processing
	// crashed the process too often, to the quarantine, with the reason.
	QuarantineCrashed(e InboxEntry, reason string) error

	// Outbox returns every outbox entry in creation order.
	Outbox() ([]outbox.Entry, error)
	// GetOutbox returns one outbox entry.
	GetOutbox(id string) (outbox.Entry, error)
	// UpdateOutbox rewrites an outbox entry after a failed attempt.
	UpdateOutbox(e outbox.Entry) error
	// Sent removes a delivered outbox entry and records the reference the
	// notifier returned, when there is one.
	Sent(id string, ref *Ref) error
	// SentAs is Sent with the result the audit trail records: NoteSent,
	// or NoteLogged when the log stood in for the notifier.
	SentAs(id string, ref *Ref, result string) error
	// Bury moves an outbox entry to the dead letters.
	Bury(d outbox.DeadLetter) error
	// MarkInFlight records, durably, that a send of the entry starts:
	// after a crash the pipeline looks for what it created before sending
	// it again. Sent and Bury clear the mark.
	MarkInFlight(id string, at time.Time) error
	// InFlight returns the marked entries' ids with their marks.
	InFlight() (map[string]time.Time, error)

	// DeadLetters returns every dead letter, oldest first.
	DeadLetters() ([]outbox.DeadLetter, error)
	// GetDead returns one dead letter.
	GetDead(id string) (outbox.DeadLetter, error)
	// PutDead rewrites a dead letter (after a replay failed again).
	PutDead(d outbox.DeadLetter) error
	// DeleteDead removes a dead letter; when ref is not nil it is recorded
	// in the same transaction (a replay that succeeded).
	DeleteDead(id string, ref *Ref) error

	// GetRef returns the reference stored under key.
	GetRef(key string) (Ref, error)
	// IsDuplicate reports whether an event id has a live dedup record.
	IsDuplicate(eventID string, now time.Time) (bool, error)

	// Update runs fn in one write transaction: the pipeline's committer
	// evaluates a batch of deliveries, their incidents and their outbox
	// entries through it, so they commit together.
	Update(fn func(tx Tx) error) error
	// Incidents lists every stored incident.
	Incidents() ([]incident.Incident, error)
	// GetIncident returns one incident by fingerprint.
	GetIncident(fingerprint string) (incident.Incident, error)

	// AddSilence stores a silence and returns it with its id.
	AddSilence(s silence.Silence) (silence.Silence, error)
	// PutSilence replaces a stored silence; a missing id is ErrNotFound.
	PutSilence(s silence.Silence) error
	// Silences lists every silence, expired ones included.
	Silences() ([]silence.Silence, error)
	// ExpireSilence ends a silence at the given time.
	ExpireSilence(id string, at time.Time) (silence.Silence, error)

	// Sweep removes dedup and processed records that expired before now,
	// at most limit of them, and reports how many it removed.
	Sweep(now time.Time, limit int) (int, error)
	// Counts reports the size of each list, walking what it must.
	Counts() (Counts, error)
	// Depths reports the sizes of the inbox, outbox and dead letters only,
	// without walking anything: what metrics read.
	Depths() (Counts, error)
	// AddAudit stores audit records of deliveries that never reached the
	// inbox (rejected ones), with their payloads as kept, until the given time.
	AddAudit(recs []audit.Record, bodies [][]byte, until time.Time) error
	// Audit returns the audit records a query selects, newest first.
	Audit(q audit.Query) ([]audit.Record, error)

	// Check proves the store can still write.
	Check() error
	Close() error
}

// DamagedEntryError is an inbox entry whose stored bytes do not decode
// (disk damage, or a write by something else).
type DamagedEntryError struct {
	Seq uint64
	Err error
}

func (e *DamagedEntryError) Error() string {
	return fmt.Sprintf("inbox entry %d cannot be decoded: %v", e.Seq, e.Err)
}

func (e *DamagedEntryError) Unwrap() error { return e.Err }

// InboxEntry is one stored delivery waiting to be processed.
type InboxEntry struct {
	Seq      uint64            `json:"seq"`
	Delivery delivery.Delivery `json:"delivery"`
	// Location is where the entry's record is in the inbox log: what the
	// audit trail keeps instead of a copy of the payload.
	Location Location `json:"-"`
}

// Ref is what a notifier returned for an incident, under the incident's
// ordering key, so later updates can find the message or ticket.
type Ref struct {
	Key string `json:"key"`
	Ref string `json:"ref"`
	// Link is the URL a person opens for it (a Slack permalink, a Jira
	// browse URL), when the notifier gave one.
	Link    string    `json:"link,omitempty"`
	Updated time.Time `json:"updated"`
}

// Processed is the record kept for a delivery after it left the inbox.
type Processed struct {
	Seq           uint64    `json:"seq"`
	DeliveryID    string    `json:"delivery_id"`
	Source        string    `json:"source"`
	ReceivedAt    time.Time `json:"received_at"`
	ProcessedAt   time.Time `json:"processed_at"`
	Events        int       `json:"events"`
	Dropped       int       `json:"dropped,omitempty"`
	Duplicates    int       `json:"duplicates,omitempty"`
	Notifications int       `json:"notifications,omitempty"`
	// Error says why a delivery could not be parsed; Body then keeps the
	// raw bytes so an operator can look at what the provider sent.
	Error string `json:"error,omitempty"`
	Body  []byte `json:"body,omitempty"`
}

// Counts is the size of each list.
type Counts struct {
	Inbox  int `json:"inbox"`
	Outbox int `json:"outbox"`
	Dead   int `json:"dead"`
	Dedup  int `json:"dedup"`
	// Processed counts the audit records kept (one per delivery within
	// storage.retention; they replaced the processed records).
	Processed int `json:"processed"`
}
