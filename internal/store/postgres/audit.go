package postgres

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
)

// The audit trail: a record per delivery keyed by audit.ID (the receive
// time in hex first, so the key is the time index), its payload beside it
// (compressed when that helps), the notes of its notifications in
// audit_notes and the link from each outbox id to its record in
// audit_links. Retention is per record (the expires column and its index),
// so the sweep deletes the expired rows in bounded batches and never walks
// live ones; notes and links go with their record (ON DELETE CASCADE).

// putAudit writes a record and its payload in tx.
func putAudit(ctx context.Context, tx pgx.Tx, rec *audit.Record, body store.Payload, until time.Time) error {
	var b pgx.Batch
	if err := queueAudit(&b, rec, body, until); err != nil {
		return err
	}
	return tx.SendBatch(ctx, &b).Close()
}

// queueAudit queues the write of a record and its payload.
func queueAudit(b *pgx.Batch, rec *audit.Record, body store.Payload, until time.Time) error {
	if rec.ID == "" {
		rec.ID = audit.ID(rec.ReceivedAt, rec.DeliveryID)
	}
	stored := *rec
	stored.Notifications, stored.Payload = nil, ""
	doc, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("encode audit record: %w", err)
	}
	payload, deflated := body.Bytes()
	if _, logged := body.Logged(); logged {
		// Only the embedded store's inbox log makes such payloads; this
		// store's inbox entries carry no location.
		return fmt.Errorf("audit record %s: a payload in the embedded store's inbox log cannot be kept here", rec.ID)
	}
	b.Queue(`INSERT INTO audit (id, source, expires, doc, body, deflated) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, expires = EXCLUDED.expires, doc = EXCLUDED.doc,
			body = EXCLUDED.body, deflated = EXCLUDED.deflated`,
		rec.ID, rec.Source, until.UnixNano(), doc, payload, deflated)
	return nil
}

// putNote records a notification's latest result under its delivery's
// record; an entry without a record keeps nothing.
func putNote(ctx context.Context, tx pgx.Tx, e *outbox.Entry, result, ref, reason string, at time.Time) error {
	id, err := strconv.ParseInt(e.ID, 10, 64)
	if err != nil {
		return nil
	}
	doc, err := noteDoc(e, result, ref, reason, at)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_notes (audit_id, outbox_id, doc)
		SELECT audit_id, outbox_id, $2 FROM audit_links WHERE outbox_id = $1
		ON CONFLICT (audit_id, outbox_id) DO UPDATE SET doc = EXCLUDED.doc`, id, doc)
	return err
}

// queueLinks queues the links of outbox entries to their delivery's
// record and a pending note for each, in one statement.
func queueLinks(b *pgx.Batch, auditID string, entries []outbox.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ids := make([]int64, len(entries))
	docs := make([][]byte, len(entries))
	for i := range entries {
		id, err := strconv.ParseInt(entries[i].ID, 10, 64)
		if err != nil {
			return fmt.Errorf("link outbox entry %q to audit record: not an outbox id", entries[i].ID)
		}
		ids[i] = id
		if docs[i], err = noteDoc(&entries[i], audit.NotePending, "", "", entries[i].Created); err != nil {
			return err
		}
	}
	b.Queue(`WITH l AS (
			INSERT INTO audit_links (outbox_id, audit_id) SELECT id, $2 FROM unnest($1::bigint[]) AS u(id)
			ON CONFLICT (outbox_id) DO UPDATE SET audit_id = EXCLUDED.audit_id
			RETURNING outbox_id, audit_id)
		INSERT INTO audit_notes (audit_id, outbox_id, doc)
		SELECT l.audit_id, l.outbox_id, u.doc FROM l JOIN unnest($1::bigint[], $3::bytea[]) AS u(id, doc) ON u.id = l.outbox_id
		ON CONFLICT (audit_id, outbox_id) DO UPDATE SET doc = EXCLUDED.doc`, ids, auditID, docs)
	return nil
}

// noteDoc is a notification's audit note as stored.
func noteDoc(e *outbox.Entry, result, ref, reason string, at time.Time) ([]byte, error) {
	n := e.Notification
	note := audit.Notification{
		ID: e.ID, Event: n.Event.ID, Rule: n.Rule.Name, Notifier: n.Action.Notifier,
		Target: n.Action.Target, Op: string(n.Op), Result: result, Ref: ref, Reason: reason,
		Attempts: e.Attempts, At: at,
	}
	if result != audit.NoteSent && result != audit.NoteLogged && result != audit.NotePending {
		note.Error = e.LastError
	}
	doc, err := json.Marshal(note)
	if err != nil {
		return nil, fmt.Errorf("encode audit note: %w", err)
	}
	return doc, nil
}

// AddAudit stores records of deliveries that never reached the inbox.
func (s *Store) AddAudit(ctx context.Context, recs []audit.Record, bodies [][]byte, until time.Time) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("add audit records", err)
	}
	if len(recs) == 0 {
		return nil
	}
	payloads := make([]store.Payload, len(recs))
	for i := range recs {
		if i < len(bodies) {
			payloads[i] = s.zip.Payload(bodies[i])
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for i := range recs {
			rec := recs[i]
			if err := putAudit(ctx, tx, &rec, payloads[i], until); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap("add audit records", err)
}

// auditPage is how many records one read of the walk fetches.
const auditPage = 500

// Audit returns the records q selects, newest first, with their
// notifications' latest results. The walk reads pages of the key index
// and stops at the limit or at --since.
func (s *Store) Audit(ctx context.Context, q audit.Query) ([]audit.Record, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("read audit trail", err)
	}
	out := []audit.Record{}
	var since *string
	if !q.Since.IsZero() {
		v := fmt.Sprintf("%016x", uint64(q.Since.UnixNano()))
		since = &v
	}
	before := q.Before
	var src *string
	if q.Source != "" {
		v := strings.ToLower(q.Source)
		src = &v
	}
	for {
		var cursor *string
		if before != "" {
			cursor = &before
		}
		rows, err := s.pool.Query(ctx, `SELECT id, doc, CASE WHEN $4 THEN body END, deflated FROM audit
			WHERE ($1::text IS NULL OR id < $1) AND ($2::text IS NULL OR id >= $2) AND ($3::text IS NULL OR lower(source) = $3)
			ORDER BY id DESC LIMIT $5`, cursor, since, src, q.Body, auditPage)
		if err != nil {
			return nil, s.wrap("read audit trail", err)
		}
		type row struct {
			id       string
			doc      []byte
			body     []byte
			deflated bool
		}
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.doc, &x.body, &x.deflated)
			return x, err
		})
		if err != nil {
			return nil, s.wrap("read audit trail", err)
		}
		var picked []audit.Record
		for _, x := range page {
			var rec audit.Record
			if err := json.Unmarshal(x.doc, &rec); err != nil {
				return nil, s.wrap("read audit trail", fmt.Errorf("audit record %q: %w", x.id, err))
			}
			if !q.Matches(&rec) {
				continue
			}
			if q.Body {
				b := x.body
				if x.deflated {
					if b, err = inflate(b); err != nil {
						return nil, s.wrap("read audit trail", fmt.Errorf("audit record %q: %w", x.id, err))
					}
				}
				rec.Payload = string(b)
			}
			picked = append(picked, rec)
			if q.Limit > 0 && len(out)+len(picked) >= q.Limit {
				break
			}
		}
		if err := s.fillNotes(ctx, picked); err != nil {
			return nil, s.wrap("read audit trail", err)
		}
		out = append(out, picked...)
		if len(page) < auditPage || (q.Limit > 0 && len(out) >= q.Limit) {
			return out, nil
		}
		before = page[len(page)-1].id
	}
}

// fillNotes reads the notes of recs in one query, in outbox id order.
func (s *Store) fillNotes(ctx context.Context, recs []audit.Record) error {
	if len(recs) == 0 {
		return nil
	}
	ids := make([]string, len(recs))
	at := map[string]int{}
	for i := range recs {
		ids[i] = recs[i].ID
		at[recs[i].ID] = i
		recs[i].Notifications = []audit.Notification{}
	}
	rows, err := s.pool.Query(ctx, "SELECT audit_id, doc FROM audit_notes WHERE audit_id = ANY($1) ORDER BY audit_id, outbox_id", ids)
	if err != nil {
		return err
	}
	var id string
	var doc []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &doc}, func() error {
		var n audit.Notification
		if err := json.Unmarshal(doc, &n); err != nil {
			return fmt.Errorf("audit note of %q: %w", id, err)
		}
		i := at[id]
		recs[i].Notifications = append(recs[i].Notifications, n)
		return nil
	})
	return err
}

func inflate(z []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(z))
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decompress audit payload: %w", err)
	}
	return b, nil
}
