package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/outbox"
)

// outboxIndex is the embedded store's copy of its outbox: each ordering
// key's entries in id order, with their claims. The file holds the truth;
// the copy is read from it at open and changed after each commit that
// changed the outbox, so claiming never walks or decodes the bucket. The
// claims live only here: the file lock means no other process claims, and
// a process that dies loses its claims with its lock, as a lease runs out.
type outboxIndex struct {
	mu     sync.Mutex
	queues map[string][]*queued
	byID   map[string]*queued
	token  uint64 // the last claim token handed out
}

// queued is one outbox entry as the index holds it.
type queued struct {
	e outbox.Entry
	// hidden: added by a transaction that has not committed yet; it holds
	// its key (nothing behind it may go first) but cannot be claimed.
	hidden bool
	// notBefore is a released claim's wait, in memory only.
	notBefore time.Time
	inFlight  time.Time
	token     uint64    // the live claim's, 0 when unclaimed
	until     time.Time // the live claim's lease
	// finishing: the claim's outcome is committing; the lease cannot run
	// out under it.
	finishing bool
}

func newOutboxIndex() *outboxIndex {
	return &outboxIndex{queues: map[string][]*queued{}, byID: map[string]*queued{}}
}

func outboxSeq(id string) uint64 {
	n, _ := strconv.ParseUint(id, 10, 64)
	return n
}

// insert adds an entry to its key's queue, in id order: commits run one at
// a time, so ids arrive in order, and the search only guards that.
func (x *outboxIndex) insert(q *queued) {
	l := x.queues[q.e.Key]
	seq := outboxSeq(q.e.ID)
	i := len(l)
	for i > 0 && outboxSeq(l[i-1].e.ID) > seq {
		i--
	}
	x.queues[q.e.Key] = slices.Insert(l, i, q)
	x.byID[q.e.ID] = q
}

func (x *outboxIndex) remove(q *queued) {
	l := x.queues[q.e.Key]
	if i := slices.Index(l, q); i >= 0 {
		l = slices.Delete(l, i, i+1)
	}
	if len(l) == 0 {
		delete(x.queues, q.e.Key)
	} else {
		x.queues[q.e.Key] = l
	}
	delete(x.byID, q.e.ID)
}

// load reads the outbox and the in-flight marks from the file.
func (x *outboxIndex) load(tx *bolt.Tx) error {
	marks := map[uint64]time.Time{}
	err := tx.Bucket(bInFlight).ForEach(func(k, v []byte) error {
		if len(k) == 8 && len(v) == 8 {
			marks[binary.BigEndian.Uint64(k)] = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
		var e outbox.Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("outbox entry %d: %w", binary.BigEndian.Uint64(k), err)
		}
		x.insert(&queued{e: e, inFlight: marks[binary.BigEndian.Uint64(k)]})
		return nil
	})
}

// claimed returns the entry a claim holds, or ErrClaimLost.
func (x *outboxIndex) claimed(c Claim) (*queued, error) {
	q := x.byID[c.Entry.ID]
	if q == nil || c.Token == 0 || q.token != c.Token {
		return nil, fmt.Errorf("outbox entry %s: %w", c.Entry.ID, ErrClaimLost)
	}
	return q, nil
}

// finish marks a claim's outcome as committing, so its lease holds until
// done is called with whether the commit succeeded.
func (x *outboxIndex) finish(c Claim) (*queued, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	q, err := x.claimed(c)
	if err != nil {
		return nil, err
	}
	q.finishing = true
	return q, nil
}

// ClaimOutbox claims the due heads of the ordering keys.
func (s *Bolt) ClaimOutbox(ctx context.Context, q ClaimQuery) ([]Claim, time.Time, error) {
	if err := s.alive(ctx); err != nil {
		return nil, time.Time{}, wrap("claim outbox entries", err)
	}
	x := s.outq
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []Claim
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, l := range x.queues {
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
		head := l[0]
		if head.hidden || head.finishing || head.token != 0 && q.Now.Before(head.until) {
			continue
		}
		due := head.e.NextAttempt
		if head.notBefore.After(due) {
			due = head.notBefore
		}
		if due.After(q.Now) {
			later(due)
			continue
		}
		if q.Accept != nil && !q.Accept(&head.e) {
			continue
		}
		x.token++
		head.token, head.until, head.notBefore = x.token, q.Now.Add(q.Lease), time.Time{}
		out = append(out, Claim{Entry: head.e, Token: head.token, Until: head.until, InFlight: head.inFlight})
	}
	return out, next, nil
}

// MarkInFlight records durably that the claimed entry's send starts;
// concurrent marks share one commit.
func (s *Bolt) MarkInFlight(ctx context.Context, c Claim, at time.Time) error {
	if err := s.alive(ctx); err != nil {
		return wrap("mark outbox entry in flight", err)
	}
	s.outq.mu.Lock()
	_, err := s.outq.claimed(c)
	s.outq.mu.Unlock()
	if err != nil {
		return wrap("mark outbox entry in flight", err)
	}
	k, err := idKey(c.Entry.ID)
	if err != nil {
		return err
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		if tx.Bucket(bOutbox).Get(k) == nil {
			return fmt.Errorf("outbox %s: %w", c.Entry.ID, ErrNotFound)
		}
		return tx.Bucket(bInFlight).Put(k, u64(uint64(at.UnixNano())))
	})
	if err != nil {
		return wrap("mark outbox entry in flight", err)
	}
	s.outq.mu.Lock()
	if q, err := s.outq.claimed(c); err == nil {
		q.inFlight = at
	}
	s.outq.mu.Unlock()
	return nil
}

// Sent removes a delivered entry and records its reference. Concurrent
// sends share one commit through bbolt's Batch (with the inbox's writes);
// Batch may run the function again alone after another in its group
// failed, which is safe: writing the ref, the note (read from the entry,
// so skipped once the entry is gone) and deleting the entry are
// idempotent. A send with follow-up entries commits alone, so the ids it
// adds are added once.
func (s *Bolt) Sent(ctx context.Context, c Claim, sent Sent) error {
	if err := s.alive(ctx); err != nil {
		return wrap("remove sent outbox entry", err)
	}
	k, err := idKey(c.Entry.ID)
	if err != nil {
		return err
	}
	q, err := s.outq.finish(c)
	if err != nil {
		return wrap("remove sent outbox entry", err)
	}
	result := sent.Result
	if result == "" {
		result = audit.NoteSent
	}
	var existed bool
	var added []*queued
	fn := func(tx *bolt.Tx) error {
		if err := putRef(tx, sent.Ref); err != nil {
			return err
		}
		b := tx.Bucket(bOutbox)
		existed = b.Get(k) != nil
		if existed {
			// The claim's entry is the stored one (the index follows
			// every write of it), so the note is made from it rather than
			// from decoding the stored value inside the write transaction.
			if err := putNote(tx, &c.Entry, result, refOf(sent.Ref), "", time.Now()); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bInFlight).Delete(k); err != nil {
			return err
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		for _, e := range sent.Then {
			e, err := addOutbox(tx, e)
			if err != nil {
				return err
			}
			added = append(added, s.outq.stage(e))
		}
		return nil
	}
	if len(sent.Then) > 0 {
		err = s.db.Update(fn)
	} else {
		err = s.db.Batch(fn)
	}
	s.outq.mu.Lock()
	q.finishing = false
	if err == nil {
		s.outq.remove(q)
	}
	s.outq.settle(added, err == nil)
	s.outq.mu.Unlock()
	if err != nil {
		return wrap("remove sent outbox entry", err)
	}
	if existed {
		s.outboxN.Add(-1)
	}
	s.outboxN.Add(int64(len(added)))
	return nil
}

// refOf is the reference a note records for a send.
func refOf(r *Ref) string {
	if r == nil {
		return ""
	}
	return r.Ref
}

// stage inserts an entry a transaction added, hidden until settle.
func (x *outboxIndex) stage(e outbox.Entry) *queued {
	q := &queued{e: e, hidden: true}
	x.mu.Lock()
	x.insert(q)
	x.mu.Unlock()
	return q
}

// settle shows the staged entries of a transaction that committed, or
// drops those of one that did not. The caller holds x.mu.
func (x *outboxIndex) settle(staged []*queued, ok bool) {
	for _, q := range staged {
		if ok {
			q.hidden = false
		} else {
			x.remove(q)
		}
	}
}

// Retry writes back an entry after a failed attempt and ends its claim.
func (s *Bolt) Retry(ctx context.Context, c Claim) error {
	if err := s.alive(ctx); err != nil {
		return wrap("update outbox entry", err)
	}
	e := c.Entry
	k, err := idKey(e.ID)
	if err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("store: encode outbox entry %s: %w", e.ID, err)
	}
	q, err := s.outq.finish(c)
	if err != nil {
		return wrap("update outbox entry", err)
	}
	// Concurrent failures (a notifier's outage fails every send in
	// flight) share one commit; writing the entry, its note and the mark
	// is idempotent, so Batch may run this again.
	err = s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		if b.Get(k) == nil {
			return fmt.Errorf("outbox %s: %w", e.ID, ErrNotFound)
		}
		if e.LastError != "" {
			if err := putNote(tx, &e, audit.NoteFailed, "", e.LastReason, time.Now()); err != nil {
				return err
			}
		}
		if c.InFlight.IsZero() {
			if err := tx.Bucket(bInFlight).Delete(k); err != nil {
				return err
			}
		}
		return b.Put(k, v)
	})
	s.outq.mu.Lock()
	defer s.outq.mu.Unlock()
	q.finishing = false
	if err != nil {
		return wrap("update outbox entry", err)
	}
	q.e, q.inFlight, q.token, q.until = e, c.InFlight, 0, time.Time{}
	return nil
}

// Release ends a claim without writing anything: the wait lives in memory.
func (s *Bolt) Release(ctx context.Context, c Claim, notBefore time.Time) error {
	if err := s.alive(ctx); err != nil {
		return wrap("release outbox entry", err)
	}
	s.outq.mu.Lock()
	defer s.outq.mu.Unlock()
	q, err := s.outq.claimed(c)
	if err != nil {
		return wrap("release outbox entry", err)
	}
	q.token, q.until, q.notBefore = 0, time.Time{}, notBefore
	return nil
}

// Bury moves a claimed outbox entry to the dead letters, keeping its id.
func (s *Bolt) Bury(ctx context.Context, c Claim, reason string, died time.Time) error {
	if err := s.alive(ctx); err != nil {
		return wrap("move outbox entry to dead letters", err)
	}
	q, err := s.outq.finish(c)
	if err != nil {
		return wrap("move outbox entry to dead letters", err)
	}
	err = s.bury(outbox.DeadLetter{Entry: c.Entry, Reason: reason, Died: died})
	s.outq.mu.Lock()
	defer s.outq.mu.Unlock()
	q.finishing = false
	if err != nil {
		return err
	}
	s.outq.remove(q)
	return nil
}

func (s *Bolt) bury(d outbox.DeadLetter) error {
	k, err := idKey(d.ID)
	if err != nil {
		return err
	}
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("store: encode dead letter %s: %w", d.ID, err)
	}
	var wasOut, wasDead bool
	// Concurrent burials share one commit; Batch may run this again, and
	// it is idempotent.
	err = s.db.Batch(func(tx *bolt.Tx) error {
		wasOut, wasDead = tx.Bucket(bOutbox).Get(k) != nil, tx.Bucket(bDead).Get(k) != nil
		if err := tx.Bucket(bDead).Put(k, v); err != nil {
			return err
		}
		if err := putNote(tx, &d.Entry, audit.NoteDead, "", d.Reason, d.Died); err != nil {
			return err
		}
		if err := tx.Bucket(bInFlight).Delete(k); err != nil {
			return err
		}
		return tx.Bucket(bOutbox).Delete(k)
	})
	if err != nil {
		return wrap("move outbox entry to dead letters", err)
	}
	if wasOut {
		s.outboxN.Add(-1)
	}
	if !wasDead {
		s.deadN.Add(1)
	}
	return nil
}

// addOutbox stores an entry under the outbox's next sequence.
func addOutbox(tx *bolt.Tx, e outbox.Entry) (outbox.Entry, error) {
	b := tx.Bucket(bOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return outbox.Entry{}, err
	}
	e.ID = strconv.FormatUint(seq, 10)
	e.Notification.ID = e.ID
	v, err := json.Marshal(e)
	if err != nil {
		return outbox.Entry{}, fmt.Errorf("encode outbox entry: %w", err)
	}
	if err := b.Put(u64(seq), v); err != nil {
		return outbox.Entry{}, err
	}
	return e, nil
}

// Outbox lists every outbox entry in creation order: for tests and
// diagnostics; senders claim.
func (s *Bolt) Outbox(ctx context.Context) ([]outbox.Entry, error) {
	if err := s.alive(ctx); err != nil {
		return nil, wrap("read outbox", err)
	}
	out, err := readAll[outbox.Entry](s.db, bOutbox, "outbox entry")
	return out, wrap("read outbox", err)
}

// GetOutbox returns one outbox entry.
func (s *Bolt) GetOutbox(ctx context.Context, id string) (outbox.Entry, error) {
	if err := s.alive(ctx); err != nil {
		return outbox.Entry{}, wrap("read outbox entry", err)
	}
	var e outbox.Entry
	err := s.get(bOutbox, id, &e)
	return e, wrap("read outbox entry", err)
}

// InFlight returns the outbox entries whose send started and has no
// recorded outcome, with when it started: for tests and diagnostics.
func (s *Bolt) InFlight(ctx context.Context) (map[string]time.Time, error) {
	if err := s.alive(ctx); err != nil {
		return nil, wrap("read in-flight marks", err)
	}
	out := map[string]time.Time{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bInFlight).ForEach(func(k, v []byte) error {
			if len(k) == 8 && len(v) == 8 {
				out[strconv.FormatUint(binary.BigEndian.Uint64(k), 10)] = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			}
			return nil
		})
	})
	return out, wrap("read in-flight marks", err)
}
