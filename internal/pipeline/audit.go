package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
)

// Rejected deliveries come from anyone who can reach the webhook, so their
// audit records are bounded. A 401's payload is not kept at all: nobody
// proved it came from the provider. Of other rejections (a 400 is mostly a
// payload of the wrong provider, which an operator needs to see) at most
// rejectPayloadMax bytes are kept; the size and hash cover all of it. At
// most Config.RejectAuditRate records are written per second and
// rejectQueue wait for the writer; past that they are dropped, counted, and
// logged at most once per dropLogEvery.
const (
	rejectPayloadMax = 64 << 10
	rejectQueue      = 1024
	rejectBatch      = 128
	dropLogEvery     = time.Minute
)

// rejected is one delivery the webhook answered with a 4xx.
type rejected struct {
	d      delivery.Delivery // Body: only what is kept (see Reject)
	status int
	reason string
	size   int
	sum    [sha256.Size]byte
}

// auditMetrics are the metrics of the audit trail and the event flow.
type auditMetrics struct {
	events        *prometheus.CounterVec // source, kind, code
	ruleMatches   *prometheus.CounterVec // rule
	auditRecords  *prometheus.CounterVec // result (accepted, rejected)
	auditDropped  prometheus.Counter
	auditFailures prometheus.Counter
}

func newAuditMetrics(reg prometheus.Registerer) (*auditMetrics, error) {
	m := &auditMetrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_events_total",
			Help: "Events of processed deliveries that passed the source's accept filter, by source, kind and code (the catalogue's code or range, \"other\" for a code it lacks, \"none\" without one).",
		}, []string{"source", "kind", "code"}),
		ruleMatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_rule_matches_total",
			Help: "Events a rule matched, by rule, before dedup, silences, inhibition and thresholds (see wabridge_rule_decisions_total).",
		}, []string{"rule"}),
		auditRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wabridge_audit_records_total",
			Help: "Deliveries recorded in the audit trail, by kind (processed, rejected).",
		}, []string{"kind"}),
		auditDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wabridge_audit_rejected_dropped_total",
			Help: "Rejected deliveries not recorded in the audit trail: over the budget of rejected records per second (50 by default) or the audit writer was behind.",
		}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wabridge_audit_write_failures_total",
			Help: "Batches of rejected deliveries the store could not record.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.ruleMatches, m.auditRecords, m.auditDropped, m.auditFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// newAudit starts the audit record of a delivery taken from the inbox: it
// passed authentication and was answered 200.
func newAudit(d delivery.Delivery, now time.Time) *audit.Record {
	sum := sha256.Sum256(d.Body)
	return &audit.Record{
		ID:          audit.ID(d.ReceivedAt, d.ID),
		DeliveryID:  d.ID,
		Source:      d.Source,
		ReceivedAt:  d.ReceivedAt,
		ProcessedAt: now,
		RemoteAddr:  d.RemoteAddr,
		Signature:   audit.SignatureValid,
		HTTPStatus:  http.StatusOK,
		Size:        len(d.Body),
		SHA256:      hex.EncodeToString(sum[:]),
		PayloadKept: len(d.Body),
		Events:      []audit.Event{},
	}
}

func auditEvent(ev *event.Event, outcome string) audit.Event {
	return audit.Event{ID: ev.ID, Kind: string(ev.Kind), Status: ev.Status, Code: ev.Code, Outcome: outcome}
}

// auditDelivery writes a processed delivery's audit record in tx, the
// transaction that processes it, so the record and the outcome it reports
// commit together. ds are the decisions made for its events and outbox the
// notifications it queued.
func (p *Pipeline) auditDelivery(tx store.CommitTx, pr *prepared, ds []Decision, outbox []outbox.Entry, now time.Time) error {
	d := pr.entry.Delivery
	rec := newAudit(d, now)
	rec.Reason = pr.processed.Error
	byEvent := make(map[string][]audit.Decision, len(ds))
	dup := map[string]bool{}
	for _, x := range ds {
		detail := x.Detail
		if x.Notifications > 0 {
			detail = strings.TrimSpace(detail + " (" + strconv.Itoa(x.Notifications) + " queued)")
		}
		byEvent[x.EventID] = append(byEvent[x.EventID], audit.Decision{Rule: x.Rule, Outcome: string(x.Outcome), Detail: detail})
		if x.Outcome == OutcomeDuplicate {
			dup[x.EventID] = true
		}
	}
	for i := range pr.events {
		ev := &pr.events[i].ev
		ae := auditEvent(ev, audit.EventEvaluated)
		if dup[ev.ID] {
			ae.Outcome = audit.EventDuplicate
		}
		ae.Decisions = byEvent[ev.ID]
		rec.Events = append(rec.Events, ae)
	}
	rec.Events = append(rec.Events, pr.dropped...)
	if err := tx.PutAudit(rec, pr.payload, now.Add(p.cfg.Retention), outbox); err != nil {
		return fmt.Errorf("audit record of delivery %s: %w", d.ID, err)
	}
	return nil
}

// observeEvents counts a committed delivery's events (those past the
// source's accept filter) and the rules they matched.
func (p *Pipeline) observeEvents(rt *Runtime, pr *prepared) {
	for i := range pr.events {
		pe := &pr.events[i]
		p.am.events.WithLabelValues(pe.ev.Source, string(pe.ev.Kind), codeLabel(rt, &pe.ev)).Inc()
		for _, r := range pe.rules {
			p.am.ruleMatches.WithLabelValues(r.Name).Inc()
		}
	}
	p.am.auditRecords.WithLabelValues("processed").Inc()
}

// codeLabel bounds the code label by the catalogue: the entry's code or
// range, "other" for a code it lacks, "none" without a code.
func codeLabel(rt *Runtime, ev *event.Event) string {
	if ev.Code == 0 {
		return "none"
	}
	if rt != nil && rt.Catalog != nil {
		if ent, ok := rt.Catalog.ForEvent(ev); ok && ent.HasCode() {
			return ent.Range()
		}
	}
	return "other"
}

// Reject records a delivery the webhook answered with a 4xx, for the audit
// trail. It never blocks the request: the record is queued for the writer,
// and dropped (and counted) when over the budget or the writer is behind.
func (p *Pipeline) Reject(_ context.Context, d delivery.Delivery, status int, reason string) {
	now := p.now()
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = now
	}
	if !p.rejectBudget.take(now) {
		p.dropRejected(now)
		return
	}
	// The queue holds what the record keeps, not the body: a 401's body is
	// anyone's and up to server.max_body_bytes, and a queue of them would
	// hold hundreds of MB the request already let go of.
	r := rejected{status: status, reason: reason, size: len(d.Body), sum: sha256.Sum256(d.Body)}
	kept := d.Body
	if status == http.StatusUnauthorized {
		kept = nil
	} else if len(kept) > rejectPayloadMax {
		kept = kept[:rejectPayloadMax]
	}
	d.Body = append([]byte(nil), kept...)
	r.d = d
	select {
	case p.rejects <- r:
	default:
		p.dropRejected(now)
	}
}

// dropRejected counts a rejected delivery that is not recorded. The log
// says how many at most once per dropLogEvery: a flood of bad requests must
// not become a flood of log lines.
func (p *Pipeline) dropRejected(now time.Time) {
	p.am.auditDropped.Inc()
	if n, since, ok := p.rejectDrops.add(now); ok {
		p.logDropped(n, since)
	}
}

func (p *Pipeline) logDropped(n int, since time.Time) {
	p.log.Warn("audit: rejected deliveries not recorded (over the rejected-record budget, or the audit writer is behind)",
		"dropped", n, "since", since, "budget_per_second", p.cfg.RejectAuditRate)
}

// flushDropped logs drops not logged yet, once dropLogEvery has passed
// since the last line (or at once when final).
func (p *Pipeline) flushDropped(final bool) {
	if n, since, ok := p.rejectDrops.flush(p.now(), final); ok {
		p.logDropped(n, since)
	}
}

// tokenBucket lets rate events through per second on average, in bursts of
// at most rate.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate int) *tokenBucket {
	return &tokenBucket{rate: float64(rate), tokens: float64(rate)}
}

func (b *tokenBucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// dropLog counts drops between log lines.
type dropLog struct {
	mu      sync.Mutex
	n       int
	first   time.Time // of the drops counted in n
	lastLog time.Time
}

// add counts one drop and reports whether to log the drops counted so far
// (how many, since when): the first drop is logged at once, later ones once
// dropLogEvery has passed since the last line.
func (l *dropLog) add(now time.Time) (int, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		l.first = now
	}
	l.n++
	return l.takeLocked(now, false)
}

func (l *dropLog) flush(now time.Time, final bool) (int, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.takeLocked(now, final)
}

func (l *dropLog) takeLocked(now time.Time, final bool) (int, time.Time, bool) {
	if l.n == 0 || (!final && !l.lastLog.IsZero() && now.Sub(l.lastLog) < dropLogEvery) {
		return 0, time.Time{}, false
	}
	n, first := l.n, l.first
	l.n, l.lastLog = 0, now
	return n, first, true
}

// auditLoop writes rejected deliveries in batches that share a commit.
// On shutdown it writes what is queued: the HTTP server has stopped by then.
func (p *Pipeline) auditLoop(ctx context.Context) {
	// Drops stop as they started, without a request to log them: the
	// loop logs what the last minute dropped.
	tick := time.NewTicker(dropLogEvery)
	defer tick.Stop()
	for {
		select {
		case r := <-p.rejects:
			p.writeRejected(p.drainRejects(r))
		case <-tick.C:
			p.flushDropped(false)
		case <-ctx.Done():
			for {
				select {
				case r := <-p.rejects:
					p.writeRejected(p.drainRejects(r))
				default:
					p.flushDropped(true)
					return
				}
			}
		}
	}
}

// drainRejects takes first and whatever else is queued, up to a batch.
func (p *Pipeline) drainRejects(first rejected) []rejected {
	batch := []rejected{first}
	for len(batch) < rejectBatch {
		select {
		case r := <-p.rejects:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (p *Pipeline) writeRejected(batch []rejected) {
	recs := make([]audit.Record, 0, len(batch))
	bodies := make([][]byte, 0, len(batch))
	for _, r := range batch {
		rec, body := rejectedRecord(r)
		recs = append(recs, rec)
		bodies = append(bodies, body)
	}
	if err := p.st.AddAudit(context.Background(), recs, bodies, p.now().Add(p.cfg.Retention)); err != nil {
		p.am.auditFailures.Inc()
		p.log.Error("audit: record rejected deliveries", "count", len(batch), "err", err)
		return
	}
	p.am.auditRecords.WithLabelValues("rejected").Add(float64(len(batch)))
}

func rejectedRecord(r rejected) (audit.Record, []byte) {
	sum := r.sum
	body := r.d.Body
	sig := audit.SignatureValid
	if r.status == http.StatusUnauthorized {
		// Unauthenticated bytes are anyone's: their size and hash say
		// enough, and keeping them would let anyone fill the disk.
		sig, body = audit.SignatureInvalid, nil
	}
	return audit.Record{
		ID:          audit.ID(r.d.ReceivedAt, r.d.ID),
		DeliveryID:  r.d.ID,
		Source:      r.d.Source,
		ReceivedAt:  r.d.ReceivedAt,
		RemoteAddr:  r.d.RemoteAddr,
		Signature:   sig,
		HTTPStatus:  r.status,
		Reason:      r.reason,
		Size:        r.size,
		SHA256:      hex.EncodeToString(sum[:]),
		PayloadKept: len(body),
		Events:      []audit.Event{},
	}, body
}

// Audit returns the audit records q selects, newest first.
func (p *Pipeline) Audit(q audit.Query) ([]audit.Record, error) {
	return p.st.Audit(context.Background(), q)
}
