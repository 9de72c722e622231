package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/pgtest"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/internal/store/postgres"
	"github.com/wabridge/wabridge/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend is one database: each Open is a new replica process on it.
type backend struct {
	dsn string
	cfg postgres.Config
}

func (b backend) Open(t *testing.T) store.Store {
	t.Helper()
	return openStore(t, b.dsn, b.cfg)
}

func config(dsn string) postgres.Config {
	return postgres.Config{DSN: secret.Secret(dsn), Partitions: 1, PoolSize: 8, LeaseTTL: 3 * time.Second}
}

func openStore(t *testing.T, dsn string, cfg postgres.Config) *postgres.Store {
	t.Helper()
	cfg.DSN = secret.Secret(dsn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestConformance runs the suite with one partition: the suite's cases
// take the first fence and expect every delivery in it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		dsn := pgtest.DSN(t)
		return backend{dsn: dsn, cfg: config(dsn)}
	})
}
