package store

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/delivery"
)

// TestCrashRecord: a batch recorded and never committed (the process died)
// counts one crash for each of its entries still in the inbox at the next
// start, and only for those; committed entries and stale records count
// nothing; a quarantined entry leaves the inbox with its reason.
func TestCrashRecord(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for range 5 {
		if _, err := s.AddInbox(context.Background(), delivery.Delivery{Source: "meta", Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	crashes := func(want map[uint64]int) {
		t.Helper()
		got, err := s.Crashes(bg, fence(s))
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("crashes = %v, want %v", got, want)
		}
	}
	crashes(map[uint64]int{})
	// The batch 1..3 was being processed when the process died.
	if err := s.BeginBatch(bg, fence(s), 1, 3); err != nil {
		t.Fatal(err)
	}
	crashes(map[uint64]int{1: 1, 2: 1, 3: 1})
	crashes(map[uint64]int{1: 1, 2: 1, 3: 1}) // read again: the record was consumed
	// Entry 1 alone was committed (it leaves the inbox), then 2 alone
	// crashed the process twice more.
	if err := s.Commit(bg, fence(s), func(tx CommitTx) error { return take(tx, 1) }); err != nil {
		t.Fatal(err)
	}
	crashes(map[uint64]int{2: 1, 3: 1})
	for want := 2; want <= 3; want++ {
		if err := s.BeginBatch(bg, fence(s), 2, 2); err != nil {
			t.Fatal(err)
		}
		crashes(map[uint64]int{2: want, 3: 1})
	}
	entries, err := s.PendingInbox(bg, fence(s), 1)
	if err != nil || len(entries) != 1 || entries[0].Seq != 2 {
		t.Fatalf("next entry: %v, %v", entries, err)
	}
	if err := s.QuarantineCrashed(bg, fence(s), entries[0], "processing this delivery crashed the process 3 times"); err != nil {
		t.Fatal(err)
	}
	crashes(map[uint64]int{3: 1})
	if reason, ok, err := s.Quarantined(2); err != nil || !ok || reason != "processing this delivery crashed the process 3 times" {
		t.Errorf("quarantined 2: %q, %v, %v", reason, ok, err)
	}
	if entries, _ := s.PendingInbox(bg, fence(s), 0); len(entries) != 3 || entries[0].Seq != 3 {
		t.Errorf("inbox after the quarantine: %v", entries)
	}
	if err := s.QuarantineCrashed(bg, fence(s), entries[0], "again"); !errors.Is(err, ErrNotFound) {
		t.Errorf("quarantine of a processed entry: %v", err)
	}
	// The count survives a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	crashes(map[uint64]int{3: 1})
}

// TestCrashRecordOfEarlierStores: a store written before the crash record
// moved to its own file keeps its record in the attempts bucket; it is
// counted once, like a record in the file. A torn or missing file counts
// nothing, and the next record is counted even so.
func TestCrashRecordOfEarlierStores(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for range 3 {
		if _, err := s.AddInbox(context.Background(), delivery.Delivery{Source: "meta", Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Crashes(bg, fence(s)); err != nil { // creates the bucket
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What the previous version wrote for the batch 1..2.
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bAttempts).Put(keyBatch, append(u64(1), u64(2)...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	crashes := func(want map[uint64]int) {
		t.Helper()
		got, err := s.Crashes(bg, fence(s))
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("crashes = %v, want %v", got, want)
		}
	}
	crashes(map[uint64]int{1: 1, 2: 1})
	crashes(map[uint64]int{1: 1, 2: 1})

	// A record torn by a crash of the machine is no record.
	if err := s.BeginBatch(bg, fence(s), 3, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, batchFileName)
	if err := os.WriteFile(path, []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	crashes(map[uint64]int{1: 1, 2: 1})
	// The next record counts, although its file was rewritten.
	if err := s.BeginBatch(bg, fence(s), 3, 3); err != nil {
		t.Fatal(err)
	}
	crashes(map[uint64]int{1: 1, 2: 1, 3: 1})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	if err := s.BeginBatch(bg, fence(s), 3, 3); err != nil {
		t.Fatal(err)
	}
	crashes(map[uint64]int{1: 1, 2: 1, 3: 2})
}
