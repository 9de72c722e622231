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

// Dead letters keep their outbox id. A replay claim is a token and a lease
// on the dead letter's row, so a replay started from any replica, or from
// the CLI on another machine, sends once.

func decodeDead(id int64, doc []byte) (outbox.DeadLetter, error) {
	var d outbox.DeadLetter
	if err := json.Unmarshal(doc, &d); err != nil {
		return d, fmt.Errorf("dead letter %d: %w", id, err)
	}
	d.ID = strconv.FormatInt(id, 10)
	d.Notification.ID = d.ID
	return d, nil
}

// DeadLetters lists dead letters, oldest first.
func (s *Store) DeadLetters(ctx context.Context) ([]outbox.DeadLetter, error) {
	return listDocs(ctx, s, "read dead letters", "dead", decodeDead)
}

// GetDead returns one dead letter.
func (s *Store) GetDead(ctx context.Context, id string) (outbox.DeadLetter, error) {
	return getDoc(ctx, s, "read dead letter", "dead letter", "dead", id, decodeDead)
}

// DropDead deletes a dead letter for good.
func (s *Store) DropDead(ctx context.Context, id string) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("remove dead letter", err)
	}
	n, err := outboxID(id)
	if err != nil {
		return s.wrap("remove dead letter", err)
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM dead WHERE id = $1", n)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("dead letter %s: %w", id, store.ErrNotFound)
	}
	return s.wrap("remove dead letter", err)
}

// ClaimReplay claims a dead letter for one replay.
func (s *Store) ClaimReplay(ctx context.Context, id string, now time.Time, lease time.Duration) (store.ReplayClaim, error) {
	if err := s.alive(ctx); err != nil {
		return store.ReplayClaim{}, s.wrap("claim dead letter", err)
	}
	n, err := outboxID(id)
	if err != nil {
		return store.ReplayClaim{}, s.wrap("claim dead letter", err)
	}
	var c store.ReplayClaim
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var doc []byte
		var token, since, until int64
		err := tx.QueryRow(ctx, "SELECT doc, replay_token, replay_since, replay_until FROM dead WHERE id = $1 FOR UPDATE", n).
			Scan(&doc, &token, &since, &until)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("dead letter %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if token != 0 && now.UnixNano() < until {
			return &store.ReplayingError{ID: id, Since: fromNanos(since)}
		}
		d, err := decodeDead(n, doc)
		if err != nil {
			return err
		}
		c = store.ReplayClaim{Dead: d, Since: now, Until: now.Add(lease)}
		err = tx.QueryRow(ctx, `UPDATE dead SET replay_token = nextval('claim_tokens'), replay_since = $2, replay_until = $3
			WHERE id = $1 RETURNING replay_token`, n, nanos(now), c.Until.UnixNano()).Scan(&token)
		c.Token = uint64(token)
		return err
	})
	if re, ok := errors.AsType[*store.ReplayingError](err); ok {
		return store.ReplayClaim{}, re
	}
	if err != nil {
		return store.ReplayClaim{}, s.wrap("claim dead letter", err)
	}
	return c, nil
}

// replayClaimed locks the claimed dead letter's row, or returns
// ErrClaimLost.
func replayClaimed(ctx context.Context, tx pgx.Tx, c store.ReplayClaim) (int64, []byte, error) {
	n, err := outboxID(c.Dead.ID)
	if err != nil {
		return 0, nil, err
	}
	var doc []byte
	err = tx.QueryRow(ctx, "SELECT doc FROM dead WHERE id = $1 AND replay_token = $2 FOR UPDATE", n, int64(c.Token)).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) || c.Token == 0 {
		return 0, nil, fmt.Errorf("dead letter %s: %w", c.Dead.ID, store.ErrClaimLost)
	}
	return n, doc, err
}

// Replayed removes a replayed dead letter, recording ref with it.
func (s *Store) Replayed(ctx context.Context, c store.ReplayClaim, ref *store.Ref) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("remove dead letter", err)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n, doc, err := replayClaimed(ctx, tx, c)
		if err != nil {
			return err
		}
		if err := putRef(ctx, tx, ref); err != nil {
			return err
		}
		if ref != nil {
			d, err := decodeDead(n, doc)
			if err != nil {
				return err
			}
			if err := putNote(ctx, tx, &d.Entry, audit.NoteSent, ref.Ref, "", ref.Updated); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "DELETE FROM dead WHERE id = $1", n)
		return err
	})
	return s.wrap("remove dead letter", err)
}

// ReplayFailed rewrites a dead letter after its replay failed and ends the
// claim.
func (s *Store) ReplayFailed(ctx context.Context, c store.ReplayClaim, d outbox.DeadLetter) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("update dead letter", err)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n, _, err := replayClaimed(ctx, tx, c)
		if err != nil {
			return err
		}
		doc, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("encode dead letter %s: %w", d.ID, err)
		}
		if err := putNote(ctx, tx, &d.Entry, audit.NoteDead, "", d.Reason, d.Died); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE dead SET doc = $2, replay_token = 0, replay_since = 0, replay_until = 0 WHERE id = $1", n, doc)
		return err
	})
	return s.wrap("update dead letter", err)
}

// ReleaseReplay ends a replay claim and changes nothing else.
func (s *Store) ReleaseReplay(ctx context.Context, c store.ReplayClaim) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("release dead letter", err)
	}
	n, err := outboxID(c.Dead.ID)
	if err != nil {
		return s.wrap("release dead letter", err)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE dead SET replay_token = 0, replay_since = 0, replay_until = 0 WHERE id = $1 AND replay_token = $2", n, int64(c.Token))
	if err == nil && (tag.RowsAffected() == 0 || c.Token == 0) {
		err = fmt.Errorf("dead letter %s: %w", c.Dead.ID, store.ErrClaimLost)
	}
	return s.wrap("release dead letter", err)
}
