package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/store"
)

// committed hands what a transaction queued to the senders and its
// decisions to the metrics and the audit trail.
func (p *Pipeline) committed(t *incTx) {
	if t.st != nil {
		// Under stateMu, like every change of the counts.
		p.m.open.Reset()
		for rule, n := range t.st.perRule {
			p.m.open.WithLabelValues(rule).Set(float64(n))
		}
	}
	if len(t.outbox) > 0 {
		signal(p.lim.wake)
	}
	p.decide(t.decisions)
}

// Tick applies what time alone decides (group_wait over, resolve_after,
// expired threshold windows) at the pipeline's now. Run calls it every
// TickInterval; tests call it with their clock.
func (p *Pipeline) Tick() error {
	rt := p.runtime()
	if rt == nil || rt.Rules == nil {
		return nil
	}
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	state, err := p.incidents(context.Background(), rt.Rules)
	if err != nil {
		return fmt.Errorf("load incidents: %w", err)
	}
	now := p.now()
	// Most ticks find nothing to do: a write transaction only when one does.
	busy := false
	for _, inc := range state.held {
		if busy = due(inc, rt.Rules.Rule(inc.Rule), now); busy {
			break
		}
	}
	for _, inc := range state.byFP {
		if busy = busy || due(inc, rt.Rules.Rule(inc.Rule), now); busy {
			break
		}
	}
	if !busy {
		return nil
	}
	var t *incTx
	err = p.commit(context.Background(), func(tx store.CommitTx) error {
		t = &incTx{p: p, tx: tx, st: state, rt: rt, now: now, received: now}
		if err := t.tick(); err != nil {
			return err
		}
		return t.flush()
	})
	if err != nil {
		p.state = nil
		return err
	}
	p.committed(t)
	return nil
}

// inboxLoop is the single committer: it takes inbox entries in receive
// order, up to BatchSize at a time, and commits each batch in one
// transaction; between batches it runs the timer. A batch that fails stays
// in the inbox and is tried again after a pause.
func (p *Pipeline) inboxLoop(ctx context.Context) {
	tick := time.NewTicker(p.cfg.TickInterval)
	defer tick.Stop()
	lastTick := time.Now()
	doTick := func() {
		lastTick = time.Now()
		if err := p.Tick(); err != nil {
			p.m.processingErrors.WithLabelValues("tick").Inc()
			p.log.Error("pipeline: incident timer", "err", err)
		}
	}
	crashes, err := p.crashes(ctx)
	if err != nil {
		p.log.Error("pipeline: read the crash record; a delivery that crashes processing will not be quarantined", "err", err)
		crashes = map[uint64]int{}
	}
	if len(crashes) > 0 {
		p.log.Warn("pipeline: the last process died while processing deliveries; processing them one at a time",
			"count", len(crashes))
	}
	for {
		entries, err := p.pending(ctx, p.cfg.BatchSize)
		if damaged, ok := errors.AsType[*store.DamagedEntryError](err); ok {
			if err = p.quarantine(ctx, damaged); err == nil {
				continue
			}
		}
		more := len(entries) == p.cfg.BatchSize
		if err == nil && len(entries) > 0 {
			var poisoned bool
			entries, poisoned, err = p.crashGuard(ctx, entries, crashes)
			switch {
			case err != nil:
			case poisoned:
				continue
			default:
				more = more || len(entries) < p.cfg.BatchSize
				err = p.commitBatch(entries)
			}
			if err == nil {
				for _, e := range entries {
					delete(crashes, e.Seq)
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.m.processingErrors.WithLabelValues("commit").Inc()
			p.writes.fail(err, p.now())
			p.log.Error("pipeline: process deliveries; they stay in the inbox", "count", len(entries), "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(p.cfg.BackoffBase):
			}
			continue
		}
		if time.Since(lastTick) >= p.cfg.TickInterval {
			doTick()
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.inboxWake:
		case <-tick.C:
			doTick()
		}
	}
}

// quarantine moves an inbox entry that cannot be decoded out of the way:
// left in place it would fail every read of the inbox, and stop all
// processing behind it.
func (p *Pipeline) quarantine(ctx context.Context, d *store.DamagedEntryError) error {
	f, err := p.fenced(ctx)
	if err != nil {
		return err
	}
	if err := p.st.QuarantineDamaged(ctx, f, d.Seq); err != nil {
		return fmt.Errorf("quarantine damaged inbox entry %d: %w", d.Seq, err)
	}
	p.m.quarantined.Inc()
	p.log.Error("pipeline: inbox entry cannot be decoded; moved to the store's quarantine bucket unprocessed",
		"seq", d.Seq, "quarantine_key", fmt.Sprintf("inbox/%016x", d.Seq), "err", d.Err)
	return nil
}

// crashGuard decides how to process the next inbox entries so that one
// delivery whose processing crashes the process (a bug, an exhausted
// memory limit) cannot stop everything behind it. An entry that crashed it
// before is processed alone, so a crash is pinned on it and not on its
// batch neighbours; once it has crashed MaxCrashes times it is quarantined
// instead (poisoned). Other entries are processed as a batch up to the
// next such entry. Before processing, the batch is recorded durably, so a
// crash while it runs is counted at the next start.
func (p *Pipeline) crashGuard(ctx context.Context, entries []store.InboxEntry, crashes map[uint64]int) (batch []store.InboxEntry, poisoned bool, err error) {
	f, err := p.fenced(ctx)
	if err != nil {
		return nil, false, err
	}
	first := entries[0]
	if n := crashes[first.Seq]; n > 0 {
		if n >= p.cfg.MaxCrashes {
			reason := fmt.Sprintf("processing this delivery crashed the process %d times", n)
			if err := p.st.QuarantineCrashed(ctx, f, first, reason); err != nil {
				return nil, false, fmt.Errorf("quarantine inbox entry %d: %w", first.Seq, err)
			}
			delete(crashes, first.Seq)
			p.m.crashQuarantined.Inc()
			p.log.Error("pipeline: delivery quarantined unprocessed: "+reason,
				"seq", first.Seq, "delivery", first.Delivery.ID, "source", first.Delivery.Source,
				"quarantine_key", fmt.Sprintf("inbox/%016x", first.Seq))
			return nil, true, nil
		}
		p.log.Warn("pipeline: processing alone a delivery that crashed the process before",
			"seq", first.Seq, "delivery", first.Delivery.ID, "crashes", n)
		entries = entries[:1]
	} else {
		for i, e := range entries {
			if crashes[e.Seq] > 0 {
				entries = entries[:i]
				break
			}
		}
	}
	if err := p.st.BeginBatch(ctx, f, entries[0].Seq, entries[len(entries)-1].Seq); err != nil {
		return nil, false, err
	}
	return entries, false, nil
}

// fenced returns the committer's fence, taking it from the store the
// first time. The store's one partition is this process's while it holds
// the store; a backend with several partitions runs a committer per
// fence, which this one is not yet.
func (p *Pipeline) fenced(ctx context.Context) (store.Fence, error) {
	p.fenceMu.Lock()
	defer p.fenceMu.Unlock()
	if p.fence != nil {
		return *p.fence, nil
	}
	fs, err := p.st.Fences(ctx)
	if err != nil {
		return store.Fence{}, fmt.Errorf("take the store's lease: %w", err)
	}
	if len(fs) == 0 {
		return store.Fence{}, errors.New("take the store's lease: this process owns no partition of the store")
	}
	p.fence = &fs[0]
	return fs[0], nil
}

// commit runs fn in one transaction under the committer's fence. A fence
// the store refused is dropped, and with it the incidents in memory:
// another owner may have changed them.
func (p *Pipeline) commit(ctx context.Context, fn func(tx store.CommitTx) error) error {
	f, err := p.fenced(ctx)
	if err != nil {
		return err
	}
	err = p.st.Commit(ctx, f, fn)
	if errors.Is(err, store.ErrFenced) {
		p.fenceMu.Lock()
		p.fence = nil
		p.fenceMu.Unlock()
	}
	return err
}

// pending returns the inbox entries waiting in the committer's partition.
func (p *Pipeline) pending(ctx context.Context, limit int) ([]store.InboxEntry, error) {
	f, err := p.fenced(ctx)
	if err != nil {
		return nil, err
	}
	return p.st.PendingInbox(ctx, f, limit)
}

// crashes reads the crash record of the committer's partition.
func (p *Pipeline) crashes(ctx context.Context) (map[uint64]int, error) {
	f, err := p.fenced(ctx)
	if err != nil {
		return nil, err
	}
	return p.st.Crashes(ctx, f)
}
