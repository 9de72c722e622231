package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/rules"
)

// process commits one inbox entry on its own, as a batch of one; tests
// use it to process without Run.
func (p *Pipeline) process(e store.InboxEntry) error {
	pt, err := p.first(context.Background())
	if err != nil {
		return err
	}
	return p.commitBatch(context.Background(), pt, []store.InboxEntry{e})
}

// prepared is one inbox entry parsed and matched, outside any transaction.
type prepared struct {
	entry     store.InboxEntry
	processed tally
	events    []preparedEvent
	dropped   []audit.Event // events the accept filter dropped, for the audit trail
	payload   store.Payload // the body as the audit trail keeps it
}

// tally is what the committer learns of one delivery beyond its events:
// why it could not be parsed (the audit record's reason) and how many of
// its events were duplicates (the metrics).
type tally struct {
	Error      string
	Duplicates int
}

type preparedEvent struct {
	ev       event.Event
	rules    []*rules.Rule // rules it matched, in order
	resolves []*rules.Rule // rules whose resolve_when it satisfies
}

// resolvers lists the enabled rules that can resolve incidents by event.
func resolvers(set *rules.Set) []*rules.Rule {
	var out []*rules.Rule
	for _, r := range set.Rules() {
		if r.Enabled && r.HasResolveWhen() {
			out = append(out, r)
		}
	}
	return out
}

// prepare parses a delivery and evaluates the rules for each of its
// events: everything that needs no state.
// events, when not nil, are the delivery's events as the webhook parsed
// them; otherwise the stored body is parsed.
func (p *Pipeline) prepare(rt *Runtime, res []*rules.Rule, e store.InboxEntry, events []event.Event) prepared {
	d := e.Delivery
	faultHook(d.Body)
	pr := prepared{entry: e}
	// The inbox log keeps the payload: the audit record refers to it. An
	// entry from elsewhere is compressed here, in parallel and outside the
	// write transaction.
	if e.Location.Length > 0 {
		pr.payload = store.LoggedPayload(e.Location)
	} else {
		pr.payload = p.zip.Payload(d.Body)
	}
	var err error
	if events == nil {
		events, err = p.parse(d.Source, e)
	}
	if err != nil {
		pr.processed.Error = err.Error()
		p.log.Warn("pipeline: delivery cannot be parsed; recorded as failed",
			"delivery", d.ID, "source", d.Source, "remote", d.RemoteAddr, "err", err)
	}
	src, _ := p.sources(d.Source)
	for i := range events {
		ev := &events[i]
		if rt != nil && rt.Catalog != nil {
			rt.Catalog.Enrich(ev)
		}
		if src != nil && !src.Accept(ev) {
			pr.dropped = append(pr.dropped, auditEvent(ev, audit.EventDropped))
			p.m.dropped.WithLabelValues(d.Source).Inc()
			continue
		}
		p.log.Debug("event", "id", ev.ID, "source", ev.Source, "kind", ev.Kind, "status", ev.Status,
			"code", ev.Code, "recipient", event.MaskPhone(ev.RecipientID))
		pe := preparedEvent{ev: *ev}
		if rt != nil && rt.Rules != nil {
			pe.rules = rt.Rules.Match(ev)
			for _, r := range res {
				if r.ResolvedBy(ev) {
					pe.resolves = append(pe.resolves, r)
				}
			}
		}
		pr.events = append(pr.events, pe)
	}
	return pr
}

// commitBatch processes inbox entries of a partition, in receive order,
// in one write transaction: an entry leaves the inbox only together with
// its dedup records, incident changes and outbox entries. Parsing and
// matching run first, in parallel, outside the transaction.
func (p *Pipeline) commitBatch(ctx context.Context, pt *partition, entries []store.InboxEntry) error {
	if len(entries) == 0 {
		return nil
	}
	rt := p.runtime()
	now := p.now()
	prep := p.prepareAll(rt, entries)

	pt.mu.Lock()
	defer pt.mu.Unlock()
	state, err := p.incidents(ctx, pt, rulesOf(rt))
	if err != nil {
		return fmt.Errorf("load incidents: %w", err)
	}
	sil := p.currentSilences(now)
	var t *incTx
	var done []*prepared
	err = p.commit(ctx, pt, func(tx store.CommitTx) error {
		t = &incTx{p: p, tx: tx, st: state, rt: rt, now: now}
		done = done[:0]
		for i := range prep {
			taken, err := t.deliver(&prep[i], sil)
			if err != nil {
				return err
			}
			if taken {
				done = append(done, &prep[i])
			}
		}
		return t.flush()
	})
	if err != nil {
		return err // commit dropped the copy: it may hold changes the store refused
	}
	p.observeBatch(rt, done)
	p.committed(pt, t)
	return nil
}

// rulesOf is the rule set of rt, nil without one.
func rulesOf(rt *Runtime) *rules.Set {
	if rt == nil {
		return nil
	}
	return rt.Rules
}

// prepareAll prepares entries on up to Workers goroutines.
func (p *Pipeline) prepareAll(rt *Runtime, entries []store.InboxEntry) []prepared {
	var res []*rules.Rule
	if rt != nil && rt.Rules != nil {
		res = resolvers(rt.Rules)
	}
	parsed := p.parsed.take(entries)
	eventsOf := func(i int) []event.Event {
		if parsed == nil {
			return nil
		}
		return parsed[i]
	}
	prep := make([]prepared, len(entries))
	workers := min(p.cfg.Workers, len(entries))
	if workers <= 1 {
		for i, e := range entries {
			prep[i] = p.prepare(rt, res, e, eventsOf(i))
		}
		return prep
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(entries); i += workers {
				prep[i] = p.prepare(rt, res, entries[i], eventsOf(i))
			}
		}()
	}
	wg.Wait()
	return prep
}

// deliver applies one prepared delivery in the transaction: it takes the
// entry out of the inbox, evaluates its events and writes its audit
// record. It reports false, doing nothing, for an entry a commit took
// already (a retry after an unclear failure).
func (t *incTx) deliver(pr *prepared, sil *silences) (bool, error) {
	taken, err := t.tx.TakeInbox(pr.entry.Seq)
	if err != nil || !taken {
		return false, err
	}
	t.received = pr.entry.Delivery.ReceivedAt
	before, decided, dups := len(t.outbox), len(t.decisions), 0
	for j := range pr.events {
		dup, err := t.evaluate(&pr.events[j], sil)
		if err != nil {
			return false, err
		}
		if dup {
			dups++
		}
	}
	pr.processed.Duplicates = dups
	if err := t.p.auditDelivery(t.tx, pr, t.decisions[decided:], t.outbox[before:], t.now); err != nil {
		return false, err
	}
	return true, nil
}

// evaluate applies one event that matched a rule or a resolve_when: the
// dedup test-and-set, then the resolves, the silences and the rules it
// matched. It reports whether the event was a duplicate.
func (t *incTx) evaluate(pe *preparedEvent, sil *silences) (bool, error) {
	ev := &pe.ev
	if len(pe.rules) == 0 && len(pe.resolves) == 0 {
		return false, nil
	}
	if ev.ID != "" {
		dup, err := t.tx.SeeEvent(ev.ID, t.now, t.now.Add(t.p.cfg.DedupWindow))
		if err != nil {
			return false, err
		}
		if dup {
			for _, r := range pe.rules {
				t.decide(ev, r, "", OutcomeDuplicate, 0, "seen within the dedup window")
			}
			return true, nil
		}
	}
	for _, r := range pe.resolves {
		if err := t.resolveBy(ev, r); err != nil {
			return false, err
		}
	}
	silence := ""
	if len(pe.rules) > 0 && sil != nil {
		silence = sil.Match(ev, t.now)
	}
	for _, r := range pe.rules {
		if err := t.match(ev, r, silence); err != nil {
			return false, err
		}
	}
	return false, nil
}

// observeBatch counts the deliveries a commit processed.
func (p *Pipeline) observeBatch(rt *Runtime, done []*prepared) {
	duplicates := 0
	for _, pr := range done {
		p.observeEvents(rt, pr)
		if pr.processed.Error == "" {
			p.m.deliveries.WithLabelValues("processed").Inc()
		} else {
			p.m.deliveries.WithLabelValues("failed").Inc()
		}
		duplicates += pr.processed.Duplicates
	}
	if duplicates > 0 {
		p.m.duplicates.Add(float64(duplicates))
	}
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
func (p *Pipeline) notificationsFor(rt *Runtime, ev *event.Event, now, received time.Time) (out []outbox.Entry, matched bool) {
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
			n := notification.Notification{
				Rule:    r.Ref(),
				Action:  a,
				Op:      notification.OpOpen,
				Event:   *ev,
				Catalog: entry,
				Incident: &notification.Incident{
					Fingerprint: fp, Status: "open", Count: 1, NewSince: 1,
					FirstSeen: seen, LastSeen: seen, SinceTime: seen,
				},
			}
			out = append(out, outbox.Entry{
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
func OrderingKey(fingerprint string, a notification.Action) string {
	return fingerprint + "/" + a.Notifier + "/" + a.Target
}
