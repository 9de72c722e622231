package pipeline

import (
	"context"
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
)

// Dead-letter reasons besides the notifier's own (auth, permanent).
const (
	DeadAttempts   = "attempts_exhausted"
	DeadMaxAge     = "max_age"
	DeadNoNotifier = "no_notifier"
)

// item is the scheduler's view of one outbox entry. It carries the entry
// as committed, so a send does not read and decode it again: only its
// sender changes an outbox entry once it is stored (attempts, last error),
// and it updates this copy as it updates the store. What others change
// after the commit (the incident's counts, its ref) fillIncident reads at
// send time.
type item struct {
	id    string
	key   string
	next  time.Time
	entry outbox.Entry
	// lane is the notifier and target the entry goes to; limit is the
	// notifier, whose rate limit covers every lane of it.
	lane, limit string
	// inFlight is when the last send started, as marked in the store;
	// uncertain says its outcome is unknown (it may have gone out).
	inFlight  time.Time
	uncertain bool
}

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

// scheduler keeps the outbox's order and due times in memory, so picking
// work never scans the store. Each ordering key is a FIFO queue whose head
// alone may be sent, and only by one sender at a time. Heads are sent at
// most perLane at a time per lane, and not while their notifier is paused
// by a rate limit.
type scheduler struct {
	mu      sync.Mutex
	queues  map[string][]*item
	busy    map[string]bool
	lanes   map[string]*lane
	limits  map[string]*limit
	perLane int
	pace    time.Duration
	wake    chan struct{}
}

func newScheduler(perLane int, pace time.Duration) *scheduler {
	return &scheduler{queues: map[string][]*item{}, busy: map[string]bool{}, lanes: map[string]*lane{},
		limits: map[string]*limit{}, perLane: perLane, pace: pace, wake: make(chan struct{}, 1)}
}

// reset loads the outbox as stored, in creation order, with the entries
// whose send had started when the last process stopped.
func (s *scheduler) reset(entries []outbox.Entry, inFlight map[string]time.Time) {
	s.mu.Lock()
	s.queues, s.busy, s.lanes = map[string][]*item{}, map[string]bool{}, map[string]*lane{}
	s.mu.Unlock()
	s.add(entries...)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queues {
		for _, it := range q {
			if at, ok := inFlight[it.id]; ok {
				it.inFlight, it.uncertain = at, true
			}
		}
	}
}

func (s *scheduler) add(entries ...outbox.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		a := e.Notification.Action
		s.queues[e.Key] = append(s.queues[e.Key], &item{id: e.ID, key: e.Key, next: e.NextAttempt, entry: e,
			lane: a.Notifier + "/" + Target(a), limit: a.Notifier})
	}
}

// due marks and returns the heads that may be sent at now, and says when
// the earliest other head becomes due (zero when none waits; a head held
// back by a full lane is woken by that lane's next finished send).
func (s *scheduler) due(now time.Time) (ready []*item, wakeAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	later := func(t time.Time) {
		if wakeAt.IsZero() || t.Before(wakeAt) {
			wakeAt = t
		}
	}
	for key, q := range s.queues {
		if s.busy[key] || len(q) == 0 {
			continue
		}
		head := q[0]
		if head.next.After(now) {
			later(head.next)
			continue
		}
		ln := s.lanes[head.lane]
		if ln == nil {
			ln = &lane{}
			s.lanes[head.lane] = ln
		}
		if ln.inFlight >= s.perLane {
			continue
		}
		if l := s.limits[head.limit]; l != nil {
			if now.Before(l.pausedUntil) {
				later(l.pausedUntil)
				continue
			}
			if now.Before(l.pacedUntil) {
				if now.Before(l.nextSlot) {
					later(l.nextSlot)
					continue
				}
				l.nextSlot = now.Add(s.pace)
			}
		}
		ln.inFlight++
		s.busy[key] = true
		ready = append(ready, head)
	}
	return ready, wakeAt
}

// pacedFor is how long sends stay paced after a rate limit's pause: Slack's
// and Jira's limits are counted per minute.
const pacedFor = time.Minute

// rateLimited pauses every entry of a notifier until until, then paces
// them for pacedFor.
func (s *scheduler) rateLimited(notifier string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limits[notifier]
	if l == nil {
		l = &limit{}
		s.limits[notifier] = l
	}
	if until.After(l.pausedUntil) {
		l.pausedUntil, l.nextSlot = until, until
	}
	if p := l.pausedUntil.Add(pacedFor); p.After(l.pacedUntil) {
		l.pacedUntil = p
	}
}

// paused reports until when a notifier's sends wait for its rate limit.
func (s *scheduler) paused(notifier string, now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.limits[notifier]; l != nil && now.Before(l.pausedUntil) {
		return l.pausedUntil, true
	}
	return time.Time{}, false
}

// returned frees the lane slot of a send whose notifier call is over.
func (s *scheduler) returned(it *item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ln := s.lanes[it.lane]; ln != nil && ln.inFlight > 0 {
		ln.inFlight--
	}
}

// done releases a key after a send: remove drops the head (sent or dead),
// otherwise it waits until next.
func (s *scheduler) done(it *item, remove bool, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, it.key)
	q := s.queues[it.key]
	if len(q) == 0 || q[0] != it {
		return
	}
	if !remove {
		it.next = next
		return
	}
	if len(q) == 1 {
		delete(s.queues, it.key)
		return
	}
	s.queues[it.key] = q[1:]
}

// sendLoop starts a send for each due entry: woken by new entries, by a
// finished send, and by a timer for the next retry. Each send runs in its
// own goroutine; the lanes bound how many run at once.
func (p *Pipeline) sendLoop(ctx, workCtx context.Context, sends *sync.WaitGroup) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ready, wakeAt := p.sched.due(p.now())
		for _, it := range ready {
			sends.Add(1)
			go func() {
				defer sends.Done()
				p.sendItem(workCtx, it)
			}()
		}
		wait := time.Hour
		if !wakeAt.IsZero() {
			wait = max(wakeAt.Sub(p.now()), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-p.sched.wake:
		case <-timer.C:
		}
	}
}

// sendItem sends one outbox entry and records the outcome. A sent entry
// keeps its key busy until its removal from the outbox is committed, so
// the next entry of the key finds the ref it left; its lane slot is free
// as soon as the notifier answered, and the records of concurrent sends
// share one group commit. Senders thus bounds the notifier calls in flight
// per lane, not the commits waited for.
func (p *Pipeline) sendItem(ctx context.Context, it *item) {
	remove, next, record := p.sendEntry(ctx, it)
	p.sched.returned(it)
	if record == nil {
		p.sched.done(it, remove, next)
		signal(p.sched.wake)
		return
	}
	signal(p.sched.wake)
	p.recording.Add(1)
	defer p.recording.Done()
	remove, next = record()
	p.sched.done(it, remove, next)
	signal(p.sched.wake)
}

// sendEntry reports whether the entry left the outbox, and if not, when to
// try again. After a successful send it returns record instead, which
// removes the entry from the outbox and reports the same.
func (p *Pipeline) sendEntry(ctx context.Context, it *item) (remove bool, next time.Time, record func() (bool, time.Time)) {
	e := it.entry
	if inc := e.Notification.Incident; inc != nil {
		// fillIncident writes into the snapshot: a copy, so the one the
		// committer built (and the audit trail saw) is never shared.
		c := *inc
		e.Notification.Incident = &c
	}
	p.fillIncident(&e)
	n := &e.Notification
	name := n.Action.Notifier
	nt, err := p.notifier(name)
	if err != nil {
		e.Attempts++
		e.LastError = err.Error()
		remove, next = p.buryOrWait(e, DeadNoNotifier)
		return remove, next, nil
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
			return false, time.Time{}, func() (bool, time.Time) { return p.recordSent(&e, r, now) }
		case !wait.IsZero():
			return false, wait, nil
		}
	}
	if finder != nil {
		// Durably in flight before it goes: after a crash, the next
		// process looks for what this send created before sending again.
		at := p.now()
		if err := p.st.MarkInFlight(e.ID, at); err != nil {
			p.m.processingErrors.WithLabelValues("mark_in_flight").Inc()
			p.log.Error("pipeline: cannot mark the notification in flight; not sending it yet", "id", e.ID, "err", err)
			return false, at.Add(p.cfg.BackoffBase), nil
		}
		it.inFlight, it.uncertain = at, true
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
		return false, time.Time{}, func() (bool, time.Time) { return p.recordSent(&e, res, now) }
	}
	if ctx.Err() != nil {
		// Cut off by shutdown: not the notifier's fault, so the attempt is
		// not counted; the entry stays as it was for the next start.
		return false, now, nil
	}
	remove, next = p.failed(e, it, err, now)
	return remove, next, nil
}

// recordSent removes a sent entry from the outbox and keeps its ref.
func (p *Pipeline) recordSent(e *outbox.Entry, res notification.Result, now time.Time) (bool, time.Time) {
	n := &e.Notification
	name := n.Action.Notifier
	if err := p.st.SentAs(e.ID, p.ref(*e, res, now), resultOf(res)); err != nil {
		// Sent, but still in the outbox: it will be sent again. At
		// least once is the promise; say so.
		p.m.processingErrors.WithLabelValues("record_sent").Inc()
		p.log.Error("pipeline: notification sent but not removed from the outbox; it may be sent again",
			"id", e.ID, "notifier", name, "err", err)
		return false, now.Add(p.cfg.BackoffBase)
	}
	if res.Logged {
		p.log.Info("notification logged: "+name+" is not configured, so the log stood in and nothing reached it",
			"id", e.ID, "rule", n.Rule.Name, "notifier", name, "result", audit.NoteLogged,
			"target", Target(n.Action), "event", n.Event.ID, "attempts", e.Attempts+1)
	} else {
		p.log.Info("notification sent", "id", e.ID, "rule", n.Rule.Name, "notifier", name, "result", audit.NoteSent,
			"target", Target(n.Action), "event", n.Event.ID, "attempts", e.Attempts+1)
	}
	p.linkOthers(e, res, now)
	return true, time.Time{}
}

// resultOf is how a successful send is reported: "logged" when the log
// stood in for the notifier, "sent" otherwise.
func resultOf(res notification.Result) string {
	if res.Logged {
		return audit.NoteLogged
	}
	return audit.NoteSent
}

// linkOthers tells the incident's other messages and tickets where a new
// one is: the Slack thread gets the Jira ticket's link, the Jira ticket
// the Slack message's permalink. A link notification queues behind its
// action's open under the same ordering key, so it finds what it links to.
// Only a new ref (a first post, a new or recreated ticket) is announced.
func (p *Pipeline) linkOthers(e *outbox.Entry, res notification.Result, now time.Time) {
	n := &e.Notification
	inc := n.Incident
	if res.Link == "" || inc == nil || inc.Fingerprint == "" || res.Ref == inc.Ref || n.Op == notification.OpLink {
		return
	}
	rt := p.runtime()
	if rt == nil || rt.Rules == nil {
		return
	}
	r := rt.Rules.Rule(n.Rule.Name)
	if r == nil {
		return
	}
	var added []outbox.Entry
	err := p.st.Update(func(tx store.Tx) error {
		for _, a := range r.Actions {
			if a.Notifier == n.Action.Notifier || !linkable(a.Notifier) {
				continue
			}
			c := *inc
			c.Ref, c.Link, c.Links = "", "", map[string]string{n.Action.Notifier: res.Link}
			le, err := tx.AddOutbox(outbox.Entry{
				Notification: notification.Notification{Rule: n.Rule, Action: a, Op: notification.OpLink, Event: n.Event, Catalog: n.Catalog, Incident: &c},
				Key:          OrderingKey(inc.Fingerprint, a),
				Created:      now,
				NextAttempt:  now,
			})
			if err != nil {
				return err
			}
			added = append(added, le)
		}
		return nil
	})
	if err != nil {
		// The message and the ticket exist; only the cross link is lost.
		p.m.processingErrors.WithLabelValues("queue_link").Inc()
		p.log.Error("pipeline: queue the link to the new "+n.Action.Notifier+" ref", "id", e.ID, "err", err)
		return
	}
	if len(added) > 0 {
		p.sched.add(added...)
		signal(p.sched.wake)
	}
}

// linkable names the notifiers that show another's link.
func linkable(notifier string) bool { return notifier == "slack" || notifier == "jira" }

// failed records a failed attempt: the entry waits for its retry, or goes
// to the dead letters.
func (p *Pipeline) failed(e outbox.Entry, it *item, err error, now time.Time) (remove bool, next time.Time) {
	n := &e.Notification
	name := n.Action.Notifier
	reason, retryAfter, retryable := notifiers.Classify(err)
	p.m.notifications.WithLabelValues(name, "failed", string(reason)).Inc()
	e.Attempts++
	e.LastError, e.LastReason = err.Error(), string(reason)
	if !retryable {
		return p.buryOrWait(e, string(reason))
	}
	if e.Attempts >= p.cfg.MaxAttempts {
		return p.buryOrWait(e, DeadAttempts)
	}
	next = now.Add(p.backoff(e.Attempts))
	if reason == notifiers.ReasonRateLimited {
		// The limit covers every entry bound for this notifier (Slack's
		// workspace, Jira's host), not this entry alone: pause them all.
		until := now.Add(max(retryAfter, p.cfg.BackoffBase))
		p.sched.rateLimited(name, until)
		p.log.Warn("notifier rate limited: its sends pause, then go paced", "notifier", name,
			"until", until, "pace", p.cfg.RateLimitPace)
	}
	if floor := now.Add(retryAfter); next.Before(floor) {
		next = floor
	}
	if next.Sub(e.Created) > p.cfg.MaxAge {
		return p.buryOrWait(e, DeadMaxAge)
	}
	e.NextAttempt = next
	it.entry = e // what the next attempt starts from, as stored below
	if err := p.st.UpdateOutbox(e); err != nil {
		p.m.processingErrors.WithLabelValues("update_outbox").Inc()
		p.log.Error("pipeline: record failed attempt", "id", e.ID, "err", err)
	}
	p.log.Warn("notification failed; will retry", "id", e.ID, "rule", n.Rule.Name, "notifier", name,
		"event", n.Event.ID, "reason", reason, "attempts", e.Attempts, "next_attempt", next, "err", err)
	return false, next
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
	if inc := e.Notification.Incident; link == "" && inc != nil && inc.Ref == res.Ref {
		link = inc.Link // the same message or ticket: keep its link
	}
	return &store.Ref{Key: e.Key, Ref: res.Ref, Link: link, Updated: now}
}

// buryOrWait buries an entry; when the store cannot, the entry stays and is
// looked at again after a pause rather than in a tight loop.
func (p *Pipeline) buryOrWait(e outbox.Entry, reason string) (bool, time.Time) {
	if p.bury(e, reason) {
		return true, time.Time{}
	}
	return false, p.now().Add(p.cfg.BackoffBase)
}

// bury moves an entry to the dead letters and says why, in the log and in
// the metrics. It reports whether the entry left the outbox.
func (p *Pipeline) bury(e outbox.Entry, reason string) bool {
	d := outbox.DeadLetter{Entry: e, Reason: reason, Died: p.now()}
	if err := p.st.Bury(d); err != nil {
		p.m.processingErrors.WithLabelValues("bury").Inc()
		p.log.Error("pipeline: move notification to dead letters", "id", e.ID, "err", err)
		return false
	}
	p.m.deadTotal.WithLabelValues(reason).Inc()
	n := e.Notification
	p.log.Warn("notification dead-lettered", "id", e.ID, "reason", reason, "rule", n.Rule.Name,
		"notifier", n.Action.Notifier, "target", Target(n.Action), "event", n.Event.ID,
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
	res, found, err := f.Find(ctx, n, it.inFlight.Add(-time.Minute))
	now := p.now()
	deadline := it.inFlight.Add(f.FindWindow())
	switch {
	case err != nil:
		p.m.reconciled.WithLabelValues(name, "failed").Inc()
		if now.Before(deadline) {
			p.log.Warn("pipeline: cannot look for what an interrupted send created; looking again", "id", it.id,
				"notifier", name, "err", err)
			return res, false, earliest(now.Add(findStep), deadline)
		}
		p.log.Warn("pipeline: cannot look for what an interrupted send created; sending it again, it may show twice",
			"id", it.id, "notifier", name, "err", err)
		it.uncertain = false
		return res, false, time.Time{}
	case found:
		p.m.reconciled.WithLabelValues(name, "found").Inc()
		p.log.Info("pipeline: an interrupted send had gone out; not sending it again", "id", it.id,
			"notifier", name, "ref", res.Ref, "started", it.inFlight)
		return res, true, time.Time{}
	case now.Before(deadline):
		return res, false, earliest(now.Add(findStep), deadline)
	}
	p.m.reconciled.WithLabelValues(name, "not_found").Inc()
	p.log.Info("pipeline: an interrupted send had not gone out; sending it", "id", it.id, "notifier", name,
		"started", it.inFlight)
	it.uncertain = false
	return res, false, time.Time{}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
