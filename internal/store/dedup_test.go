package store

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestDedupRecordsOfEarlierStores: a store written before the day buckets
// keeps its dedup records by id with entries in the expiry index. They
// still make duplicates until they expire, the sweep removes them as
// before, and new records go to the day buckets.
func TestDedupRecordsOfEarlierStores(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	until := t0.Add(48 * time.Hour)
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What the previous version's SeeEvent wrote for "wamid.old".
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bDedup).Put([]byte("wamid.old"), u64(uint64(until.UnixNano()))); err != nil {
			return err
		}
		return tx.Bucket(bExpiry).Put(expiryKey(until, expDedup, []byte("wamid.old")), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	see := func(id string, now time.Time) bool {
		t.Helper()
		var dup bool
		err := s.Commit(bg, fence(s), func(tx CommitTx) error {
			var err error
			dup, err = tx.SeeEvent(id, now, now.Add(48*time.Hour))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return dup
	}
	if !see("wamid.old", t0.Add(time.Hour)) {
		t.Fatal("a dedup record of the previous layout is not a duplicate within its window")
	}
	if see("wamid.new", t0.Add(time.Hour)) || !see("wamid.new", t0.Add(2*time.Hour)) {
		t.Fatal("a new id is not recorded in the day buckets")
	}
	if c, err := s.Counts(bg); err != nil || c.Dedup != 2 {
		t.Fatalf("counts %+v, %v: want 2 dedup records, one of each layout", c, err)
	}
	// Past the old record's window: swept by its expiry entry, as before.
	if _, err := s.Sweep(bg, until.Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bDedup).Get([]byte("wamid.old")); v != nil {
			t.Error("the sweep left the old record")
		}
		return nil
	})
	if s.legacyDedup.Load() {
		t.Error("the old layout's bucket is still looked in once empty")
	}
	if see("wamid.old", until.Add(2*time.Minute)) {
		t.Error("the old record outlived its window")
	}
	// wamid.new expires 50h after t0, in a later day bucket than the sweep's day.
	if !see("wamid.new", until.Add(time.Minute)) {
		t.Error("the sweep of the old layout removed a live record of the new one")
	}
}
