package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wabridge/wabridge/internal/store/postgres"
)

// schemaName is what storage.postgres.schema may be: a plain lowercase
// identifier, which needs no quoting anywhere.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// problems lists what is wrong with the postgres block, each naming its
// key. The DSN's own text never appears: it holds the password.
func (p Postgres) problems() []string {
	var out []string
	if !p.DSN.IsSet() {
		out = append(out, "storage.postgres.dsn: required with storage.backend postgres (postgres://USER:PASSWORD@HOST:5432/DB; env WABRIDGE_STORAGE_POSTGRES_DSN)")
	} else if _, err := pgconn.ParseConfig(p.DSN.Value()); err != nil {
		out = append(out, "storage.postgres.dsn: cannot be read: "+DSNError(err))
	}
	if p.PoolSize < 2 {
		out = append(out, fmt.Sprintf("storage.postgres.pool_size: must be at least 2 (one connection listens for silence changes), got %d", p.PoolSize))
	}
	if p.Partitions < 1 || p.Partitions > postgres.MaxPartitions {
		out = append(out, fmt.Sprintf("storage.postgres.partitions: must be between 1 and %d, got %d", postgres.MaxPartitions, p.Partitions))
	}
	if p.LeaseTTL < time.Second {
		out = append(out, fmt.Sprintf("storage.postgres.lease_ttl: must be at least 1s, got %v", p.LeaseTTL))
	}
	if strings.Contains(p.ReplicaID, "#") {
		out = append(out, fmt.Sprintf("storage.postgres.replica_id: %q must not contain '#'", p.ReplicaID))
	}
	if p.IngestRows < 1 || p.IngestWriters < 1 {
		out = append(out, fmt.Sprintf("storage.postgres: ingest_rows and ingest_writers must be at least 1, got %d and %d", p.IngestRows, p.IngestWriters))
	}
	if !schemaName.MatchString(p.Schema) || strings.HasPrefix(p.Schema, "pg_") {
		out = append(out, fmt.Sprintf("storage.postgres.schema: %q must be a lowercase identifier (letters, digits, _) not starting with pg_", p.Schema))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"storage.postgres.silence_reload", p.SilenceReload}, {"storage.postgres.dial_timeout", p.DialTimeout}} {
		if d.v <= 0 {
			out = append(out, fmt.Sprintf("%s: must be a positive duration such as 5s, got %v", d.key, d.v))
		}
	}
	return out
}

// DSNError says what is wrong with a DSN pgconn could not read, without
// the DSN: pgconn quotes it (masking the password only on a best-effort
// basis) and its inner error may quote it whole.
func DSNError(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "not a connection string"
	}
	msg := pe.Error()
	// "cannot parse `DSN`: reason (inner error)"
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		msg = msg[i+3:]
	}
	if i := strings.Index(msg, " ("); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// PostgresTarget names where a DSN points, for messages: host:port,
// database and user, never the password.
func PostgresTarget(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "an unreadable storage.postgres.dsn"
	}
	return fmt.Sprintf("%s:%d (database %q, user %q)", c.Host, c.Port, c.Database, c.User)
}
