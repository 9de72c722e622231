package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The audit trail answers "what did the provider send, what did we answer,
// and what came of it" for every delivery within storage.retention. A record
// is keyed by its ID, which starts with the receive time in fixed-width hex,
// so the bucket is its own time index: a query walks it newest first and
// stops at --since. Payloads live in their own bucket so listing never
// decodes them, and notification results in a third, keyed by record ID and
// outbox id, so a send writes a few bytes rather than rewriting the record.
// A fourth links each outbox id to its record, so the send path finds the
// record without decoding the entry, whoever built it.
var (
	bAudit      = []byte("audit")
	bAuditBody  = []byte("audit_body")
	bAuditNotes = []byte("audit_notes")
	bAuditLinks = []byte("audit_links") // outbox sequence → record ID
	// bAuditRefs maps a record to its payload in the inbox log: segment,
	// offset and length, 20 bytes instead of a copy.
	bAuditRefs = []byte("audit_refs")

	auditBuckets = [][]byte{bAudit, bAuditBody, bAuditBodyZ, bAuditNotes, bAuditLinks, bAuditRefs}
)

// expAudit marks audit records in the expiry index.
const expAudit byte = 'a'

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

// AuditRecord is one delivery as the audit trail keeps it.
type AuditRecord struct {
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
	PayloadKept   int                 `json:"payload_kept"`
	Events        []AuditEvent        `json:"events"`
	Notifications []AuditNotification `json:"notifications"`
	// Payload is the raw body as kept; filled only when a query asks.
	Payload string `json:"payload,omitempty"`
}

// AuditEvent is one event of a delivery and what the rules decided.
type AuditEvent struct {
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	Status    string          `json:"status"`
	Code      int             `json:"code,omitempty"`
	Outcome   string          `json:"outcome"` // evaluated, dropped, duplicate
	Decisions []AuditDecision `json:"decisions,omitempty"`
}

// AuditDecision is what one rule decided for one event: matched, muted,
// silenced, inhibited ... with a detail where one helps (the silence id,
// the inhibiting rule).
type AuditDecision struct {
	Rule    string `json:"rule"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// AuditNotification is the latest result of one notification a delivery
// produced.
type AuditNotification struct {
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

// AuditQuery selects audit records. Zero fields select everything.
type AuditQuery struct {
	Since  time.Time // received at or after
	Code   int       // an event with this code
	Source string
	Limit  int  // most records returned, newest first; 0 = no limit
	Body   bool // fill Payload
	// Before, a record ID, starts the walk at the first record older than
	// it: the cursor of the next page.
	Before string
}

// AuditID is the record ID of a delivery: the receive time in fixed-width
// hex (so IDs sort by time) and the delivery ID.
func AuditID(receivedAt time.Time, deliveryID string) string {
	return fmt.Sprintf("%016x.%s", uint64(receivedAt.UnixNano()), deliveryID)
}

// auditIDTime reads the time back from an ID, for the --since cut-off.
func auditIDTime(id []byte) (time.Time, bool) {
	if len(id) < 16 {
		return time.Time{}, false
	}
	n, err := strconv.ParseUint(string(id[:16]), 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(n)), true
}

// putAudit writes a record, its payload and its expiry entry in tx.
func putAudit(tx *bolt.Tx, rec *AuditRecord, body Payload, until time.Time) error {
	if rec.ID == "" {
		rec.ID = AuditID(rec.ReceivedAt, rec.DeliveryID)
	}
	stored := *rec
	stored.Notifications, stored.Payload = nil, ""
	v, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("encode audit record: %w", err)
	}
	k := []byte(rec.ID)
	if err := tx.Bucket(bAudit).Put(k, v); err != nil {
		return err
	}
	if body.ref != nil {
		if err := tx.Bucket(bAuditRefs).Put(k, encodeLocation(*body.ref)); err != nil {
			return err
		}
	} else if len(body.b) > 0 {
		bucket := bAuditBody
		if body.deflated {
			bucket = bAuditBodyZ
		}
		if err := tx.Bucket(bucket).Put(k, body.b); err != nil {
			return err
		}
	}
	return tx.Bucket(bExpiry).Put(expiryKey(until, expAudit, k), nil)
}

// noteKey is record ID, a zero byte, and the outbox sequence: the zero byte
// keeps one record's notes from being a prefix match for another's.
func noteKey(auditID, outboxID string) ([]byte, error) {
	k, err := idKey(outboxID)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(auditID)+9)
	out = append(out, auditID...)
	out = append(out, 0)
	return append(out, k...), nil
}

// putNote records a notification's latest result under its delivery's
// record. An entry without a record, or whose record expired, keeps
// nothing: notes never outlive their record.
func putNote(tx *bolt.Tx, e *OutboxEntry, result, ref, reason string, at time.Time) error {
	ok, err := idKey(e.ID)
	if err != nil {
		return nil // not an outbox id: nothing links it to a record
	}
	auditID := tx.Bucket(bAuditLinks).Get(ok)
	if auditID == nil || tx.Bucket(bAudit).Get(auditID) == nil {
		return nil
	}
	k, err := noteKey(string(auditID), e.ID)
	if err != nil {
		return err
	}
	n := e.Notification
	note := AuditNotification{
		ID: e.ID, Event: n.Event.ID, Rule: n.Rule.Name, Notifier: n.Action.Notifier,
		Target: n.Action.Channel, Op: string(n.Op), Result: result, Ref: ref, Reason: reason,
		Attempts: e.Attempts, At: at,
	}
	if note.Target == "" {
		note.Target = n.Action.Project
	}
	if result != NoteSent && result != NoteLogged && result != NotePending {
		note.Error = e.LastError
	}
	v, err := json.Marshal(note)
	if err != nil {
		return fmt.Errorf("encode audit note: %w", err)
	}
	return tx.Bucket(bAuditNotes).Put(k, v)
}

// noteFromStored records a result for the outbox or dead-letter value v
// under key k, which a caller read in the same transaction.
func noteFromStored(tx *bolt.Tx, k, v []byte, result string, ref *Ref, at time.Time) error {
	if v == nil || tx.Bucket(bAuditLinks).Get(k) == nil {
		return nil // no audit record: skip decoding on the send path
	}
	var d DeadLetter
	if err := json.Unmarshal(v, &d); err != nil {
		return fmt.Errorf("decode entry for the audit trail: %w", err)
	}
	r := ""
	if ref != nil {
		r = ref.Ref
	}
	return putNote(tx, &d.OutboxEntry, result, r, "", at)
}

// writeAudit writes a processed delivery's record, links its outbox
// entries (stored already, with their ids) to it and records each as
// pending, in tx.
func writeAudit(tx *bolt.Tx, rec *AuditRecord, body Payload, until time.Time, outbox []OutboxEntry) error {
	if err := putAudit(tx, rec, body, until); err != nil {
		return err
	}
	links := tx.Bucket(bAuditLinks)
	for i := range outbox {
		k, err := idKey(outbox[i].ID)
		if err != nil {
			return fmt.Errorf("link outbox entry to audit record: %w", err)
		}
		if err := links.Put(k, []byte(rec.ID)); err != nil {
			return err
		}
		if err := putNote(tx, &outbox[i], NotePending, "", "", outbox[i].Created); err != nil {
			return err
		}
	}
	return nil
}

// AuditTx is a write transaction that can keep the audit trail: the
// pipeline writes a delivery's record in the transaction that processes it.
type AuditTx interface {
	// PutAudit writes rec with its payload, expiring at until, and links
	// the outbox entries the delivery produced (stored in the same
	// transaction, with their ids) to it.
	PutAudit(rec *AuditRecord, body Payload, until time.Time, outbox []OutboxEntry) error
}

// deleteAudit removes a record, its payload and its notes.
func deleteAudit(tx *bolt.Tx, id []byte) error {
	if err := tx.Bucket(bAudit).Delete(id); err != nil {
		return err
	}
	if err := tx.Bucket(bAuditBody).Delete(id); err != nil {
		return err
	}
	if err := tx.Bucket(bAuditBodyZ).Delete(id); err != nil {
		return err
	}
	if err := tx.Bucket(bAuditRefs).Delete(id); err != nil {
		return err
	}
	notes, links := tx.Bucket(bAuditNotes), tx.Bucket(bAuditLinks)
	prefix := append(bytes.Clone(id), 0)
	var keys [][]byte
	c := notes.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := notes.Delete(k); err != nil {
			return err
		}
		if err := links.Delete(k[len(prefix):]); err != nil {
			return err
		}
	}
	return nil
}

// AddAudit stores a record of a delivery that never reached the inbox (a
// rejected one), with the payload as kept, until the given time. Records
// share commits through bbolt's Batch.
func (s *Bolt) AddAudit(recs []AuditRecord, bodies [][]byte, until time.Time) error {
	if len(recs) == 0 {
		return nil
	}
	// Compressed before the transaction, which other writers wait for.
	payloads := make([]Payload, len(recs))
	for i := range recs {
		if i < len(bodies) {
			payloads[i] = s.zip.Payload(bodies[i])
		}
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		for i := range recs {
			body := payloads[i]
			rec := recs[i]
			if err := putAudit(tx, &rec, body, until); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("add audit records", err)
}

// Audit returns the records q selects, newest first, with their
// notifications' latest results.
func (s *Bolt) Audit(q AuditQuery) ([]AuditRecord, error) {
	out := []AuditRecord{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		k, v := c.Last()
		if q.Before != "" {
			// Seek finds the first key at or after the cursor; the page
			// starts at the one before it.
			if k, v = c.Seek([]byte(q.Before)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = c.Prev() {
			if !q.Since.IsZero() {
				if at, ok := auditIDTime(k); ok && at.Before(q.Since) {
					break
				}
			}
			var rec AuditRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("audit record %q: %w", k, err)
			}
			if !rec.matches(q) {
				continue
			}
			notes, err := readNotes(tx, k)
			if err != nil {
				return err
			}
			rec.Notifications = notes
			if q.Body {
				if ref := tx.Bucket(bAuditRefs).Get(k); ref != nil {
					rec.Payload = s.loggedPayload(ref, rec.DeliveryID)
				} else if z := tx.Bucket(bAuditBodyZ).Get(k); z != nil {
					b, err := inflate(z)
					if err != nil {
						return fmt.Errorf("audit record %q: %w", k, err)
					}
					rec.Payload = string(b)
				} else {
					rec.Payload = string(tx.Bucket(bAuditBody).Get(k))
				}
			}
			out = append(out, rec)
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("read audit trail", err)
	}
	return out, nil
}

func encodeLocation(loc Location) []byte {
	b := make([]byte, 0, 20)
	b = binary.BigEndian.AppendUint64(b, loc.Segment)
	b = binary.BigEndian.AppendUint64(b, uint64(loc.Offset))
	return binary.BigEndian.AppendUint32(b, uint32(loc.Length))
}

func decodeLocation(b []byte) (Location, bool) {
	if len(b) != 20 {
		return Location{}, false
	}
	return Location{Segment: binary.BigEndian.Uint64(b), Offset: int64(binary.BigEndian.Uint64(b[8:])),
		Length: int32(binary.BigEndian.Uint32(b[16:]))}, true
}

// loggedPayload reads a record's payload from the inbox log. A record
// whose segment is gone, or that is not the delivery's (never expected),
// gives no payload rather than someone else's.
func (s *Bolt) loggedPayload(ref []byte, deliveryID string) string {
	loc, ok := decodeLocation(ref)
	if !ok {
		return ""
	}
	rec, err := s.log.readAt(loc)
	if err != nil || rec.d.ID != deliveryID {
		return ""
	}
	return string(rec.d.Body)
}

func (r *AuditRecord) matches(q AuditQuery) bool {
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

func readNotes(tx *bolt.Tx, id []byte) ([]AuditNotification, error) {
	out := []AuditNotification{}
	prefix := append(bytes.Clone(id), 0)
	c := tx.Bucket(bAuditNotes).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var n AuditNotification
		if err := json.Unmarshal(v, &n); err != nil {
			return nil, fmt.Errorf("audit note %d of %q: %w", binary.BigEndian.Uint64(k[len(prefix):]), id, err)
		}
		out = append(out, n) // keys end in the outbox sequence: creation order
	}
	return out, nil
}
