// Package config loads wabridge's one typed Config from a YAML file and the
// environment, with a local viper instance, and validates it as a whole.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/wabridge/wabridge/internal/console"
	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/internal/store/postgres"
	jiranotifier "github.com/wabridge/wabridge/notifiers/jira"
	lognotifier "github.com/wabridge/wabridge/notifiers/log"
	slacknotifier "github.com/wabridge/wabridge/notifiers/slack"
)

// MinAdminTokenLen is the shortest server.admin_token accepted: 32 random
// characters cannot be guessed at any request rate.
const MinAdminTokenLen = 32

// EnvPrefix prefixes every environment override: WABRIDGE_SERVER_LISTEN.
const EnvPrefix = "WABRIDGE"

// Config is the whole configuration. Every key has a default (see
// Defaults), so every key can be overridden from the environment.
type Config struct {
	Server    Server           `mapstructure:"server" json:"server"`
	Storage   Storage          `mapstructure:"storage" json:"storage"`
	Log       Log              `mapstructure:"log" json:"log"`
	Sources   []sources.Config `mapstructure:"sources" json:"sources"`
	Notifiers Notifiers        `mapstructure:"notifiers" json:"notifiers"`
	Rules     Rules            `mapstructure:"rules" json:"rules"`
	Templates Templates        `mapstructure:"templates" json:"templates"`
	Catalog   Catalog          `mapstructure:"catalog" json:"catalog"`
	Pipeline  Pipeline         `mapstructure:"pipeline" json:"pipeline"`

	// File is the path the config was loaded from; relative paths in the
	// config (rules, templates, storage, catalogue) are relative to its directory.
	File string `mapstructure:"-" json:"-"`

	origin *origins
}

// Server is the HTTP listener.
type Server struct {
	Listen          string        `mapstructure:"listen" json:"listen"`
	MaxBodyBytes    int64         `mapstructure:"max_body_bytes" json:"max_body_bytes"`
	ReadTimeout     time.Duration `mapstructure:"read_timeout" json:"read_timeout"`
	WriteTimeout    time.Duration `mapstructure:"write_timeout" json:"write_timeout"`
	IdleTimeout     time.Duration `mapstructure:"idle_timeout" json:"idle_timeout"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" json:"shutdown_timeout"`
	// AdminToken enables the admin API under /api/v1/ (bearer token); empty = off.
	// It must be at least 32 characters.
	AdminToken secret.Secret `mapstructure:"admin_token" json:"admin_token"`
	// AdminListen, when set, serves the admin API on its own listener (and
	// not on Listen), so the webhook port can be public and the admin port not.
	AdminListen string `mapstructure:"admin_listen" json:"admin_listen"`
	// MaxUnauthenticatedBytes bounds the request bodies held in memory, across
	// all connections, before their signature is checked; past it a webhook
	// gets 503 with Retry-After.
	MaxUnauthenticatedBytes int64 `mapstructure:"max_unauthenticated_bytes" json:"max_unauthenticated_bytes"`
	// MaxConnections bounds the open connections to Listen; one more is
	// answered 503 with Retry-After and closed.
	MaxConnections int `mapstructure:"max_connections" json:"max_connections"`
	// MaxEvents is the most events one delivery may hold; more is 413.
	MaxEvents int `mapstructure:"max_events" json:"max_events"`
	// Console is the web console at /ui/, served with the admin API.
	Console console.Config `mapstructure:"console" json:"console"`
}

// Storage is where durable state lives.
type Storage struct {
	// Backend is bbolt (the embedded file in Dir, one process) or postgres
	// (a database several replicas share).
	Backend string `mapstructure:"backend" json:"backend"`
	// Dir holds the bbolt file and the inbox log; unused by postgres.
	Dir string `mapstructure:"dir" json:"dir"`
	// Postgres is the database of the postgres backend.
	Postgres Postgres `mapstructure:"postgres" json:"postgres"`
	// NoSync skips fsync: faster, and loses acknowledged events on a power
	// cut. For benchmarks and throwaway setups only.
	NoSync bool `mapstructure:"no_sync" json:"no_sync"`
	// DedupWindow is how long a processed event id suppresses a redelivery
	// (Meta retries for 7 days).
	DedupWindow time.Duration `mapstructure:"dedup_window" json:"dedup_window"`
	// Retention is how long processed deliveries are kept for the audit trail.
	Retention time.Duration `mapstructure:"retention" json:"retention"`
	// RejectAuditRate is how many rejected deliveries (401, 400, 413) per
	// second at most are kept in the audit trail; anyone can send them, so
	// the rest are only counted.
	RejectAuditRate int `mapstructure:"reject_audit_rate" json:"reject_audit_rate"`
}

// Storage backends.
const (
	BackendBolt     = "bbolt"
	BackendPostgres = "postgres"
)

// Postgres is the shared database of storage.backend postgres; the keys
// are those of the PostgreSQL store's own configuration.
type Postgres struct {
	// DSN is a libpq connection string or URL; it holds the password, so
	// it is a secret (env WABRIDGE_STORAGE_POSTGRES_DSN).
	DSN secret.Secret `mapstructure:"dsn" json:"dsn"`
	// PoolSize bounds the connections one replica opens.
	PoolSize int `mapstructure:"pool_size" json:"pool_size"`
	// Partitions is how many slices the deliveries are cut into by
	// account; every replica uses the same number (the database records it).
	Partitions int `mapstructure:"partitions" json:"partitions"`
	// LeaseTTL is how long a replica owns its partitions without a
	// heartbeat: when a replica dies, the others take its partitions
	// within about this long.
	LeaseTTL time.Duration `mapstructure:"lease_ttl" json:"lease_ttl"`
	// ReplicaID names this replica among the others, unique ("" = host
	// name and process id); a restarted replica with a set id takes its
	// partitions back at once.
	ReplicaID string `mapstructure:"replica_id" json:"replica_id"`
	// IngestRows bounds the deliveries one group insert writes, and
	// IngestWriters how many such inserts run at once.
	IngestRows    int `mapstructure:"ingest_rows" json:"ingest_rows"`
	IngestWriters int `mapstructure:"ingest_writers" json:"ingest_writers"`
	// SilenceReload is how often silences are read again even when no
	// replica announced a change.
	SilenceReload time.Duration `mapstructure:"silence_reload" json:"silence_reload"`
	// DialTimeout bounds each attempt to connect.
	DialTimeout time.Duration `mapstructure:"dial_timeout" json:"dial_timeout"`
	// Schema is the PostgreSQL schema that holds wabridge's tables,
	// created at the first start when missing.
	Schema string `mapstructure:"schema" json:"schema"`
}

// Log is wabridge's own process log.
type Log struct {
	Level  string `mapstructure:"level" json:"level"`   // debug, info, warn, error
	Format string `mapstructure:"format" json:"format"` // text, json
}

// Notifiers holds each notifier's own config.
type Notifiers struct {
	Log   lognotifier.Config   `mapstructure:"log" json:"log"`
	Slack slacknotifier.Config `mapstructure:"slack" json:"slack"`
	Jira  jiranotifier.Config  `mapstructure:"jira" json:"jira"`
	// Unconfigured says what happens to rule actions for a notifier with no
	// credentials: "error" (the rules fail to load; the default) or "log"
	// (the log notifier stands in and shows what would have been sent).
	Unconfigured string `mapstructure:"unconfigured" json:"unconfigured"`
}

// Rules names the rule files; globs allowed.
type Rules struct {
	Files []string `mapstructure:"files" json:"files"`
}

// Templates names the directory whose *.tmpl files override the defaults.
type Templates struct {
	Dir string `mapstructure:"dir" json:"dir"`
}

// Catalog names extra catalogue files that add or override entries.
type Catalog struct {
	Files []string `mapstructure:"files" json:"files"`
}

// Pipeline tunes workers and retries.
type Pipeline struct {
	Workers     int           `mapstructure:"workers" json:"workers"`
	Senders     int           `mapstructure:"senders" json:"senders"`
	MaxAttempts int           `mapstructure:"max_attempts" json:"max_attempts"`
	MaxAge      time.Duration `mapstructure:"max_age" json:"max_age"`
	BackoffBase time.Duration `mapstructure:"backoff_base" json:"backoff_base"`
	BackoffMax  time.Duration `mapstructure:"backoff_max" json:"backoff_max"`
	// RateLimitPace spaces a notifier's sends once a 429's Retry-After
	// is over, for a minute.
	RateLimitPace time.Duration `mapstructure:"rate_limit_pace" json:"rate_limit_pace"`
}

// Defaults returns the configuration used for every key a file leaves out:
// each component's own defaults, composed (one default per setting).
func Defaults() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			MaxBodyBytes:    3 << 20, // Meta's maximum payload
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    10 * time.Second,
			IdleTimeout:     60 * time.Second,
			ShutdownTimeout: pipeline.DefaultShutdownTimeout,
			// Ten 3 MiB bodies, or hundreds of typical ones.
			MaxUnauthenticatedBytes: 32 << 20,
			MaxConnections:          1024,
			// Meta batches at most 1000 changes per delivery; ten times that
			// leaves room for gateways that batch more, and bounds what one
			// delivery can cost.
			MaxEvents: 10000,
			Console:   console.DefaultConfig(),
		},
		Storage: Storage{
			Backend: BackendBolt,
			Dir:     "./data",
			Postgres: Postgres{PoolSize: postgres.DefaultPoolSize, Partitions: postgres.DefaultPartitions,
				LeaseTTL: postgres.DefaultLeaseTTL, IngestRows: postgres.DefaultIngestRows, IngestWriters: postgres.DefaultIngestWriters,
				SilenceReload: postgres.DefaultSilenceReload, DialTimeout: postgres.DefaultDialTimeout, Schema: postgres.DefaultSchema},
			DedupWindow: pipeline.DefaultDedupWindow,
			Retention:   store.DefaultRetention,
			// RejectAuditRate 50/s: see the README for what it costs in disk.
			RejectAuditRate: pipeline.DefaultRejectAuditRate,
		},
		Log: Log{Level: "info", Format: "text"},
		Notifiers: Notifiers{
			Slack:        slacknotifier.Config{Timeout: slacknotifier.DefaultTimeout},
			Jira:         jiranotifier.Config{}.WithDefaults(),
			Unconfigured: "error",
		},
		Pipeline: Pipeline{
			Workers:       pipeline.DefaultWorkers,
			Senders:       pipeline.DefaultSenders,
			MaxAttempts:   pipeline.DefaultMaxAttempts,
			MaxAge:        pipeline.DefaultMaxAge,
			BackoffBase:   pipeline.DefaultBackoffBase,
			BackoffMax:    pipeline.DefaultBackoffMax,
			RateLimitPace: pipeline.DefaultRateLimitPace,
		},
	}
}

// Load reads the file at path, expands ${VAR} from the environment, applies
// WABRIDGE_ overrides and decodes strictly: an unknown key is an error. It
// does not Validate.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, raw)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Expand replaces ${VAR} and ${VAR:-default} with the environment's value.
// A bare $ is left alone: secrets and regexes contain them.
func Expand(s string, lookup func(string) (string, bool)) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := envRef.FindStringSubmatch(m)
		if v, ok := lookup(sub[1]); ok && v != "" {
			return v
		}
		return sub[3]
	})
}

func parse(path string, raw []byte) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v, "", reflect.ValueOf(Defaults()))
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	expanded := Expand(string(raw), os.LookupEnv)
	if err := v.ReadConfig(bytes.NewReader([]byte(expanded))); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := Defaults()
	cfg.File = path
	cfg.origin = &origins{file: path, lines: keyLines([]byte(expanded)), env: map[string]string{}}
	// Lists are replaced whole, not merged with the defaults.
	cfg.Sources, cfg.Rules.Files, cfg.Catalog.Files = nil, nil, nil
	err := v.UnmarshalExact(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			durationHook,
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		msg := friendlyDecodeError(err)
		if strings.HasPrefix(msg, "unknown keys") {
			return nil, fmt.Errorf("%s: %s", path, msg)
		}
		return nil, cfg.decodeProblems(msg)
	}
	if problems := applySourceEnv(&cfg); len(problems) > 0 {
		return nil, problems
	}
	return &cfg, nil
}

// durationHook reads every duration key with the one duration grammar.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) || from.Kind() != reflect.String {
		return data, nil
	}
	d, err := duration.Parse(data.(string))
	if err != nil {
		return nil, err
	}
	return d, nil
}

// setDefaults registers every leaf key of the defaults with viper: viper
// only applies environment overrides to keys it knows of.
func setDefaults(v *viper.Viper, prefix string, rv reflect.Value) {
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("mapstructure"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		fv := rv.Field(i)
		if fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			setDefaults(v, key, fv)
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct {
			continue // sources: a list of structs has no env form
		}
		v.SetDefault(key, fv.Interface())
	}
}

var unusedKeys = regexp.MustCompile(`has invalid keys: (.*)`)

func friendlyDecodeError(err error) string {
	msg := err.Error()
	if m := unusedKeys.FindStringSubmatch(msg); m != nil {
		return "unknown keys: " + m[1] + " (see config.example.yaml for the keys wabridge knows)"
	}
	return msg
}

// Resolve makes a path from the config relative to the config file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

// Validate reports every problem at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		add("server.listen: %q is not host:port (%v)", c.Server.Listen, err)
	}
	if c.Server.MaxBodyBytes <= 0 {
		add("server.max_body_bytes: must be positive, got %d", c.Server.MaxBodyBytes)
	}
	if c.Server.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.Server.AdminListen); err != nil {
			add("server.admin_listen: %q is not host:port (%v)", c.Server.AdminListen, err)
		} else if c.Server.AdminListen == c.Server.Listen {
			add("server.admin_listen: %q is server.listen too; give the admin API another port, or leave admin_listen empty to serve it on server.listen", c.Server.AdminListen)
		}
		if !c.Server.AdminToken.IsSet() {
			add("server.admin_listen: set, but server.admin_token is empty, so the admin API is off")
		}
	}
	if n := len(c.Server.AdminToken.Value()); n > 0 && n < MinAdminTokenLen {
		add("server.admin_token: %d characters is too short to resist guessing; use at least %d random characters (openssl rand -hex 16)", n, MinAdminTokenLen)
	}
	for _, p := range c.Server.Console.Problems("server.console") {
		add("%s", p)
	}
	if c.Server.MaxUnauthenticatedBytes < c.Server.MaxBodyBytes {
		add("server.max_unauthenticated_bytes: %d is below server.max_body_bytes (%d): the largest delivery could never be read", c.Server.MaxUnauthenticatedBytes, c.Server.MaxBodyBytes)
	}
	if c.Server.MaxConnections < 1 {
		add("server.max_connections: must be at least 1, got %d", c.Server.MaxConnections)
	}
	if c.Server.MaxEvents < 1 {
		add("server.max_events: must be at least 1, got %d", c.Server.MaxEvents)
	}
	if c.Storage.RejectAuditRate < 1 {
		add("storage.reject_audit_rate: must be at least 1 record per second, got %d", c.Storage.RejectAuditRate)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"server.read_timeout", c.Server.ReadTimeout}, {"server.write_timeout", c.Server.WriteTimeout},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout}, {"storage.dedup_window", c.Storage.DedupWindow},
		{"storage.retention", c.Storage.Retention}, {"pipeline.max_age", c.Pipeline.MaxAge},
		{"pipeline.backoff_base", c.Pipeline.BackoffBase}, {"pipeline.backoff_max", c.Pipeline.BackoffMax},
		{"pipeline.rate_limit_pace", c.Pipeline.RateLimitPace},
	} {
		if d.v <= 0 {
			add("%s: must be a positive duration such as 10s, got %v", d.key, d.v)
		}
	}
	switch c.Storage.Backend {
	case BackendBolt:
		if c.Storage.Dir == "" {
			add("storage.dir: required (a directory for the durable inbox and outbox)")
		}
	case BackendPostgres:
		for _, p := range c.Storage.Postgres.problems() {
			add("%s", p)
		}
	default:
		add("storage.backend: %q is not bbolt (the embedded file in storage.dir) or postgres (a database several replicas share)", c.Storage.Backend)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		add("log.level: %q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format: %q is not text or json", c.Log.Format)
	}
	if c.Pipeline.Workers < 1 || c.Pipeline.Senders < 1 || c.Pipeline.MaxAttempts < 1 {
		add("pipeline: workers, senders and max_attempts must be at least 1")
	}
	switch c.Notifiers.Unconfigured {
	case "error", "log":
	default:
		add("notifiers.unconfigured: %q is not error or log", c.Notifiers.Unconfigured)
	}
	switch c.Notifiers.Jira.APIType {
	case "auto", "cloud", "datacenter":
	default:
		add("notifiers.jira.api_type: %q is not auto, cloud or datacenter", c.Notifiers.Jira.APIType)
	}
	errs = append(errs, c.Notifiers.Slack.Validate())
	for i, u := range c.Notifiers.Slack.AllowedUsers {
		if !slackUserID.MatchString(u) {
			add("notifiers.slack.allowed_users[%d]: %q is not a Slack user id (U… or W…, as in the user's profile under More → Copy member ID)", i, u)
		}
	}
	for i, g := range c.Notifiers.Slack.AllowedGroups {
		if !slackGroupID.MatchString(g) {
			add("notifiers.slack.allowed_groups[%d]: %q is not a Slack user group id (S…, not the @handle)", i, g)
		}
	}
	if len(c.Sources) == 0 {
		add("sources: at least one source is needed to receive webhooks")
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		switch {
		case s.Name == "":
			add("%s.name: required (it is the URL path /webhooks/NAME)", key)
		case !validName.MatchString(s.Name):
			add("%s.name: %q may only contain letters, digits, '-' and '_'", key, s.Name)
		case seen[s.Name]:
			add("%s.name: %q is used twice", key, s.Name)
		}
		seen[s.Name] = true
		if s.Type == "" {
			add("%s.type: required (meta, evolution, zapi, twilio, status, inbound or mapped)", key)
		}
		if s.Type == "meta" && !s.AppSecret.IsSet() && !s.InsecureSkipSignature {
			add("%s (%s): app_secret is empty: set it (META_APP_SECRET) or, for local testing only, insecure_skip_signature: true", key, s.Name)
		}
	}
	return errors.Join(errs...)
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Slack ids: users are U… (W… on Enterprise Grid), user groups S….
var (
	slackUserID  = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	slackGroupID = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
)

// ConfiguredNotifiers lists the notifiers that have what they need to send.
func (c *Config) ConfiguredNotifiers() []string {
	out := []string{"log"}
	if c.Notifiers.Slack.Configured() {
		out = append(out, "slack")
	}
	if c.Notifiers.Jira.Configured() {
		out = append(out, "jira")
	}
	sort.Strings(out)
	return out
}
