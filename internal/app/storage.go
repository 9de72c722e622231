package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wabridge/wabridge/internal/config"
)

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
