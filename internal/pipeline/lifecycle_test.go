package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/rules"
)

// notes lists the outbox as "notifier:op" with each entry's note.
func (h *incidentHarness) notes() []string {
	var out []string
	for _, e := range h.outbox() {
		out = append(out, e.Notification.Action.Notifier+":"+string(e.Notification.Op)+" "+e.Notification.Incident.Note)
	}
	return out
}

func (h *incidentHarness) openIncidents() []incident.Incident {
	h.t.Helper()
	list, err := h.p.ListIncidents(false)
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

func quality(id, display, status string) event.Event {
	return event.Event{ID: id, Kind: event.KindQuality, Status: status, DisplayPhoneNumber: display,
		WABAID: "W1", Severity: event.SeverityWarning}
}

func TestDefaultGroupingKeepsNumbersApart(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: quality
    match: {kinds: [quality_update]}
    actions:
      - slack: {channel: "#ops"}
`)
	h.send(quality("q1", "15550001111", "downgrade"), quality("q2", "15550002222", "downgrade"))
	if got := strings.Join(h.ops(), ","); got != "slack:open,slack:open" {
		t.Fatalf("two numbers' downgrades queued %s, want two opens", got)
	}
}

func TestDefaultResolveAfterAndNever(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: spam
    match: {codes: [131048]}
    actions:
      - slack: {channel: "#ops"}
  - name: kept
    match: {codes: [131031]}
    resolve_after: never
    actions:
      - slack: {channel: "#ops"}
`)
	blocked := spam("b1", "PN1")
	blocked.Code = 131031
	h.send(spam("a1", "PN1"), blocked)
	h.sendAll()
	h.clk.advance(rules.DefaultResolveAfter - time.Minute)
	h.tick()
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("resolved before the default resolve_after: %v", h.ops())
	}
	h.clk.advance(2 * time.Minute)
	h.tick()
	out := h.outbox()
	if len(out) != 1 || out[0].Notification.Op != notification.OpResolve || out[0].Notification.Rule.Name != "spam" ||
		!strings.Contains(out[0].Notification.Incident.Note, "1d without events") {
		t.Fatalf("after a day of quiet: %v, want one resolve of spam saying why", h.notes())
	}
	h.sendAll()
	h.clk.advance(30 * 24 * time.Hour)
	h.tick()
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("resolve_after: never resolved: %v", h.ops())
	}
	if open := h.openIncidents(); len(open) != 1 || open[0].Rule != "kept" {
		t.Fatalf("open incidents = %+v, want the never-resolving one", open)
	}
}

func TestManualResolveThenNewEventPagesAgain(t *testing.T) {
	h := newIncidentHarness(t, spamRules)
	h.send(spam("a1", "PN1"))
	h.sendAll()
	fp := fpOf(h.harness, "spam", spam("x", "PN1"))
	inc, n, err := h.p.ResolveIncident(fp)
	if err != nil || n != 2 || inc.Status != incident.Resolved {
		t.Fatalf("ResolveIncident = %+v, %d, %v", inc, n, err)
	}
	if got := strings.Join(h.notes(), ","); !strings.Contains(got, "slack:resolve Resolved by hand") || !strings.Contains(got, "jira:resolve") {
		t.Fatalf("outbox = %s, want a resolve per action saying a person did it", got)
	}
	h.sendAll()
	if _, _, err := h.p.ResolveIncident(fp); !errors.Is(err, ErrAlreadyResolved) {
		t.Errorf("second resolve: %v, want ErrAlreadyResolved", err)
	}
	if _, _, err := h.p.ResolveIncident("0123456789abcdef"); !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "no incident") {
		t.Errorf("unknown fingerprint: %v, want a not-found error naming it", err)
	}
	h.send(spam("a2", "PN1"))
	if got := strings.Join(h.ops(), ","); got != "slack:open,jira:open" {
		t.Fatalf("the next event after a manual resolve queued %s, want a new open", got)
	}
}

func TestIgnoreRuleOpensNoIncident(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: ignore-spam
    match: {codes: [131048]}
    actions: []
  - name: everything
    actions:
      - slack: {channel: "#ops"}
`)
	h.send(many(5, "a", "PN1")...)
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("an ignore rule notified: %v", h.ops())
	}
	if all, _ := h.p.ListIncidents(true); len(all) != 0 {
		t.Fatalf("an ignore rule stored incidents: %+v", all)
	}
	if o := h.outcomes(); o[OutcomeIgnored] != 5 {
		t.Errorf("outcomes = %v, want 5 ignored", o)
	}
}

func TestMaxOpenIncidentsOverflowsIntoOneIncident(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: per-message
    match: {codes: [131048]}
    group_by: [id]
    max_open_incidents: 2
    actions:
      - slack: {channel: "#ops"}
`)
	h.send(many(5, "m", "PN1")...)
	out := h.outbox()
	var opens []string
	for _, e := range out {
		if e.Notification.Op == notification.OpOpen {
			opens = append(opens, e.Notification.Incident.Note)
		}
	}
	if len(opens) != 3 || opens[0] != "" || opens[1] != "" || !strings.Contains(opens[2], "max_open_incidents") {
		t.Fatalf("opens = %q, want two incidents and the overflow one saying why", opens)
	}
	if open := h.openIncidents(); len(open) != 3 {
		t.Errorf("%d incidents open, want 3 (two and the overflow)", len(open))
	}
	over, err := h.st.GetIncident(bg, rules.OverflowFingerprint(h.rt.Rules.Rule("per-message")))
	if err != nil || over.Count != 3 || !over.Overflow {
		t.Errorf("overflow incident = %+v, %v; want the last 3 events", over, err)
	}
	if got := h.counter("wabridge_incidents_capped_total", "rule", "per-message"); got != 3 {
		t.Errorf("wabridge_incidents_capped_total = %v, want 3", got)
	}
	if got := h.counter("wabridge_incidents_open", "rule", "per-message"); got != 3 {
		t.Errorf("wabridge_incidents_open = %v, want 3", got)
	}
	// Once they resolve, the cap has room again and the gauge says so.
	h.sendAll()
	h.clk.advance(rules.DefaultResolveAfter + time.Minute)
	h.tick()
	if got := h.counter("wabridge_incidents_open", "rule", "per-message"); got != 0 {
		t.Errorf("wabridge_incidents_open after the resolves = %v, want 0", got)
	}
	h.sendAll()
	h.send(spam("again", "PN1"))
	if out := h.outbox(); len(out) != 1 || out[0].Notification.Incident.Note != "" {
		t.Errorf("after the resolves a new group queued %v, want its own open", h.notes())
	}
}

func banAt(id, state string, at time.Time) event.Event {
	e := ban(id, "W1", state)
	e.Timestamp, e.Severity = at, event.SeverityCritical
	return e
}

const banLifecycleRules = `
rules:
  - name: banned
    match:
      kinds: [account_update]
      statuses: [disabled_update]
      attributes: {state: [schedule_for_disable, disable]}
    resolve_when:
      kinds: [account_update]
      attributes: {state: [reinstate]}
    group_by: [waba_id]
    repeat_interval: 12h
    escalate: {priority: Highest}
    actions:
      - slack: {channel: "#ops"}
      - jira: {project: OPS, priority: High}
`

func TestEscalationNotifiesAtOnce(t *testing.T) {
	h := newIncidentHarness(t, banLifecycleRules)
	t0 := h.clk.now()
	h.send(banAt("s1", "schedule_for_disable", t0))
	h.sendAll()
	h.clk.advance(time.Minute)
	h.send(banAt("d1", "disable", t0.Add(time.Minute)))
	out := h.outbox()
	if got := strings.Join(h.ops(), ","); got != "slack:escalate,jira:escalate" {
		t.Fatalf("the ban after its schedule queued %s, want an escalation per action (within repeat_interval)", got)
	}
	n := out[1].Notification
	if !strings.Contains(n.Incident.Note, "schedule_for_disable → disable") || n.Event.Attr("state") != "disable" ||
		n.Action.EscalatePriority != "Highest" {
		t.Errorf("escalation = note %q, event state %q, priority %q", n.Incident.Note, n.Event.Attr("state"), n.Action.EscalatePriority)
	}
	h.sendAll()
	// The same state again is no escalation; a lesser one neither.
	h.send(banAt("d2", "disable", t0.Add(2*time.Minute)), banAt("s2", "schedule_for_disable", t0.Add(3*time.Minute)))
	if got := strings.Join(h.ops(), ","); got != "slack:update" {
		t.Errorf("same or lesser states queued %s, want one update", got)
	}
	if o := h.outcomes(); o[OutcomeEscalated] != 1 {
		t.Errorf("outcomes = %v, want 1 escalated", o)
	}
}

func TestRecoveryBeforeItsEventIsToldOnceAsResolved(t *testing.T) {
	h := newIncidentHarness(t, banLifecycleRules)
	t1 := h.clk.now().Add(-time.Hour)
	t2 := t1.Add(20 * time.Minute)
	h.send(banAt("r1", "reinstate", t2))
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("a reinstate with nothing open notified: %v", h.ops())
	}
	h.send(banAt("b1", "disable", t1))
	notes := h.notes()
	if len(notes) != 2 || !strings.HasPrefix(notes[0], "slack:open_resolved") || !strings.HasPrefix(notes[1], "jira:open_resolved") {
		t.Fatalf("the late ban queued %v, want one already-resolved notification per action", notes)
	}
	for _, want := range []string{"Already resolved", t1.UTC().Format(time.RFC3339), t2.UTC().Format(time.RFC3339), "reinstate"} {
		if !strings.Contains(notes[0], want) {
			t.Errorf("note %q lacks %q", notes[0], want)
		}
	}
	if open := h.openIncidents(); len(open) != 0 {
		t.Fatalf("open incidents after a late ban: %+v", open)
	}
	h.sendAll()
	// Another old copy is told no more; a ban after the reinstate is new.
	h.send(banAt("b0", "schedule_for_disable", t1.Add(-time.Minute)))
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("an older event after the told one notified: %v", h.ops())
	}
	h.send(banAt("b2", "disable", t2.Add(time.Minute)))
	if got := strings.Join(h.ops(), ","); got != "slack:open,jira:open" {
		t.Fatalf("a ban after the reinstate queued %s, want a new incident", got)
	}
	if o := h.outcomes(); o[OutcomeLate] != 2 {
		t.Errorf("outcomes = %v, want 2 late", o)
	}
}

func TestInOrderBanAndReinstateStillResolve(t *testing.T) {
	h := newIncidentHarness(t, banLifecycleRules)
	t1 := h.clk.now()
	h.send(banAt("b1", "disable", t1))
	h.sendAll()
	h.send(banAt("r1", "reinstate", t1.Add(time.Minute)))
	if got := strings.Join(h.ops(), ","); got != "slack:resolve,jira:resolve" {
		t.Fatalf("reinstate queued %s", got)
	}
	h.sendAll()
	// A late copy of a ban from before the reinstate is a state already over.
	h.send(banAt("b-late", "disable", t1.Add(30*time.Second)))
	if n := len(h.outbox()); n != 0 || len(h.openIncidents()) != 0 {
		t.Fatalf("a ban older than its reinstate notified %v or opened an incident", h.ops())
	}
}

const mutedRules = `
rules:
  - name: quiet-hours
    match: {codes: [131048]}
    group_by: [phone_number_id]
    mute_time:
      - times: [{start: "10:00", end: "11:00"}]
    resolve_when: {codes: [131026]}
    actions:
      - slack: {channel: "#ops"}
`

func TestMuteDefersAndTellsOnce(t *testing.T) {
	h := newIncidentHarness(t, mutedRules) // the clock is at 10:00
	h.send(many(3, "m", "PN1")...)
	h.clk.advance(10 * time.Minute)
	h.tick()
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("notified inside mute_time: %v", h.ops())
	}
	if o := h.outcomes(); o[OutcomeMuted] != 3 {
		t.Errorf("outcomes = %v, want 3 muted", o)
	}
	h.reopen() // what was held survives a restart
	h.clk.advance(51 * time.Minute)
	h.tick()
	notes := h.notes()
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "slack:open ") || !strings.Contains(notes[0], "3 events arrived") {
		t.Fatalf("when the mute ended: %v, want one open telling the 3 held events", notes)
	}
	h.sendAll()
	h.tick()
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("told twice: %v", h.ops())
	}
}

func TestMuteOpenedAndResolvedInsideIsToldAsResolved(t *testing.T) {
	h := newIncidentHarness(t, mutedRules)
	h.send(spam("m1", "PN1"))
	h.clk.advance(time.Minute)
	recovered := spam("ok1", "PN1")
	recovered.Code = 131026
	h.send(recovered)
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("notified inside mute_time: %v", h.ops())
	}
	h.clk.advance(time.Hour)
	h.tick()
	notes := h.notes()
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "slack:open_resolved") || !strings.Contains(notes[0], "it was resolved") {
		t.Fatalf("when the mute ended: %v, want one already-resolved notification", notes)
	}
	if open := h.openIncidents(); len(open) != 0 {
		t.Fatalf("open incidents: %+v", open)
	}
}

func TestMuteOverAnOpenIncidentTellsWhatHappened(t *testing.T) {
	h := newIncidentHarness(t, strings.Replace(mutedRules, `"10:00", end: "11:00"`, `"10:30", end: "11:00"`, 1))
	h.send(spam("a0", "PN1"))
	h.sendAll()
	h.clk.advance(40 * time.Minute) // 10:40, muted
	for i := range 4 {
		h.send(spam(fmt.Sprintf("m%d", i), "PN1"))
	}
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("notified inside mute_time: %v", h.ops())
	}
	h.clk.advance(25 * time.Minute)
	h.tick()
	notes := h.notes()
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "slack:repeat") || !strings.Contains(notes[0], "4 events arrived") {
		t.Fatalf("when the mute ended: %v, want one repeat telling the 4 held events", notes)
	}
}

func TestLateEventDuringMuteIsToldOnceWhenItEnds(t *testing.T) {
	h := newIncidentHarness(t, mutedRules)
	t1 := h.clk.now().Add(-10 * time.Minute)
	recovered := spam("ok1", "PN1")
	recovered.Code, recovered.Timestamp = 131026, t1.Add(5*time.Minute)
	h.send(recovered)
	late := spam("m1", "PN1")
	late.Timestamp = t1
	h.send(late)
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("notified inside mute_time: %v", h.ops())
	}
	h.clk.advance(time.Hour)
	h.tick()
	notes := h.notes()
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "slack:open_resolved") ||
		!strings.Contains(notes[0], "Already resolved") || !strings.Contains(notes[0], "muted") {
		t.Fatalf("when the mute ended: %v, want one already-resolved notification telling both", notes)
	}
	if open := h.openIncidents(); len(open) != 0 {
		t.Fatalf("open incidents: %+v", open)
	}
}
