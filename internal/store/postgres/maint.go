package postgres

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/store"
)

// sweepLock is the advisory lock key under which one replica at a time
// sweeps ("wasweep").
const sweepLock int64 = 0x77617377656570

// Depths counts the inbox, the outbox and the dead letters. The three are
// queues that stay short while the pipeline keeps up, so counting their
// primary keys costs little; a backlog of millions makes it slow, and
// then the scrape is the least of the problems.
func (s *Store) Depths(ctx context.Context) (store.Counts, error) {
	if err := s.alive(ctx); err != nil {
		return store.Counts{}, s.wrap("count records", err)
	}
	var c store.Counts
	err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM outbox), (SELECT count(*) FROM dead)`).
		Scan(&c.Inbox, &c.Outbox, &c.Dead)
	return c, s.wrap("count records", err)
}

// Counts reports every list, walking the dedup records and the audit
// trail too: for tests and diagnostics.
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	c, err := s.Depths(ctx)
	if err != nil {
		return c, err
	}
	err = s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM dedup), (SELECT count(*) FROM audit)`).Scan(&c.Dedup, &c.Processed)
	return c, s.wrap("count records", err)
}

// Sweep removes what expired before now, at most limit records (0: all):
// dedup records, audit records with their notes, resolved incidents with
// their refs, heartbeats of replicas gone for an hour and check rows of
// processes gone for a day. One replica
// sweeps at a time (an advisory lock); another's concurrent call returns 0.
func (s *Store) Sweep(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.alive(ctx); err != nil {
		return 0, s.wrap("sweep expired records", err)
	}
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		var locked bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", sweepLock).Scan(&locked); err != nil {
			return err
		}
		if !locked {
			return nil
		}
		at := now.UnixNano()
		budget := func() *int64 {
			if limit <= 0 {
				return nil
			}
			left := int64(max(limit-n, 0))
			return &left
		}
		for _, q := range []string{
			"DELETE FROM dedup WHERE event_id IN (SELECT event_id FROM dedup WHERE until <= $1 LIMIT $2)",
			"DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE expires <= $1 LIMIT $2)",
		} {
			if limit > 0 && n >= limit {
				return nil
			}
			tag, err := tx.Exec(ctx, q, at, budget())
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		if limit > 0 && n >= limit {
			return nil
		}
		rows, err := tx.Query(ctx, `DELETE FROM incidents WHERE fingerprint IN (
			SELECT fingerprint FROM incidents WHERE expires <> 0 AND expires <= $1 AND status = 'resolved' LIMIT $2)
			RETURNING fingerprint`, at, budget())
		if err != nil {
			return err
		}
		fps, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		n += len(fps)
		if len(fps) > 0 {
			// Refs are keyed fingerprint '/' notifier '/' target, and
			// fingerprints hold no slash: the range is the incident's.
			_, err = tx.Exec(ctx, `DELETE FROM refs r USING unnest($1::text[]) AS f(fp)
				WHERE r.key >= (f.fp || '/') COLLATE "C" AND r.key < (f.fp || '0') COLLATE "C"`, fps)
			if err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM replicas WHERE expires < now() - interval '1 hour'"); err != nil {
			return err
		}
		// Forwarded commands matter only while their asker waits.
		if _, err := tx.Exec(ctx, "DELETE FROM commands WHERE created < now() - interval '1 hour'"); err != nil {
			return err
		}
		// Each open writes its own check row; those of processes long
		// gone go.
		_, err = tx.Exec(ctx, "DELETE FROM checks WHERE at < now() - interval '1 day'")
		return err
	})
	return n, s.wrap("sweep expired records", err)
}

// Check proves the database takes a write.
func (s *Store) Check(ctx context.Context) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("write check", err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO checks (name, at) VALUES ($1, now())
		ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at`, "check:"+s.owner)
	return s.wrap("write check", err)
}

// Probe proves the database has room for a write of n bytes: it commits a
// row of n bytes that do not compress, then removes it.
func (s *Store) Probe(ctx context.Context, n int) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("write probe", err)
	}
	pad := make([]byte, max(n, 0))
	r := rand.NewChaCha8([32]byte{})
	_, _ = r.Read(pad)
	name := "probe:" + s.owner
	_, err := s.pool.Exec(ctx, `INSERT INTO checks (name, at, pad) VALUES ($1, now(), $2)
		ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at, pad = EXCLUDED.pad`, name, pad)
	if err != nil {
		return s.wrap("write probe", err)
	}
	_, err = s.pool.Exec(ctx, "DELETE FROM checks WHERE name = $1", name)
	return s.wrap("remove probe", err)
}
