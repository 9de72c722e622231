package postgres

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/store"
)

// AccountOf is the account a delivery belongs to: what partitions it. The
// caller sets d.Account (the Meta WABA id, or the source and phone); a
// delivery without one is filed under its source.
func AccountOf(d delivery.Delivery) string {
	if d.Account != "" {
		return d.Account
	}
	return d.Source
}

// PartitionOf maps an account to one of n partitions (FNV-1a): the same
// account always lands in the same partition, on every replica.
func PartitionOf(account string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(account))
	return int(h.Sum32() % uint32(n))
}

// join frees the partitions of earlier incarnations of this replica id
// and ends their heartbeats: that process is gone (replica ids are
// unique), so its partitions need not wait for its leases to lapse. The
// first Fences joins; a store opened for operator commands never does,
// so it neither counts as a replica nor takes anything from one.
func (s *Store) join(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "UPDATE leases SET owner = NULL WHERE split_part(owner, '#', 1) = $1 AND owner <> $2", s.cfg.ReplicaID, s.owner)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "DELETE FROM replicas WHERE replica = $1 AND owner <> $2", s.cfg.ReplicaID, s.owner)
	return err
}

// heartbeat renews this open's row in replicas: while it is live, so are
// its leases.
func (s *Store) heartbeat(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, heartbeatSQL, s.owner, s.cfg.ReplicaID, s.cfg.LeaseTTL.String(), s.RulesHash())
	return s.wrap("renew the replica's heartbeat", err)
}

const heartbeatSQL = `INSERT INTO replicas (owner, replica, expires, rules_hash) VALUES ($1, $2, now() + $3::interval, $4)
	ON CONFLICT (owner) DO UPDATE SET expires = EXCLUDED.expires, rules_hash = EXCLUDED.rules_hash`

// keep renews the heartbeat every LeaseTTL/3 until ctx ends.
func (s *Store) keep(ctx context.Context) {
	t := time.NewTicker(s.cfg.LeaseTTL / 3)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.joined.Load() {
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, s.cfg.LeaseTTL/3)
		err := s.heartbeat(hctx)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			failing = true
			s.log.Warn("store: cannot renew this replica's leases; other replicas take its partitions once they lapse", "lease_ttl", s.cfg.LeaseTTL, "err", err)
		case err == nil && failing:
			failing = false
			s.log.Info("store: renewing this replica's leases again")
		}
	}
}

// Fences renews this replica's heartbeat, takes free partitions and those
// of replicas whose heartbeat lapsed up to its fair share (the partitions
// over the live replicas, rounded up), gives back what is above the share
// for a replica that joined, and returns a fence for each partition it
// owns, by partition. A partition taken gets a new epoch; one kept keeps
// its epoch.
func (s *Store) Fences(ctx context.Context) ([]store.Fence, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("take leases", err)
	}
	s.fencesMu.Lock()
	defer s.fencesMu.Unlock()
	var out []store.Fence
	var mismatch *RulesMismatch
	var conflicts map[string]string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		if !s.joined.Load() {
			if err := s.join(ctx, tx); err != nil {
				return err
			}
		}
		hash := s.RulesHash()
		if _, err := tx.Exec(ctx, heartbeatSQL, s.owner, s.cfg.ReplicaID, s.cfg.LeaseTTL.String(), hash); err != nil {
			return err
		}
		// Replicas holding partitions under other rules: while there are
		// any, this one takes none. Those that agree make up the share.
		conflicts = map[string]string{}
		mismatch = nil
		if hash != "" {
			rows, err := tx.Query(ctx, `SELECT r.replica, r.rules_hash FROM replicas r
				WHERE r.expires > now() AND r.owner <> $1 AND r.rules_hash <> '' AND r.rules_hash <> $2
					AND EXISTS (SELECT 1 FROM leases l WHERE l.owner = r.owner)
				ORDER BY r.owner`, s.owner, hash)
			if err != nil {
				return err
			}
			var replica, theirs string
			if _, err := pgx.ForEachRow(rows, []any{&replica, &theirs}, func() error {
				if mismatch == nil {
					mismatch = &RulesMismatch{Mine: hash, Theirs: theirs, Replica: replica}
				}
				conflicts[replica] = theirs
				return nil
			}); err != nil {
				return err
			}
		}
		var live int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM replicas WHERE expires > now()
			AND ($1 = '' OR rules_hash = '' OR rules_hash = $1)`, hash).Scan(&live); err != nil {
			return err
		}
		share := (s.cfg.Partitions + max(live, 1) - 1) / max(live, 1)
		mine, err := fences(tx.Query(ctx, "SELECT partition, epoch FROM leases WHERE owner = $1 ORDER BY partition", s.owner))
		if err != nil {
			return err
		}
		switch {
		case mismatch != nil:
			// Keep what this replica has, take nothing, give nothing
			// back (the others would not take it either).
		case len(mine) < share:
			// Free, or of a replica whose heartbeat lapsed; a lease row
			// a commit holds is skipped, for the next call.
			taken, err := fences(tx.Query(ctx, `UPDATE leases l SET owner = $1, epoch = l.epoch + 1
				WHERE l.partition IN (
					SELECT c.partition FROM leases c LEFT JOIN replicas r ON r.owner = c.owner
					WHERE c.owner IS NULL OR r.owner IS NULL OR r.expires <= now()
					ORDER BY c.partition LIMIT $2 FOR UPDATE OF c SKIP LOCKED)
				RETURNING l.partition, l.epoch`, s.owner, share-len(mine)))
			if err != nil {
				return err
			}
			if len(taken) > 0 {
				s.log.Info("store: took partitions", "count", len(taken), "owner", s.owner)
			}
			mine = append(mine, taken...)
		case len(mine) > share:
			give := mine[share:]
			mine = mine[:share]
			ps := make([]int32, len(give))
			for i, f := range give {
				ps[i] = int32(f.Partition)
			}
			if _, err := tx.Exec(ctx, "UPDATE leases SET owner = NULL WHERE owner = $1 AND partition = ANY($2)", s.owner, ps); err != nil {
				return err
			}
			s.log.Info("store: gave partitions back for another replica", "count", len(give), "owner", s.owner)
		}
		out = mine
		return nil
	})
	if err != nil {
		return nil, s.wrap("take leases", err)
	}
	s.joined.Store(true)
	s.noteMismatch(mismatch, conflicts)
	sortFences(out)
	return out, nil
}

func fences(rows pgx.Rows, err error) ([]store.Fence, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Fence, error) {
		var p int32
		var e int64
		err := r.Scan(&p, &e)
		return store.Fence{Partition: int(p), Epoch: uint64(e)}, err
	})
}

func sortFences(fs []store.Fence) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Partition < fs[j-1].Partition; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// ReleaseLeases gives every partition of this replica back at once and
// ends its heartbeat, so the other replicas take over without waiting for
// the leases to lapse. Close calls it; the store stays usable, and a
// later Fences joins again.
func (s *Store) ReleaseLeases(ctx context.Context) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("release leases", err)
	}
	return s.releaseAll(ctx)
}

func (s *Store) releaseAll(ctx context.Context) error {
	s.fencesMu.Lock()
	defer s.fencesMu.Unlock()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE leases SET owner = NULL WHERE owner = $1", s.owner); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM replicas WHERE owner = $1", s.owner)
		return err
	})
	if err == nil {
		s.joined.Store(false)
	}
	return s.wrap("release leases", err)
}

// lockFence locks the fence's lease row for the rest of tx and checks
// that this replica still owns it under the fence's epoch: a takeover
// waits for the transaction, and a stale fence writes nothing.
func (s *Store) lockFence(ctx context.Context, tx pgx.Tx, f store.Fence) error {
	return s.checkFence(ctx, tx, f, " FOR UPDATE")
}

// checkFence checks a fence without locking, for reads.
func (s *Store) checkFence(ctx context.Context, q querier, f store.Fence, lock string) error {
	if f.Epoch == 0 || f.Partition < 0 || f.Partition >= s.cfg.Partitions {
		return &store.FencedError{Fence: f}
	}
	var owner *string
	var epoch int64
	err := q.QueryRow(ctx, "SELECT owner, epoch FROM leases WHERE partition = $1"+lock, f.Partition).Scan(&owner, &epoch)
	if err == pgx.ErrNoRows {
		return &store.FencedError{Fence: f}
	}
	if err != nil {
		return err
	}
	if owner == nil || *owner != s.owner || uint64(epoch) != f.Epoch {
		return &store.FencedError{Fence: f, Current: uint64(epoch)}
	}
	return nil
}

// querier is a pool, a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// fenced runs fn in a transaction fenced by f.
func (s *Store) fenced(ctx context.Context, f store.Fence, what string, fn func(tx pgx.Tx) error) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap(what, err)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.lockFence(ctx, tx, f); err != nil {
			return err
		}
		return fn(tx)
	})
	if fe, ok := err.(*store.FencedError); ok {
		return fe
	}
	return s.wrap(what, err)
}

// LeaseTTL is how long this replica's partitions stay its own without a
// heartbeat; the pipeline calls Fences about every LeaseTTL/3 to learn
// of partitions taken, given back and lost.
func (s *Store) LeaseTTL() time.Duration { return s.cfg.LeaseTTL }

// RulesMismatch is a live replica running other rules than this one.
type RulesMismatch struct {
	Mine, Theirs string // the rules hashes
	Replica      string // the other replica's id
}

// SetRulesHash records the hash of the rules this replica runs (after each
// load or reload), from its next Fences on. While a live replica holding
// partitions runs other rules, Fences keeps this replica's partitions but
// takes none and gives none back, and Mismatch and RulesConflicts report
// it; the fair share counts only the replicas that agree, so a replica
// started with the wrong rules holds up nobody. One incident is never
// judged by two rule sets, and the work is shared again once the same
// rules run everywhere.
func (s *Store) SetRulesHash(h string) {
	s.leaseMu.Lock()
	s.rulesHash = h
	s.leaseMu.Unlock()
}

// RulesHash is what SetRulesHash recorded.
func (s *Store) RulesHash() string {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	return s.rulesHash
}

// RulesConflicts returns the live replicas holding partitions whose rules
// hash differs from this one's, replica id → hash, as the last Fences
// found them; empty when all agree.
func (s *Store) RulesConflicts(context.Context) (map[string]string, error) {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	out := make(map[string]string, len(s.conflicts))
	for k, v := range s.conflicts {
		out[k] = v
	}
	return out, nil
}

// Mismatch reports the first live replica holding partitions whose rules
// differ from this one's, as the last Fences found it: nil when they
// agree.
func (s *Store) Mismatch() *RulesMismatch {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if s.mismatch == nil {
		return nil
	}
	m := *s.mismatch
	return &m
}

func (s *Store) noteMismatch(m *RulesMismatch, conflicts map[string]string) {
	s.leaseMu.Lock()
	was := s.mismatch
	s.mismatch, s.conflicts = m, conflicts
	s.leaseMu.Unlock()
	switch {
	case m != nil && (was == nil || *was != *m):
		s.log.Error("store: a live replica runs other rules; this one takes no partition until they agree",
			"rules_hash", m.Mine, "other_replica", m.Replica, "other_rules_hash", m.Theirs)
	case m == nil && was != nil:
		s.log.Info("store: every live replica runs the same rules again", "rules_hash", was.Mine)
	}
}
