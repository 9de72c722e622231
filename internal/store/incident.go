package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
)

// Tx is one write transaction of the pipeline's committer: everything done
// through it commits together or not at all.
type Tx interface {
	// InboxHas reports whether an inbox entry is still waiting.
	InboxHas(seq uint64) bool
	// DeleteInbox removes an inbox entry.
	DeleteInbox(seq uint64) error
	// IsDuplicate reports whether an event id has a live dedup record.
	IsDuplicate(eventID string, now time.Time) bool
	// PutDedup remembers an event id until the given time.
	PutDedup(eventID string, until time.Time) error
	// AddOutbox stores a notification and returns it with its id.
	AddOutbox(e outbox.Entry) (outbox.Entry, error)
	// OutboxHas reports whether an outbox entry is still waiting.
	OutboxHas(id string) bool
	// PutIncident writes an incident's counters and times (not its
	// Event); a resolved one expires at until.
	PutIncident(inc *incident.Incident, until time.Time) error
	// PutIncidentEvent writes the event an incident started with.
	PutIncidentEvent(fingerprint string, ev *event.Event) error
	// DeleteIncident removes an incident record.
	DeleteIncident(fingerprint string) error
	// Incident reads a stored incident with its event, as of the start of
	// the transaction's writes (the pipeline writes incidents at its end).
	Incident(fingerprint string) (incident.Incident, bool, error)
}

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
	// outboxAdded counts the entries AddOutbox stored.
	outboxAdded int64
}

var _ Tx = (*boltTx)(nil)

// Update runs fn in one write transaction. It is not batched with other
// writers: the pipeline calls it from one committer that already groups
// many deliveries per transaction.
func (s *Bolt) Update(fn func(tx Tx) error) error {
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
	if err != nil {
		return wrap("commit", err)
	}
	s.done.Store(t.done)
	s.outboxN.Add(t.outboxAdded)
	return nil
}

// InboxHas reports whether seq is above the watermark: the inbox log is
// processed in order.
func (t *boltTx) InboxHas(seq uint64) bool { return seq > t.done && seq <= t.s.log.last() }

// DeleteInbox moves the watermark to seq: the committer takes entries in
// order, so everything below it is done too.
func (t *boltTx) DeleteInbox(seq uint64) error {
	t.done = max(t.done, seq)
	return nil
}

func (t *boltTx) IsDuplicate(id string, now time.Time) bool {
	return id != "" && live(t.tx.Bucket(bDedup).Get([]byte(id)), now)
}

func (t *boltTx) PutDedup(id string, until time.Time) error {
	if id == "" {
		return nil
	}
	if err := t.tx.Bucket(bDedup).Put([]byte(id), u64(uint64(until.UnixNano()))); err != nil {
		return err
	}
	return t.tx.Bucket(bExpiry).Put(expiryKey(until, expDedup, []byte(id)), nil)
}

func (t *boltTx) AddOutbox(e outbox.Entry) (outbox.Entry, error) {
	b := t.tx.Bucket(bOutbox)
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
	t.outboxAdded++
	return e, nil
}

func (t *boltTx) OutboxHas(id string) bool {
	k, err := idKey(id)
	return err == nil && t.tx.Bucket(bOutbox).Get(k) != nil
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

func (t boltTx) Incident(fp string) (incident.Incident, bool, error) {
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

// Incidents lists every stored incident (pending, open and recently
// resolved), by fingerprint.
func (s *Bolt) Incidents() ([]incident.Incident, error) {
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
func (s *Bolt) GetIncident(fp string) (incident.Incident, error) {
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
func (s *Bolt) AddSilence(sil silence.Silence) (silence.Silence, error) {
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
func (s *Bolt) PutSilence(sil silence.Silence) error {
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
func (s *Bolt) Silences() ([]silence.Silence, error) {
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
func (s *Bolt) ExpireSilence(id string, at time.Time) (silence.Silence, error) {
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
