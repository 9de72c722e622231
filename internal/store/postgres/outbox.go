package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
)

// The outbox: the head of an ordering key is its entry with the lowest id
// (entries of a key commit in id order, see addOutbox). A claim writes a
// token from the claim_tokens sequence and the lease's end, by the
// query's clock, on the head's row; any replica claims, and the row locks
// (FOR UPDATE SKIP LOCKED) keep two claimers from taking one head. An
// outcome locks the row and checks the token, so an outcome of a claim
// that another took over is refused with store.ErrClaimLost.

// claimBatch bounds the heads one claim looks at: with no limit, or with
// an Accept that may refuse heads.
const claimBatch = 256

// ClaimOutbox claims due heads of keys with no live claim.
func (s *Store) ClaimOutbox(ctx context.Context, q store.ClaimQuery) ([]store.Claim, time.Time, error) {
	if err := s.alive(ctx); err != nil {
		return nil, time.Time{}, s.wrap("claim outbox entries", err)
	}
	now := q.Now.UnixNano()
	until := q.Now.Add(q.Lease)
	// Heads are locked while they are looked at, and a concurrent claimer
	// passes over a locked one: lock no more than this claim may take,
	// unless Accept may refuse some.
	look := claimBatch
	switch {
	case q.Limit > 0 && q.Accept == nil:
		look = q.Limit
	case q.Limit > 0:
		look = max(q.Limit, min(4*q.Limit, claimBatch))
	}
	var out []store.Claim
	var next time.Time
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out, next = out[:0], time.Time{}
		// Due heads with no live claim, locked; a head claimed, sent or
		// no longer the head since the statement's snapshot is checked
		// again as locked and passed over, and one another claimer holds
		// locked is skipped.
		rows, err := tx.Query(ctx, `SELECT id, doc, in_flight FROM outbox
			WHERE head AND due <= $1 AND (token = 0 OR claim_until <= $1)
			ORDER BY due, id LIMIT $2
			FOR UPDATE SKIP LOCKED`, now, look)
		if err != nil {
			return err
		}
		type head struct {
			id       int64
			doc      []byte
			inFlight int64
		}
		heads, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (head, error) {
			var h head
			err := r.Scan(&h.id, &h.doc, &h.inFlight)
			return h, err
		})
		if err != nil {
			return err
		}
		var ids []int64
		for _, h := range heads {
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
			e, err := decodeEntry(h.id, h.doc)
			if err != nil {
				return err
			}
			if q.Accept != nil && !q.Accept(&e) {
				continue
			}
			out = append(out, store.Claim{Entry: e, Until: until, InFlight: fromNanos(h.inFlight)})
			ids = append(ids, h.id)
		}
		var wake *int64
		err = tx.QueryRow(ctx, `SELECT min(due) FROM outbox WHERE head AND due > $1 AND (token = 0 OR claim_until <= $1)`, now).Scan(&wake)
		if err != nil {
			return err
		}
		if wake != nil {
			next = fromNanos(*wake)
		}
		if len(ids) > 0 {
			rows, err := tx.Query(ctx, `UPDATE outbox o SET token = nextval('claim_tokens'), claim_until = $2, due = o.next_attempt
				FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, n)
				WHERE o.id = u.id RETURNING u.n, o.token`, ids, until.UnixNano())
			if err != nil {
				return err
			}
			var n, token int64
			if _, err := pgx.ForEachRow(rows, []any{&n, &token}, func() error {
				out[n-1].Token = uint64(token)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, s.wrap("claim outbox entries", err)
	}
	return out, next, nil
}

func decodeEntry(id int64, doc []byte) (outbox.Entry, error) {
	var e outbox.Entry
	if err := json.Unmarshal(doc, &e); err != nil {
		return e, fmt.Errorf("outbox entry %d: %w", id, err)
	}
	e.ID = strconv.FormatInt(id, 10)
	e.Notification.ID = e.ID
	return e, nil
}

func outboxID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("id %q: %w (ids are positive numbers)", id, store.ErrNotFound)
	}
	return n, nil
}

// claimed locks the claimed entry's row in tx, or returns ErrClaimLost.
func claimed(ctx context.Context, tx pgx.Tx, c store.Claim) (id int64, key string, doc []byte, err error) {
	if id, err = outboxID(c.Entry.ID); err != nil {
		return 0, "", nil, err
	}
	err = tx.QueryRow(ctx, "SELECT key, doc FROM outbox WHERE id = $1 AND token = $2 FOR UPDATE", id, int64(c.Token)).Scan(&key, &doc)
	if errors.Is(err, pgx.ErrNoRows) || c.Token == 0 {
		return 0, "", nil, fmt.Errorf("outbox entry %s: %w", c.Entry.ID, store.ErrClaimLost)
	}
	return id, key, doc, err
}

// MarkInFlight records that the claimed entry's send starts at at.
func (s *Store) MarkInFlight(ctx context.Context, c store.Claim, at time.Time) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("mark outbox entry in flight", err)
	}
	id, err := outboxID(c.Entry.ID)
	if err != nil {
		return s.wrap("mark outbox entry in flight", err)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE outbox SET in_flight = $3 WHERE id = $1 AND token = $2", id, int64(c.Token), nanos(at))
	if err != nil {
		return s.wrap("mark outbox entry in flight", err)
	}
	if tag.RowsAffected() == 0 || c.Token == 0 {
		return s.wrap("mark outbox entry in flight", fmt.Errorf("outbox entry %s: %w", c.Entry.ID, store.ErrClaimLost))
	}
	return nil
}

// Sent removes the claimed entry, records its ref and audit note, and adds
// the follow-ups, in one transaction.
func (s *Store) Sent(ctx context.Context, c store.Claim, sent store.Sent) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("remove sent outbox entry", err)
	}
	result := sent.Result
	if result == "" {
		result = audit.NoteSent
	}
	err := s.retried(ctx, func(tx pgx.Tx) error {
		id, key, doc, err := claimed(ctx, tx, c)
		if err != nil {
			return err
		}
		if err := putRef(ctx, tx, sent.Ref); err != nil {
			return err
		}
		e, err := decodeEntry(id, doc)
		if err != nil {
			return err
		}
		ref := ""
		if sent.Ref != nil {
			ref = sent.Ref.Ref
		}
		if err := putNote(ctx, tx, &e, result, ref, "", time.Now()); err != nil {
			return err
		}
		if err := removeOutbox(ctx, tx, id, key); err != nil {
			return err
		}
		for _, e := range sent.Then {
			if _, err := addOutbox(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap("remove sent outbox entry", err)
}

// retried runs a transaction of the store's own, again when the database
// aborted it for a deadlock or a serialization failure (two writers of
// one ordering key): the transaction is the whole of its effects.
func (s *Store) retried(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.inTx(ctx, fn)
		if err == nil || attempt == 4 || !retryable(err) {
			return err
		}
	}
}

func retryable(err error) bool {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		switch pe.SQLState() {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

func putRef(ctx context.Context, tx pgx.Tx, ref *store.Ref) error {
	if ref == nil || ref.Ref == "" {
		return nil
	}
	doc, err := json.Marshal(ref)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO refs (key, doc) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET doc = EXCLUDED.doc", ref.Key, doc)
	return err
}

// Retry writes the entry back after a failed attempt and ends the claim.
func (s *Store) Retry(ctx context.Context, c store.Claim) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("update outbox entry", err)
	}
	e := c.Entry
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id, _, _, err := claimed(ctx, tx, c)
		if err != nil {
			return err
		}
		stored := e
		stored.ID, stored.Notification.ID = "", ""
		doc, err := json.Marshal(stored)
		if err != nil {
			return fmt.Errorf("encode outbox entry %s: %w", e.ID, err)
		}
		if e.LastError != "" {
			if err := putNote(ctx, tx, &e, audit.NoteFailed, "", e.LastReason, time.Now()); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET doc = $2, next_attempt = $3, due = $3, token = 0, claim_until = 0, in_flight = $4
			WHERE id = $1`, id, doc, nanos(e.NextAttempt), nanos(c.InFlight))
		return err
	})
	return s.wrap("update outbox entry", err)
}

// Release ends a claim leaving the entry as stored, not due before
// notBefore.
func (s *Store) Release(ctx context.Context, c store.Claim, notBefore time.Time) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("release outbox entry", err)
	}
	id, err := outboxID(c.Entry.ID)
	if err != nil {
		return s.wrap("release outbox entry", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET token = 0, claim_until = 0, due = greatest(next_attempt, $3)
		WHERE id = $1 AND token = $2`, id, int64(c.Token), nanos(notBefore))
	if err != nil {
		return s.wrap("release outbox entry", err)
	}
	if tag.RowsAffected() == 0 || c.Token == 0 {
		return s.wrap("release outbox entry", fmt.Errorf("outbox entry %s: %w", c.Entry.ID, store.ErrClaimLost))
	}
	return nil
}

// Bury moves the claimed entry, as c.Entry says, to the dead letters.
func (s *Store) Bury(ctx context.Context, c store.Claim, reason string, died time.Time) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("move outbox entry to dead letters", err)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id, key, _, err := claimed(ctx, tx, c)
		if err != nil {
			return err
		}
		d := outbox.DeadLetter{Entry: c.Entry, Reason: reason, Died: died}
		doc, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode dead letter %s: %w", d.ID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO dead (id, doc) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc`, id, doc); err != nil {
			return err
		}
		if err := putNote(ctx, tx, &d.Entry, audit.NoteDead, "", d.Reason, d.Died); err != nil {
			return err
		}
		return removeOutbox(ctx, tx, id, key)
	})
	return s.wrap("move outbox entry to dead letters", err)
}

// GetRef returns the reference stored under key.
func (s *Store) GetRef(ctx context.Context, key string) (store.Ref, error) {
	if err := s.alive(ctx); err != nil {
		return store.Ref{}, s.wrap("read ref", err)
	}
	var doc []byte
	err := s.pool.QueryRow(ctx, "SELECT doc FROM refs WHERE key = $1", key).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Ref{}, fmt.Errorf("store: read ref: ref: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Ref{}, s.wrap("read ref", err)
	}
	var r store.Ref
	if err := json.Unmarshal(doc, &r); err != nil {
		return store.Ref{}, s.wrap("read ref", fmt.Errorf("ref %s: %w", key, err))
	}
	return r, nil
}

// Outbox lists every outbox entry in creation order: for tests and
// diagnostics; senders claim.
func (s *Store) Outbox(ctx context.Context) ([]outbox.Entry, error) {
	return listDocs(ctx, s, "read outbox", "outbox", decodeEntry)
}

// GetOutbox returns one outbox entry: for tests and diagnostics.
func (s *Store) GetOutbox(ctx context.Context, id string) (outbox.Entry, error) {
	return getDoc(ctx, s, "read outbox entry", "outbox", "outbox", id, decodeEntry)
}

// InFlight returns the outbox entries whose send started with no outcome
// recorded, with when it started: for tests and diagnostics.
func (s *Store) InFlight(ctx context.Context) (map[string]time.Time, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("read in-flight marks", err)
	}
	rows, err := s.pool.Query(ctx, "SELECT id, in_flight FROM outbox WHERE in_flight <> 0")
	if err != nil {
		return nil, s.wrap("read in-flight marks", err)
	}
	out := map[string]time.Time{}
	var id, at int64
	_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		out[strconv.FormatInt(id, 10)] = fromNanos(at)
		return nil
	})
	return out, s.wrap("read in-flight marks", err)
}

// IsDuplicate reports whether an event id has a live dedup record: for
// tests and diagnostics; commits use CommitTx.SeeEvent.
func (s *Store) IsDuplicate(ctx context.Context, eventID string, now time.Time) (bool, error) {
	if err := s.alive(ctx); err != nil {
		return false, s.wrap("read dedup", err)
	}
	var dup bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM dedup WHERE event_id = $1 AND until > $2)", eventID, now.UnixNano()).Scan(&dup)
	return dup, s.wrap("read dedup", err)
}
