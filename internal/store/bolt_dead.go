package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/outbox"
)

// replays holds the embedded store's replay claims. Every replay runs in
// the process that holds the file (the CLI offline, or the server for the
// admin API), so claims in memory are seen by every concurrent replay.
type replays struct {
	mu    sync.Mutex
	held  map[string]ReplayClaim
	token uint64
}

// DeadLetters lists dead letters, oldest first.
func (s *Bolt) DeadLetters(ctx context.Context) ([]outbox.DeadLetter, error) {
	if err := s.alive(ctx); err != nil {
		return nil, wrap("read dead letters", err)
	}
	out, err := readAll[outbox.DeadLetter](s.db, bDead, "dead letter")
	return out, wrap("read dead letters", err)
}

// GetDead returns one dead letter.
func (s *Bolt) GetDead(ctx context.Context, id string) (outbox.DeadLetter, error) {
	if err := s.alive(ctx); err != nil {
		return outbox.DeadLetter{}, wrap("read dead letter", err)
	}
	var d outbox.DeadLetter
	err := s.get(bDead, id, &d)
	return d, wrap("read dead letter", err)
}

// DropDead deletes a dead letter for good.
func (s *Bolt) DropDead(ctx context.Context, id string) error {
	if err := s.alive(ctx); err != nil {
		return wrap("remove dead letter", err)
	}
	return s.deleteDead(id, nil)
}

// ClaimReplay claims a dead letter for one replay.
func (s *Bolt) ClaimReplay(ctx context.Context, id string, now time.Time, lease time.Duration) (ReplayClaim, error) {
	if err := s.alive(ctx); err != nil {
		return ReplayClaim{}, wrap("claim dead letter", err)
	}
	r := &s.replays
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.held[id]; ok && now.Before(c.Until) {
		return ReplayClaim{}, &ReplayingError{ID: id, Since: c.Since}
	}
	// Read under the claim's lock: a replay that starts after another
	// finished reads that the dead letter is gone.
	d, err := s.GetDead(ctx, id)
	if err != nil {
		return ReplayClaim{}, err
	}
	r.token++
	c := ReplayClaim{Dead: d, Token: r.token, Since: now, Until: now.Add(lease)}
	if r.held == nil {
		r.held = map[string]ReplayClaim{}
	}
	r.held[id] = c
	return c, nil
}

// end drops a replay claim when it is still the one held.
func (r *replays) end(c ReplayClaim) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.held[c.Dead.ID]; !ok || h.Token != c.Token {
		return fmt.Errorf("dead letter %s: %w", c.Dead.ID, ErrClaimLost)
	}
	delete(r.held, c.Dead.ID)
	return nil
}

func (r *replays) check(c ReplayClaim) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.held[c.Dead.ID]; !ok || h.Token != c.Token {
		return fmt.Errorf("dead letter %s: %w", c.Dead.ID, ErrClaimLost)
	}
	return nil
}

// Replayed removes a replayed dead letter, recording ref with it.
func (s *Bolt) Replayed(ctx context.Context, c ReplayClaim, ref *Ref) error {
	if err := s.alive(ctx); err != nil {
		return wrap("remove dead letter", err)
	}
	if err := s.replays.check(c); err != nil {
		return wrap("remove dead letter", err)
	}
	if err := s.deleteDead(c.Dead.ID, ref); err != nil {
		return err
	}
	_ = s.replays.end(c)
	return nil
}

// ReplayFailed rewrites a dead letter after its replay failed.
func (s *Bolt) ReplayFailed(ctx context.Context, c ReplayClaim, d outbox.DeadLetter) error {
	if err := s.alive(ctx); err != nil {
		return wrap("update dead letter", err)
	}
	if err := s.replays.check(c); err != nil {
		return wrap("update dead letter", err)
	}
	err := s.putDead(d)
	_ = s.replays.end(c)
	return err
}

// ReleaseReplay ends a replay claim and changes nothing.
func (s *Bolt) ReleaseReplay(ctx context.Context, c ReplayClaim) error {
	return wrap("release dead letter", s.replays.end(c))
}

// putDead rewrites an existing dead letter.
func (s *Bolt) putDead(d outbox.DeadLetter) error {
	k, err := idKey(d.ID)
	if err != nil {
		return err
	}
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("store: encode dead letter %s: %w", d.ID, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDead)
		if b.Get(k) == nil {
			return fmt.Errorf("dead letter %s: %w", d.ID, ErrNotFound)
		}
		if err := putNote(tx, &d.Entry, audit.NoteDead, "", d.Reason, d.Died); err != nil {
			return err
		}
		return b.Put(k, v)
	})
	return wrap("update dead letter", err)
}

// deleteDead removes a dead letter, recording ref in the same transaction.
func (s *Bolt) deleteDead(id string, ref *Ref) error {
	k, err := idKey(id)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDead)
		v := b.Get(k)
		if v == nil {
			return fmt.Errorf("dead letter %s: %w", id, ErrNotFound)
		}
		if err := putRef(tx, ref); err != nil {
			return err
		}
		if ref != nil {
			// A replay that succeeded; a drop (nil) leaves the note dead.
			if err := noteFromStored(tx, k, v, audit.NoteSent, ref, ref.Updated); err != nil {
				return err
			}
		}
		return b.Delete(k)
	})
	if err == nil {
		s.deadN.Add(-1)
	}
	return wrap("remove dead letter", err)
}
