package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// The crash record: before the committer processes a batch of inbox
// entries it records the batch's first and last sequence; a process that
// finds the record at start died while processing that batch, and each of
// the batch's entries still in the inbox counts one crash, under its
// sequence in the attempts bucket. An entry that crashed the process too
// often is a poison delivery, for QuarantineCrashed.
//
// The record is a few bytes written in place in storage.dir/batch, without
// an fsync: it must outlive the process, which the page cache ensures, not
// the machine (a machine that went down is no evidence against a
// delivery). A bbolt commit with its two fdatasyncs for every batch cost as
// much disk time as the commit of the batch itself. Each record carries a
// counter, and the one counted last is kept in the attempts bucket in the
// transaction that counts it, so a record is never counted twice. Stores
// written before keep their record under "batch" in the bucket; it is
// counted the same way.
var (
	bAttempts = []byte("attempts")
	keyBatch  = []byte("batch")
	// keyCounted is the file record counted last.
	keyCounted = []byte("counted")
)

// batchFileName is the crash record's file inside storage.dir.
const batchFileName = "batch"

// batchRecordSize is lo, hi, the counter and a Castagnoli checksum of them.
const batchRecordSize = 28

// batchRecord is the crash record's file.
type batchRecord struct {
	f *os.File
	n uint64 // the counter of the last record written
}

func openBatchRecord(dir string) (*batchRecord, error) {
	f, err := os.OpenFile(filepath.Join(dir, batchFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open crash record: %w", err)
	}
	r := &batchRecord{f: f}
	if _, _, n, ok := r.read(); ok {
		r.n = n
	}
	return r, nil
}

// read returns the record in the file; ok is false for none (a new store,
// or a record torn by a crash of the machine).
func (r *batchRecord) read() (lo, hi, n uint64, ok bool) {
	var b [batchRecordSize]byte
	if _, err := r.f.ReadAt(b[:], 0); err != nil {
		return 0, 0, 0, false
	}
	if crc32.Checksum(b[:24], castagnoli) != binary.BigEndian.Uint32(b[24:]) {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16]), binary.BigEndian.Uint64(b[16:24]), true
}

// write replaces the record; only the committer calls it.
func (r *batchRecord) write(lo, hi uint64) error {
	var b [batchRecordSize]byte
	r.n++
	binary.BigEndian.PutUint64(b[:8], lo)
	binary.BigEndian.PutUint64(b[8:16], hi)
	binary.BigEndian.PutUint64(b[16:24], r.n)
	binary.BigEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	_, err := r.f.WriteAt(b[:], 0)
	return err
}

// BeginBatch records that inbox entries lo..hi are being processed. The
// record stays until the next batch replaces it: entries that were
// committed are no longer in the inbox, so a stale record counts nothing.
func (s *Bolt) BeginBatch(ctx context.Context, f Fence, lo, hi uint64) error {
	if err := s.fenced(ctx, f); err != nil {
		return wrap("record batch attempt", err)
	}
	return wrap("record batch attempt", s.batch.write(lo, hi))
}

// Crashes turns a batch record left by a process that died into one more
// crash for each of that batch's entries still in the inbox (above the
// watermark), and returns the crash count of every inbox entry that has
// one. Counts of entries processed since are dropped.
func (s *Bolt) Crashes(ctx context.Context, f Fence) (map[uint64]int, error) {
	if err := s.fenced(ctx, f); err != nil {
		return nil, wrap("read crash record", err)
	}
	out := map[uint64]int{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bAttempts)
		if err != nil {
			return err
		}
		done, last := s.done.Load(), s.log.last()
		count := func(lo, hi uint64) error {
			for seq := max(lo, done+1); seq <= min(hi, last); seq++ {
				if err := b.Put(u64(seq), u64(uint64(crashCount(b.Get(u64(seq)))+1))); err != nil {
					return err
				}
			}
			return nil
		}
		if v := b.Get(keyBatch); len(v) == 16 {
			if err := count(binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])); err != nil {
				return err
			}
			if err := b.Delete(keyBatch); err != nil {
				return err
			}
		}
		if lo, hi, n, ok := s.batch.read(); ok && !bytes.Equal(b.Get(keyCounted), u64(n)) {
			if err := count(lo, hi); err != nil {
				return err
			}
			if err := b.Put(keyCounted, u64(n)); err != nil {
				return err
			}
		}
		var gone [][]byte
		err = b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return nil
			}
			if seq := binary.BigEndian.Uint64(k); seq > done && seq <= last {
				out[seq] = crashCount(v)
				return nil
			}
			gone = append(gone, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return out, wrap("read crash record", err)
}

func crashCount(v []byte) int {
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

// QuarantineCrashed moves the next inbox entry, which crashed the process
// too often, to the quarantine: its record's bytes under "inbox/" and its
// sequence, the reason under "reason/", and the watermark past it, so the
// entries after it are processed and an operator can look at it.
func (s *Bolt) QuarantineCrashed(ctx context.Context, f Fence, e InboxEntry, reason string) error {
	if err := s.fenced(ctx, f); err != nil {
		return wrap("quarantine inbox entry", err)
	}
	raw, _, err := s.log.rawAt(e.Location)
	if err != nil {
		return wrap("quarantine inbox entry", err)
	}
	return s.update(func(tx CommitTx) error {
		bt := tx.(*boltTx)
		if ok, _ := bt.TakeInbox(e.Seq); !ok {
			return fmt.Errorf("inbox entry %d: %w", e.Seq, ErrNotFound)
		}
		q := bt.tx.Bucket(bQuarantine)
		if err := q.Put(append([]byte("inbox/"), u64(e.Seq)...), raw); err != nil {
			return err
		}
		if err := q.Put(append([]byte("reason/"), u64(e.Seq)...), []byte(reason)); err != nil {
			return err
		}
		if b := bt.tx.Bucket(bAttempts); b != nil {
			if err := b.Delete(u64(e.Seq)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Quarantined returns the reason an inbox entry was quarantined for, and
// whether it is there at all (a damaged entry has no reason).
func (s *Bolt) Quarantined(seq uint64) (reason string, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		q := tx.Bucket(bQuarantine)
		ok = q.Get(append([]byte("inbox/"), u64(seq)...)) != nil
		reason = string(q.Get(append([]byte("reason/"), u64(seq)...)))
		return nil
	})
	return reason, ok, wrap("read quarantine", err)
}
