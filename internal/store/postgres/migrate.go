package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The schema's migrations are migrations/NNNN_name.sql, embedded in the
// binary and applied in order at Open, each in a transaction that records
// its version in schema_version. Replicas that start together take turns
// under one advisory lock, so each migration runs once.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key of the migrations ("wabridge").
const migrationLock int64 = 0x776162726964

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: the name must start with its version, as 0001_name.sql", base)
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3 ... without gaps", m.name)
		}
	}
	return out, nil
}

// SchemaVersion is the newest schema this binary knows.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// SchemaError is a database whose schema this binary does not know: one
// migrated by a newer wabridge. It wraps ErrSchemaNewer.
type SchemaError struct {
	Where    string
	Database int // the database's version
	Binary   int // the newest this binary knows
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("storage.postgres: the database at %s has schema version %d, newer than version %d that this wabridge knows: %v; run the newer wabridge, or point this one at another database",
		e.Where, e.Database, e.Binary, ErrSchemaNewer)
}

func (e *SchemaError) Unwrap() error { return ErrSchemaNewer }

// migrate brings the schema up to date, or refuses a newer one.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("storage.postgres: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.connectError(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return s.wrap("lock the schema for migrations", err)
	}
	defer func() { _, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLock) }()
	// The schema may have been made by someone allowed to (an operator
	// giving wabridge's user no CREATE on the database): only a missing
	// one is created.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.cfg.Schema).Scan(&exists); err != nil {
		return s.wrap("look up schema "+s.cfg.Schema, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+s.cfg.Schema); err != nil {
			return s.wrap("create schema "+s.cfg.Schema, err)
		}
	}
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version int PRIMARY KEY,
		name    text NOT NULL,
		applied timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return s.wrap("create schema_version", err)
	}
	var cur int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&cur); err != nil {
		return s.wrap("read schema_version", err)
	}
	latest := ms[len(ms)-1].version
	if cur > latest {
		return &SchemaError{Where: s.where, Database: cur, Binary: latest}
	}
	for _, m := range ms[cur:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return s.wrap("migrate to schema "+m.name, err)
		}
		s.log.Info("store: migrated the database schema", "version", m.version, "migration", m.name, "database", s.where)
	}
	return nil
}

// setup records the partition count on first use, refuses a different
// one, and makes the lease rows.
func (s *Store) setup(ctx context.Context) error {
	n := s.cfg.Partitions
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO settings (name, value) VALUES ('partitions', $1) ON CONFLICT DO NOTHING", strconv.Itoa(n)); err != nil {
			return err
		}
		var v string
		if err := tx.QueryRow(ctx, "SELECT value FROM settings WHERE name = 'partitions'").Scan(&v); err != nil {
			return err
		}
		if v != strconv.Itoa(n) {
			return &partitionsError{configured: n, stored: v}
		}
		_, err := tx.Exec(ctx, "INSERT INTO leases (partition) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING", n)
		return err
	})
	if pe, ok := errors.AsType[*partitionsError](err); ok {
		return fmt.Errorf("storage.postgres.partitions is %d but the database at %s was set up with %s: every replica must use the same number", pe.configured, s.where, pe.stored)
	}
	return s.wrap("set up partitions", err)
}

type partitionsError struct {
	configured int
	stored     string
}

func (e *partitionsError) Error() string {
	return fmt.Sprintf("partitions %d, database %s", e.configured, e.stored)
}
