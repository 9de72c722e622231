package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/wabridge/wabridge/internal/delivery"
)

// FileName is the store's file inside storage.dir.
const FileName = "wabridge.db"

// schema identifies a wabridge store and the layout of its buckets. A file
// with another value is refused rather than migrated blindly; a file of
// schemaV1 (inbox entries as JSON documents in the inbox bucket) is
// migrated when opened, once (migrate.go).
const (
	schema   = "wabridge/2"
	schemaV1 = "wabridge/1"
)

var (
	bMeta   = []byte("meta")
	bInbox  = []byte("inbox")
	bOutbox = []byte("outbox")
	bDead   = []byte("dead")
	bDedup  = []byte("dedup")
	// bProcessed held a record per processed delivery before the audit
	// trail replaced it; nothing writes it now, and the sweep clears what
	// an older version left there.
	bProcessed = []byte("processed")
	bExpiry    = []byte("expiry") // expiry time + kind + key → nothing: what the sweeper walks
	bRefs      = []byte("refs")
	// bQuarantine keeps inbox entries that could not be decoded, as they
	// were stored, under "inbox/" and their sequence.
	bQuarantine = []byte("quarantine")
	// bInFlight marks outbox entries whose send has started: outbox id →
	// when. A marked entry found at start may have gone out already.
	bInFlight = []byte("inflight")

	allBuckets = [][]byte{bInbox, bOutbox, bDead, bDedup, bDedupDays, bProcessed, bExpiry, bRefs, bIncidents, bIncidentEvents, bSilences, bQuarantine,
		bInboxSkips, bInboxSegments, bInFlight}

	keySchema = []byte("schema")
	// keyEpoch counts the opens of the file: the lease's epoch.
	keyEpoch = []byte("epoch")
	// keyInboxDone is the inbox log's watermark: every delivery with a
	// sequence up to it was processed (or quarantined).
	keyInboxDone = []byte("inbox_done")
	// bInboxSkips keeps the damaged byte ranges of the inbox log that
	// were quarantined: segment + offset → end.
	bInboxSkips = []byte("inbox_skips")
	// bInboxSegments records when each processed segment of the inbox
	// log was first seen drained: segment → unix nanoseconds.
	bInboxSegments = []byte("inbox_segments")
)

// Kinds of records in the expiry index.
const (
	expDedup     byte = 'd'
	expProcessed byte = 'p'
)

// Options tune the embedded store.
type Options struct {
	// NoSync skips fsync: faster, and a crash may lose acknowledged
	// deliveries. Only for benchmarks and throwaway tests.
	NoSync bool
	// LockTimeout is how long Open waits for another process to release the
	// file before returning ErrLocked (default 1s).
	LockTimeout time.Duration
	// Retention is how long a processed segment of the inbox log is kept,
	// for the audit trail's payloads (default DefaultRetention).
	Retention time.Duration
}

// DefaultRetention is storage.retention's default: how long processed
// deliveries are kept for the audit trail.
const DefaultRetention = 72 * time.Hour

// Bolt is the embedded store: one bbolt file in storage.dir for the state,
// and the inbox log beside it for the deliveries as received.
type Bolt struct {
	db        *bolt.DB
	path      string
	zip       Compressor // payloads of rejected deliveries
	log       *inboxLog
	retention time.Duration
	done      atomic.Uint64 // the inbox watermark as last committed
	// The sizes of the outbox and the dead letters, kept as they change so
	// that metrics never walk a bucket.
	outboxN, deadN atomic.Int64
	// legacyDedup says the bucket of dedup records by id, of stores
	// written before the day buckets, still holds records (dedup.go).
	legacyDedup atomic.Bool
	// epoch is this open's lease: the fence every commit must bring.
	epoch   uint64
	batch   *batchRecord // the crash record (attempts.go)
	outq    *outboxIndex
	replays replays
}

var _ Store = (*Bolt)(nil)

// Open opens (creating when missing) dir/wabridge.db. A second process gets
// ErrLocked within LockTimeout; a file that is not a wabridge store gets an
// error wrapping ErrCorrupt and is left untouched.
func Open(dir string, opts Options) (*Bolt, error) {
	if dir == "" {
		return nil, errors.New("storage.dir is empty: set it to a writable directory")
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("storage.dir %s: cannot create it: %w", dir, err)
	}
	if err := probeWritable(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync})
	switch {
	case err == nil:
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("storage.dir %s: %w", dir, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%s is %w: %v (the file was left as it is; move it away to start empty)", path, ErrCorrupt, err)
	default:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.NoSync = opts.NoSync
	// Batch's default 10 ms wait puts a floor under every acknowledgement.
	// A commit here costs about a millisecond, and while one commits the
	// next batch fills anyway, so a short wait loses no grouping.
	db.MaxBatchDelay = time.Millisecond
	s := &Bolt{db: db, path: path, retention: opts.Retention}
	legacy, err := s.init()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if s.epoch, err = s.nextEpoch(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.openLog(dir, opts.NoSync, legacy); err != nil {
		_ = db.Close()
		return nil, err
	}
	if s.batch, err = openBatchRecord(dir); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.outq = newOutboxIndex()
	err = db.View(func(tx *bolt.Tx) error {
		// A record written after the one counted last has a higher
		// counter, even when the file was lost or torn.
		if b := tx.Bucket(bAttempts); b != nil {
			if v := b.Get(keyCounted); len(v) == 8 {
				s.batch.n = max(s.batch.n, binary.BigEndian.Uint64(v))
			}
		}
		if k, _ := tx.Bucket(bDedup).Cursor().First(); k != nil {
			s.legacyDedup.Store(true)
		}
		s.outboxN.Store(int64(tx.Bucket(bOutbox).Stats().KeyN))
		s.deadN.Store(int64(tx.Bucket(bDead).Stats().KeyN))
		return s.outq.load(tx)
	})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("read store %s: %w", path, err)
	}
	return s, nil
}

// probeWritable fails early, naming the directory, when the store could
// not write there; bbolt's own error would only name the file.
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".wabridge-probe-*")
	if err != nil {
		return fmt.Errorf("storage.dir %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("storage.dir %s: remove probe file: %w", dir, err)
	}
	return nil
}

// init creates the buckets of a new store, or checks that an existing file
// is ours. A bbolt file with buckets but no schema belongs to something else
// and is refused, never rewritten.
func (s *Bolt) init() (legacy bool, err error) {
	var empty, foreign bool
	var found string
	err = s.db.View(func(tx *bolt.Tx) error {
		n := 0
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil })
		empty = n == 0
		if m := tx.Bucket(bMeta); m != nil {
			found = string(m.Get(keySchema))
		} else if !empty {
			foreign = true
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read store %s: %w", s.path, err)
	}
	if foreign {
		return false, fmt.Errorf("%s is %w: it has no wabridge meta bucket (the file was left as it is)", s.path, ErrCorrupt)
	}
	legacy = !empty && found == schemaV1
	if !empty && found != schema && !legacy {
		return false, fmt.Errorf("%s is %w: schema %q, want %q (the file was left as it is)", s.path, ErrCorrupt, found, schema)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return err
		}
		if empty {
			if err := m.Put(keySchema, []byte(schema)); err != nil {
				return err
			}
		}
		for _, name := range slices.Concat(allBuckets, auditBuckets) {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("initialise store %s: %w", s.path, err)
	}
	return legacy, nil
}

// nextEpoch counts this open in the file: a fence taken by an earlier open
// (a process that held the file before) is stale from now on.
func (s *Bolt) nextEpoch() (uint64, error) {
	var n uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if v := m.Get(keyEpoch); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		n++
		return m.Put(keyEpoch, u64(n))
	})
	if err != nil {
		return 0, fmt.Errorf("open store %s: record the lease: %w", s.path, err)
	}
	return n, nil
}

// Path is the store file.
func (s *Bolt) Path() string { return s.path }

// Close closes the files; in-progress transactions finish first.
func (s *Bolt) Close() error {
	lerr := s.log.close()
	if s.batch != nil {
		if err := s.batch.f.Close(); err != nil && lerr == nil {
			lerr = fmt.Errorf("crash record: %w", err)
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	if lerr != nil {
		return fmt.Errorf("close inbox log: %w", lerr)
	}
	return nil
}

// Size reports the file's size in bytes.
func (s *Bolt) Size() (int64, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0, fmt.Errorf("stat store: %w", err)
	}
	return fi.Size(), nil
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// idKey turns a user-facing id ("42") into its key.
func idKey(id string) ([]byte, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("id %q: %w (ids are positive numbers)", id, ErrNotFound)
	}
	return u64(n), nil
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("store: %s: %w", what, ErrClosed)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// AddInbox appends a delivery to the inbox log; concurrent calls share
// one write and one fdatasync.
func (s *Bolt) AddInbox(ctx context.Context, d delivery.Delivery) (InboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return InboxEntry{}, fmt.Errorf("store: add to inbox: %w", err)
	}
	seq, loc, err := s.log.append(d)
	if err != nil {
		return InboxEntry{}, wrap("add to inbox", err)
	}
	if d.ID == "" {
		d.ID = strconv.FormatUint(seq, 10)
	}
	return InboxEntry{Seq: seq, Delivery: d, Location: loc}, nil
}

// PendingInbox lists the entries above the watermark, in receive order.
func (s *Bolt) PendingInbox(ctx context.Context, f Fence, limit int) ([]InboxEntry, error) {
	if err := s.fenced(ctx, f); err != nil {
		return nil, wrap("read inbox", err)
	}
	out, err := s.log.read(s.done.Load(), limit, nil)
	if _, ok := errors.AsType[*DamagedEntryError](err); ok {
		return out, err
	}
	return out, wrap("read inbox", err)
}

// alive reports ErrClosed once the store was closed, and the context's
// error once it is done.
func (s *Bolt) alive(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(*bolt.Tx) error { return nil })
}

// Fences returns the one partition's fence: the file lock is the lease,
// and each open of the file is a new epoch.
func (s *Bolt) Fences(ctx context.Context) ([]Fence, error) {
	if err := s.alive(ctx); err != nil {
		return nil, wrap("read lease", err)
	}
	return []Fence{{Partition: 0, Epoch: s.epoch}}, nil
}

var _ RulesGate = (*Bolt)(nil)

// SetRulesHash does nothing: one process cannot disagree with itself.
func (s *Bolt) SetRulesHash(string) {}

// RulesConflicts is always empty for the embedded store.
func (s *Bolt) RulesConflicts(context.Context) (map[string]string, error) { return nil, nil }

// fenced checks that f is this open's fence.
func (s *Bolt) fenced(ctx context.Context, f Fence) error {
	if err := s.alive(ctx); err != nil {
		return err
	}
	if f.Partition != 0 || f.Epoch != s.epoch {
		return &FencedError{Fence: f, Current: s.epoch}
	}
	return nil
}

// QuarantineDamaged moves the damaged record a read reported for seq out
// of the way: its bytes go to the quarantine bucket and reads skip them.
func (s *Bolt) QuarantineDamaged(ctx context.Context, f Fence, seq uint64) error {
	if err := s.fenced(ctx, f); err != nil {
		return wrap("quarantine inbox entry", err)
	}
	loc, ok := s.log.damagedAt(seq)
	if !ok {
		if seq <= s.done.Load() || seq > s.log.last() {
			return wrap("quarantine inbox entry", fmt.Errorf("inbox entry %d: %w", seq, ErrNotFound))
		}
		return wrap("quarantine inbox entry", fmt.Errorf("inbox entry %d decodes: it is not damaged, so it stays in the inbox", seq))
	}
	raw, end, err := s.log.rawAt(loc)
	if err != nil {
		return wrap("quarantine inbox entry", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bQuarantine).Put(append([]byte("inbox/"), u64(seq)...), raw); err != nil {
			return err
		}
		return tx.Bucket(bInboxSkips).Put(skipKeyBytes(loc), u64(uint64(end)))
	})
	if err != nil {
		return wrap("quarantine inbox entry", err)
	}
	s.log.skip(loc, end)
	return nil
}

func skipKeyBytes(loc Location) []byte {
	k := binary.BigEndian.AppendUint64(nil, loc.Segment)
	return binary.BigEndian.AppendUint64(k, uint64(loc.Offset))
}

// live reports whether a dedup value (its expiry) is still in force.
func live(v []byte, now time.Time) bool {
	return len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now.UnixNano()
}

func expiryKey(t time.Time, kind byte, key []byte) []byte {
	k := make([]byte, 0, 9+len(key))
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
	k = append(k, kind)
	return append(k, key...)
}

// readAll decodes every record of a bucket keyed by sequence, in key order.
func readAll[T any](db *bolt.DB, bucket []byte, what string) ([]T, error) {
	var out []T
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var rec T
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("%s %d: %w", what, binary.BigEndian.Uint64(k), err)
			}
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}

func (s *Bolt) get(bucket []byte, id string, into any) error {
	k, err := idKey(id)
	if err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get(k)
		if v == nil {
			return fmt.Errorf("%s %s: %w", bucket, id, ErrNotFound)
		}
		return json.Unmarshal(v, into)
	})
}

func putRef(tx *bolt.Tx, ref *Ref) error {
	if ref == nil || ref.Ref == "" {
		return nil
	}
	v, err := json.Marshal(ref)
	if err != nil {
		return err
	}
	return tx.Bucket(bRefs).Put([]byte(ref.Key), v)
}

// GetRef returns the reference stored under key.
func (s *Bolt) GetRef(ctx context.Context, key string) (Ref, error) {
	if err := s.alive(ctx); err != nil {
		return Ref{}, wrap("read ref", err)
	}
	var r Ref
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bRefs).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("ref: %w", ErrNotFound)
		}
		return json.Unmarshal(v, &r)
	})
	return r, wrap("read ref", err)
}

// Sweep walks the expiry index from its oldest entry and removes what
// expired, so it never scans live records.
func (s *Bolt) Sweep(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.alive(ctx); err != nil {
		return 0, wrap("sweep expired records", err)
	}
	n := 0
	legacyGone := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		exp := tx.Bucket(bExpiry)
		c := exp.Cursor()
		var done [][]byte
		for k, _ := c.First(); k != nil && len(k) >= 9; k, _ = c.Next() {
			if limit > 0 && len(done) >= limit {
				break
			}
			at := int64(binary.BigEndian.Uint64(k[:8]))
			if at > now.UnixNano() {
				break
			}
			done = append(done, bytes.Clone(k))
		}
		swept, err := sweepDedupDays(tx, now)
		if err != nil {
			return err
		}
		n += swept
		for _, k := range done {
			key := k[9:]
			switch k[8] {
			case expDedup:
				b := tx.Bucket(bDedup)
				// A later delivery may have renewed the record; only the
				// index entry that matches its expiry removes it.
				if v := b.Get(key); v != nil && bytes.Equal(v, k[:8]) {
					if err := b.Delete(key); err != nil {
						return err
					}
					n++
				}
			case expProcessed:
				if err := tx.Bucket(bProcessed).Delete(key); err != nil {
					return err
				}
				n++
			case expAudit:
				if err := deleteAudit(tx, key); err != nil {
					return err
				}
				n++
			case expIncident:
				gone, err := sweepIncident(tx, key, int64(binary.BigEndian.Uint64(k[:8])))
				if err != nil {
					return err
				}
				if gone {
					n++
				}
			}
			if err := exp.Delete(k); err != nil {
				return err
			}
		}
		k, _ := tx.Bucket(bDedup).Cursor().First()
		legacyGone = k == nil
		return nil
	})
	if err != nil {
		return 0, wrap("sweep expired records", err)
	}
	if legacyGone {
		s.legacyDedup.Store(false)
	}
	removed, err := s.sweepSegments(now)
	if err != nil {
		return n, wrap("sweep inbox log", err)
	}
	return n + removed, nil
}

// sweepSegments removes the inbox log's segments that were processed
// longer than the retention ago: the audit records that refer to their
// payloads have expired by then. A segment is stamped the first time a
// sweep finds it processed, so it outlives its last record by at most a
// sweep interval, never less.
func (s *Bolt) sweepSegments(now time.Time) (int, error) {
	segs := s.log.removable(s.done.Load())
	if len(segs) == 0 {
		return 0, nil
	}
	var gone []uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		gone = gone[:0]
		b := tx.Bucket(bInboxSegments)
		for _, seg := range segs {
			k := u64(seg.first)
			v := b.Get(k)
			if len(v) != 8 {
				if err := b.Put(k, u64(uint64(now.UnixNano()))); err != nil {
					return err
				}
				continue
			}
			if now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) >= s.retention {
				gone = append(gone, seg.first)
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, first := range gone {
		if err := s.log.remove(first); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}

// Depths reports the sizes of the inbox, the outbox and the dead letters
// from counts kept as they change: cheap enough for every metrics scrape.
func (s *Bolt) Depths(ctx context.Context) (Counts, error) {
	if err := s.alive(ctx); err != nil {
		return Counts{}, wrap("count records", err)
	}
	last := s.log.last()
	return Counts{
		Inbox:  int(last - min(s.done.Load(), last)),
		Outbox: int(s.outboxN.Load()),
		Dead:   int(s.deadN.Load()),
	}, nil
}

// Counts reports the size of each list, walking the buckets of the dedup
// records and the audit trail: for tests and diagnostics, not metrics.
func (s *Bolt) Counts(ctx context.Context) (Counts, error) {
	c, err := s.Depths(ctx)
	if err != nil {
		return c, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		c.Dedup = dedupCount(tx)
		c.Processed = tx.Bucket(bAudit).Stats().KeyN
		return nil
	})
	return c, wrap("count records", err)
}

// Check proves the store can write by committing a heartbeat.
func (s *Bolt) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return wrap("write check", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("checked"), u64(uint64(time.Now().UnixNano())))
	})
	return wrap("write check", err)
}

// Snapshot writes a consistent copy of the store to dir/wabridge.db from
// one read transaction: writers go on meanwhile, and nothing in the store
// changes. A dry run evaluates against the copy.
func (s *Bolt) Snapshot(dir string) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.CopyFile(filepath.Join(dir, FileName), 0o600)
	})
	return wrap("snapshot", err)
}

// Probe proves the store has room for n more bytes: it commits a value of
// that size, then removes it. Check's heartbeat rewrites a page in place
// and passes on a full disk; this needs the room a delivery of n bytes
// would, so readiness can say when writes will succeed again.
func (s *Bolt) Probe(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return wrap("write probe", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put([]byte("probe"), make([]byte, n))
	})
	if err != nil {
		return wrap("write probe", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Delete([]byte("probe"))
	})
	return wrap("remove probe", err)
}

// IsDuplicate reports whether an event id has a live dedup record: for
// tests and diagnostics; commits use CommitTx.SeeEvent.
func (s *Bolt) IsDuplicate(ctx context.Context, eventID string, now time.Time) (bool, error) {
	if err := s.alive(ctx); err != nil {
		return false, wrap("read dedup", err)
	}
	var dup bool
	err := s.db.View(func(tx *bolt.Tx) error {
		dup = seenLive(tx, s.legacyDedup.Load(), eventID, now)
		return nil
	})
	return dup, wrap("read dedup", err)
}
