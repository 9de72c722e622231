package config

import (
	"strings"
	"testing"
	"time"
)

func TestStorageBackendDefaultsToBolt(t *testing.T) {
	cfg, err := Load(writeConfig(t, "sources: [{name: meta, type: meta, insecure_skip_signature: true}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Backend != BackendBolt {
		t.Errorf("storage.backend = %q, want %q by default", cfg.Storage.Backend, BackendBolt)
	}
	pg := cfg.Storage.Postgres
	if pg.PoolSize != 16 || pg.LeaseTTL != 15*time.Second || pg.DialTimeout != 10*time.Second || pg.Partitions != 64 {
		t.Errorf("postgres defaults = %+v", pg)
	}
}

func TestPostgresFromEnvironment(t *testing.T) {
	const dsn = "postgres://wabridge:hunter2-pg-password@db.internal:6543/wabridge"
	t.Setenv("WABRIDGE_STORAGE_BACKEND", "postgres")
	t.Setenv("WABRIDGE_STORAGE_POSTGRES_DSN", dsn)
	t.Setenv("WABRIDGE_STORAGE_POSTGRES_POOL_SIZE", "24")
	cfg, err := Load(writeConfig(t, "sources: [{name: meta, type: meta, insecure_skip_signature: true}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.Backend != BackendPostgres || cfg.Storage.Postgres.DSN.Value() != dsn || cfg.Storage.Postgres.PoolSize != 24 {
		t.Errorf("storage from the environment = %+v", cfg.Storage)
	}
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), "hunter2") || !strings.Contains(string(y), "dsn: <secret>") {
		t.Errorf("config show prints the DSN:\n%s", y)
	}
	if got := PostgresTarget(dsn); got != `db.internal:6543 (database "wabridge", user "wabridge")` || strings.Contains(got, "hunter2") {
		t.Errorf("PostgresTarget = %q", got)
	}
}

// Every problem of the storage block is reported at once, each naming its
// key, and none quotes the DSN's password.
func TestPostgresProblemsAllAtOnce(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []string
	}{
		{"unknown backend", "storage: {backend: sqlite}\n", []string{`storage.backend: "sqlite" is not bbolt`}},
		{"no dsn", "storage: {backend: postgres, postgres: {pool_size: 1, lease_ttl: 500ms, dial_timeout: 0s, partitions: 0, replica_id: \"a#b\", schema: Public}}\n", []string{
			"storage.postgres.schema: \"Public\" must be a lowercase identifier",
			"storage.postgres.dsn: required", "storage.postgres.pool_size: must be at least 2",
			"storage.postgres.lease_ttl: must be at least 1s", "storage.postgres.dial_timeout: must be a positive duration",
			"storage.postgres.partitions: must be between 1 and 4096", "storage.postgres.replica_id: \"a#b\" must not contain '#'",
		}},
		{"unreadable dsn", "storage: {backend: postgres, postgres: {dsn: \"postgres://u:hunter2-pw@host:notaport/db\"}}\n", []string{
			"storage.postgres.dsn: cannot be read:",
		}},
		{"bbolt without dir", "storage: {dir: \"\"}\n", []string{"storage.dir: required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(writeConfig(t, c.body+"sources: [{name: meta, type: meta, insecure_skip_signature: true}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if err == nil {
				t.Fatal("valid, want problems")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems lack %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("a problem quotes the password:\n%v", err)
			}
		})
	}
}

// A postgres store needs no storage.dir.
func TestPostgresNeedsNoDir(t *testing.T) {
	cfg, err := Load(writeConfig(t, "storage: {backend: postgres, dir: \"\", postgres: {dsn: \"host=127.0.0.1 port=5432 dbname=w\"}}\nsources: [{name: meta, type: meta, insecure_skip_signature: true}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("postgres without storage.dir: %v", err)
	}
}
