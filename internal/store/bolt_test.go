package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/notifiers"
)

func open(t *testing.T, dir string) *Bolt {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestOpenCreatesMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("store file not created: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("check: %v", err)
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	foreignBolt := func(t *testing.T, path string) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("someone-elses"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
	}
	tests := []struct {
		name  string
		write func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 2000), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"short garbage", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"another bbolt file", foreignBolt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			tt.write(t, path)
			before, _ := os.ReadFile(path)
			_, err := Open(dir, Options{})
			if err == nil {
				t.Fatal("open succeeded on a file that is not a wabridge store")
			}
			if !errors.Is(err, ErrCorrupt) && !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not say what is wrong: %v", err)
			}
			if !strings.Contains(err.Error(), FileName) {
				t.Errorf("error does not name the file: %v", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Fatal("the file was modified")
			}
		})
	}
}

func TestOpenCorruptIsErrCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xAB}, 64*1024), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	t.Logf("message: %v", err)
}

func TestOpenUnwritableDir(t *testing.T) {
	parent := t.TempDir()
	file := filepath.Join(parent, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := []string{filepath.Join(file, "data")}
	if os.Geteuid() != 0 { // root writes through permission bits
		ro := filepath.Join(parent, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, ro)
	}
	for _, dir := range dirs {
		_, err := Open(dir, Options{})
		if err == nil {
			t.Fatalf("open %s succeeded", dir)
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("error does not name the directory: %v", err)
		}
	}
	if _, err := Open("", Options{}); err == nil {
		t.Error("open of an empty dir succeeded")
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	start := time.Now()
	_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second open took %v", d)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddInbox(context.Background(), sources.Delivery{Source: "meta", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	in, err := s.Inbox(0, 0)
	if err != nil || len(in) != 1 || in[0].Delivery.Source != "meta" {
		t.Fatalf("inbox after reopen = %+v, %v", in, err)
	}
}

func TestClosedStoreErrors(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_, err = s.AddInbox(context.Background(), sources.Delivery{Source: "meta"})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

func TestCommitDedupAndSweep(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	commit := func(ids ...string) Committed {
		t.Helper()
		e, err := s.AddInbox(ctx, sources.Delivery{Source: "meta"})
		if err != nil {
			t.Fatal(err)
		}
		c := Commit{Seq: e.Seq, Now: now, DedupUntil: now.Add(time.Hour), ProcessedUntil: now.Add(2 * time.Hour)}
		for _, id := range ids {
			c.Events = append(c.Events, CommitEvent{ID: id, Matched: id != "unmatched",
				Notifications: []OutboxEntry{{Notification: notifiers.Notification{Rule: notifiers.RuleRef{Name: "r"}}}}})
		}
		res, err := s.Commit(c)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := commit("a", "a", "b"); len(r.Outbox) != 2 || r.Duplicates != 1 {
		t.Fatalf("first commit: %d outbox, %d duplicates", len(r.Outbox), r.Duplicates)
	}
	if r := commit("a", "unmatched"); len(r.Outbox) != 1 || r.Duplicates != 1 {
		t.Fatalf("second commit: %d outbox, %d duplicates", len(r.Outbox), r.Duplicates)
	}
	c, _ := s.Counts()
	if c.Dedup != 2 || c.Processed != 2 || c.Inbox != 0 || c.Outbox != 3 {
		t.Fatalf("counts %+v", c)
	}
	if dup, _ := s.IsDuplicate("unmatched", now); dup {
		t.Fatal("an unmatched event left a dedup record")
	}
	if n, _ := s.Sweep(now.Add(30*time.Minute), 0); n != 0 {
		t.Fatalf("swept %d before expiry", n)
	}
	if n, _ := s.Sweep(now.Add(90*time.Minute), 0); n != 2 {
		t.Fatalf("swept %d dedup records, want 2", n)
	}
	if n, _ := s.Sweep(now.Add(3*time.Hour), 0); n != 2 {
		t.Fatalf("swept %d processed records, want 2", n)
	}
	c, _ = s.Counts()
	if c.Dedup != 0 || c.Processed != 0 {
		t.Fatalf("counts after sweep %+v", c)
	}
	// Committing an entry that is gone fails rather than writing twice.
	if _, err := s.Commit(Commit{Seq: 999}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("commit of a missing entry: %v", err)
	}
}

func TestOutboxAndDeadLetters(t *testing.T) {
	s := open(t, t.TempDir())
	e, _ := s.AddInbox(context.Background(), sources.Delivery{Source: "meta"})
	res, err := s.Commit(Commit{Seq: e.Seq, Events: []CommitEvent{{ID: "x", Matched: true,
		Notifications: []OutboxEntry{{Key: "k"}, {Key: "k"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := res.Outbox[0], res.Outbox[1]
	a.Attempts, a.LastError = 1, "boom"
	if err := s.UpdateOutbox(a); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOutbox(a.ID)
	if err != nil || got.Attempts != 1 || got.Notification.ID != a.ID {
		t.Fatalf("get outbox = %+v, %v", got, err)
	}
	if err := s.Sent(b.ID, &Ref{Key: "k", Ref: "C1/123"}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRef("k"); err != nil || r.Ref != "C1/123" {
		t.Fatalf("ref = %+v, %v", r, err)
	}
	if err := s.Bury(DeadLetter{OutboxEntry: got, Reason: "permanent"}); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.Outbox(); len(out) != 0 {
		t.Fatalf("outbox not empty: %+v", out)
	}
	dl, err := s.DeadLetters()
	if err != nil || len(dl) != 1 || dl[0].ID != a.ID || dl[0].LastError != "boom" {
		t.Fatalf("dead letters %+v, %v", dl, err)
	}
	for _, id := range []string{"nope", "0", "-1", "12345"} {
		if _, err := s.GetDead(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetDead(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.DeleteDead(id, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteDead(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if err := s.DeleteDead(a.ID, nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts(); c.Dead != 0 {
		t.Fatalf("counts %+v", c)
	}
}
