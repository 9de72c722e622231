package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
	"github.com/wabridge/wabridge/rules"
)

// testSource reads a JSON array of events; it drops "read" statuses, as a
// source with `accept` would.
type testSource struct{}

func (testSource) Name() string                                    { return "test" }
func (testSource) Type() string                                    { return "test" }
func (testSource) Authenticate(r *http.Request, body []byte) error { return nil }
func (testSource) Accept(e *event.Event) bool                      { return e.Status != "read" }
func (testSource) Parse(d delivery.Delivery) ([]event.Event, error) {
	var evs []event.Event
	if err := json.Unmarshal(d.Body, &evs); err != nil {
		return nil, sources.BadPayload("test", "%v", err)
	}
	for i := range evs {
		evs[i].Source = d.Source
	}
	return evs, nil
}

// call is one Notify the recorder saw.
type call struct {
	at       time.Time
	id       string // outbox id
	eventID  string
	key      string
	op       notification.Op
	attempts int
}

// recorder stands in for a notifier: it records every call and answers with
// what fail says (nil: success).
type recorder struct {
	name  string
	delay time.Duration

	mu       sync.Mutex
	calls    []call
	fail     func(n int, nt *notification.Notification) error
	inflight map[string]int
	maxKey   int // most concurrent calls for one key
	active   int
	maxAll   int // most concurrent calls overall
}

func (r *recorder) Render(n *notification.Notification) (notification.Message, error) {
	return notification.Message{Notifier: r.name, Summary: n.Rule.Name}, nil
}

func (r *recorder) Notify(ctx context.Context, n *notification.Notification) (notification.Result, error) {
	key := OrderingKey(n.Incident.Fingerprint, n.Action)
	r.mu.Lock()
	idx := len(r.calls)
	r.calls = append(r.calls, call{at: time.Now(), id: n.ID, eventID: n.Event.ID, key: key, op: n.Op})
	if r.inflight == nil {
		r.inflight = map[string]int{}
	}
	r.inflight[key]++
	r.active++
	r.maxKey = max(r.maxKey, r.inflight[key])
	r.maxAll = max(r.maxAll, r.active)
	fail := r.fail
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inflight[key]--
		r.active--
		r.mu.Unlock()
	}()
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return notification.Result{}, ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(idx, n); err != nil {
			return notification.Result{}, err
		}
	}
	return notification.Result{Ref: "C1/" + n.ID}, nil
}

func (r *recorder) setFail(f func(n int, nt *notification.Notification) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *recorder) count() int { return len(r.snapshot()) }

const testRules = `
rules:
  - name: failed
    match: {statuses: [failed]}
    group_by: [code, phone_number_id]
    actions:
      - slack: {channel: "#ops"}
`

type harness struct {
	t     *testing.T
	dir   string
	st    *store.Bolt
	p     *Pipeline
	slack *recorder
	rt    *Runtime
	reg   *prometheus.Registry
	now   func() time.Time
	cfg   Config
	src   sources.Source // nil: testSource
}

func newHarness(t *testing.T, cfg Config, ruleYAML string) *harness {
	t.Helper()
	return newHarnessAt(t, cfg, ruleYAML, nil)
}

func newHarnessAt(t *testing.T, cfg Config, ruleYAML string, now func() time.Time) *harness {
	t.Helper()
	set, _, err := rules.Parse("rules.yaml", []byte(ruleYAML), rules.Options{Specs: builtin.Specs()})
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: t.TempDir(), slack: &recorder{name: "slack"}, cfg: cfg, now: now}
	h.rt = &Runtime{Rules: set, Catalog: cat, Notifiers: map[string]notifiers.Notifier{"slack": h.slack}}
	h.open()
	return h
}

// open (re)opens the store and builds a pipeline over it.
func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(h.dir, store.Options{})
	if err != nil {
		h.t.Fatalf("open store: %v", err)
	}
	h.st = st
	h.reg = prometheus.NewRegistry()
	h.p, err = New(h.cfg, Deps{
		Store: st,
		Sources: func(name string) (sources.Source, bool) {
			if h.src != nil {
				return h.src, name == "test"
			}
			return testSource{}, name == "test"
		},
		Runtime:    func() *Runtime { return h.rt },
		Logger:     slog.New(slog.DiscardHandler),
		Now:        h.now,
		Registerer: h.reg,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = h.p.Close() })
}

// run starts Run and returns a stop function that waits for it.
func (h *harness) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	h.waitFor("pipeline running", func() bool { return h.p.running.Load() })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("run: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

func (h *harness) accept(evs ...event.Event) {
	h.t.Helper()
	body, _ := json.Marshal(evs)
	if err := h.p.Accept(context.Background(), delivery.Delivery{Source: "test", Body: body, RemoteAddr: "127.0.0.1"}, nil); err != nil {
		h.t.Fatalf("accept: %v", err)
	}
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// idle waits until the inbox and outbox are empty.
func (h *harness) idle() {
	h.t.Helper()
	h.waitFor("inbox and outbox to empty", func() bool {
		s := h.p.Stats()
		return s.Inbox == 0 && s.Outbox == 0
	})
}

func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

func failed(id string) event.Event {
	return event.Event{ID: id, Kind: event.KindStatus, Status: "failed", Code: 131026,
		PhoneNumberID: "PN1", RecipientID: "16505551234", MessageID: "wamid." + id}
}

func status(id, st string) event.Event {
	return event.Event{ID: id, Kind: event.KindStatus, Status: st, PhoneNumberID: "PN1", RecipientID: "16505551234"}
}

func fastConfig() Config {
	return Config{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		ShutdownTimeout: 2 * time.Second, SweepInterval: time.Hour}
}

func TestAcceptThenRunDelivers(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	if err := h.p.Ready(); err == nil {
		t.Error("ready before Run")
	}
	h.accept(failed("e1"), status("e2", "delivered"), status("e3", "read"))
	h.run()
	h.idle()
	if err := h.p.Ready(); err != nil {
		t.Errorf("not ready while running: %v", err)
	}
	calls := h.slack.snapshot()
	if len(calls) != 1 || calls[0].eventID != "e1" {
		t.Fatalf("calls = %+v, want one for e1", calls)
	}
	rule := h.rt.Rules.Rule("failed")
	ev := failed("e1")
	fp := rules.Fingerprint(rule, &ev)
	key := OrderingKey(fp, notification.Action{Notifier: "slack", Target: "#ops"})
	if calls[0].key != key {
		t.Errorf("key = %q, want %q", calls[0].key, key)
	}
	ref, err := h.st.GetRef(bg, key)
	if err != nil || ref.Ref != "C1/"+calls[0].id {
		t.Errorf("ref = %+v, %v", ref, err)
	}
	if dup, _ := h.st.IsDuplicate(bg, "e1", time.Now()); !dup {
		t.Error("matched event has no dedup record")
	}
	for _, id := range []string{"e2", "e3"} {
		if dup, _ := h.st.IsDuplicate(bg, id, time.Now()); dup {
			t.Errorf("unmatched event %s left a dedup record", id)
		}
	}
	if got := h.counter("wabridge_events_dropped_total", "source", "test"); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
	if got := h.counter("wabridge_notifications_total", "result", "sent"); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
}

func TestNotificationContent(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	var got notification.Notification
	h.slack.setFail(func(_ int, n *notification.Notification) error { got = *n; return nil })
	h.accept(failed("e1"))
	h.run()
	h.idle()
	if got.Rule.Name != "failed" || got.Op != notification.OpOpen || got.Action.Target != "#ops" {
		t.Errorf("notification = %+v", got)
	}
	if got.Event.Severity == "" || got.Catalog.Title == "" || got.Event.RecommendedAction == "" {
		t.Errorf("event not enriched from the catalogue: severity %q, catalog %q", got.Event.Severity, got.Catalog.Title)
	}
	if got.Incident == nil || got.Incident.Fingerprint == "" {
		t.Errorf("incident = %+v", got.Incident)
	}
}

func TestTransientFailureRetriesWithBackoff(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.slack.setFail(func(n int, _ *notification.Notification) error {
		if n < 2 {
			return &notifiers.Error{Notifier: "slack", Reason: notifiers.ReasonTransient, Err: errors.New("502 bad gateway")}
		}
		return nil
	})
	h.accept(failed("e1"))
	h.run()
	h.idle()
	calls := h.slack.snapshot()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].id != calls[0].id {
			t.Errorf("call %d is for %s, want the same entry %s", i, calls[i].id, calls[0].id)
		}
	}
	if dl, _ := h.p.ListDead(); len(dl) != 0 {
		t.Errorf("dead letters: %+v", dl)
	}
	if got := h.counter("wabridge_notifications_total", "result", "failed", "reason", "transient"); got != 2 {
		t.Errorf("failed transient = %v, want 2", got)
	}
}

func TestRateLimitRetryAfterIsHonoured(t *testing.T) {
	cfg := fastConfig()
	cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, time.Millisecond
	h := newHarness(t, cfg, testRules)
	const wait = 300 * time.Millisecond
	h.slack.setFail(func(n int, _ *notification.Notification) error {
		if n == 0 {
			return &notifiers.Error{Notifier: "slack", Reason: notifiers.ReasonRateLimited, RetryAfter: wait, Err: errors.New("429")}
		}
		return nil
	})
	h.accept(failed("e1"))
	h.run()
	h.idle()
	calls := h.slack.snapshot()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	if gap := calls[1].at.Sub(calls[0].at); gap < wait {
		t.Fatalf("retried after %v, before Retry-After %v", gap, wait)
	}
}

func TestPermanentFailureDeadLettersAndReplay(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.slack.setFail(func(int, *notification.Notification) error {
		return &notifiers.Error{Notifier: "slack", Reason: notifiers.ReasonPermanent, Err: errors.New("channel_not_found")}
	})
	h.accept(failed("e1"))
	stop := h.run()
	h.waitFor("a dead letter", func() bool { return h.p.Stats().Dead == 1 })
	stop()
	if n := h.slack.count(); n != 1 {
		t.Fatalf("%d calls before dead letter, want 1 (no retry of a permanent failure)", n)
	}
	dl, err := h.p.ListDead()
	if err != nil || len(dl) != 1 {
		t.Fatalf("ListDead = %+v, %v", dl, err)
	}
	d := dl[0]
	if d.Reason != "permanent" || !strings.Contains(d.LastError, "channel_not_found") || d.Attempts != 1 {
		t.Errorf("dead letter = reason %q, error %q, attempts %d", d.Reason, d.LastError, d.Attempts)
	}
	if got := h.counter("wabridge_dead_letters_total", "reason", "permanent"); got != 1 {
		t.Errorf("dead letters counter = %v", got)
	}
	if got, err := h.p.GetDead(d.ID); err != nil || got.ID != d.ID {
		t.Errorf("GetDead = %+v, %v", got, err)
	}

	// A pipeline that was built but never runs, as the CLI uses it.
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	h.open()
	if err := h.p.ReplayDead(context.Background(), d.ID); err == nil || !strings.Contains(err.Error(), "channel_not_found") {
		t.Fatalf("replay while still broken = %v, want the notifier's error", err)
	}
	again, err := h.p.GetDead(d.ID)
	if err != nil || again.Attempts != 2 {
		t.Fatalf("dead letter after failed replay = %+v, %v", again, err)
	}
	h.slack.setFail(nil)
	if err := h.p.ReplayDead(context.Background(), d.ID); err != nil {
		t.Fatalf("replay after fix: %v", err)
	}
	if _, err := h.p.GetDead(d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("dead letter still there after replay: %v", err)
	}
	if err := h.p.ReplayDead(context.Background(), d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replay of a missing id = %v, want ErrNotFound", err)
	}
	if err := h.p.DropDead("no-such-id"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("drop of a bad id = %v, want ErrNotFound", err)
	}
}

func TestDeadLetterReasons(t *testing.T) {
	transient := func(int, *notification.Notification) error { return errors.New("connection reset") }
	tests := []struct {
		name     string
		cfg      func(*Config)
		fail     func(int, *notification.Notification) error
		rules    string
		reason   string
		attempts int
	}{
		{name: "attempts exhausted", cfg: func(c *Config) { c.MaxAttempts = 3 }, fail: transient,
			rules: testRules, reason: DeadAttempts, attempts: 3},
		// MaxAge is below any backoff (at least 1ns): with 10ms, a backoff
		// drawn under 10ms minus the first attempt's delay retried once,
		// legitimately, and the test failed now and then.
		{name: "too old", cfg: func(c *Config) {
			c.BackoffBase, c.BackoffMax, c.MaxAge = 200*time.Millisecond, 200*time.Millisecond, time.Nanosecond
		}, fail: transient, rules: testRules, reason: DeadMaxAge, attempts: 1},
		{name: "auth", fail: func(int, *notification.Notification) error {
			return &notifiers.Error{Notifier: "slack", Reason: notifiers.ReasonAuth, Err: errors.New("invalid_auth")}
		}, rules: testRules, reason: "auth", attempts: 1},
		{name: "notifier missing", rules: strings.Replace(testRules, `slack: {channel: "#ops"}`, `jira: {project: OPS}`, 1),
			reason: DeadNoNotifier, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fastConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := newHarness(t, cfg, tt.rules)
			h.slack.setFail(tt.fail)
			h.accept(failed("e1"))
			h.run()
			h.waitFor("a dead letter", func() bool { return h.p.Stats().Dead == 1 })
			dl, _ := h.p.ListDead()
			if dl[0].Reason != tt.reason || dl[0].Attempts != tt.attempts || dl[0].LastError == "" {
				t.Errorf("dead letter: reason %q attempts %d error %q; want %q, %d", dl[0].Reason,
					dl[0].Attempts, dl[0].LastError, tt.reason, tt.attempts)
			}
			if s := h.p.Stats(); s.Outbox != 0 {
				t.Errorf("outbox = %d after dead letter", s.Outbox)
			}
		})
	}
}

func TestSameDeliveryThreeTimesNotifiesOnce(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.run()
	for range 3 {
		h.accept(failed("e1"), status("e2", "delivered"))
		h.idle()
	}
	if n := h.slack.count(); n != 1 {
		t.Fatalf("%d notifications, want 1", n)
	}
	// The counter moves just after the commit that empties the inbox.
	h.waitFor("two duplicates counted", func() bool { return h.counter("wabridge_duplicates_suppressed_total") == 2 })
	c, _ := h.st.Counts(bg)
	if c.Dedup != 1 {
		t.Errorf("%d dedup records, want 1 (the unmatched event keeps none)", c.Dedup)
	}
}

func TestConcurrentDuplicatesNotifyOnce(t *testing.T) {
	cfg := fastConfig()
	cfg.Workers = 8
	h := newHarness(t, cfg, testRules)
	h.run()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); h.accept(failed("same")) }()
	}
	wg.Wait()
	h.idle()
	if n := h.slack.count(); n != 1 {
		t.Fatalf("%d notifications for 20 concurrent copies, want 1", n)
	}
}

func TestInboxSurvivesRestart(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.accept(failed("e1"))
	h.accept(failed("e2"))
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	h.open()
	if s := h.p.Stats(); s.Inbox != 2 {
		t.Fatalf("inbox after reopen = %d, want 2", s.Inbox)
	}
	h.run()
	h.idle()
	calls := h.slack.snapshot()
	if len(calls) != 2 {
		t.Fatalf("%d notifications, want 2", len(calls))
	}
}

func TestOutboxSurvivesRestart(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.accept(failed("e1"))
	// Process without sending, as if the process died right after.
	in, err := pendingInbox(h.st, 0)
	if err != nil || len(in) != 1 {
		t.Fatalf("inbox %+v, %v", in, err)
	}
	if err := h.p.process(in[0]); err != nil {
		t.Fatal(err)
	}
	if s := h.p.Stats(); s.Inbox != 0 || s.Outbox != 1 {
		t.Fatalf("stats %+v, want the entry moved to the outbox", s)
	}
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	h.open()
	h.run()
	h.idle()
	if n := h.slack.count(); n != 1 {
		t.Fatalf("%d notifications after restart, want 1", n)
	}
}

func TestOrderPerKeyParallelAcrossKeys(t *testing.T) {
	cfg := fastConfig()
	cfg.Senders = 4
	// Each incident queues an open, an update (the later failures
	// coalesce into one) and a resolve, on one key per incident.
	h := newHarness(t, cfg, testRules+"    resolve_when: {statuses: [delivered]}\n")
	h.slack.delay = 15 * time.Millisecond
	// The first send of key A fails twice: A's later entries must wait.
	h.slack.setFail(func(n int, nt *notification.Notification) error {
		if nt.Event.ID == "a1" && n < 2 {
			return errors.New("timeout")
		}
		return nil
	})
	var evs []event.Event
	for i := 1; i <= 4; i++ {
		a, b := failed(fmt.Sprintf("a%d", i)), failed(fmt.Sprintf("b%d", i))
		b.PhoneNumberID = "PN2" // another incident, another key
		if i == 4 {
			a.Status, b.Status = "delivered", "delivered"
		}
		evs = append(evs, a, b)
	}
	h.accept(evs...)
	h.run()
	h.idle()
	order := map[string][]string{}
	lastID := map[string]string{}
	for _, c := range h.slack.snapshot() {
		if lastID[c.key] == c.id {
			continue // a retry
		}
		lastID[c.key] = c.id
		k := c.eventID[:1]
		order[k] = append(order[k], string(c.op))
	}
	if got := strings.Join(order["a"], ","); got != "open,update,resolve" {
		t.Errorf("key A sent in order %s", got)
	}
	if got := strings.Join(order["b"], ","); got != "open,update,resolve" {
		t.Errorf("key B sent in order %s", got)
	}
	if h.slack.maxKey != 1 {
		t.Errorf("%d concurrent sends for one key, want 1", h.slack.maxKey)
	}
	if h.slack.maxAll < 2 {
		t.Errorf("independent keys never sent in parallel")
	}
}

func TestBadDeliveriesAreRecordedNotRetried(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.run()
	for _, d := range []delivery.Delivery{
		{Source: "test", Body: []byte("not json")},
		{Source: "gone", Body: []byte("[]")},
	} {
		if err := h.p.Accept(context.Background(), d, nil); err != nil {
			t.Fatal(err)
		}
	}
	h.idle()
	// Counted once the batch committed, which may be just after the inbox
	// reads empty.
	h.waitFor("two failed deliveries counted", func() bool {
		return h.counter("wabridge_deliveries_processed_total", "result", "failed") >= 2
	})
	if n := h.slack.count(); n != 0 {
		t.Fatalf("%d notifications from bad deliveries", n)
	}
	if got := h.counter("wabridge_deliveries_processed_total", "result", "failed"); got != 2 {
		t.Errorf("failed deliveries = %v, want 2", got)
	}
	c, _ := h.st.Counts(bg)
	if c.Processed != 2 {
		t.Errorf("processed records = %d, want 2", c.Processed)
	}
}

func TestAcceptOnClosedStoreIsUnavailable(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	err := h.p.Accept(context.Background(), delivery.Delivery{Source: "test", Body: []byte("[]")}, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if err := h.p.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ready on a closed store = %v", err)
	}
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestSweeperExpiresDedupRecords(t *testing.T) {
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cfg := fastConfig()
	cfg.DedupWindow, cfg.Retention = time.Hour, 2*time.Hour
	h := newHarnessAt(t, cfg, testRules, clk.now)
	in := func() {
		h.accept(failed("e1"))
		entries, _ := pendingInbox(h.st, 0)
		for _, e := range entries {
			if err := h.p.process(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	in()
	if c, _ := h.st.Counts(bg); c.Dedup != 1 || c.Processed != 1 {
		t.Fatalf("counts %+v", c)
	}
	clk.advance(30 * time.Minute)
	h.p.sweep()
	if c, _ := h.st.Counts(bg); c.Dedup != 1 {
		t.Fatalf("dedup record swept inside its window: %+v", c)
	}
	clk.advance(time.Hour)
	h.p.sweep()
	if c, _ := h.st.Counts(bg); c.Processed != 1 {
		t.Fatalf("after the dedup window: %+v", c)
	}
	clk.advance(time.Hour)
	h.p.sweep()
	if c, _ := h.st.Counts(bg); c.Processed != 0 {
		t.Fatalf("after retention: %+v", c)
	}
	// Outside the window the same event is news again.
	in()
	if s := h.p.Stats(); s.Outbox != 2 {
		t.Fatalf("outbox = %d, want a second notification after the window", s.Outbox)
	}
	// Expired dedup records leave the store with the day they expired in.
	clk.advance(24 * time.Hour)
	h.p.sweep()
	if c, _ := h.st.Counts(bg); c.Dedup != 0 {
		t.Fatalf("dedup records after their day: %+v", c)
	}
}

func TestShutdownLetsInFlightSendFinish(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	h.slack.delay = 150 * time.Millisecond
	h.accept(failed("e1"))
	stop := h.run()
	h.waitFor("a send in flight", func() bool { return h.slack.count() == 1 })
	stop()
	if s := h.p.Stats(); s.Outbox != 0 {
		t.Fatalf("in-flight send not finished at shutdown: %+v", s)
	}
}

func TestShutdownTimeoutKeepsEntry(t *testing.T) {
	cfg := fastConfig()
	cfg.ShutdownTimeout = 50 * time.Millisecond
	h := newHarness(t, cfg, testRules)
	h.slack.delay = time.Hour
	h.accept(failed("e1"))
	stop := h.run()
	h.waitFor("a send in flight", func() bool { return h.slack.count() == 1 })
	start := time.Now()
	stop()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("shutdown took %v with a 50ms timeout", d)
	}
	out, _ := h.st.Outbox(bg)
	if len(out) != 1 || out[0].Attempts != 0 {
		t.Fatalf("outbox after cut-off send = %+v, want the entry kept with no attempt counted", out)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.Workers != DefaultWorkers || c.MaxAttempts != 12 || c.DedupWindow <= 7*24*time.Hour ||
		c.BackoffBase != time.Second || c.BackoffMax != 5*time.Minute || c.ShutdownTimeout != 15*time.Second {
		t.Fatalf("defaults %+v", c)
	}
	c = Config{BackoffBase: time.Minute, BackoffMax: time.Second}.WithDefaults()
	if c.BackoffMax < c.BackoffBase {
		t.Errorf("backoff max %v below base %v", c.BackoffMax, c.BackoffBase)
	}
}

func TestBackoffBounds(t *testing.T) {
	p := &Pipeline{cfg: Config{BackoffBase: time.Second, BackoffMax: 5 * time.Minute}.WithDefaults()}
	for attempt := 1; attempt <= 40; attempt++ {
		limit := min(time.Second<<min(attempt-1, 30), 5*time.Minute)
		for range 50 {
			if d := p.backoff(attempt); d <= 0 || d > limit+1 {
				t.Fatalf("backoff(%d) = %v, want in (0, %v]", attempt, d, limit)
			}
		}
	}
}
