package pipeline

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/rules"
)

// incidentHarness processes the inbox by hand at a test clock's time and
// looks at the outbox, without senders.
type incidentHarness struct {
	*harness
	clk *clock

	mu        sync.Mutex
	decisions []Decision
}

func newIncidentHarness(t *testing.T, ruleYAML string) *incidentHarness {
	t.Helper()
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixNano())
	ih := &incidentHarness{clk: clk}
	ih.harness = newHarnessAt(t, fastConfig(), ruleYAML, clk.now)
	ih.hook()
	return ih
}

func (h *incidentHarness) hook() {
	h.p.decided = func(ds []Decision) {
		h.mu.Lock()
		h.decisions = append(h.decisions, ds...)
		h.mu.Unlock()
	}
}

// reopen simulates a restart: a new store handle and pipeline on the file.
func (h *incidentHarness) reopen() {
	h.t.Helper()
	if err := h.p.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
	h.hook()
}

// send accepts the events as one delivery and processes the inbox.
func (h *incidentHarness) send(evs ...event.Event) {
	h.t.Helper()
	h.accept(evs...)
	in, err := pendingInbox(h.st, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.p.commitFirst(in); err != nil {
		h.t.Fatal(err)
	}
}

func (h *incidentHarness) tick() {
	h.t.Helper()
	if err := h.p.Tick(); err != nil {
		h.t.Fatal(err)
	}
}

// ops lists the outbox as "notifier:op" in creation order.
func (h *incidentHarness) ops() []string {
	h.t.Helper()
	out, err := h.st.Outbox(bg)
	if err != nil {
		h.t.Fatal(err)
	}
	var s []string
	for _, e := range out {
		s = append(s, e.Notification.Action.Notifier+":"+string(e.Notification.Op))
	}
	return s
}

func (h *incidentHarness) outbox() []outbox.Entry {
	out, err := h.st.Outbox(bg)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// sendAll marks every outbox entry sent, as the senders would.
func (h *incidentHarness) sendAll() {
	sentAll(h.t, h.st)
}

func (h *incidentHarness) outcomes() map[Outcome]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[Outcome]int{}
	for _, d := range h.decisions {
		m[d.Outcome]++
	}
	return m
}

func (h *incidentHarness) incident(ev event.Event, rule string) incident.Incident {
	h.t.Helper()
	fp := fpOf(h.harness, rule, ev)
	inc, err := h.st.GetIncident(bg, fp)
	if err != nil {
		h.t.Fatalf("incident of %s: %v", ev.ID, err)
	}
	return inc
}

func fpOf(h *harness, rule string, ev event.Event) string {
	return fingerprintOf(h.rt, rule, &ev)
}

func spam(id, phone string) event.Event {
	return event.Event{ID: id, Kind: event.KindStatus, Status: "failed", Code: 131048,
		PhoneNumberID: phone, WABAID: "W1", RecipientID: "16505551234"}
}

func many(n int, prefix, phone string) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = spam(fmt.Sprintf("%s%d", prefix, i), phone)
	}
	return evs
}

const spamRules = `
rules:
  - name: spam
    match: {codes: [131048]}
    group_by: [code, phone_number_id]
    repeat_interval: 1h
    actions:
      - slack: {channel: "#ops"}
      - jira: {project: OPS}
`

func TestIncidentCoalescesUpdates(t *testing.T) {
	h := newIncidentHarness(t, spamRules)
	h.send(many(50, "a", "PN1")...)
	if got := strings.Join(h.ops(), ","); got != "slack:open,jira:open,slack:update" {
		t.Fatalf("outbox after 50 events = %s, want one open per action and one waiting Slack update", got)
	}
	h.send(many(10, "b", "PN1")...)
	if n := len(h.outbox()); n != 3 {
		t.Fatalf("outbox = %d entries: an update was added while one was waiting", n)
	}
	inc := h.incident(spam("x", "PN1"), "spam")
	if inc.Status != incident.Open || inc.Count != 60 || inc.NewSince != 59 {
		t.Fatalf("incident = status %s count %d new %d, want open, 60, 59", inc.Status, inc.Count, inc.NewSince)
	}
	// The waiting update is sent with the counts of send time.
	var upd outbox.Entry
	for _, e := range h.outbox() {
		if e.Notification.Op == notification.OpUpdate {
			upd = e
		}
	}
	h.p.fillIncident(bg, &upd)
	if upd.Notification.Incident.Count != 60 {
		t.Errorf("update filled at send time shows count %d, want 60", upd.Notification.Incident.Count)
	}
	// Once it left the outbox, the next event queues a new one.
	h.sendAll()
	h.send(spam("c1", "PN1"))
	if got := strings.Join(h.ops(), ","); got != "slack:update" {
		t.Fatalf("after the update was sent, a new event queued %s, want one slack update (none for jira)", got)
	}
	if o := h.outcomes(); o[OutcomeOpened] != 1 || o[OutcomeJoined] != 60 {
		t.Errorf("outcomes = %v, want 1 opened and 60 joined", o)
	}
	if got := h.counter("wabridge_rule_decisions_total", "rule", "spam", "outcome", "joined"); got != 60 {
		t.Errorf("wabridge_rule_decisions_total{joined} = %v, want 60", got)
	}
}

func TestIncidentTwoNumbersTwoIncidents(t *testing.T) {
	h := newIncidentHarness(t, spamRules)
	h.send(append(many(5, "a", "PN1"), many(5, "b", "PN2")...)...)
	opens := 0
	for _, op := range h.ops() {
		if op == "slack:open" {
			opens++
		}
	}
	if opens != 2 {
		t.Fatalf("%d Slack opens for two numbers, want 2: %v", opens, h.ops())
	}
}

func TestRepeatAtMostOncePerInterval(t *testing.T) {
	h := newIncidentHarness(t, spamRules)
	h.send(spam("e0", "PN1")) // open at 10:00
	h.sendAll()
	steps := []struct {
		after   time.Duration
		repeats int // repeat entries (slack + jira) this event queues
	}{
		{10 * time.Minute, 0},
		{20 * time.Minute, 0},
		{31 * time.Minute, 2}, // 61 minutes after the open
		{5 * time.Minute, 0},
		{50 * time.Minute, 0},
		{6 * time.Minute, 2},
	}
	for i, s := range steps {
		h.clk.advance(s.after)
		h.send(spam(fmt.Sprintf("e%d", i+1), "PN1"))
		repeats := 0
		for _, e := range h.outbox() {
			if e.Notification.Op == notification.OpRepeat {
				repeats++
				if i == 2 && (e.Notification.Incident.NewSince != 3 || !e.Notification.Incident.SinceTime.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))) {
					t.Errorf("first repeat says %d since %s, want 3 since 10:00", e.Notification.Incident.NewSince, e.Notification.Incident.SinceTime)
				}
			}
		}
		if repeats != s.repeats {
			t.Errorf("step %d: %d repeat entries, want %d", i, repeats, s.repeats)
		}
		h.sendAll()
	}
}

func TestThresholdFiresAtTheCountNotBefore(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: bursts
    match: {codes: [131048]}
    threshold: {count: 20, within: 10m}
    actions:
      - slack: {channel: "#ops"}
`)
	for i := range 19 {
		h.clk.advance(10 * time.Second)
		h.send(spam(fmt.Sprintf("a%d", i), "PN1"))
	}
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("19 events queued %d notifications below a threshold of 20", n)
	}
	if o := h.outcomes(); o[OutcomeBelowThreshold] != 19 {
		t.Errorf("outcomes = %v, want 19 below_threshold", o)
	}
	h.send(spam("a19", "PN1"))
	if got := strings.Join(h.ops(), ","); got != "slack:open" {
		t.Fatalf("20th event queued %s, want slack:open", got)
	}
	if inc := h.incident(spam("x", "PN1"), "bursts"); inc.Count != 20 || len(inc.Window) != 0 {
		t.Errorf("incident count %d window %d, want 20 and an emptied window", inc.Count, len(inc.Window))
	}

	// Spread out, the window slides: 30 events a minute apart never have
	// 20 within 10 minutes; the stored window stays bounded.
	for i := range 30 {
		h.clk.advance(time.Minute)
		h.send(spam(fmt.Sprintf("b%d", i), "PN9"))
		if inc := h.incident(spam("x", "PN9"), "bursts"); len(inc.Window) > 20 {
			t.Fatalf("window holds %d times, more than the count", len(inc.Window))
		}
	}
	if got := strings.Join(h.ops(), ","); got != "slack:open" {
		t.Fatalf("a slow trickle opened an incident: %s", got)
	}
	// A quiet window is forgotten by the timer.
	h.clk.advance(11 * time.Minute)
	h.tick()
	if _, err := h.st.GetIncident(bg, fpOf(h.harness, "bursts", spam("x", "PN9"))); err == nil {
		t.Error("expired threshold window is still stored")
	}
}

func TestSilencesMatchAndExpire(t *testing.T) {
	h := newIncidentHarness(t, spamRules)
	m1, err := silence.ParseMatcher("code=131048")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := silence.ParseMatcher("phone_number_id=~PN[12]")
	if err != nil {
		t.Fatal(err)
	}
	sil, err := silence.New([]silence.Matcher{m1, m2}, h.clk.now(), 2*time.Hour, "maintenance", "ops")
	if err != nil {
		t.Fatal(err)
	}
	sil, err = h.p.AddSilence(sil)
	if err != nil {
		t.Fatal(err)
	}
	h.send(spam("a", "PN1"), spam("b", "PN2"))
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("silenced events queued %d notifications", n)
	}
	h.send(spam("c", "PN3")) // the regex does not match PN3
	if n := len(h.outbox()); n != 2 {
		t.Fatalf("an event outside the silence queued %d notifications, want 2", n)
	}
	if o := h.outcomes(); o[OutcomeSilenced] != 2 {
		t.Errorf("outcomes = %v, want 2 silenced", o)
	}
	// After it ends (by time), events notify again.
	h.clk.advance(2*time.Hour + time.Second)
	h.send(spam("d", "PN1"))
	if o := h.outcomes(); o[OutcomeSilenced] != 2 || o[OutcomeOpened] != 2 {
		t.Errorf("after expiry outcomes = %v, want the PN1 incident opened", o)
	}
	// Expiring by hand ends one at once.
	sil2, err := silence.New([]silence.Matcher{{Name: "phone_number_id", Value: "PN7"}}, h.clk.now(), time.Hour, "PN7 moves", "ops")
	if err != nil {
		t.Fatal(err)
	}
	sil2, _ = h.p.AddSilence(sil2)
	h.send(spam("e", "PN7"))
	if _, err := h.p.ExpireSilence(sil2.ID); err != nil {
		t.Fatal(err)
	}
	h.send(spam("f", "PN7"))
	if o := h.outcomes(); o[OutcomeSilenced] != 3 || o[OutcomeOpened] != 3 {
		t.Errorf("after expire outcomes = %v", o)
	}
	list, err := h.p.ListSilences()
	if err != nil || len(list) != 2 || list[0].ID != sil.ID || list[1].Active(h.clk.now()) {
		t.Errorf("silences = %+v, %v", list, err)
	}
	if _, err := h.p.ExpireSilence("99"); err == nil {
		t.Error("expiring a missing silence succeeded")
	}
}

func TestSilenceBadInput(t *testing.T) {
	for _, in := range []string{"", "code", "=131048", "code=~([", "bad key=1", "phone_number=1555", "attributes.=x"} {
		if _, err := silence.ParseMatcher(in); err == nil {
			t.Errorf("ParseMatcher(%q) accepted", in)
		}
	}
	if _, err := silence.ParseMatcher("attributes.template_name=promo"); err != nil {
		t.Errorf("an attribute matcher was refused: %v", err)
	}
	now := time.Now()
	m := []silence.Matcher{{Name: "code", Value: "131048"}}
	tests := []struct {
		name string
		ms   []silence.Matcher
		d    time.Duration
	}{
		{"no matchers", nil, time.Hour},
		{"zero duration", m, 0},
		{"negative", m, -time.Hour},
		{"too long", m, silence.MaxSilence + time.Hour},
		{"bad regex", []silence.Matcher{{Name: "code", Value: "~("}}, time.Hour},
	}
	for _, tt := range tests {
		if _, err := silence.New(tt.ms, now, tt.d, "why", "ops"); err == nil {
			t.Errorf("%s: silence.New accepted", tt.name)
		}
	}
}

const banRules = `
rules:
  - name: banned
    match:
      kinds: [account_update]
      statuses: [disabled_update]
      attributes: {state: [disable]}
    resolve_when:
      kinds: [account_update]
      statuses: [disabled_update]
      attributes: {state: [reinstate]}
    group_by: [waba_id]
    actions:
      - slack: {channel: "#ops"}
  - name: failures
    match: {kinds: [status], statuses: [failed]}
    group_by: [code, phone_number_id]
    actions:
      - slack: {channel: "#ops"}
inhibit:
  - source_match:
      kinds: [account_update]
      attributes: {state: [disable]}
    target_match: {kinds: [status]}
    equal: [waba_id]
`

func ban(id, waba, state string) event.Event {
	return event.Event{ID: id, Kind: event.KindAccountUpdate, Status: "disabled_update", WABAID: waba,
		Attributes: map[string]string{"state": state}}
}

func failedIn(id, waba string) event.Event {
	e := failed(id)
	e.WABAID, e.PhoneNumberID = waba, "PN-"+waba
	return e
}

func TestInhibitionWhileSourceIsOpen(t *testing.T) {
	h := newIncidentHarness(t, banRules)
	h.send(ban("ban1", "W1", "disable"))
	h.sendAll()
	h.send(failedIn("f1", "W1"))
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("a failure of the banned account notified: %v", h.ops())
	}
	h.send(failedIn("f2", "W2"))
	if got := strings.Join(h.ops(), ","); got != "slack:open" {
		t.Fatalf("another account's failure queued %s, want slack:open", got)
	}
	h.sendAll()
	if o := h.outcomes(); o[OutcomeInhibited] != 1 {
		t.Errorf("outcomes = %v, want 1 inhibited", o)
	}
	// The inhibition survives a restart: the index is rebuilt from the store.
	h.reopen()
	h.send(failedIn("f3", "W1"))
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("after a restart a failure of the banned account notified: %v", h.ops())
	}
	// Reinstated: the ban resolves, and failures notify again.
	h.send(ban("re1", "W1", "reinstate"))
	if got := strings.Join(h.ops(), ","); got != "slack:resolve" {
		t.Fatalf("reinstate queued %s, want slack:resolve", got)
	}
	h.sendAll()
	h.send(failedIn("f4", "W1"))
	if got := strings.Join(h.ops(), ","); got != "slack:open" {
		t.Fatalf("after the ban resolved a failure queued %s, want slack:open", got)
	}
	if inc := h.incident(ban("x", "W1", "disable"), "banned"); inc.Status != incident.Resolved || inc.ResolvedAt.IsZero() {
		t.Errorf("ban incident = %+v", inc)
	}
}

func TestResolveWhenThenReopen(t *testing.T) {
	h := newIncidentHarness(t, banRules)
	h.send(ban("b1", "W1", "disable"))
	h.sendAll()
	// A reinstate of another account resolves nothing.
	h.send(ban("r0", "W2", "reinstate"))
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("reinstate of another account queued %v", h.ops())
	}
	h.send(ban("r1", "W1", "reinstate"))
	out := h.outbox()
	if len(out) != 1 || out[0].Notification.Op != notification.OpResolve || out[0].Notification.Incident.Status != "resolved" {
		t.Fatalf("outbox = %v", h.ops())
	}
	h.sendAll()
	// Banned again: a new incident, and its open carries the previous
	// reference at send time (Jira reopens or creates; Slack posts anew).
	h.send(ban("b2", "W1", "disable"))
	out = h.outbox()
	if len(out) != 1 || out[0].Notification.Op != notification.OpOpen {
		t.Fatalf("outbox = %v", h.ops())
	}
	e := out[0]
	h.p.fillIncident(bg, &e)
	if e.Notification.Incident.Ref == "" || e.Notification.Incident.Count != 1 {
		t.Errorf("reopen carries ref %q count %d", e.Notification.Incident.Ref, e.Notification.Incident.Count)
	}
}

func TestResolveAfterQuiet(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: spam
    match: {codes: [131048]}
    resolve_after: 1h
    actions:
      - slack: {channel: "#ops"}
`)
	h.send(spam("a", "PN1"))
	h.sendAll()
	h.clk.advance(40 * time.Minute)
	h.send(spam("b", "PN1")) // keeps it alive
	h.sendAll()
	h.clk.advance(40 * time.Minute)
	h.tick()
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("resolved 40 minutes after the last event: %v", h.ops())
	}
	h.clk.advance(21 * time.Minute)
	h.tick()
	if got := strings.Join(h.ops(), ","); got != "slack:resolve" {
		t.Fatalf("after an hour of quiet: %s, want slack:resolve", got)
	}
	h.sendAll()
	h.tick()
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("resolved twice: %v", h.ops())
	}
}

func TestGroupWaitCollapsesABurstAndSurvivesRestart(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: spam
    match: {codes: [131048]}
    group_wait: 30s
    actions:
      - slack: {channel: "#ops"}
`)
	for i := range 10 {
		h.clk.advance(time.Second)
		h.send(spam(fmt.Sprintf("a%d", i), "PN1"))
	}
	h.tick()
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("notified within group_wait: %v", h.ops())
	}
	h.reopen() // pending incidents survive a restart
	h.clk.advance(25 * time.Second)
	h.tick()
	out := h.outbox()
	if len(out) != 1 || out[0].Notification.Op != notification.OpOpen {
		t.Fatalf("after group_wait: %v, want one open", h.ops())
	}
	h.p.fillIncident(bg, &out[0])
	if c := out[0].Notification.Incident.Count; c != 10 {
		t.Errorf("open shows count %d, want the burst's 10", c)
	}
	if o := h.outcomes(); o[OutcomeOpened] != 1 {
		t.Errorf("outcomes = %v", o)
	}
}

func TestRestartKeepsOpenIncidents(t *testing.T) {
	h := newIncidentHarness(t, spamRules)
	h.send(spam("a", "PN1"))
	h.sendAll()
	h.reopen()
	h.send(spam("b", "PN1"))
	if got := strings.Join(h.ops(), ","); got != "slack:update" {
		t.Fatalf("after a restart the next event queued %s, want slack:update", got)
	}
	if inc := h.incident(spam("x", "PN1"), "spam"); inc.Count != 2 {
		t.Errorf("count after restart = %d, want 2", inc.Count)
	}
}

func TestMutedAndDuplicateDecisions(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: never
    match: {codes: [131048]}
    continue: true
    mute_time:
      - times: [{start: "00:00", end: "24:00"}]
    actions:
      - slack: {channel: "#ops"}
  - name: spam
    match: {codes: [131048]}
    actions:
      - slack: {channel: "#ops"}
`)
	h.send(spam("a", "PN1"))
	h.send(spam("a", "PN1"))
	if o := h.outcomes(); o[OutcomeMuted] != 1 || o[OutcomeOpened] != 1 || o[OutcomeDuplicate] != 2 {
		t.Errorf("outcomes = %v, want 1 muted, 1 opened, 2 duplicate (one per rule)", o)
	}
	if got := h.counter("wabridge_rule_decisions_total", "rule", "never", "outcome", "muted"); got != 1 {
		t.Errorf("muted counter = %v", got)
	}
}

func fingerprintOf(rt *Runtime, rule string, ev *event.Event) string {
	return rules.Fingerprint(rt.Rules.Rule(rule), ev)
}
