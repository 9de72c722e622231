package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
)

var (
	bIncidents      = []byte("incidents")
	bIncidentEvents = []byte("incident_events")
	bSilences       = []byte("silences")
)

// expIncident marks a resolved incident in the expiry index.
const expIncident byte = 'i'

type boltTx struct {
	tx *bolt.Tx
	s  *Bolt
	// done is the inbox watermark as this transaction leaves it.
	done uint64
	// staged are the outbox entries added, hidden in the index until the
	// transaction commits.
	staged []*queued
}

var _ CommitTx = (*boltTx)(nil)

// Commit runs fn in one write transaction. It is not batched with other
// writers: the pipeline calls it from one committer that already groups
// many deliveries per transaction.
func (s *Bolt) Commit(ctx context.Context, f Fence, fn func(tx CommitTx) error) error {
	if err := s.fenced(ctx, f); err != nil {
		return wrap("commit", err)
	}
	return s.update(fn)
}

// update is Commit without the fence, for the store's own writes.
func (s *Bolt) update(fn func(tx CommitTx) error) error {
	var t *boltTx
	err := s.db.Update(func(tx *bolt.Tx) error {
		t = &boltTx{tx: tx, s: s, done: s.done.Load()}
		if err := fn(t); err != nil {
			return err
		}
		if t.done != s.done.Load() {
			return tx.Bucket(bMeta).Put(keyInboxDone, u64(t.done))
		}
		return nil
	})
	if t != nil {
		s.outq.mu.Lock()
		s.outq.settle(t.staged, err == nil)
		s.outq.mu.Unlock()
	}
	if err != nil {
		return wrap("commit", err)
	}
	// The outbox grows before the inbox shrinks: whoever reads the two
	// depths (a drain waiting for both to be zero) never sees a delivery
	// gone from the one and its notifications not yet in the other.
	s.outboxN.Add(int64(len(t.staged)))
	s.done.Store(t.done)
	return nil
}

// TakeInbox moves the watermark to seq when seq is above it: the inbox
// log is processed in order, so everything below it is done too.
func (t *boltTx) TakeInbox(seq uint64) (bool, error) {
	if seq <= t.done || seq > t.s.log.last() {
		return false, nil
	}
	t.done = seq
	return true, nil
}

// SeeEvent reads and writes the dedup record in the one write
// transaction bbolt allows at a time: the test and the set are atomic.
func (t *boltTx) SeeEvent(id string, now, until time.Time) (bool, error) {
	if id == "" {
		return false, nil
	}
	return seeEvent(t.tx, t.s.legacyDedup.Load(), id, now, until)
}

func (t *boltTx) AddOutbox(e outbox.Entry) (outbox.Entry, error) {
	e, err := addOutbox(t.tx, e)
	if err != nil {
		return e, err
	}
	t.staged = append(t.staged, t.s.outq.stage(e))
	return e, nil
}

func (t *boltTx) OutboxWaiting(id string) (bool, error) {
	k, err := idKey(id)
	return err == nil && t.tx.Bucket(bOutbox).Get(k) != nil, nil
}

func (t *boltTx) PutAudit(rec *audit.Record, body Payload, until time.Time, outbox []outbox.Entry) error {
	return writeAudit(t.tx, rec, body, until, outbox)
}

func (t *boltTx) PutIncident(inc *incident.Incident, until time.Time) error {
	if inc.Fingerprint == "" {
		return errors.New("incident without a fingerprint")
	}
	rec := *inc
	rec.Event = event.Event{}
	stored := storedIncident{Incident: &rec}
	if inc.Status == incident.Resolved && !until.IsZero() {
		stored.Expires = until.UnixNano()
	}
	v, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("encode incident %s: %w", inc.Fingerprint, err)
	}
	if err := t.tx.Bucket(bIncidents).Put([]byte(inc.Fingerprint), v); err != nil {
		return err
	}
	if inc.Status == incident.Resolved && !until.IsZero() {
		return t.tx.Bucket(bExpiry).Put(expiryKey(until, expIncident, []byte(inc.Fingerprint)), nil)
	}
	return nil
}

func (t *boltTx) PutIncidentEvent(fp string, ev *event.Event) error {
	v, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event of incident %s: %w", fp, err)
	}
	return t.tx.Bucket(bIncidentEvents).Put([]byte(fp), v)
}

func (t *boltTx) DeleteIncident(fp string) error {
	if err := t.tx.Bucket(bIncidentEvents).Delete([]byte(fp)); err != nil {
		return err
	}
	return t.tx.Bucket(bIncidents).Delete([]byte(fp))
}

func (t *boltTx) Incident(fp string) (incident.Incident, bool, error) {
	v := t.tx.Bucket(bIncidents).Get([]byte(fp))
	if v == nil {
		return incident.Incident{}, false, nil
	}
	inc, err := readIncident(t.tx, []byte(fp), v)
	return inc, err == nil, err
}

// readIncident decodes an incident and the event it started with.
func readIncident(tx *bolt.Tx, fp, v []byte) (incident.Incident, error) {
	var inc incident.Incident
	if err := json.Unmarshal(v, &inc); err != nil {
		return inc, fmt.Errorf("incident %s: %w", fp, err)
	}
	if ev := tx.Bucket(bIncidentEvents).Get(fp); ev != nil {
		if err := json.Unmarshal(ev, &inc.Event); err != nil {
			return inc, fmt.Errorf("event of incident %s: %w", fp, err)
		}
	}
	return inc, nil
}

// storedIncident is an incident as stored: with the expiry of its latest
// resolve, so an older expiry entry in the index cannot sweep it.
type storedIncident struct {
	*incident.Incident
	Expires int64 `json:"expires,omitempty"` // unix nanoseconds
}

// sweepIncident removes a resolved incident whose expiry, at (unix
// nanoseconds), came, with the refs of its messages and tickets: nothing
// updates them any more, and a later incident under the same fingerprint
// finds its Jira ticket again by label. One that opened again since is
// kept, refs and all, and so is one resolved again later, until its own
// expiry.
func sweepIncident(tx *bolt.Tx, fp []byte, at int64) (bool, error) {
	b := tx.Bucket(bIncidents)
	v := b.Get(fp)
	if v == nil {
		return false, nil
	}
	var st struct {
		Status  string `json:"status"`
		Expires int64  `json:"expires"`
	}
	if err := json.Unmarshal(v, &st); err != nil || st.Status != incident.Resolved || st.Expires > at {
		return false, nil
	}
	if err := deleteRefs(tx, fp); err != nil {
		return false, err
	}
	if err := tx.Bucket(bIncidentEvents).Delete(fp); err != nil {
		return false, err
	}
	return true, b.Delete(fp)
}

// deleteRefs removes the refs of one incident: their keys are its
// fingerprint, a slash, the notifier and the target (pipeline.OrderingKey).
// Fingerprints are hex and hold no slash, so the prefix matches no other
// incident's keys.
func deleteRefs(tx *bolt.Tx, fp []byte) error {
	refs := tx.Bucket(bRefs)
	prefix := append(bytes.Clone(fp), '/')
	var keys [][]byte
	c := refs.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := refs.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// LiveIncidents returns the pending and open incidents and the resolved
// ones with a deferred story: everything is one partition.
func (s *Bolt) LiveIncidents(ctx context.Context, f Fence) ([]incident.Incident, error) {
	if err := s.fenced(ctx, f); err != nil {
		return nil, wrap("read incidents", err)
	}
	all, err := s.Incidents(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, inc := range all {
		if inc.Status != incident.Resolved || inc.Deferred != nil {
			out = append(out, inc)
		}
	}
	return out, nil
}

// Incidents lists every stored incident (pending, open and recently
// resolved), by fingerprint.
func (s *Bolt) Incidents(ctx context.Context) ([]incident.Incident, error) {
	if err := s.alive(ctx); err != nil {
		return nil, wrap("read incidents", err)
	}
	var out []incident.Incident

	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bIncidents).ForEach(func(k, v []byte) error {
			inc, err := readIncident(tx, k, v)
			if err != nil {
				return err
			}
			out = append(out, inc)
			return nil
		})
	})
	return out, wrap("read incidents", err)
}

// GetIncident returns one incident by fingerprint.
func (s *Bolt) GetIncident(ctx context.Context, fp string) (incident.Incident, error) {
	if err := s.alive(ctx); err != nil {
		return incident.Incident{}, wrap("read incident", err)
	}
	var inc incident.Incident
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bIncidents).Get([]byte(fp))
		if v == nil {
			return fmt.Errorf("incident %s: %w", fp, ErrNotFound)
		}
		var err error
		inc, err = readIncident(tx, []byte(fp), v)
		return err
	})
	return inc, wrap("read incident", err)
}

// AddSilence stores a new silence and returns it with its id.
func (s *Bolt) AddSilence(ctx context.Context, sil silence.Silence) (silence.Silence, error) {
	if err := s.alive(ctx); err != nil {
		return silence.Silence{}, wrap("add silence", err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSilences)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		sil.ID = strconv.FormatUint(seq, 10)
		sil.State = ""
		v, err := json.Marshal(sil)
		if err != nil {
			return fmt.Errorf("encode silence: %w", err)
		}
		return b.Put(u64(seq), v)
	})
	if err != nil {
		return silence.Silence{}, wrap("add silence", err)
	}
	return sil, nil
}

// PutSilence replaces a stored silence (an update keeps its id).
func (s *Bolt) PutSilence(ctx context.Context, sil silence.Silence) error {
	if err := s.alive(ctx); err != nil {
		return wrap("update silence", err)
	}
	k, err := idKey(sil.ID)
	if err != nil {
		return wrap("update silence", err)
	}
	sil.State = ""
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSilences)
		if b.Get(k) == nil {
			return fmt.Errorf("silence %s: %w", sil.ID, ErrNotFound)
		}
		v, err := json.Marshal(sil)
		if err != nil {
			return fmt.Errorf("encode silence: %w", err)
		}
		return b.Put(k, v)
	})
	return wrap("update silence", err)
}

// Silences lists every silence, oldest first, expired ones included.
func (s *Bolt) Silences(ctx context.Context) ([]silence.Silence, error) {
	if err := s.alive(ctx); err != nil {
		return nil, wrap("read silences", err)
	}
	var out []silence.Silence
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bSilences).ForEach(func(k, v []byte) error {
			var sil silence.Silence
			if err := json.Unmarshal(v, &sil); err != nil {
				return fmt.Errorf("silence %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, sil)
			return nil
		})
	})
	return out, wrap("read silences", err)
}

// ExpireSilence ends a silence at the given time (now, usually); one that
// already ended keeps its end.
func (s *Bolt) ExpireSilence(ctx context.Context, id string, at time.Time) (silence.Silence, error) {
	if err := s.alive(ctx); err != nil {
		return silence.Silence{}, wrap("expire silence", err)
	}
	k, err := idKey(id)
	if err != nil {
		return silence.Silence{}, wrap("expire silence", err)
	}
	var sil silence.Silence
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSilences)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("silence %s: %w", id, ErrNotFound)
		}
		if err := json.Unmarshal(v, &sil); err != nil {
			return fmt.Errorf("silence %s: %w", id, err)
		}
		if !sil.EndsAt.After(at) {
			return nil
		}
		sil.EndsAt = at
		if sil.StartsAt.After(at) {
			sil.StartsAt = at
		}
		nv, err := json.Marshal(sil)
		if err != nil {
			return fmt.Errorf("encode silence: %w", err)
		}
		return b.Put(k, nv)
	})
	if err != nil {
		return silence.Silence{}, wrap("expire silence", err)
	}
	return sil, nil
}
