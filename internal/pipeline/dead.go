package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
)

// ListDead lists the dead letters, oldest first.
func (p *Pipeline) ListDead() ([]outbox.DeadLetter, error) {
	return p.st.DeadLetters(context.Background())
}

// GetDead returns one dead letter; a missing id is store.ErrNotFound.
func (p *Pipeline) GetDead(id string) (outbox.DeadLetter, error) {
	return p.st.GetDead(context.Background(), id)
}

// DropDead deletes a dead letter for good.
func (p *Pipeline) DropDead(id string) error {
	if err := p.st.DropDead(context.Background(), id); err != nil {
		return err
	}
	p.log.Info("dead letter dropped", "id", id)
	return nil
}

// ErrReplaying means another replay of the same dead letter is under way;
// it is not sent a second time.
var ErrReplaying = store.ErrReplaying

// ErrRuleGone means a dead letter's rule (or its action for that notifier)
// no longer exists, so there is nothing current to render it with.
var ErrRuleGone = errors.New("no longer exists")

// currentRule renders a replay with the rules as they are now: the rule's
// current action for the same notifier (so fixing a rule's channel fixes
// the replay), its description and the catalogue's current entry. A rule
// that was deleted, or no longer sends to that notifier, is ErrRuleGone.
func (p *Pipeline) currentRule(n *notification.Notification) error {
	rt := p.runtime()
	if rt == nil || rt.Rules == nil {
		return nil
	}
	r := rt.Rules.Rule(n.Rule.Name)
	if r == nil {
		return fmt.Errorf("rule %q %w in the current rules (deleted or renamed): restore it to replay this dead letter, or drop it", n.Rule.Name, ErrRuleGone)
	}
	var same []notification.Action
	for _, a := range r.Actions {
		if a.Notifier == n.Action.Notifier {
			same = append(same, a)
		}
	}
	if len(same) == 0 {
		return fmt.Errorf("rule %q's action for %s %w: add it back to replay this dead letter, or drop it", r.Name, n.Action.Notifier, ErrRuleGone)
	}
	a := same[0]
	for _, c := range same { // several actions for one notifier: the same target
		if c.Target == n.Action.Target {
			a = c
		}
	}
	n.Action, n.Rule = a, r.Ref()
	if rt.Catalog != nil {
		n.Catalog, _ = rt.Catalog.ForEvent(&n.Event)
	}
	return nil
}

// ReplayDead sends a dead letter again, now, rendered with the current
// rules, templates and notifiers (as they are after the fix). Success removes it;
// failure keeps it with the new error and returns that error. A replay of a
// dead letter that another replay is sending fails with ErrReplaying.
func (p *Pipeline) ReplayDead(ctx context.Context, id string) error {
	// The claim reads the dead letter: a replay that starts after another
	// finished reads that it is gone.
	bg := context.WithoutCancel(ctx)
	c, err := p.st.ClaimReplay(ctx, id, p.now(), p.cfg.ClaimLease)
	if r, ok := errors.AsType[*store.ReplayingError](err); ok {
		return fmt.Errorf("dead letter %s %w (since %s): it is sent once; see `wabridge dlq show %s` when that replay is over",
			id, ErrReplaying, r.Since.Format(time.RFC3339), id)
	}
	if err != nil {
		return err
	}
	d := c.Dead
	if err := p.currentRule(&d.Notification); err != nil {
		_ = p.st.ReleaseReplay(bg, c)
		return fmt.Errorf("replay dead letter %s: %w", id, err)
	}
	p.fillIncident(bg, &d.Entry)
	name := d.Notification.Action.Notifier
	d.Attempts++
	nt, err := p.notifier(name)
	if err == nil {
		res, sendErr := nt.Notify(ctx, &d.Notification)
		if sendErr == nil {
			now := p.now()
			if err := p.st.Replayed(bg, c, p.ref(d.Entry, res, now)); err != nil {
				return fmt.Errorf("replay dead letter %s: sent, but not removed from the dead letters: %w", id, err)
			}
			p.m.notifications.WithLabelValues(name, resultOf(res), "").Inc()
			p.log.Info("dead letter replayed", "id", id, "rule", d.Notification.Rule.Name, "notifier", name)
			return nil
		}
		reason, _, _ := notifiers.Classify(sendErr)
		p.m.notifications.WithLabelValues(name, "failed", string(reason)).Inc()
		d.Reason, err = string(reason), sendErr
	} else {
		d.Reason = DeadNoNotifier
	}
	d.LastError, d.Died = err.Error(), p.now()
	if perr := p.st.ReplayFailed(bg, c, d); perr != nil {
		return fmt.Errorf("replay dead letter %s: %w (and recording the failure: %w)", id, err, perr)
	}
	p.log.Warn("dead letter replay failed", "id", id, "notifier", name, "reason", d.Reason, "err", err)
	return fmt.Errorf("replay dead letter %s: %w", id, err)
}

// sweepLoop removes expired dedup and processed records on a schedule, so
// disk use follows the windows rather than the uptime.
func (p *Pipeline) sweepLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.SweepInterval)
	defer t.Stop()
	for {
		p.sweep()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepChunk bounds one sweep transaction, so a large backlog does not hold
// the writer lock for long.
const sweepChunk = 5000

func (p *Pipeline) sweep() {
	total := 0
	for {
		n, err := p.st.Sweep(context.Background(), p.now(), sweepChunk)
		total += n
		if err != nil {
			p.m.processingErrors.WithLabelValues("sweep").Inc()
			p.log.Error("pipeline: sweep expired records", "err", err)
			return
		}
		if n < sweepChunk {
			break
		}
	}
	if total > 0 {
		p.log.Debug("pipeline: swept expired records", "count", total)
	}
}
