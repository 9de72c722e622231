package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
)

// Rejected deliveries come from anyone who can reach the webhook, so their
// audit records are bounded: at most rejectPayloadMax bytes of the payload
// are kept (the size and hash cover all of it), and at most rejectQueue
// records wait for the writer; past that they are dropped and counted.
const (
	rejectPayloadMax = 64 << 10
	rejectQueue      = 1024
	rejectBatch      = 128
)

// rejected is one delivery the webhook answered with a 4xx.
type rejected struct {
	d      sources.Delivery
	status int
	reason string
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
			Help: "Rejected deliveries not recorded because the audit writer was behind.",
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
func newAudit(d sources.Delivery, now time.Time) *store.AuditRecord {
	sum := sha256.Sum256(d.Body)
	return &store.AuditRecord{
		ID:          store.AuditID(d.ReceivedAt, d.ID),
		DeliveryID:  d.ID,
		Source:      d.Source,
		ReceivedAt:  d.ReceivedAt,
		ProcessedAt: now,
		RemoteAddr:  d.RemoteAddr,
		Signature:   store.SignatureValid,
		HTTPStatus:  http.StatusOK,
		Size:        len(d.Body),
		SHA256:      hex.EncodeToString(sum[:]),
		PayloadKept: len(d.Body),
		Events:      []store.AuditEvent{},
	}
}

func auditEvent(ev *event.Event, outcome string) store.AuditEvent {
	return store.AuditEvent{ID: ev.ID, Kind: string(ev.Kind), Status: ev.Status, Code: ev.Code, Outcome: outcome}
}

// auditDelivery writes a processed delivery's audit record in tx, the
// transaction that processes it, so the record and the outcome it reports
// commit together. ds are the decisions made for its events and outbox the
// notifications it queued. A store that keeps no trail is skipped.
func (p *Pipeline) auditDelivery(tx store.Tx, pr *prepared, ds []Decision, outbox []store.OutboxEntry, now time.Time) error {
	at, ok := tx.(store.AuditTx)
	if !ok {
		return nil
	}
	d := pr.entry.Delivery
	rec := newAudit(d, now)
	rec.Reason = pr.processed.Error
	byEvent := make(map[string][]store.AuditDecision, len(ds))
	dup := map[string]bool{}
	for _, x := range ds {
		detail := x.Detail
		if x.Notifications > 0 {
			detail = strings.TrimSpace(detail + " (" + strconv.Itoa(x.Notifications) + " queued)")
		}
		byEvent[x.EventID] = append(byEvent[x.EventID], store.AuditDecision{Rule: x.Rule, Outcome: string(x.Outcome), Detail: detail})
		if x.Outcome == OutcomeDuplicate {
			dup[x.EventID] = true
		}
	}
	for i := range pr.events {
		ev := &pr.events[i].ev
		ae := auditEvent(ev, store.EventEvaluated)
		if dup[ev.ID] {
			ae.Outcome = store.EventDuplicate
		}
		ae.Decisions = byEvent[ev.ID]
		rec.Events = append(rec.Events, ae)
	}
	rec.Events = append(rec.Events, pr.dropped...)
	if err := at.PutAudit(rec, d.Body, now.Add(p.cfg.Retention), outbox); err != nil {
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
// and dropped (and counted) when the writer is behind.
func (p *Pipeline) Reject(_ context.Context, d sources.Delivery, status int, reason string) {
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = p.now()
	}
	select {
	case p.rejects <- rejected{d: d, status: status, reason: reason}:
	default:
		p.am.auditDropped.Inc()
		p.log.Warn("audit: writer is behind; a rejected delivery is not recorded",
			"delivery", d.ID, "source", d.Source, "status", status)
	}
}

// auditLoop writes rejected deliveries in batches that share a commit.
// On shutdown it writes what is queued: the HTTP server has stopped by then.
func (p *Pipeline) auditLoop(ctx context.Context) {
	for {
		select {
		case r := <-p.rejects:
			p.writeRejected(p.drainRejects(r))
		case <-ctx.Done():
			for {
				select {
				case r := <-p.rejects:
					p.writeRejected(p.drainRejects(r))
				default:
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
	recs := make([]store.AuditRecord, 0, len(batch))
	bodies := make([][]byte, 0, len(batch))
	for _, r := range batch {
		rec, body := rejectedRecord(r)
		recs = append(recs, rec)
		bodies = append(bodies, body)
	}
	if err := p.st.AddAudit(recs, bodies, p.now().Add(p.cfg.Retention)); err != nil {
		p.am.auditFailures.Inc()
		p.log.Error("audit: record rejected deliveries", "count", len(batch), "err", err)
		return
	}
	p.am.auditRecords.WithLabelValues("rejected").Add(float64(len(batch)))
}

func rejectedRecord(r rejected) (store.AuditRecord, []byte) {
	sum := sha256.Sum256(r.d.Body)
	body := r.d.Body
	if len(body) > rejectPayloadMax {
		body = body[:rejectPayloadMax]
	}
	sig := store.SignatureValid
	if r.status == http.StatusUnauthorized {
		sig = store.SignatureInvalid
	}
	return store.AuditRecord{
		ID:          store.AuditID(r.d.ReceivedAt, r.d.ID),
		DeliveryID:  r.d.ID,
		Source:      r.d.Source,
		ReceivedAt:  r.d.ReceivedAt,
		RemoteAddr:  r.d.RemoteAddr,
		Signature:   sig,
		HTTPStatus:  r.status,
		Reason:      r.reason,
		Size:        len(r.d.Body),
		SHA256:      hex.EncodeToString(sum[:]),
		PayloadKept: len(body),
		Events:      []store.AuditEvent{},
	}, body
}

// Audit returns the audit records q selects, newest first.
func (p *Pipeline) Audit(q store.AuditQuery) ([]store.AuditRecord, error) {
	return p.st.Audit(q)
}
