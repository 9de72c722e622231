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
func (p *Pipeline) committed(pt *partition, t *incTx) {
	if t.st != nil {
		p.countOpen(pt.fence.Partition, t.st.perRule)
	}
	if len(t.outbox) > 0 {
		signal(p.lim.wake)
	}
	p.decide(t.decisions)
}

// Tick applies what time alone decides (group_wait over, resolve_after,
// expired threshold windows) at the pipeline's now, in every partition
// this process owns. Run's committers call tick every TickInterval; tests
// call Tick with their clock.
func (p *Pipeline) Tick() error {
	parts, err := p.owned(context.Background())
	if err != nil {
		return err
	}
	var errs []error
	for _, pt := range parts {
		errs = append(errs, p.tick(context.Background(), pt))
	}
	return errors.Join(errs...)
}

// tick is Tick in one partition.
func (p *Pipeline) tick(ctx context.Context, pt *partition) error {
	rt := p.runtime()
	if rt == nil || rt.Rules == nil {
		return nil
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	state, err := p.incidents(ctx, pt, rt.Rules)
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
	err = p.commit(ctx, pt, func(tx store.CommitTx) error {
		t = &incTx{p: p, tx: tx, st: state, rt: rt, now: now, received: now}
		if err := t.tick(); err != nil {
			return err
		}
		return t.flush()
	})
	if err != nil {
		return err
	}
	p.committed(pt, t)
	return nil
}

// committer is the single writer of one partition: it reads the
// partition's incidents, then takes its inbox entries in receive order,
// up to BatchSize at a time, and commits each batch in one transaction;
// between batches it runs the timer. A batch that fails stays in the
// inbox and is tried again after a pause. It returns when ctx is done or
// the store refused the partition's fence (the lease passed on).
func (p *Pipeline) committer(ctx context.Context, pt *partition) {
	tick := time.NewTicker(p.cfg.TickInterval)
	defer tick.Stop()
	poll := time.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	stopped := func() bool { return ctx.Err() != nil || pt.isLost() }
	pause := func() bool {
		select {
		case <-ctx.Done():
		case <-pt.lost:
		case <-time.After(p.cfg.BackoffBase):
		}
		return stopped()
	}
	// The partition's incidents first: a committer that takes a partition
	// over continues its incidents, it does not open them again.
	for {
		pt.mu.Lock()
		_, err := p.incidents(ctx, pt, rulesOf(p.runtime()))
		p.refused(pt, err)
		pt.mu.Unlock()
		if err == nil {
			break
		}
		if stopped() {
			return
		}
		p.m.processingErrors.WithLabelValues("load_incidents").Inc()
		p.log.Error("pipeline: read the partition's incidents; retrying", "partition", pt.fence.Partition, "err", err)
		if pause() {
			return
		}
	}
	lastTick := time.Now()
	doTick := func() {
		lastTick = time.Now()
		if err := p.tick(ctx, pt); err != nil && !stopped() {
			p.m.processingErrors.WithLabelValues("tick").Inc()
			p.log.Error("pipeline: incident timer", "partition", pt.fence.Partition, "err", err)
		}
	}
	crashes, err := p.st.Crashes(ctx, pt.fence)
	if err != nil {
		p.log.Error("pipeline: read the crash record; a delivery that crashes processing will not be quarantined", "err", err)
		crashes = map[uint64]int{}
	}
	if len(crashes) > 0 {
		p.log.Warn("pipeline: the last process died while processing deliveries; processing them one at a time",
			"partition", pt.fence.Partition, "count", len(crashes))
	}
	for !stopped() {
		entries, err := p.st.PendingInbox(ctx, pt.fence, p.cfg.BatchSize)
		if damaged, ok := errors.AsType[*store.DamagedEntryError](err); ok {
			if err = p.quarantine(ctx, pt, damaged); err == nil {
				continue
			}
		}
		more := len(entries) == p.cfg.BatchSize
		if err == nil && len(entries) > 0 {
			var poisoned bool
			entries, poisoned, err = p.crashGuard(ctx, pt, entries, crashes)
			switch {
			case err != nil:
			case poisoned:
				continue
			default:
				more = more || len(entries) < p.cfg.BatchSize
				err = p.commitBatch(ctx, pt, entries)
			}
			if err == nil {
				for _, e := range entries {
					delete(crashes, e.Seq)
				}
			}
		}
		if err != nil {
			if errors.Is(err, store.ErrFenced) {
				// Refused by a read, a quarantine or a batch record.
				pt.mu.Lock()
				p.refused(pt, err)
				pt.mu.Unlock()
			}
			if stopped() {
				return
			}
			p.m.processingErrors.WithLabelValues("commit").Inc()
			p.writes.fail(err, p.now())
			p.log.Error("pipeline: process deliveries; they stay in the inbox", "partition", pt.fence.Partition,
				"count", len(entries), "err", err)
			if pause() {
				return
			}
			continue
		}
		// Incident actions other replicas forwarded here, at every
		// wake-up and poll, and between batches.
		p.runCommands(ctx, pt)
		if time.Since(lastTick) >= p.cfg.TickInterval {
			doTick()
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-pt.lost:
			return
		case <-pt.wake:
		case <-poll.C:
		case <-tick.C:
			doTick()
		}
	}
}

// quarantine moves an inbox entry that cannot be decoded out of the way:
// left in place it would fail every read of the inbox, and stop all
// processing behind it.
func (p *Pipeline) quarantine(ctx context.Context, pt *partition, d *store.DamagedEntryError) error {
	if err := p.st.QuarantineDamaged(ctx, pt.fence, d.Seq); err != nil {
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
func (p *Pipeline) crashGuard(ctx context.Context, pt *partition, entries []store.InboxEntry, crashes map[uint64]int) (batch []store.InboxEntry, poisoned bool, err error) {
	f := pt.fence
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
