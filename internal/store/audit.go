package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/outbox"
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
func putAudit(tx *bolt.Tx, rec *audit.Record, body Payload, until time.Time) error {
	if rec.ID == "" {
		rec.ID = audit.ID(rec.ReceivedAt, rec.DeliveryID)
	}
	k := []byte(rec.ID)
	if err := appendOnly(tx, bAudit).Put(k, appendAuditRecord(nil, rec)); err != nil {
		return err
	}
	if body.ref != nil {
		if err := appendOnly(tx, bAuditRefs).Put(k, encodeLocation(*body.ref)); err != nil {
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
	return appendOnly(tx, bExpiry).Put(expiryKey(until, expAudit, k), nil)
}

// appendOnly returns a bucket whose keys mostly arrive in ascending order
// (they start with a time or a sequence), with its pages filled before
// they split rather than at bbolt's default of half: an appended key
// never lands in a page that was split, so the pages stay full, and the
// file and the pages each commit writes are about half as many.
func appendOnly(tx *bolt.Tx, name []byte) *bolt.Bucket {
	b := tx.Bucket(name)
	b.FillPercent = 0.95
	return b
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
func putNote(tx *bolt.Tx, e *outbox.Entry, result, ref, reason string, at time.Time) error {
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
	note := audit.Notification{
		ID: e.ID, Event: n.Event.ID, Rule: n.Rule.Name, Notifier: n.Action.Notifier,
		Target: n.Action.Target, Op: string(n.Op), Result: result, Ref: ref, Reason: reason,
		Attempts: e.Attempts, At: at,
	}
	if result != audit.NoteSent && result != audit.NoteLogged && result != audit.NotePending {
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
	var d outbox.DeadLetter
	if err := json.Unmarshal(v, &d); err != nil {
		return fmt.Errorf("decode entry for the audit trail: %w", err)
	}
	r := ""
	if ref != nil {
		r = ref.Ref
	}
	return putNote(tx, &d.Entry, result, r, "", at)
}

// writeAudit writes a processed delivery's record, links its outbox
// entries (stored already, with their ids) to it and records each as
// pending, in tx.
func writeAudit(tx *bolt.Tx, rec *audit.Record, body Payload, until time.Time, outbox []outbox.Entry) error {
	if err := putAudit(tx, rec, body, until); err != nil {
		return err
	}
	links := appendOnly(tx, bAuditLinks)
	for i := range outbox {
		k, err := idKey(outbox[i].ID)
		if err != nil {
			return fmt.Errorf("link outbox entry to audit record: %w", err)
		}
		if err := links.Put(k, []byte(rec.ID)); err != nil {
			return err
		}
		if err := putNote(tx, &outbox[i], audit.NotePending, "", "", outbox[i].Created); err != nil {
			return err
		}
	}
	return nil
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
func (s *Bolt) AddAudit(ctx context.Context, recs []audit.Record, bodies [][]byte, until time.Time) error {
	if err := s.alive(ctx); err != nil {
		return wrap("add audit records", err)
	}
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
func (s *Bolt) Audit(ctx context.Context, q audit.Query) ([]audit.Record, error) {
	if err := s.alive(ctx); err != nil {
		return nil, wrap("read audit trail", err)
	}
	out := []audit.Record{}
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
			rec, err := decodeAuditRecord(v)
			if err != nil {
				return fmt.Errorf("audit record %q: %w", k, err)
			}
			if !q.Matches(&rec) {
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

func readNotes(tx *bolt.Tx, id []byte) ([]audit.Notification, error) {
	out := []audit.Notification{}
	prefix := append(bytes.Clone(id), 0)
	c := tx.Bucket(bAuditNotes).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var n audit.Notification
		if err := json.Unmarshal(v, &n); err != nil {
			return nil, fmt.Errorf("audit note %d of %q: %w", binary.BigEndian.Uint64(k[len(prefix):]), id, err)
		}
		out = append(out, n) // keys end in the outbox sequence: creation order
	}
	return out, nil
}
