package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
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
	if err := s.Check(bg); err != nil {
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
	if _, err := s.AddInbox(context.Background(), delivery.Delivery{Source: "meta", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	in, err := s.PendingInbox(bg, fence(s), 0)
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
	_, err = s.AddInbox(context.Background(), delivery.Delivery{Source: "meta"})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

// testDelivery is what the pipeline's committer writes for one inbox entry.
type testDelivery struct {
	Seq            uint64
	Now            time.Time
	DedupUntil     time.Time
	ProcessedUntil time.Time
	Events         []testEvent
	// Audit, when set, is written with Body; events found to be duplicates
	// are marked so first, as the pipeline does.
	Audit *audit.Record
	Body  []byte
}

type testEvent struct {
	ID            string
	Matched       bool // only a matched event keeps a dedup record
	Notifications []outbox.Entry
}

type processed struct {
	Outbox     []outbox.Entry
	Duplicates int
}

// process writes d through Commit the way the pipeline's committer does:
// dedup check, outbox entries, dedup records, audit record, processed
// record and the removal of the inbox entry, in one transaction.
func process(s *Bolt, d testDelivery) (processed, error) {
	var res processed
	err := s.Commit(bg, fence(s), func(tx CommitTx) error {
		res = processed{}
		if err := take(tx, d.Seq); err != nil {
			return err
		}
		dups := map[string]bool{}
		for _, ev := range d.Events {
			if ev.Matched && ev.ID != "" {
				dup, err := tx.SeeEvent(ev.ID, d.Now, d.DedupUntil)
				if err != nil {
					return err
				}
				if dup {
					res.Duplicates++
					dups[ev.ID] = true
					continue
				}
			}
			for _, n := range ev.Notifications {
				e, err := tx.AddOutbox(n)
				if err != nil {
					return err
				}
				res.Outbox = append(res.Outbox, e)
			}
		}
		if d.Audit != nil {
			rec := *d.Audit
			rec.Events = slices.Clone(rec.Events)
			for i := range rec.Events {
				if dups[rec.Events[i].ID] {
					rec.Events[i].Outcome, rec.Events[i].Decisions = audit.EventDuplicate, nil
					delete(dups, rec.Events[i].ID)
				}
			}
			if err := tx.PutAudit(&rec, RawPayload(d.Body), d.ProcessedUntil, res.Outbox); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return processed{}, err
	}
	return res, nil
}

func TestUpdateDedupAndSweep(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	commit := func(ids ...string) processed {
		t.Helper()
		e, err := s.AddInbox(ctx, delivery.Delivery{Source: "meta"})
		if err != nil {
			t.Fatal(err)
		}
		d := testDelivery{Seq: e.Seq, Now: now, DedupUntil: now.Add(time.Hour), ProcessedUntil: now.Add(2 * time.Hour)}
		for _, id := range ids {
			d.Events = append(d.Events, testEvent{ID: id, Matched: id != "unmatched",
				Notifications: []outbox.Entry{{Notification: notification.Notification{Rule: notification.RuleRef{Name: "r"}}}}})
		}
		res, err := process(s, d)
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
	c, _ := s.Counts(bg)
	if c.Dedup != 2 || c.Inbox != 0 || c.Outbox != 3 {
		t.Fatalf("counts %+v", c)
	}
	if dup, _ := isDup(s, "unmatched", now); dup {
		t.Fatal("an unmatched event left a dedup record")
	}
	if n, _ := s.Sweep(bg, now.Add(30*time.Minute), 0); n != 0 {
		t.Fatalf("swept %d before expiry", n)
	}
	// Expired records are no duplicates at once; the sweep frees them
	// with their day, whole.
	if dup, _ := isDup(s, "a", now.Add(90*time.Minute)); dup {
		t.Fatal("an expired dedup record still counts")
	}
	if n, _ := s.Sweep(bg, now.Add(90*time.Minute), 0); n != 0 {
		t.Fatalf("swept %d dedup records before their day ended", n)
	}
	if n, _ := s.Sweep(bg, now.Add(24*time.Hour), 0); n != 2 {
		t.Fatalf("swept %d dedup records, want 2", n)
	}
	c, _ = s.Counts(bg)
	if c.Dedup != 0 {
		t.Fatalf("counts after sweep %+v", c)
	}
	// Committing an entry that is gone fails rather than writing twice, and
	// the failed transaction leaves nothing behind.
	_, err := process(s, testDelivery{Seq: 999, Now: now, DedupUntil: now.Add(time.Hour),
		Events: []testEvent{{ID: "late", Matched: true, Notifications: []outbox.Entry{{Key: "k"}}}}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("commit of a missing entry: %v", err)
	}
	if c, _ := s.Counts(bg); c.Outbox != 3 || c.Dedup != 0 || c.Processed != 0 {
		t.Fatalf("a failed update wrote: counts %+v", c)
	}
}

// TestUpdateRollsBack proves Update's promise: an error from fn discards
// everything written through the transaction.
func TestUpdateRollsBack(t *testing.T) {
	s := open(t, t.TempDir())
	e, err := s.AddInbox(context.Background(), delivery.Delivery{Source: "meta"})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = s.Commit(bg, fence(s), func(tx CommitTx) error {
		if _, err := tx.AddOutbox(outbox.Entry{Key: "k"}); err != nil {
			return err
		}
		if _, err := tx.SeeEvent("x", t0, t0.Add(time.Hour)); err != nil {
			return err
		}
		if err := take(tx, e.Seq); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update error %v, want it to wrap fn's", err)
	}
	if c, _ := s.Counts(bg); c.Inbox != 1 || c.Outbox != 0 || c.Dedup != 0 {
		t.Fatalf("counts after a failed update %+v", c)
	}
}

func TestOutboxAndDeadLetters(t *testing.T) {
	s := open(t, t.TempDir())
	e, _ := s.AddInbox(context.Background(), delivery.Delivery{Source: "meta"})
	res, err := process(s, testDelivery{Seq: e.Seq, Events: []testEvent{{ID: "x", Matched: true,
		Notifications: []outbox.Entry{{Key: "k"}, {Key: "k2"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := res.Outbox[0], res.Outbox[1]
	a.Attempts, a.LastError = 1, "boom"
	if err := retry(t, s, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOutbox(bg, a.ID)
	if err != nil || got.Attempts != 1 || got.Notification.ID != a.ID {
		t.Fatalf("get outbox = %+v, %v", got, err)
	}
	if err := sent(t, s, b.ID, &Ref{Key: "k", Ref: "C1/123"}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRef(bg, "k"); err != nil || r.Ref != "C1/123" {
		t.Fatalf("ref = %+v, %v", r, err)
	}
	if err := bury(t, s, outbox.DeadLetter{Entry: got, Reason: "permanent"}); err != nil {
		t.Fatal(err)
	}
	if out, _ := s.Outbox(bg); len(out) != 0 {
		t.Fatalf("outbox not empty: %+v", out)
	}
	dl, err := s.DeadLetters(bg)
	if err != nil || len(dl) != 1 || dl[0].ID != a.ID || dl[0].LastError != "boom" {
		t.Fatalf("dead letters %+v, %v", dl, err)
	}
	for _, id := range []string{"nope", "0", "-1", "12345"} {
		if _, err := s.GetDead(bg, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetDead(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.DropDead(bg, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteDead(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if err := s.DropDead(bg, a.ID); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts(bg); c.Dead != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestDamagedInboxEntryIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	var locs []Location
	for _, id := range []string{"d1", "d2", "d3"} {
		e, err := s.AddInbox(context.Background(), delivery.Delivery{ID: id, Source: "meta", Body: []byte(`{"n":"` + id + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		locs = append(locs, e.Location)
	}
	// Disk damage in the middle of the second record's body.
	seg := filepath.Join(dir, inboxDirName, segmentName(locs[1].Segment))
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := locs[1].Offset + int64(locs[1].Length) - 3
	if _, err := f.WriteAt([]byte{0xff}, at); err != nil {
		t.Fatal(err)
	}
	f.Close()
	stored := make([]byte, locs[1].Length)
	if b, err := os.ReadFile(seg); err != nil {
		t.Fatal(err)
	} else {
		copy(stored, b[locs[1].Offset:])
	}

	_, err = s.PendingInbox(bg, fence(s), 0)
	damaged, ok := errors.AsType[*DamagedEntryError](err)
	if !ok || damaged.Seq != 2 {
		t.Fatalf("inbox with a damaged entry: %v, want a DamagedEntryError for entry 2", err)
	}
	if !strings.Contains(err.Error(), "inbox entry 2") {
		t.Errorf("error does not name the entry: %v", err)
	}

	for _, tt := range []struct {
		name string
		seq  uint64
	}{{"an entry that decodes", 1}, {"a missing entry", 99}} {
		if err := s.QuarantineDamaged(bg, fence(s), tt.seq); err == nil {
			t.Errorf("quarantine of %s succeeded", tt.name)
		}
	}
	if err := s.QuarantineDamaged(bg, fence(s), 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("quarantine of a missing entry: %v, want ErrNotFound", err)
	}
	if err := s.QuarantineDamaged(bg, fence(s), 2); err != nil {
		t.Fatal(err)
	}

	in, err := s.PendingInbox(bg, fence(s), 0)
	if err != nil || len(in) != 2 || in[0].Delivery.ID != "d1" || in[1].Delivery.ID != "d3" {
		t.Fatalf("inbox after quarantine = %+v, %v; want d1 and d3", in, err)
	}
	var kept []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		kept = bytes.Clone(tx.Bucket(bQuarantine).Get(append([]byte("inbox/"), u64(2)...)))
		return nil
	})
	if !bytes.Equal(kept, stored) {
		t.Errorf("quarantine holds %q, want the stored bytes %q", kept, stored)
	}

	// The skip holds after a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	in, err = s.PendingInbox(bg, fence(s), 0)
	if err != nil || len(in) != 2 || in[1].Delivery.ID != "d3" {
		t.Fatalf("inbox after reopening = %+v, %v; want d1 and d3", in, err)
	}
}
