// Package store owns wabridge's durable state: the inbox of received
// deliveries, the outbox of notifications to send, dead letters, dedup
// records, incidents, silences, the audit trail and the references
// notifiers returned. The ports in ports.go are what the pipeline and the
// operator commands use; Bolt is the embedded default, and storetest is
// the suite every backend passes.
package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/delivery"
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
	// Partition is the partition AddInbox filed the entry under, so the
	// one committer that takes it is woken, not every one.
	Partition int `json:"-"`
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
	// Incident is the fingerprint of the incident the ref belongs to: the
	// sweep of a resolved incident removes its refs with it.
	Incident string `json:"incident,omitempty"`
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
