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
		p.sched.add(t.outbox...)
		signal(p.sched.wake)
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
	state, err := p.incidents(rt.Rules)
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
	err = p.st.Update(func(tx store.Tx) error {
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
	var after uint64
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
	for {
		entries, err := p.st.Inbox(after, p.cfg.BatchSize)
		if damaged, ok := errors.AsType[*store.DamagedEntryError](err); ok {
			if err = p.quarantine(damaged); err == nil {
				continue
			}
		}
		if err == nil && len(entries) > 0 {
			err = p.commitBatch(entries)
			if err == nil {
				after = entries[len(entries)-1].Seq
			}
		}
		if err != nil {
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
		if len(entries) == p.cfg.BatchSize {
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
func (p *Pipeline) quarantine(d *store.DamagedEntryError) error {
	if err := p.st.QuarantineInbox(d.Seq); err != nil {
		return fmt.Errorf("quarantine damaged inbox entry %d: %w", d.Seq, err)
	}
	p.m.quarantined.Inc()
	p.log.Error("pipeline: inbox entry cannot be decoded; moved to the store's quarantine bucket unprocessed",
		"seq", d.Seq, "quarantine_key", fmt.Sprintf("inbox/%016x", d.Seq), "err", d.Err)
	return nil
}
