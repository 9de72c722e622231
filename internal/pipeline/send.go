package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/rules"
)

// Dead-letter reasons besides the notifier's own (auth, permanent).
const (
	DeadAttempts   = "attempts_exhausted"
	DeadMaxAge     = "max_age"
	DeadNoNotifier = "no_notifier"
)

// lane bounds the sends in flight to one notifier and target, so a slow
// or failing one holds its own senders only.
type lane struct {
	inFlight int
}

// limit is what a notifier's 429 set: nothing of that notifier is sent
// until pausedUntil, then one send per pace until pacedUntil.
type limit struct {
	pausedUntil time.Time
	pacedUntil  time.Time
	nextSlot    time.Time
}

// limiter is the senders' own bound on what they take from the outbox:
// at most perLane sends in flight per notifier and target, none of a
// notifier paused by a rate limit, and one per pace while it is paced.
// The outbox's order (one entry of an ordering key at a time, in order)
// is the store's, kept by its claims.
type limiter struct {
	mu      sync.Mutex
	lanes   map[laneKey]*lane
	limits  map[string]*limit
	perLane int
	pace    time.Duration
	wake    chan struct{}
}

func newLimiter(perLane int, pace time.Duration) *limiter {
	return &limiter{lanes: map[laneKey]*lane{}, limits: map[string]*limit{}, perLane: perLane, pace: pace,
		wake: make(chan struct{}, 1)}
}

// laneKey names a lane: the notifier and target an entry goes to. A
// struct rather than a joined string, so a claim that walks a long
// backlog allocates nothing per entry it looks at.
type laneKey struct{ notifier, target string }

func laneOf(e *outbox.Entry) laneKey {
	a := &e.Notification.Action
	return laneKey{a.Notifier, a.Target}
}

// admit decides whether a due entry may be sent at now, and if so takes
// a slot of its lane. A refused entry may be admitted at wait, or, when
// wait is zero, once a send of its lane finishes.
func (l *limiter) admit(e *outbox.Entry, now time.Time) (ok bool, wait time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := laneOf(e)
	ln := l.lanes[name]
	if ln == nil {
		ln = &lane{}
		l.lanes[name] = ln
	}
	if ln.inFlight >= l.perLane {
		return false, time.Time{}
	}
	if lim := l.limits[e.Notification.Action.Notifier]; lim != nil {
		if now.Before(lim.pausedUntil) {
			return false, lim.pausedUntil
		}
		if now.Before(lim.pacedUntil) {
			if now.Before(lim.nextSlot) {
				return false, lim.nextSlot
			}
			lim.nextSlot = now.Add(l.pace)
		}
	}
	ln.inFlight++
	return true, time.Time{}
}

// pacedFor is how long sends stay paced after a rate limit's pause: Slack's
// and Jira's limits are counted per minute.
const pacedFor = time.Minute

// rateLimited pauses every entry of a notifier until until, then paces
// them for pacedFor.
func (l *limiter) rateLimited(notifier string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limits[notifier]
	if lim == nil {
		lim = &limit{}
		l.limits[notifier] = lim
	}
	if until.After(lim.pausedUntil) {
		lim.pausedUntil, lim.nextSlot = until, until
	}
	if p := lim.pausedUntil.Add(pacedFor); p.After(lim.pacedUntil) {
		lim.pacedUntil = p
	}
}

// paused reports until when a notifier's sends wait for its rate limit.
func (l *limiter) paused(notifier string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim := l.limits[notifier]; lim != nil && now.Before(lim.pausedUntil) {
		return lim.pausedUntil, true
	}
	return time.Time{}, false
}

// returned frees the lane slot of a send whose notifier call is over.
func (l *limiter) returned(e *outbox.Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ln := l.lanes[laneOf(e)]; ln != nil && ln.inFlight > 0 {
		ln.inFlight--
	}
}

// sendLoop claims the due heads of the outbox and sends each: woken by
// new entries, by a finished send, and by a timer for the next retry.
// Each send runs in its own goroutine; the lanes bound how many run at
// once.
func (p *Pipeline) sendLoop(ctx, workCtx context.Context, sends *sync.WaitGroup) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := p.now()
		var wakeAt time.Time
		later := func(t time.Time) {
			if !t.IsZero() && (wakeAt.IsZero() || t.Before(wakeAt)) {
				wakeAt = t
			}
		}
		claims, next, err := p.st.ClaimOutbox(ctx, store.ClaimQuery{Now: now, Lease: p.cfg.ClaimLease,
			Accept: func(e *outbox.Entry) bool {
				ok, wait := p.lim.admit(e, now)
				later(wait)
				return ok
			}})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.m.processingErrors.WithLabelValues("claim_outbox").Inc()
			p.log.Error("pipeline: claim notifications to send; trying again", "err", err)
			later(now.Add(p.cfg.BackoffBase))
		}
		later(next)
		for _, c := range claims {
			sends.Add(1)
			go func() {
				defer sends.Done()
				p.sendClaim(workCtx, c)
			}()
		}
		wait := time.Hour
		if !wakeAt.IsZero() {
			wait = max(wakeAt.Sub(p.now()), time.Millisecond)
		}
		if p.cfg.Shared {
			// Other replicas add entries and hold claims that lapse when
			// they die; nothing here is woken for those.
			wait = min(wait, p.cfg.PollInterval)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-p.lim.wake:
		case <-timer.C:
		}
	}
}

// item is one claimed outbox entry on its way out. uncertain says an
// earlier send of it may have gone out (it is marked in flight).
type item struct {
	c         store.Claim
	uncertain bool
}

// outcome is what became of one attempt. done: the entry left the outbox
// (sent or buried) and the claim is over. Otherwise retry says c.Entry
// records a failed attempt to write back, and next is when the entry is
// due again. After a successful send record is set instead: it records
// the send and reports the outcome of that.
type outcome struct {
	done   bool
	retry  bool
	next   time.Time
	record func() outcome
}

// sendClaim sends one claimed outbox entry and records the outcome. A sent
// entry keeps its claim, and so its key, until its removal from the
// outbox is committed, so the next entry of the key finds the ref it
// left; its lane slot is free as soon as the notifier answered, and the
// records of concurrent sends share one group commit. Senders thus
// bounds the notifier calls in flight per lane, not the commits waited
// for. The bookkeeping outlives a shutdown's cut-off: what was sent is
// recorded.
func (p *Pipeline) sendClaim(ctx context.Context, c store.Claim) {
	it := &item{c: c, uncertain: !c.InFlight.IsZero()}
	o := p.sendEntry(ctx, it)
	p.lim.returned(&c.Entry)
	signal(p.lim.wake)
	if o.record != nil {
		p.recording.Add(1)
		defer p.recording.Done()
		o = o.record()
	}
	p.settle(context.WithoutCancel(ctx), it, o)
	signal(p.lim.wake)
}

// settle ends the claim of an entry that is still in the outbox: a failed
// attempt is written back, anything else waits until next.
func (p *Pipeline) settle(ctx context.Context, it *item, o outcome) {
	if o.done {
		return
	}
	if o.retry {
		c := it.c
		if !it.uncertain {
			c.InFlight = time.Time{}
		}
		err := p.st.Retry(ctx, c)
		if err == nil {
			return
		}
		p.m.processingErrors.WithLabelValues("update_outbox").Inc()
		p.log.Error("pipeline: record failed attempt", "id", c.Entry.ID, "err", err)
	}
	if err := p.st.Release(ctx, it.c, o.next); err != nil && !errors.Is(err, store.ErrClaimLost) {
		p.m.processingErrors.WithLabelValues("release_outbox").Inc()
		p.log.Error("pipeline: release a notification's claim; it waits for the claim's lease", "id", it.c.Entry.ID, "err", err)
	}
}

// sendEntry sends a claimed entry and says what became of it.
func (p *Pipeline) sendEntry(ctx context.Context, it *item) outcome {
	e := it.c.Entry
	if inc := e.Notification.Incident; inc != nil {
		// fillIncident writes into the snapshot: a copy, so the one the
		// committer built (and the audit trail saw) is never shared.
		c := *inc
		e.Notification.Incident = &c
	}
	bg := context.WithoutCancel(ctx)
	p.fillIncident(bg, &e)
	n := &e.Notification
	name := n.Action.Notifier
	nt, err := p.notifier(name)
	if err != nil {
		e.Attempts++
		e.LastError = err.Error()
		return p.buryOrWait(bg, it, e, DeadNoNotifier)
	}
	var res notification.Result
	finder, _ := nt.(notifiers.Finder)
	if !opens(n) {
		finder = nil
	}
	if finder != nil && it.uncertain {
		r, found, wait := p.reconcile(ctx, finder, it, n)
		switch {
		case found:
			now := p.now()
			return outcome{record: func() outcome { return p.recordSent(bg, it, &e, r, now) }}
		case !wait.IsZero():
			return outcome{next: wait}
		}
	}
	if finder != nil {
		// Durably in flight before it goes: after a crash, the next
		// process looks for what this send created before sending again.
		at := p.now()
		if err := p.st.MarkInFlight(bg, it.c, at); err != nil {
			p.m.processingErrors.WithLabelValues("mark_in_flight").Inc()
			p.log.Error("pipeline: cannot mark the notification in flight; not sending it yet", "id", e.ID, "err", err)
			return outcome{next: at.Add(p.cfg.BackoffBase)}
		}
		it.c.InFlight, it.uncertain = at, true
	}
	res, err = nt.Notify(ctx, n)
	now := p.now()
	if finder != nil && err != nil {
		// A timeout or a 5xx may have created it all the same; a 429 or
		// a refusal did not.
		reason, _, _ := notifiers.Classify(err)
		it.uncertain = reason == notifiers.ReasonTransient
	}
	if err == nil {
		// Counted before the bookkeeping: the notification went out
		// whatever happens to the store next.
		p.m.notifications.WithLabelValues(name, resultOf(res), "").Inc()
		if !e.ReceivedAt.IsZero() {
			p.m.latency.Observe(now.Sub(e.ReceivedAt).Seconds())
		}
		return outcome{record: func() outcome { return p.recordSent(bg, it, &e, res, now) }}
	}
	if ctx.Err() != nil {
		// Cut off by shutdown: not the notifier's fault, so the attempt is
		// not counted; the entry stays as it was for the next start.
		return outcome{next: now}
	}
	return p.failed(bg, it, e, err, now)
}

// recordSent removes a sent entry from the outbox, keeps its ref and
// queues the links it gives the incident's other messages and tickets.
func (p *Pipeline) recordSent(ctx context.Context, it *item, e *outbox.Entry, res notification.Result, now time.Time) outcome {
	n := &e.Notification
	name := n.Action.Notifier
	err := p.st.Sent(ctx, it.c, store.Sent{Ref: p.ref(*e, res, now), Result: resultOf(res), Then: p.links(e, res, now)})
	if err != nil {
		// Sent, but still in the outbox: it will be sent again. At
		// least once is the promise; say so.
		p.m.processingErrors.WithLabelValues("record_sent").Inc()
		p.log.Error("pipeline: notification sent but not removed from the outbox; it may be sent again",
			"id", e.ID, "notifier", name, "err", err)
		return outcome{next: now.Add(p.cfg.BackoffBase)}
	}
	if res.Logged {
		p.log.Info("notification logged: "+name+" is not configured, so the log stood in and nothing reached it",
			"id", e.ID, "rule", n.Rule.Name, "notifier", name, "result", audit.NoteLogged,
			"target", n.Action.Target, "event", n.Event.ID, "attempts", e.Attempts+1)
	} else {
		p.log.Info("notification sent", "id", e.ID, "rule", n.Rule.Name, "notifier", name, "result", audit.NoteSent,
			"target", n.Action.Target, "event", n.Event.ID, "attempts", e.Attempts+1)
	}
	return outcome{done: true}
}

// resultOf is how a successful send is reported: "logged" when the log
// stood in for the notifier, "sent" otherwise.
func resultOf(res notification.Result) string {
	if res.Logged {
		return audit.NoteLogged
	}
	return audit.NoteSent
}

// links are the notifications that tell the incident's other messages
// and tickets where a new one is: the Slack thread gets the Jira ticket's
// link, the Jira ticket the Slack message's permalink. A link
// notification queues behind its action's open under the same ordering
// key, so it finds what it links to. Only a new ref (a first post, a new
// or recreated ticket) is announced.
func (p *Pipeline) links(e *outbox.Entry, res notification.Result, now time.Time) []outbox.Entry {
	n := &e.Notification
	inc := n.Incident
	if res.Link == "" || inc == nil || inc.Fingerprint == "" || res.Ref == inc.Ref || n.Op == notification.OpLink {
		return nil
	}
	rt := p.runtime()
	if rt == nil || rt.Rules == nil {
		return nil
	}
	r := rt.Rules.Rule(n.Rule.Name)
	if r == nil {
		return nil
	}
	var out []outbox.Entry
	for _, a := range r.Actions {
		if a.Notifier == n.Action.Notifier || !linkable(rt.Rules, a.Notifier) {
			continue
		}
		if a.OnDemand {
			// Nothing to link while nobody asked for it: its open
			// finds the links itself.
			cur, err := p.st.GetIncident(context.Background(), inc.Fingerprint)
			if err != nil || !sent(a, &cur) {
				continue
			}
		}
		c := *inc
		c.Ref, c.Link, c.Links = "", "", map[string]string{n.Action.Notifier: res.Link}
		out = append(out, outbox.Entry{
			Notification: notification.Notification{Rule: n.Rule, Action: a, Op: notification.OpLink, Event: n.Event, Catalog: n.Catalog, Incident: &c},
			Key:          OrderingKey(inc.Fingerprint, a),
			Created:      now,
			NextAttempt:  now,
		})
	}
	return out
}

// linkable says whether a notifier shows the links of the incident's other
// messages and tickets, as its spec says.
func linkable(rs *rules.Set, notifier string) bool {
	sp, ok := rs.Spec(notifier)
	return ok && sp.Links
}

// failed records a failed attempt: the entry waits for its retry, or goes
// to the dead letters.
func (p *Pipeline) failed(ctx context.Context, it *item, e outbox.Entry, err error, now time.Time) outcome {
	n := &e.Notification
	name := n.Action.Notifier
	reason, retryAfter, retryable := notifiers.Classify(err)
	p.m.notifications.WithLabelValues(name, "failed", string(reason)).Inc()
	e.Attempts++
	e.LastError, e.LastReason = err.Error(), string(reason)
	if !retryable {
		return p.buryOrWait(ctx, it, e, string(reason))
	}
	if e.Attempts >= p.cfg.MaxAttempts {
		return p.buryOrWait(ctx, it, e, DeadAttempts)
	}
	next := now.Add(p.backoff(e.Attempts))
	if reason == notifiers.ReasonRateLimited {
		// The limit covers every entry bound for this notifier (Slack's
		// workspace, Jira's host), not this entry alone: pause them all.
		until := now.Add(max(retryAfter, p.cfg.BackoffBase))
		p.lim.rateLimited(name, until)
		p.log.Warn("notifier rate limited: its sends pause, then go paced", "notifier", name,
			"until", until, "pace", p.cfg.RateLimitPace)
	}
	if floor := now.Add(retryAfter); next.Before(floor) {
		next = floor
	}
	if next.Sub(e.Created) > p.cfg.MaxAge {
		return p.buryOrWait(ctx, it, e, DeadMaxAge)
	}
	e.NextAttempt = next
	it.c.Entry = e // what the next attempt starts from, written back by settle
	p.log.Warn("notification failed; will retry", "id", e.ID, "rule", n.Rule.Name, "notifier", name,
		"event", n.Event.ID, "reason", reason, "attempts", e.Attempts, "next_attempt", next, "err", err)
	return outcome{retry: true, next: next}
}

// backoff is exponential with full jitter: a random wait up to
// base·2^(attempt-1), capped, so many failing entries do not retry in step.
func (p *Pipeline) backoff(attempt int) time.Duration {
	d := p.cfg.BackoffBase
	for i := 1; i < attempt && d < p.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.cfg.BackoffMax)
	return rand.N(d) + 1
}

func (p *Pipeline) notifier(name string) (notifiers.Notifier, error) {
	rt := p.runtime()
	if rt == nil || rt.Notifiers[name] == nil {
		return nil, fmt.Errorf("notifier %q is not configured", name)
	}
	return rt.Notifiers[name], nil
}

// ref is what to remember of a send for the incident's later updates.
func (p *Pipeline) ref(e outbox.Entry, res notification.Result, now time.Time) *store.Ref {
	if res.Ref == "" {
		return nil
	}
	link := res.Link
	inc := e.Notification.Incident
	if link == "" && inc != nil && inc.Ref == res.Ref {
		link = inc.Link // the same message or ticket: keep its link
	}
	r := &store.Ref{Key: e.Key, Ref: res.Ref, Link: link, Updated: now}
	if inc != nil {
		r.Incident = inc.Fingerprint
	}
	return r
}

// buryOrWait buries an entry; when the store cannot, the entry stays and is
// looked at again after a pause rather than in a tight loop.
func (p *Pipeline) buryOrWait(ctx context.Context, it *item, e outbox.Entry, reason string) outcome {
	if p.bury(ctx, it, e, reason) {
		return outcome{done: true}
	}
	return outcome{next: p.now().Add(p.cfg.BackoffBase)}
}

// bury moves an entry to the dead letters and says why, in the log and in
// the metrics. It reports whether the entry left the outbox.
func (p *Pipeline) bury(ctx context.Context, it *item, e outbox.Entry, reason string) bool {
	c := it.c
	c.Entry = e
	if err := p.st.Bury(ctx, c, reason, p.now()); err != nil {
		p.m.processingErrors.WithLabelValues("bury").Inc()
		p.log.Error("pipeline: move notification to dead letters", "id", e.ID, "err", err)
		return false
	}
	p.m.deadTotal.WithLabelValues(reason).Inc()
	n := e.Notification
	p.log.Warn("notification dead-lettered", "id", e.ID, "reason", reason, "rule", n.Rule.Name,
		"notifier", n.Action.Notifier, "target", n.Action.Target, "event", n.Event.ID,
		"recipient", event.MaskPhone(n.Event.RecipientID), "attempts", e.Attempts, "err", e.LastError)
	return true
}

// opens reports whether a notification creates the incident's message or
// ticket: what a second send would duplicate.
func opens(n *notification.Notification) bool {
	return n.Op == notification.OpOpen || n.Op == ""
}

// findStep is how often an uncertain open is looked for while what it
// created may still appear.
const findStep = time.Second

// reconcile looks for what an earlier, uncertain send of an open created.
// found: it went out, res says where. Otherwise wait, when not zero, is
// when to look again; zero means send now (nothing appeared within the
// notifier's window, or it cannot be looked for).
func (p *Pipeline) reconcile(ctx context.Context, f notifiers.Finder, it *item, n *notification.Notification) (res notification.Result, found bool, wait time.Time) {
	name := n.Action.Notifier
	// Clocks differ between here and Slack or Jira: look a little earlier.
	res, found, err := f.Find(ctx, n, it.c.InFlight.Add(-time.Minute))
	now := p.now()
	deadline := it.c.InFlight.Add(f.FindWindow())
	switch {
	case err != nil:
		p.m.reconciled.WithLabelValues(name, "failed").Inc()
		if now.Before(deadline) {
			p.log.Warn("pipeline: cannot look for what an interrupted send created; looking again", "id", it.c.Entry.ID,
				"notifier", name, "err", err)
			return res, false, earliest(now.Add(findStep), deadline)
		}
		p.log.Warn("pipeline: cannot look for what an interrupted send created; sending it again, it may show twice",
			"id", it.c.Entry.ID, "notifier", name, "err", err)
		it.uncertain = false
		return res, false, time.Time{}
	case found:
		p.m.reconciled.WithLabelValues(name, "found").Inc()
		p.log.Info("pipeline: an interrupted send had gone out; not sending it again", "id", it.c.Entry.ID,
			"notifier", name, "ref", res.Ref, "started", it.c.InFlight)
		return res, true, time.Time{}
	case now.Before(deadline):
		return res, false, earliest(now.Add(findStep), deadline)
	}
	p.m.reconciled.WithLabelValues(name, "not_found").Inc()
	p.log.Info("pipeline: an interrupted send had not gone out; sending it", "id", it.c.Entry.ID, "notifier", name,
		"started", it.c.InFlight)
	it.uncertain = false
	return res, false, time.Time{}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
