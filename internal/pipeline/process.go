package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/rules"
)

// inboxBatch is how many inbox entries one read hands out.
const inboxBatch = 128

// inboxLoop hands inbox entries to the workers in receive order: all that is
// there at start (left by a crash), then whatever Accept adds. An entry a
// worker could not commit stays in the inbox and is handed out again after
// a pause.
func (p *Pipeline) inboxLoop(ctx context.Context, work chan<- store.InboxEntry) {
	defer close(work)
	var after uint64
	var rescan <-chan time.Time
	for {
		entries, err := p.st.Inbox(after, inboxBatch)
		if err != nil {
			p.m.processingErrors.WithLabelValues("read_inbox").Inc()
			p.log.Error("pipeline: read inbox", "err", err)
			signal(p.inboxFailed)
		}
		for _, e := range entries {
			after = e.Seq
			if !p.claim(e.Seq) {
				continue
			}
			select {
			case work <- e:
			case <-ctx.Done():
				return
			}
		}
		if len(entries) == inboxBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.inboxWake:
		case <-p.inboxFailed:
			if rescan == nil {
				rescan = time.After(p.cfg.BackoffBase)
			}
		case <-rescan:
			rescan, after = nil, 0
		}
	}
}

// claim marks an inbox entry as handed to a worker; false when it already is.
func (p *Pipeline) claim(seq uint64) bool {
	p.inflightMu.Lock()
	defer p.inflightMu.Unlock()
	if p.inflight[seq] {
		return false
	}
	p.inflight[seq] = true
	return true
}

func (p *Pipeline) release(seq uint64) {
	p.inflightMu.Lock()
	delete(p.inflight, seq)
	p.inflightMu.Unlock()
}

func (p *Pipeline) processEntry(e store.InboxEntry) {
	defer p.release(e.Seq)
	if err := p.process(e); err != nil {
		p.m.processingErrors.WithLabelValues("commit").Inc()
		p.log.Error("pipeline: process delivery; it stays in the inbox",
			"delivery", e.Delivery.ID, "source", e.Delivery.Source, "err", err)
		signal(p.inboxFailed)
	}
}

// process evaluates every event of one delivery and commits the outcome in
// one transaction: the entry leaves the inbox only when its notifications
// are in the outbox. A delivery that cannot be parsed is recorded as failed
// and removed, never retried forever.
func (p *Pipeline) process(e store.InboxEntry) error {
	d := e.Delivery
	now := p.now()
	rt := p.runtime()
	c := store.Commit{
		Seq:            e.Seq,
		Now:            now,
		DedupUntil:     now.Add(p.cfg.DedupWindow),
		ProcessedUntil: now.Add(p.cfg.Retention),
		Processed: store.Processed{
			DeliveryID: d.ID, Source: d.Source, ReceivedAt: d.ReceivedAt, ProcessedAt: now,
		},
	}
	events, err := p.parse(d.Source, e)
	if err != nil {
		c.Processed.Error, c.Processed.Body = err.Error(), d.Body
		p.m.deliveries.WithLabelValues("failed").Inc()
		p.log.Warn("pipeline: delivery cannot be parsed; recorded as failed",
			"delivery", d.ID, "source", d.Source, "remote", d.RemoteAddr, "err", err)
	}
	src, _ := p.sources(d.Source)
	for i := range events {
		ev := &events[i]
		if rt != nil && rt.Catalog != nil {
			rt.Catalog.Enrich(ev)
		}
		c.Processed.Events++
		if src != nil && !src.Accept(ev) {
			c.Processed.Dropped++
			p.m.dropped.WithLabelValues(d.Source).Inc()
			continue
		}
		p.log.Debug("event", "id", ev.ID, "source", ev.Source, "kind", ev.Kind, "status", ev.Status,
			"code", ev.Code, "recipient", event.MaskPhone(ev.RecipientID))
		ce := store.CommitEvent{ID: ev.ID}
		ce.Notifications, ce.Matched = p.notificationsFor(rt, ev, now, d.ReceivedAt)
		c.Events = append(c.Events, ce)
	}
	res, err := p.st.Commit(c)
	if errors.Is(err, store.ErrNotFound) {
		return nil // another worker committed it after a rescan
	}
	if err != nil {
		return err
	}
	if c.Processed.Error == "" {
		p.m.deliveries.WithLabelValues("processed").Inc()
	}
	if res.Duplicates > 0 {
		p.m.duplicates.Add(float64(res.Duplicates))
		p.log.Debug("pipeline: duplicate events suppressed", "delivery", d.ID, "count", res.Duplicates)
	}
	if len(res.Outbox) > 0 {
		p.sched.add(res.Outbox...)
		signal(p.sched.wake)
	}
	return nil
}

func (p *Pipeline) parse(name string, e store.InboxEntry) ([]event.Event, error) {
	src, ok := p.sources(name)
	if !ok || src == nil {
		return nil, fmt.Errorf("source %q is not configured", name)
	}
	events, err := src.Parse(e.Delivery)
	if err != nil {
		return nil, fmt.Errorf("parse delivery with source %q: %w", name, err)
	}
	return events, nil
}

// notificationsFor builds one outbox entry per matched rule and action.
// Muted rules (outside active_time, inside mute_time) notify nobody.
// matched reports whether any rule matched, muted or not.
func (p *Pipeline) notificationsFor(rt *Runtime, ev *event.Event, now, received time.Time) (out []store.OutboxEntry, matched bool) {
	if rt == nil || rt.Rules == nil {
		return nil, false
	}
	rs := rt.Rules.Match(ev)
	if len(rs) == 0 {
		return nil, false
	}
	var entry catalog.Entry // zero when the event has no catalogue entry
	if rt.Catalog != nil {
		entry, _ = rt.Catalog.ForEvent(ev)
	}
	seen := ev.Timestamp
	if seen.IsZero() {
		seen = now
	}
	for _, r := range rs {
		if !r.Active(now) {
			continue
		}
		fp := rules.Fingerprint(r, ev)
		for _, a := range r.Actions {
			n := notifiers.Notification{
				Rule:    r.Ref(),
				Action:  a,
				Op:      notifiers.OpOpen,
				Event:   *ev,
				Catalog: entry,
				Incident: &notifiers.Incident{
					Fingerprint: fp, Status: "open", Count: 1, NewSince: 1,
					FirstSeen: seen, LastSeen: seen, SinceTime: seen,
				},
			}
			out = append(out, store.OutboxEntry{
				Notification: n,
				Key:          OrderingKey(fp, a),
				Created:      now,
				ReceivedAt:   received,
				NextAttempt:  now,
			})
		}
	}
	return out, true
}

// OrderingKey is what orders sends and keys stored refs: the incident's
// fingerprint, the notifier and its target. Sends with the same key go one
// at a time, in order, so an update never overtakes its open.
func OrderingKey(fingerprint string, a notifiers.Action) string {
	return fingerprint + "/" + a.Notifier + "/" + Target(a)
}

// Target is where an action sends: the Slack channel or the Jira project.
func Target(a notifiers.Action) string {
	if a.Channel != "" {
		return a.Channel
	}
	return a.Project
}
