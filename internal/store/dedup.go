package store

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Dedup records live in one bucket per UTC day of their expiry, inside
// bDedupDays: the key is the first 16 bytes of the event id's SHA-256 (a
// fixed size whatever Meta's ids grow to), the value the expiry. A sweep
// drops every day bucket whose day is over, whole, instead of walking an
// expiry index entry by entry, and a record costs one key instead of two.
// A test looks in the buckets of today and later: with the default
// window of 8 days, nine at most.
//
// Stores written before keep their records in bDedup, keyed by the id,
// with entries in the expiry index; they are read and swept as before
// until the window has passed over them.
var bDedupDays = []byte("dedup_days")

// dedupDay is the length of one bucket's span.
const dedupDay = 24 * time.Hour

func dedupHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:16]
}

func dayKey(t time.Time) []byte {
	return u64(uint64(t.UnixNano() / int64(dedupDay)))
}

// seenLive reports whether id has a dedup record live at now.
func seenLive(tx *bolt.Tx, legacy bool, id string, now time.Time) bool {
	if legacy && live(tx.Bucket(bDedup).Get([]byte(id)), now) {
		return true
	}
	days := tx.Bucket(bDedupDays)
	h := dedupHash(id)
	c := days.Cursor()
	for k, v := c.Seek(dayKey(now)); k != nil; k, v = c.Next() {
		if v != nil {
			continue // not a bucket
		}
		if b := days.Bucket(k); b != nil && live(b.Get(h), now) {
			return true
		}
	}
	return false
}

// seeEvent is the dedup test-and-set in a write transaction.
func seeEvent(tx *bolt.Tx, legacy bool, id string, now, until time.Time) (bool, error) {
	if seenLive(tx, legacy, id, now) {
		return true, nil
	}
	b, err := tx.Bucket(bDedupDays).CreateBucketIfNotExists(dayKey(until))
	if err != nil {
		return false, err
	}
	return false, b.Put(dedupHash(id), u64(uint64(until.UnixNano())))
}

// sweepDedupDays drops the day buckets whose day ended by now: every
// record in them has expired. It returns how many records went.
func sweepDedupDays(tx *bolt.Tx, now time.Time) (int, error) {
	days := tx.Bucket(bDedupDays)
	today := binary.BigEndian.Uint64(dayKey(now))
	var gone [][]byte
	n := 0
	c := days.Cursor()
	for k, v := c.First(); k != nil && len(k) == 8 && binary.BigEndian.Uint64(k) < today; k, v = c.Next() {
		if v != nil {
			continue
		}
		n += days.Bucket(k).Stats().KeyN
		gone = append(gone, append([]byte(nil), k...))
	}
	for _, k := range gone {
		if err := days.DeleteBucket(k); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// dedupCount is the number of dedup records kept, expired or not.
func dedupCount(tx *bolt.Tx) int {
	n := tx.Bucket(bDedup).Stats().KeyN
	days := tx.Bucket(bDedupDays)
	_ = days.ForEach(func(k, v []byte) error {
		if v == nil {
			n += days.Bucket(k).Stats().KeyN
		}
		return nil
	})
	return n
}
