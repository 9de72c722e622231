// Package postgres is the store backend for several replicas: every store
// port (internal/store) on one PostgreSQL database that any number of
// wabridge processes open at once, with its own tables in a schema of its
// own (Config.Schema, "wabridge") and its own migrations.
//
// The API, for the composition root:
//
//	cfg := postgres.Config{DSN: dsn}.WithDefaults() // Validate() lists every problem
//	st, err := postgres.Open(ctx, cfg, logger)      // connects and migrates; st.Fences joins the replicas
//	defer st.Close()                                // gives the partitions back at once
//
// How the work is shared:
//
//   - Deliveries are partitioned by account (Config.Partitions, 64 by
//     default): AddInbox files a delivery under PartitionOf(AccountOf(d)),
//     the Meta WABA id or the source and phone when the caller set
//     d.Account, else the source. Concurrent AddInbox calls share one
//     multi-row insert (a group commit) and each returns after its commit.
//   - Each partition has one owner at a time, with an epoch that grows at
//     every change of owner. Fences returns this replica's partitions:
//     it renews this replica's heartbeat, takes free or expired partitions
//     up to a fair share (the partitions over the replicas alive) and gives
//     back what is above the share, so a replica that joins gets its part.
//     A keeper goroutine renews the heartbeat every LeaseTTL/3, so the
//     leases hold between the pipeline's calls; a replica whose heartbeat
//     lapses (killed, hung, cut off) loses its partitions to the others
//     within LeaseTTL. The pipeline calls Fences about as often as the
//     keeper (LeaseTTL()/3), runs a committer per fence, and stops one
//     whose commit returns a *store.FencedError. SetRulesHash records the
//     rules this replica runs; while a live replica runs others, Fences
//     takes and gives back nothing and Mismatch names both hashes.
//   - Commit locks the partition's lease row (SELECT ... FOR UPDATE) and
//     checks owner and epoch inside its transaction: a paused former owner
//     cannot write over its successor. Two partitions opening one incident
//     at once (a rule whose group_by leaves out the account) cannot both
//     commit, and a committer writing an incident it holds in memory
//     writes only over the version it last read (LiveIncidents, or an
//     earlier commit): the loser's commit fails with ErrConflict, writing
//     nothing, and done again with its incidents read afresh it sees the
//     winner's write.
//   - The outbox, dead letters, silences, refs and the audit trail are
//     shared by every replica; any replica claims and sends.
//   - SilencesChanged signals a change of the silences made by any
//     replica, and InboxChanged deliveries added by any replica
//     (LISTEN/NOTIFY, with a periodic tick as a safety net);
//     PendingPartitions says which partitions have work.
//
// Nothing holds a file lock: operator commands open the database directly
// from any machine that reaches it, and a store that never calls Fences
// takes no part in the leases.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/store"
)

// Defaults of Config.
const (
	DefaultPoolSize      = 16
	DefaultPartitions    = 64
	DefaultLeaseTTL      = 15 * time.Second
	DefaultIngestRows    = 256
	DefaultIngestWriters = 4
	DefaultSilenceReload = 5 * time.Second
	DefaultDialTimeout   = 10 * time.Second
	// MaxPartitions bounds Partitions: each is a lease row and, in the
	// pipeline, a committer.
	MaxPartitions = 4096
)

// Config is the PostgreSQL backend's configuration (storage.postgres).
type Config struct {
	// DSN is the connection string: a URL postgres://user:password@host:port/db
	// or key=value pairs. It is a secret: it usually carries the password.
	DSN secret.Secret `mapstructure:"dsn" json:"dsn"`
	// PoolSize bounds the connections this replica opens.
	PoolSize int `mapstructure:"pool_size" json:"pool_size"`
	// Partitions is how many slices the deliveries are cut into by account;
	// every replica must use the same number (the database records it).
	Partitions int `mapstructure:"partitions" json:"partitions"`
	// LeaseTTL is how long a replica's partitions stay its own without a
	// heartbeat: how soon the others take over from one that died.
	LeaseTTL time.Duration `mapstructure:"lease_ttl" json:"lease_ttl"`
	// ReplicaID names this replica in the lease table; it must be unique
	// among the replicas (default: host name and process id). Each open
	// adds an incarnation of its own and frees the partitions an earlier
	// incarnation of the same id left, so a restarted replica with a set
	// id takes its work back at once, with new epochs.
	ReplicaID string `mapstructure:"replica_id" json:"replica_id"`
	// IngestRows bounds the deliveries one group commit inserts.
	IngestRows int `mapstructure:"ingest_rows" json:"ingest_rows"`
	// IngestWriters is how many group commits may run at once.
	IngestWriters int `mapstructure:"ingest_writers" json:"ingest_writers"`
	// SilenceReload is the safety net under LISTEN/NOTIFY: SilencesChanged
	// and InboxChanged fire at least this often.
	SilenceReload time.Duration `mapstructure:"silence_reload" json:"silence_reload"`
	// DialTimeout bounds connecting at Open.
	DialTimeout time.Duration `mapstructure:"dial_timeout" json:"dial_timeout"`
	// Schema is the PostgreSQL schema (namespace) that holds wabridge's
	// tables, created at the first Open: a database shared with other
	// applications keeps them apart.
	Schema string `mapstructure:"schema" json:"schema"`
}

// DefaultSchema is Config.Schema's default.
const DefaultSchema = "wabridge"

// schemaName is what Schema may be: a plain lowercase identifier, so it
// needs no quoting anywhere.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// WithDefaults returns c with every empty setting filled.
func (c Config) WithDefaults() Config {
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.ReplicaID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "wabridge"
		}
		c.ReplicaID = host + ":" + strconv.Itoa(os.Getpid())
	}
	if c.IngestRows == 0 {
		c.IngestRows = DefaultIngestRows
	}
	if c.IngestWriters == 0 {
		c.IngestWriters = DefaultIngestWriters
	}
	if c.SilenceReload == 0 {
		c.SilenceReload = DefaultSilenceReload
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	return c
}

// Validate returns every problem of the settings at once. It never echoes
// the DSN.
func (c Config) Validate() error {
	var errs []error
	if !c.DSN.IsSet() {
		errs = append(errs, errors.New("storage.postgres.dsn is required (postgres://user:password@host:5432/wabridge, or env WABRIDGE_STORAGE_POSTGRES_DSN)"))
	} else if _, err := pgxpool.ParseConfig(c.DSN.Value()); err != nil {
		errs = append(errs, errors.New("storage.postgres.dsn is not a PostgreSQL connection string (a URL postgres://user:password@host:port/db, or key=value pairs)"))
	}
	if c.PoolSize < 2 {
		errs = append(errs, fmt.Errorf("storage.postgres.pool_size %d must be at least 2 (one connection listens for silence changes)", c.PoolSize))
	}
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		errs = append(errs, fmt.Errorf("storage.postgres.partitions %d must be between 1 and %d", c.Partitions, MaxPartitions))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("storage.postgres.lease_ttl %s must be at least 1s", c.LeaseTTL))
	}
	if strings.Contains(c.ReplicaID, "#") {
		errs = append(errs, fmt.Errorf("storage.postgres.replica_id %q must not contain '#'", c.ReplicaID))
	}
	if c.IngestRows < 1 {
		errs = append(errs, fmt.Errorf("storage.postgres.ingest_rows %d must be at least 1", c.IngestRows))
	}
	if c.IngestWriters < 1 {
		errs = append(errs, fmt.Errorf("storage.postgres.ingest_writers %d must be at least 1", c.IngestWriters))
	}
	if c.SilenceReload <= 0 {
		errs = append(errs, fmt.Errorf("storage.postgres.silence_reload %s must be positive", c.SilenceReload))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("storage.postgres.dial_timeout %s must be positive", c.DialTimeout))
	}
	if !schemaName.MatchString(c.Schema) || strings.HasPrefix(c.Schema, "pg_") {
		errs = append(errs, fmt.Errorf("storage.postgres.schema %q must be a lowercase identifier (letters, digits, _) not starting with pg_", c.Schema))
	}
	return errors.Join(errs...)
}

// Store is the PostgreSQL backend of every store port.
//
// Leases: the first Fences joins the replicas, and from then on a keeper
// goroutine renews this replica's heartbeat every LeaseTTL/3; Fences
// takes and gives back partitions; Close (or ReleaseLeases) hands every partition back at once
// so the others need not wait for the lease to lapse.
type Store struct {
	pool  *pgxpool.Pool
	cfg   Config
	log   *slog.Logger
	where string // host:port/database, for errors: never the password
	owner string // ReplicaID '#' incarnation

	ingest *ingester
	zip    store.Compressor

	fencesMu sync.Mutex  // one Fences at a time per store
	joined   atomic.Bool // Fences ran: the keeper renews the heartbeat

	// versions are the incident versions this store last read for a
	// committer or wrote (see commitTx.PutIncident).
	versionMu sync.Mutex
	versions  map[string]int64

	leaseMu   sync.Mutex
	rulesHash string
	mismatch  *RulesMismatch
	conflicts map[string]string

	watch *watch

	stop     context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closed   bool
	closeErr error
}

var _ store.Store = (*Store)(nil)

// ErrSchemaNewer means the database was migrated by a newer wabridge.
var ErrSchemaNewer = errors.New("the database schema is newer than this wabridge")

// Open connects, migrates the schema under an advisory lock and checks
// that the database's partition count is the configured one. It takes no
// partition: the first Fences joins the replicas, so a store opened for
// operator commands leaves the leases alone. An unreachable database is an error naming its host and port,
// never the password.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN.Value())
	if err != nil {
		return nil, errors.New("storage.postgres.dsn is not a PostgreSQL connection string")
	}
	pc.MaxConns = int32(cfg.PoolSize)
	pc.ConnConfig.ConnectTimeout = cfg.DialTimeout
	// Every connection works in the store's schema; set after connecting
	// rather than as a startup parameter, which poolers may refuse.
	pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET search_path TO "+cfg.Schema)
		return err
	}
	s := &Store{cfg: cfg, log: logger, where: where(pc.ConnConfig), owner: cfg.ReplicaID + "#" + incarnation(), versions: map[string]int64{}}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(dctx, pc)
	if err != nil {
		return nil, s.connectError(err)
	}
	if err := pool.Ping(dctx); err != nil {
		pool.Close()
		return nil, s.connectError(err)
	}
	s.pool = pool
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.setup(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.watch = newWatch(s)
	s.ingest = newIngester(s)
	s.ingest.start()
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.keep(bg) }()
	go func() { defer s.wg.Done(); s.ingest.tell(bg) }()
	go func() { defer s.wg.Done(); s.watch.run(bg) }()
	return s, nil
}

func incarnation() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// where names the server and database of a connection config.
func where(c *pgx.ConnConfig) string {
	host := c.Host
	if strings.HasPrefix(host, "/") {
		host = "unix socket " + host
	}
	return fmt.Sprintf("%s:%d/%s", host, c.Port, c.Database)
}

// connectError says which server could not be reached, with pgx's reason;
// pgx's connect errors name host, user and database but never the password.
func (s *Store) connectError(err error) error {
	msg := err.Error()
	if pw := passwordOf(s.cfg.DSN.Value()); pw != "" {
		msg = strings.ReplaceAll(msg, pw, secret.Redacted)
	}
	return fmt.Errorf("storage.postgres: cannot connect to %s: %s", s.where, msg)
}

func passwordOf(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return c.Password
}

// Where names the server and database (host:port/database), for logs.
func (s *Store) Where() string { return s.where }

// Owner is this open's name in the lease table: the replica id and an
// incarnation of its own.
func (s *Store) Owner() string { return s.owner }

// Close stops the background work, gives this replica's partitions back
// and closes the connections. Calls after the first return its result.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	s.ingest.close()
	s.stop()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.closeErr = s.releaseAll(ctx)
	s.pool.Close()
	return s.closeErr
}

// alive reports store.ErrClosed once the store was closed, and the
// context's error once it is done.
func (s *Store) alive(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.Lock()
	closed := s.closed
	s.closeMu.Unlock()
	if closed {
		return store.ErrClosed
	}
	return nil
}

// wrap names what failed; a lost connection says which server.
func (s *Store) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("store: %s: %w", what, store.ErrClosed)
	}
	if isConnErr(err) {
		return fmt.Errorf("store: %s: the database at %s is unreachable: %w", what, s.where, err)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// isConnErr reports a failure of the connection rather than of the
// statement: the server went away, restarts, or cannot be reached.
func isConnErr(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// connection_exception, operator_intervention (shutdown, crash
		// recovery), insufficient_resources (too many connections)
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57") || strings.HasPrefix(pe.Code, "53")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "connection refused")
}

// inTx runs fn in a transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// nanos is a time as stored: unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos reads nanos back.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
