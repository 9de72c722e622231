package pipeline

import (
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/rules"
)

// tick does what time alone decides: pending incidents whose group_wait
// is over open, open incidents quiet for resolve_after resolve, threshold
// windows that emptied are forgotten, and what a mute held back is told
// once the rule may notify.
func (t *incTx) tick() error {
	set := t.rt.Rules
	for fp, inc := range t.st.held {
		if err := t.tickHeld(fp, inc, set.Rule(inc.Rule)); err != nil {
			return err
		}
	}
	for fp, inc := range t.st.byFP {
		if err := t.tickLive(fp, inc, set.Rule(inc.Rule)); err != nil {
			return err
		}
	}
	return nil
}

// tickHeld tells what a mute held back of a resolved incident once its
// rule r may notify, and forgets it when r is gone.
func (t *incTx) tickHeld(fp string, inc *incident.Incident, r *rules.Rule) error {
	switch {
	case r == nil || !r.Enabled:
		delete(t.st.held, fp)
		inc.Deferred = nil
		t.touch(inc)
	case r.Active(t.now):
		n, op, err := t.release(r, inc)
		if err != nil {
			return err
		}
		t.decide(&inc.Event, r, fp, OutcomeResolved, n, "the rule may notify again: told what its mute held back ("+op+")")
	}
	return nil
}

// tickLive applies the timer to one pending or open incident of rule r.
func (t *incTx) tickLive(fp string, inc *incident.Incident, r *rules.Rule) error {
	switch {
	case r == nil || !r.Enabled:
		if inc.Status == incident.Pending {
			// Its rule was removed or disabled by a reload: nothing
			// will ever open it.
			t.st.remove(inc)
			if err := t.tx.DeleteIncident(fp); err != nil {
				return err
			}
		}
	case inc.Status == incident.Pending && !inc.OpenAt.IsZero():
		if t.now.Before(inc.OpenAt) {
			return nil
		}
		t.holding = !r.Active(t.now)
		n, err := t.open(r, inc, "")
		t.holding = false
		if err != nil {
			return err
		}
		t.decide(&inc.Event, r, fp, OutcomeOpened, n, fmt.Sprintf("group_wait over, %d events", inc.Count))
	case inc.Status == incident.Pending:
		if r.Threshold != nil && !inc.WindowOver(t.now, r.Threshold.Within) {
			return nil
		}
		t.st.remove(inc)
		delete(t.dirty, fp)
		if err := t.tx.DeleteIncident(fp); err != nil {
			return err
		}
	case r.ResolveAfter > 0 && t.now.Sub(inc.Touched) >= r.ResolveAfter:
		t.holding = !r.Active(t.now)
		n, err := t.resolve(r, inc, nil, "Resolved after "+humanDuration(r.ResolveAfter)+" without events (resolve_after).")
		t.holding = false
		if err != nil {
			return err
		}
		t.decide(&inc.Event, r, fp, OutcomeResolved, n, "resolve_after: quiet for "+r.ResolveAfter.String())
	case inc.Deferred != nil && r.Active(t.now):
		n, op, err := t.release(r, inc)
		if err != nil {
			return err
		}
		t.decide(&inc.Event, r, fp, OutcomeJoined, n, "the rule may notify again: told what its mute held back ("+op+")")
	}
	return nil
}

// due reports whether tick has anything to do for inc at now.
func due(inc *incident.Incident, r *rules.Rule, now time.Time) bool {
	switch {
	case r == nil || !r.Enabled:
		return inc.Status == incident.Pending || inc.Deferred != nil
	case inc.Status == incident.Resolved:
		return inc.Deferred != nil && r.Active(now)
	case inc.Status == incident.Pending && !inc.OpenAt.IsZero():
		return !now.Before(inc.OpenAt)
	case inc.Status == incident.Pending:
		return r.Threshold == nil || inc.WindowOver(now, r.Threshold.Within)
	case r.ResolveAfter > 0 && now.Sub(inc.Touched) >= r.ResolveAfter:
		return true
	}
	return inc.Deferred != nil && r.Active(now)
}

// humanDuration writes whole days as days: "24h0m0s" reads worse than "1d".
func humanDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
