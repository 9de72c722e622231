package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/outbox"
)

// bg is the context of calls that nothing cancels.
var bg = context.Background()

// fence is the store's current fence.
func fence(s *Bolt) Fence {
	fs, err := s.Fences(bg)
	if err != nil || len(fs) != 1 {
		return Fence{}
	}
	return fs[0]
}

// take removes an inbox entry in a commit, failing when it is not pending.
func take(tx CommitTx, seq uint64) error {
	ok, err := tx.TakeInbox(seq)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("inbox entry %d: %w", seq, ErrNotFound)
	}
	return nil
}

// isDup reports whether an event id has a live dedup record.
func isDup(s *Bolt, id string, now time.Time) (bool, error) {
	var dup bool
	err := s.db.View(func(tx *bolt.Tx) error {
		dup = live(tx.Bucket(bDedup).Get([]byte(id)), now)
		return nil
	})
	return dup, err
}

// claimID claims the outbox entry id, which must be its key's head.
func claimID(t *testing.T, s *Bolt, id string) Claim {
	t.Helper()
	cs, _, err := s.ClaimOutbox(bg, ClaimQuery{Now: time.Now().Add(24 * 365 * time.Hour), Lease: time.Minute,
		Accept: func(e *outbox.Entry) bool { return e.ID == id }})
	if err != nil || len(cs) != 1 {
		t.Fatalf("claim outbox entry %s: %d claims, %v", id, len(cs), err)
	}
	return cs[0]
}

// retry writes e back through a claim, as a failed attempt does.
func retry(t *testing.T, s *Bolt, e outbox.Entry) error {
	t.Helper()
	c := claimID(t, s, e.ID)
	c.Entry = e
	return s.Retry(bg, c)
}

// sent records e as sent with ref through a claim.
func sent(t *testing.T, s *Bolt, id string, ref *Ref) error {
	t.Helper()
	return s.Sent(bg, claimID(t, s, id), Sent{Ref: ref})
}

// bury moves e to the dead letters through a claim.
func bury(t *testing.T, s *Bolt, d outbox.DeadLetter) error {
	t.Helper()
	c := claimID(t, s, d.ID)
	c.Entry = d.Entry
	return s.Bury(bg, c, d.Reason, d.Died)
}

// replayed removes a dead letter as a replay that succeeded does.
func replayed(s *Bolt, id string, ref *Ref) error {
	c, err := s.ClaimReplay(bg, id, time.Now(), time.Minute)
	if err != nil {
		return err
	}
	return s.Replayed(bg, c, ref)
}
