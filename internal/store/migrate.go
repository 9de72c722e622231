package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/delivery"
)

// openLog opens the inbox log beside the bbolt file and reads what the
// file keeps of it: the watermark and the quarantined ranges. A store of
// schema wabridge/1 is migrated first.
func (s *Bolt) openLog(dir string, noSync, legacy bool) error {
	var after, done uint64
	skips := map[skipKey]int64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		after = tx.Bucket(bInbox).Sequence()
		if v := tx.Bucket(bMeta).Get(keyInboxDone); len(v) == 8 {
			done = binary.BigEndian.Uint64(v)
		}
		return tx.Bucket(bInboxSkips).ForEach(func(k, v []byte) error {
			if len(k) == 16 && len(v) == 8 {
				skips[skipKey{binary.BigEndian.Uint64(k), int64(binary.BigEndian.Uint64(k[8:]))}] = int64(binary.BigEndian.Uint64(v))
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("read store %s: %w", s.path, err)
	}
	if legacy {
		// The entries of the old inbox bucket get the sequences after its
		// own; everything up to it was processed.
		done = max(done, after)
	}
	l, err := openInboxLog(dir, noSync, max(after, done))
	if err != nil {
		return err
	}
	l.skips = skips
	s.log = l
	s.done.Store(done)
	if legacy {
		if err := s.migrateV1(after); err != nil {
			_ = l.close()
			return fmt.Errorf("migrate store %s from %s to %s: %w (nothing was removed; opening it again retries)", s.path, schemaV1, schema, err)
		}
	}
	return nil
}

// migrateV1 moves the deliveries still waiting in a wabridge/1 inbox
// bucket (JSON documents holding the body in base64) into the inbox log,
// in their order, then empties the bucket and marks the file wabridge/2
// in one transaction. A crash in between leaves the file at wabridge/1:
// the next open appends only what the log does not hold yet, so nothing
// is lost and nothing is appended twice. An entry that does not decode
// goes to the quarantine as it was, as the committer would have put it.
func (s *Bolt) migrateV1(base uint64) error {
	var ds []delivery.Delivery
	damaged := map[string][]byte{}
	var keys [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bInbox).ForEach(func(k, v []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			var d delivery.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				damaged[string(k)] = append([]byte(nil), v...)
				return nil
			}
			ds = append(ds, d)
			return nil
		})
	})
	if err != nil {
		return err
	}
	// What an interrupted migration appended already.
	have := int(s.log.last() - base)
	if have < 0 || have > len(ds) {
		return fmt.Errorf("the inbox log holds %d deliveries past sequence %d and the old inbox %d: move the inbox directory away to migrate again", have, base, len(ds))
	}
	if rest := ds[have:]; len(rest) > 0 {
		group := make([]*appendReq, len(rest))
		for i := range rest {
			group[i] = &appendReq{d: rest[i], done: make(chan struct{})}
		}
		// The writer is idle: nobody can append before Open returns.
		s.log.commit(group, nil)
		for _, r := range group {
			if r.err != nil {
				return r.err
			}
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bInbox)
		for _, k := range keys {
			if v, ok := damaged[string(k)]; ok {
				if err := tx.Bucket(bQuarantine).Put(append([]byte("inbox/"), k...), v); err != nil {
					return err
				}
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		m := tx.Bucket(bMeta)
		if err := m.Put(keyInboxDone, u64(base)); err != nil {
			return err
		}
		return m.Put(keySchema, []byte(schema))
	})
}
