package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/store"
)

var _ store.Commands = (*Store)(nil)

// AskCommand records c for the owner of its incident's partition and
// wakes the committers (the inbox channel: every committer looks for
// commands when it wakes).
func (s *Store) AskCommand(ctx context.Context, c store.Command) (int64, error) {
	if err := s.alive(ctx); err != nil {
		return 0, s.wrap("ask a command", err)
	}
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO commands (partition, fingerprint, kind, args, actor)
			SELECT partition, fingerprint, $2, $3, $4 FROM incidents WHERE fingerprint = $1
			RETURNING id`, c.Fingerprint, c.Kind, string(c.Args), c.Actor).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no incident %q: %w", c.Fingerprint, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, '')", inboxChannel)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	return id, s.wrap("ask a command", err)
}

// CommandOutcome reads what became of command id.
func (s *Store) CommandOutcome(ctx context.Context, id int64) (store.CommandOutcome, error) {
	if err := s.alive(ctx); err != nil {
		return store.CommandOutcome{}, s.wrap("read a command", err)
	}
	o, err := scanOutcome(s.pool.QueryRow(ctx,
		"SELECT done, taken IS NOT NULL, result, error_kind, error FROM commands WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return o, fmt.Errorf("store: command %d: %w", id, store.ErrNotFound)
	}
	return o, s.wrap("read a command", err)
}

func scanOutcome(row pgx.Row) (store.CommandOutcome, error) {
	var o store.CommandOutcome
	var result []byte
	err := row.Scan(&o.Done, &o.Taken, &result, &o.ErrKind, &o.Err)
	o.Result = result
	return o, err
}

// ExpireCommand ends command id unless an owner took it.
func (s *Store) ExpireCommand(ctx context.Context, id int64, errKind, reason string) (store.CommandOutcome, error) {
	if err := s.alive(ctx); err != nil {
		return store.CommandOutcome{}, s.wrap("expire a command", err)
	}
	_, err := s.pool.Exec(ctx, `UPDATE commands SET done = true, error_kind = $2, error = $3
		WHERE id = $1 AND NOT done AND taken IS NULL`, id, errKind, reason)
	if err != nil {
		return store.CommandOutcome{}, s.wrap("expire a command", err)
	}
	return s.CommandOutcome(ctx, id)
}

// TakeCommands takes the partition's pending commands under its fence. A
// plain read first: most wake-ups find none, and need no fenced write.
func (s *Store) TakeCommands(ctx context.Context, f store.Fence, maxAge time.Duration, limit int) ([]store.Command, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("take commands", err)
	}
	var any bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM commands WHERE partition = $1 AND NOT done
		AND created > now() - $2::interval)`, f.Partition, maxAge.String()).Scan(&any)
	if err != nil || !any {
		return nil, s.wrap("take commands", err)
	}
	var out []store.Command
	err = s.fenced(ctx, f, "take commands", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE commands SET taken = now() WHERE id IN (
				SELECT id FROM commands WHERE partition = $1 AND NOT done AND created > now() - $2::interval
				ORDER BY id LIMIT $3)
			RETURNING id, partition, fingerprint, kind, args, actor, created`, f.Partition, maxAge.String(), limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Command, error) {
			var c store.Command
			var args []byte
			err := r.Scan(&c.ID, &c.Partition, &c.Fingerprint, &c.Kind, &args, &c.Actor, &c.Created)
			c.Args = args
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order.
	slices.SortFunc(out, func(a, b store.Command) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// FinishCommand records command id's outcome under f.
func (s *Store) FinishCommand(ctx context.Context, f store.Fence, id int64, o store.CommandOutcome) error {
	return s.fenced(ctx, f, "finish a command", func(tx pgx.Tx) error {
		var result any
		if o.Result != nil {
			result = string(o.Result)
		}
		_, err := tx.Exec(ctx, `UPDATE commands SET done = true, result = $2, error_kind = $3, error = $4
			WHERE id = $1 AND NOT done`, id, result, o.ErrKind, o.Err)
		return err
	})
}
