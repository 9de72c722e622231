package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
)

// AddSilence stores a new silence and returns it with its id.
func (s *Store) AddSilence(ctx context.Context, sil silence.Silence) (silence.Silence, error) {
	if err := s.alive(ctx); err != nil {
		return silence.Silence{}, s.wrap("add silence", err)
	}
	sil.State, sil.ID = "", ""
	doc, err := json.Marshal(sil)
	if err != nil {
		return silence.Silence{}, fmt.Errorf("store: encode silence: %w", err)
	}
	var id int64
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "INSERT INTO silences (doc) VALUES ($1) RETURNING id", doc).Scan(&id); err != nil {
			return err
		}
		return notifySilences(ctx, tx, id)
	})
	if err != nil {
		return silence.Silence{}, s.wrap("add silence", err)
	}
	sil.ID = strconv.FormatInt(id, 10)
	return sil, nil
}

func notifySilences(ctx context.Context, tx pgx.Tx, id int64) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", silenceChannel, strconv.FormatInt(id, 10))
	return err
}

// PutSilence replaces a stored silence.
func (s *Store) PutSilence(ctx context.Context, sil silence.Silence) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("update silence", err)
	}
	id, err := outboxID(sil.ID)
	if err != nil {
		return s.wrap("update silence", err)
	}
	sil.State = ""
	stored := sil
	stored.ID = ""
	doc, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("store: encode silence: %w", err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE silences SET doc = $2 WHERE id = $1", id, doc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("silence %s: %w", sil.ID, store.ErrNotFound)
		}
		return notifySilences(ctx, tx, id)
	})
	return s.wrap("update silence", err)
}

// Silences lists every silence, oldest first, expired ones included.
func (s *Store) Silences(ctx context.Context) ([]silence.Silence, error) {
	return listDocs(ctx, s, "read silences", "silences", decodeSilence)
}

func decodeSilence(id int64, doc []byte) (silence.Silence, error) {
	var sil silence.Silence
	if err := json.Unmarshal(doc, &sil); err != nil {
		return sil, fmt.Errorf("silence %d: %w", id, err)
	}
	sil.ID = strconv.FormatInt(id, 10)
	return sil, nil
}

// ExpireSilence ends a silence at at; one already over keeps its end.
func (s *Store) ExpireSilence(ctx context.Context, id string, at time.Time) (silence.Silence, error) {
	if err := s.alive(ctx); err != nil {
		return silence.Silence{}, s.wrap("expire silence", err)
	}
	n, err := outboxID(id)
	if err != nil {
		return silence.Silence{}, s.wrap("expire silence", err)
	}
	var sil silence.Silence
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var doc []byte
		err := tx.QueryRow(ctx, "SELECT doc FROM silences WHERE id = $1 FOR UPDATE", n).Scan(&doc)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("silence %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if sil, err = decodeSilence(n, doc); err != nil {
			return err
		}
		if !sil.EndsAt.After(at) {
			return nil
		}
		sil.EndsAt = at
		if sil.StartsAt.After(at) {
			sil.StartsAt = at
		}
		stored := sil
		stored.ID = ""
		doc, err = json.Marshal(stored)
		if err != nil {
			return fmt.Errorf("encode silence: %w", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE silences SET doc = $2 WHERE id = $1", n, doc); err != nil {
			return err
		}
		return notifySilences(ctx, tx, n)
	})
	if err != nil {
		return silence.Silence{}, s.wrap("expire silence", err)
	}
	return sil, nil
}
