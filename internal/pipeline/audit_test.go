package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/problem"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
	"github.com/wabridge/wabridge/rules"
)

func rulesParse(y string) (*rules.Set, problem.List, error) {
	return rules.Parse("rules.yaml", []byte(y), rules.Options{Specs: builtin.Specs()})
}

func (h *harness) audit(q audit.Query) []audit.Record {
	h.t.Helper()
	recs, err := h.p.Audit(q)
	if err != nil {
		h.t.Fatal(err)
	}
	return recs
}

func TestAuditRecordsProcessedDelivery(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.run()
	evs := []event.Event{failed("e1"), status("e2", "read"), status("e3", "delivered")}
	body, _ := json.Marshal(evs)
	h.accept(evs...)
	h.idle()
	h.waitFor("the notification's result", func() bool {
		recs := h.audit(audit.Query{})
		return len(recs) == 1 && len(recs[0].Notifications) == 1 && recs[0].Notifications[0].Result == audit.NoteSent
	})
	rec := h.audit(audit.Query{Body: true})[0]
	sum := sha256.Sum256(body)
	if rec.Source != "test" || rec.HTTPStatus != 200 || rec.Signature != audit.SignatureValid ||
		rec.RemoteAddr != "127.0.0.1" || rec.Size != len(body) || rec.SHA256 != hex.EncodeToString(sum[:]) ||
		rec.Payload != string(body) || rec.ReceivedAt.IsZero() {
		t.Errorf("record %+v", rec)
	}
	outcomes := map[string]string{}
	for _, e := range rec.Events {
		outcomes[e.ID] = e.Outcome
	}
	want := map[string]string{"e1": audit.EventEvaluated, "e2": audit.EventDropped, "e3": audit.EventEvaluated}
	for id, o := range want {
		if outcomes[id] != o {
			t.Errorf("event %s outcome %q, want %q (all: %v)", id, outcomes[id], o, outcomes)
		}
	}
	var e1 audit.Event
	for _, e := range rec.Events {
		if e.ID == "e1" {
			e1 = e
		}
	}
	if e1.Code != 131026 || len(e1.Decisions) != 1 || e1.Decisions[0].Rule != "failed" || e1.Decisions[0].Outcome != string(OutcomeOpened) {
		t.Errorf("e1 %+v", e1)
	}
	n := rec.Notifications[0]
	if n.Event != "e1" || n.Rule != "failed" || n.Notifier != "slack" || n.Target != "#ops" || n.Ref != "C1/"+n.ID {
		t.Errorf("notification %+v", n)
	}
}

func TestAuditMarksDuplicates(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.run()
	h.accept(failed("e1"))
	h.idle()
	h.accept(failed("e1"))
	h.idle()
	h.waitFor("two records", func() bool { return len(h.audit(audit.Query{})) == 2 })
	newest := h.audit(audit.Query{Limit: 1})[0]
	if newest.Events[0].Outcome != audit.EventDuplicate || len(newest.Notifications) != 0 {
		t.Errorf("redelivery %+v", newest)
	}
	if d := newest.Events[0].Decisions; len(d) != 1 || d[0].Outcome != string(OutcomeDuplicate) {
		t.Errorf("redelivery decisions %+v", d)
	}
}

func TestAuditRecordsFailedAndDeadNotifications(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.slack.setFail(func(int, *notification.Notification) error {
		return &notifiers.Error{Notifier: "slack", Reason: notifiers.ReasonPermanent, Err: errors.New("channel_not_found")}
	})
	h.run()
	h.accept(failed("e1"))
	h.waitFor("a dead letter in the audit trail", func() bool {
		recs := h.audit(audit.Query{})
		return len(recs) == 1 && len(recs[0].Notifications) == 1 && recs[0].Notifications[0].Result == audit.NoteDead
	})
	n := h.audit(audit.Query{})[0].Notifications[0]
	if n.Reason != "permanent" || n.Error == "" || n.Attempts != 1 {
		t.Errorf("dead notification %+v", n)
	}
}

func TestRejectedDeliveriesAreAudited(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.run()
	big := bytes.Repeat([]byte("x"), rejectPayloadMax+1000)
	h.p.Reject(context.Background(), delivery.Delivery{ID: "r1", Source: "test", RemoteAddr: "10.0.0.9", Body: big},
		401, "unauthorized: X-Hub-Signature-256 does not match the body")
	h.p.Reject(context.Background(), delivery.Delivery{ID: "r2", Source: "test", Body: []byte("not json")},
		400, "body is not JSON")
	h.p.Reject(context.Background(), delivery.Delivery{ID: "r3", Source: "test", Body: big},
		400, "not a payload of this source")
	h.waitFor("three rejected records", func() bool { return len(h.audit(audit.Query{})) == 3 })
	byID := map[string]audit.Record{}
	for _, r := range h.audit(audit.Query{Body: true}) {
		byID[r.DeliveryID] = r
	}
	r1, r2, r3 := byID["r1"], byID["r2"], byID["r3"]
	sum := sha256.Sum256(big)
	// An unauthenticated body is nobody's: its size, hash and reason are
	// kept, not its bytes.
	if r1.HTTPStatus != 401 || r1.Signature != audit.SignatureInvalid || r1.Size != len(big) ||
		r1.PayloadKept != 0 || r1.Payload != "" ||
		r1.SHA256 != hex.EncodeToString(sum[:]) || r1.RemoteAddr != "10.0.0.9" || r1.Reason == "" {
		t.Errorf("401 record: status %d sig %s size %d kept %d payload %d reason %q",
			r1.HTTPStatus, r1.Signature, r1.Size, r1.PayloadKept, len(r1.Payload), r1.Reason)
	}
	if r2.HTTPStatus != 400 || r2.Signature != audit.SignatureValid || r2.Payload != "not json" || r2.Reason != "body is not JSON" {
		t.Errorf("400 record %+v", r2)
	}
	// A 400's payload is kept for the operator, up to the cap.
	if r3.HTTPStatus != 400 || r3.Size != len(big) || r3.PayloadKept != rejectPayloadMax ||
		len(r3.Payload) != rejectPayloadMax || r3.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("large 400 record: status %d size %d kept %d payload %d",
			r3.HTTPStatus, r3.Size, r3.PayloadKept, len(r3.Payload))
	}
	// The counter moves after the commit the records are visible in.
	h.waitFor("rejected records counted", func() bool {
		return h.counter("wabridge_audit_records_total", "kind", "rejected") == 3
	})
}

// logBuffer collects a pipeline's log lines; it is written from the
// request path and the audit loop at once.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(match string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, match) {
			out = append(out, line)
		}
	}
	return out
}

// A flood of bad requests is bounded twice: at most RejectAuditRate records
// a second reach the store, and the drops make at most one log line a
// minute.
func TestRejectBudget(t *testing.T) {
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	cfg := fastConfig()
	cfg.RejectAuditRate = 10
	h := newHarnessAt(t, cfg, testRules, clk.now)
	logs := &logBuffer{}
	h.p.log = slog.New(slog.NewTextHandler(logs, nil))
	const dropMsg = "rejected deliveries not recorded"
	reject := func(n int) {
		for i := 0; i < n; i++ {
			h.p.Reject(context.Background(), delivery.Delivery{ID: fmt.Sprint("r", i), Source: "test",
				Body: []byte("forged")}, 401, "bad signature")
		}
	}

	reject(25) // one second's budget, 10, is kept
	if got := h.counter("wabridge_audit_rejected_dropped_total"); got != 15 {
		t.Errorf("dropped %v, want 15", got)
	}
	if got := logs.lines(dropMsg); len(got) != 1 || !strings.Contains(got[0], "dropped=1 ") {
		t.Errorf("the first drop is logged at once, alone: %q", got)
	}

	clk.advance(500 * time.Millisecond) // half a second refills half the budget
	reject(10)
	if got := h.counter("wabridge_audit_rejected_dropped_total"); got != 20 {
		t.Errorf("dropped %v after half a second, want 20", got)
	}
	if got := logs.lines(dropMsg); len(got) != 1 {
		t.Errorf("%d drop lines within a minute, want 1: %q", len(got), got)
	}

	clk.advance(time.Minute)
	reject(11)
	got := logs.lines(dropMsg)
	if len(got) != 2 || !strings.Contains(got[1], "dropped=20 ") {
		t.Errorf("a minute later the drops since the last line are logged once: %q", got)
	}

	// Drops that stop are logged when the pipeline stops.
	clk.advance(time.Second)
	reject(12)
	stop := h.run()
	// Kept: 10 at first, 5 after half a second, 10 and 10 after refills.
	h.waitFor("the kept rejects", func() bool { return len(h.audit(audit.Query{})) == 35 })
	stop()
	if got := logs.lines(dropMsg); len(got) != 3 || !strings.Contains(got[2], "dropped=2 ") {
		t.Errorf("the last drops are not logged on shutdown: %q", got)
	}
}

// Reject runs on the request path: with the writer stopped and its queue
// full, it must return at once and count what it could not keep.
func TestRejectNeverBlocks(t *testing.T) {
	cfg := fastConfig()
	cfg.RejectAuditRate = 1 << 20 // the queue, not the budget, is under test
	h := newHarness(t, cfg, testRules)
	start := time.Now()
	for i := 0; i < rejectQueue+5; i++ {
		h.p.Reject(context.Background(), delivery.Delivery{ID: "r", Source: "test"}, 401, "bad signature")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("%d rejects took %v", rejectQueue+5, d)
	}
	if got := h.counter("wabridge_audit_rejected_dropped_total"); got != 5 {
		t.Errorf("dropped %v, want 5", got)
	}
	// The queued ones are written once the pipeline runs.
	h.run()
	h.waitFor("the queued rejects", func() bool { return len(h.audit(audit.Query{})) == rejectQueue })
}

func TestAuditExpiresAfterRetention(t *testing.T) {
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cfg := fastConfig()
	cfg.Retention = 2 * time.Hour
	h := newHarnessAt(t, cfg, testRules, clk.now)
	h.accept(failed("e1"))
	entries, _ := pendingInbox(h.st, 0)
	for _, e := range entries {
		if err := h.p.process(e); err != nil {
			t.Fatal(err)
		}
	}
	h.p.Reject(context.Background(), delivery.Delivery{ID: "r1", Source: "test", Body: []byte("x")}, 401, "bad signature")
	h.p.writeRejected(h.p.drainRejects(<-h.p.rejects))
	if got := len(h.audit(audit.Query{})); got != 2 {
		t.Fatalf("%d records, want 2", got)
	}
	clk.advance(time.Hour)
	h.p.sweep()
	if got := len(h.audit(audit.Query{})); got != 2 {
		t.Fatalf("records swept inside retention: %d left", got)
	}
	clk.advance(90 * time.Minute)
	h.p.sweep()
	if got := h.audit(audit.Query{}); len(got) != 0 {
		t.Fatalf("records left after retention: %+v", got)
	}
}

func TestEventAndRuleMetrics(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.run()
	unknown := failed("e9")
	unknown.Code = 999999
	h.accept(failed("e1"), status("e2", "delivered"), unknown, status("e3", "read"))
	h.idle()
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wabridge_events_total", []string{"source", "test", "kind", "status", "code", "131026"}, 1},
		{"wabridge_events_total", []string{"source", "test", "kind", "status", "code", "none"}, 1},
		{"wabridge_events_total", []string{"source", "test", "kind", "status", "code", "other"}, 1},
		{"wabridge_events_total", nil, 3}, // the read status is dropped by the source
		{"wabridge_rule_matches_total", []string{"rule", "failed"}, 2},
		{"wabridge_audit_records_total", []string{"kind", "processed"}, 1},
	}
	for _, tt := range tests {
		h.waitFor(tt.name, func() bool { return h.counter(tt.name, tt.labels...) == tt.want })
	}
}

func TestCodeLabelIsBounded(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	for _, tt := range []struct {
		code int
		want string
	}{{0, "none"}, {131031, "131031"}, {424242, "other"}} {
		ev := event.Event{Kind: event.KindStatus, Code: tt.code}
		if got := codeLabel(h.rt, &ev); got != tt.want {
			t.Errorf("code %d: label %q, want %q", tt.code, got, tt.want)
		}
	}
	if got := codeLabel(nil, &event.Event{Code: 131031}); got != "other" {
		t.Errorf("without a catalogue: %q", got)
	}
}

// plainTx writes no audit record, so the pipeline keeps no trail.
type plainTx struct{ store.CommitTx }

func (plainTx) PutAudit(*audit.Record, store.Payload, time.Time, []outbox.Entry) error {
	return nil
}

type noAuditStore struct{ store.Store }

func (s noAuditStore) Commit(ctx context.Context, f store.Fence, fn func(tx store.CommitTx) error) error {
	return s.Store.Commit(ctx, f, func(tx store.CommitTx) error { return fn(plainTx{tx}) })
}

// BenchmarkCommitAudit measures what the audit trail adds to processing:
// deliveries (one failed status that opens an incident, one routine
// status) committed in batches, with and without the trail.
func BenchmarkCommitAudit(b *testing.B) {
	for _, mode := range []struct {
		name  string
		audit bool
	}{{"audit", true}, {"no_audit", false}} {
		b.Run(mode.name, func(b *testing.B) {
			st, err := store.Open(b.TempDir(), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var s store.Store = st
			if !mode.audit {
				s = noAuditStore{st}
			}
			set, _, err := rulesParse(testRules)
			if err != nil {
				b.Fatal(err)
			}
			rt := &Runtime{Rules: set, Notifiers: map[string]notifiers.Notifier{}}
			p, err := New(Config{}, Deps{Store: s, Runtime: func() *Runtime { return rt },
				Sources: func(string) (sources.Source, bool) { return testSource{}, true }})
			if err != nil {
				b.Fatal(err)
			}
			for i := range b.N {
				evs := []event.Event{failed(fmt.Sprintf("f%d", i)), status(fmt.Sprintf("d%d", i), "delivered")}
				evs[0].PhoneNumberID = fmt.Sprintf("PN%d", i) // a new incident each time
				body, _ := json.Marshal(evs)
				if err := p.Accept(context.Background(), delivery.Delivery{Source: "test", Body: body}, nil); err != nil {
					b.Fatal(err)
				}
			}
			entries, err := pendingInbox(st, 0)
			if err != nil {
				b.Fatal(err)
			}
			pt, err := p.first(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < len(entries); i += DefaultBatchSize {
				if err := p.commitBatch(context.Background(), pt, entries[i:min(i+DefaultBatchSize, len(entries))]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			if size, err := st.Size(); err == nil {
				b.ReportMetric(float64(size)/float64(b.N), "file-bytes/delivery")
			}
		})
	}
}
