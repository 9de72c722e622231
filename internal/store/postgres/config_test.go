package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/store/postgres"
)

func TestConfigDefaults(t *testing.T) {
	c := postgres.Config{DSN: "postgres://u@127.0.0.1/db"}.WithDefaults()
	if c.Partitions != postgres.DefaultPartitions || c.PoolSize != postgres.DefaultPoolSize || c.LeaseTTL != postgres.DefaultLeaseTTL || c.ReplicaID == "" {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
}

func TestConfigValidateListsEveryProblem(t *testing.T) {
	c := postgres.Config{PoolSize: 1, Partitions: -1, LeaseTTL: time.Millisecond, ReplicaID: "a#b",
		IngestRows: -1, IngestWriters: -1, SilenceReload: -1, DialTimeout: -1, Schema: "Robert'); DROP TABLE x;--"}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"dsn is required", "pool_size", "partitions", "lease_ttl", "replica_id", "ingest_rows", "ingest_writers", "silence_reload", "dial_timeout", "schema"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not mention %s: %v", want, err)
		}
	}
	bad := postgres.Config{DSN: "postgres://user:hunter2@[::1", PoolSize: 4, Partitions: 4, LeaseTTL: time.Second, IngestRows: 1, IngestWriters: 1, SilenceReload: 1, DialTimeout: 1, Schema: "wabridge"}
	err = bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "dsn is not") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("an unparsable DSN: %v", err)
	}
}

// TestUnreachableDatabase: the error names host and port, and never the
// password.
func TestUnreachableDatabase(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	dsn := fmt.Sprintf("postgres://wabridge:s3cr3t-pw@127.0.0.1:%d/wabridge?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = postgres.Open(ctx, postgres.Config{DSN: secret.Secret(dsn), DialTimeout: 5 * time.Second}, nil)
	if err == nil {
		t.Fatal("opened a database nobody serves")
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf("127.0.0.1:%d", port)) || strings.Contains(msg, "s3cr3t-pw") {
		t.Fatalf("unreachable database: %q, want host and port named and no password", msg)
	}
}

func TestConfigPrintsNoDSN(t *testing.T) {
	c := postgres.Config{DSN: "postgres://u:topsecret@h/db"}
	for _, out := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(out, "topsecret") {
			t.Errorf("the config prints its DSN: %s", out)
		}
	}
}
