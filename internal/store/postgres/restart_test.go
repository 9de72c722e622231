package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/pgtest"
	"github.com/wabridge/wabridge/internal/store"
)

// TestDatabaseRestart: while the database is down every call fails
// naming it; once it is back the same store works again, and nothing
// acknowledged before the crash is lost.
func TestDatabaseRestart(t *testing.T) {
	if os.Getenv(pgtest.EnvDSN) != "" {
		t.Skip("an external server cannot be killed by the tests")
	}
	srv := pgtest.Shared(t)
	dsn := pgtest.DSN(t)
	s := replica(t, dsn, "a", 1)
	f := fencesOf(t, s)[0]
	before, err := s.AddInbox(t.Context(), deliveryFor("waba", "before"))
	if err != nil {
		t.Fatal(err)
	}
	changed := s.SilencesChanged(t.Context())

	srv.Kill()
	where := fmt.Sprintf("127.0.0.1:%d", srv.Port())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	calls := map[string]func() error{
		"add":    func() error { _, err := s.AddInbox(ctx, deliveryFor("waba", "down")); return err },
		"commit": func() error { return s.Commit(ctx, f, func(store.CommitTx) error { return nil }) },
		"fences": func() error { _, err := s.Fences(ctx); return err },
		"claim": func() error {
			_, _, err := s.ClaimOutbox(ctx, store.ClaimQuery{Now: t0, Lease: time.Minute})
			return err
		},
		"check": func() error { return s.Check(ctx) },
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Fatalf("%s succeeded with the database down", name)
		}
		if !strings.Contains(err.Error(), where) {
			t.Errorf("%s with the database down: %q does not name %s", name, err, where)
		}
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for len(changed) > 0 {
		<-changed
	}
	// A pooled connection that died with the server fails once; the
	// calls after it get new ones.
	deadline := time.Now().Add(time.Minute)
	var after store.InboxEntry
	for {
		after, err = s.AddInbox(t.Context(), deliveryFor("waba", "after"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for name, call := range calls {
		var err error
		for range 5 {
			if err = call(); err == nil {
				break
			}
		}
		if err != nil {
			t.Errorf("%s after the restart: %v", name, err)
		}
	}
	if fs := fencesOf(t, s); len(fs) != 1 || fs[0] != f {
		t.Errorf("fences after the restart %v, want %v kept", fs, f)
	}
	in, err := s.PendingInbox(t.Context(), f, 0)
	if err != nil {
		t.Fatal(err)
	}
	pending := map[uint64]bool{}
	for _, e := range in {
		pending[e.Seq] = true
	}
	if !pending[before.Seq] || !pending[after.Seq] {
		t.Fatalf("pending after the restart %v, want the delivery from before the crash and the one after", in)
	}
	// The silence listener reconnects and says so.
	select {
	case <-changed:
	case <-time.After(time.Minute):
		t.Error("no silence signal after the database came back")
	}
}
