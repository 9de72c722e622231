package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/internal/store/postgres"
)

// OpenStore opens the configured store: the bbolt file in storage.dir
// (locked: one process), or the PostgreSQL database several replicas
// share (connected and migrated; no partition is taken until the
// pipeline's first Fences).
func OpenStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (store.Store, error) {
	if cfg.Storage.Backend != config.BackendPostgres {
		return store.Open(cfg.Resolve(cfg.Storage.Dir), store.Options{NoSync: cfg.Storage.NoSync, Retention: cfg.Storage.Retention})
	}
	st, err := postgres.Open(ctx, PostgresConfig(cfg), logger)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// PostgresConfig maps storage.postgres onto the PostgreSQL store's settings.
func PostgresConfig(cfg *config.Config) postgres.Config {
	pg := cfg.Storage.Postgres
	return postgres.Config{DSN: pg.DSN, PoolSize: pg.PoolSize, Partitions: pg.Partitions, LeaseTTL: pg.LeaseTTL,
		ReplicaID: pg.ReplicaID, IngestRows: pg.IngestRows, IngestWriters: pg.IngestWriters,
		SilenceReload: pg.SilenceReload, DialTimeout: pg.DialTimeout, Schema: pg.Schema}.WithDefaults()
}

// The PostgreSQL store keeps replicas with other rules out of the work
// itself; the pipeline reads what it found for wabridge_rules_conflicts.
var _ store.RulesGate = (*postgres.Store)(nil)

// CheckStorage proves the configured store can be reached: for postgres,
// that the DSN connects (bbolt is opened by serve itself, under its lock).
// The error names the host, port, database and user, never the password.
func CheckStorage(ctx context.Context, cfg *config.Config) error {
	if cfg.Storage.Backend != config.BackendPostgres {
		return nil
	}
	pg := cfg.Storage.Postgres
	pc, err := pgconn.ParseConfig(pg.DSN.Value())
	if err != nil {
		return fmt.Errorf("storage.postgres.dsn: cannot be read: %s", config.DSNError(err))
	}
	pc.ConnectTimeout = pg.DialTimeout
	ctx, cancel := context.WithTimeout(ctx, pg.DialTimeout)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("storage.postgres.dsn: cannot connect to %s: %s", config.PostgresTarget(pg.DSN.Value()), connectReason(err))
	}
	defer conn.Close(context.Background())
	if err := conn.Exec(ctx, "SELECT 1").Close(); err != nil {
		return fmt.Errorf("storage.postgres.dsn: connected to %s, but a query failed: %s", config.PostgresTarget(pg.DSN.Value()), connectReason(err))
	}
	return nil
}

// connectReason is why a connection failed, without pgconn's prefix
// (which repeats the user and database the message already names).
// pgconn tries each address and TLS mode in turn and reports every
// attempt, one a line; the same failure is said once.
func connectReason(err error) string {
	msg := err.Error()
	if ce, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		if u := errors.Unwrap(ce); u != nil {
			msg = u.Error()
		}
	}
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
