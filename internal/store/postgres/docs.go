package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/store"
)

// The dead letters, the outbox and the silences are each a table of JSON
// documents under a growing id; these read them, one table at a time.

// listDocs reads every row of table in id order and decodes each with
// decode; what names the read in errors.
func listDocs[T any](ctx context.Context, s *Store, what, table string, decode func(int64, []byte) (T, error)) ([]T, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap(what, err)
	}
	rows, err := s.pool.Query(ctx, "SELECT id, doc FROM "+table+" ORDER BY id")
	if err != nil {
		return nil, s.wrap(what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
		var id int64
		var doc []byte
		if err := r.Scan(&id, &doc); err != nil {
			var zero T
			return zero, err
		}
		return decode(id, doc)
	})
	return out, s.wrap(what, err)
}

// getDoc reads the row of table with the given id: a missing one is
// store.ErrNotFound, named as noun.
func getDoc[T any](ctx context.Context, s *Store, what, noun, table, id string, decode func(int64, []byte) (T, error)) (T, error) {
	var zero T
	if err := s.alive(ctx); err != nil {
		return zero, s.wrap(what, err)
	}
	n, err := outboxID(id)
	if err != nil {
		return zero, s.wrap(what, err)
	}
	var doc []byte
	err = s.pool.QueryRow(ctx, "SELECT doc FROM "+table+" WHERE id = $1", n).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, s.wrap(what, fmt.Errorf("%s %s: %w", noun, id, store.ErrNotFound))
	}
	if err != nil {
		return zero, s.wrap(what, err)
	}
	v, err := decode(n, doc)
	return v, s.wrap(what, err)
}
