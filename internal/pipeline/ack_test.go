package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/store"
)

// TestAcknowledgedIncidentHoldsRepeatsUntilEscalation follows an incident
// through its second and third events after an acknowledgement: a repeat
// that would be due is held, an escalation clears the acknowledgement and
// notifies, repeats resume, and after a resolve the next event pages afresh.
func TestAcknowledgedIncidentHoldsRepeatsUntilEscalation(t *testing.T) {
	h := newIncidentHarness(t, banLifecycleRules)
	t0 := h.clk.now()
	// A ban scheduled is an incident; the ban done is worse.
	const scheduled, banned = "schedule_for_disable", "disable"
	ev := func(id, state string) event.Event { return banAt(id, state, h.clk.now()) }
	h.send(ev("e0", scheduled))
	h.sendAll()
	fp := fpOf(h.harness, "banned", ev("x", scheduled))

	alice := incident.Ack{By: "@alice (U0ALICE)", Via: "slack"}
	inc, n, err := h.p.AcknowledgeIncident(fp, alice)
	if err != nil || n != 1 {
		t.Fatalf("acknowledge: %d queued, %v; want one Slack ack", n, err)
	}
	if inc.Ack == nil || inc.Ack.By != alice.By || !inc.Ack.At.Equal(h.clk.now()) {
		t.Fatalf("acknowledged incident %+v", inc.Ack)
	}
	out := h.outbox()
	if len(out) != 1 || out[0].Notification.Op != notification.OpAck ||
		!strings.Contains(out[0].Notification.Incident.Note, "Acknowledged by @alice (U0ALICE) from Slack at "+t0.Format(ackTime)+"") ||
		out[0].Notification.Incident.AckedBy != alice.By {
		t.Fatalf("acknowledgement queued %+v", out)
	}
	h.sendAll()
	// Stored, so a restart keeps it.
	h.reopen()
	if got := h.incident(ev("x", scheduled), "banned"); got.Ack == nil || got.Ack.By != alice.By {
		t.Fatalf("after a restart the incident's ack is %+v", got.Ack)
	}
	// Acknowledging again: the same person is no change; another is told who.
	if _, n, err := h.p.AcknowledgeIncident(fp, alice); err != nil || n != 0 {
		t.Errorf("the same acknowledgement again: %d queued, %v; want nothing and no error", n, err)
	}
	if _, _, err := h.p.AcknowledgeIncident(fp, incident.Ack{By: "bob"}); !errors.Is(err, incident.ErrAcknowledged) || !strings.Contains(err.Error(), "@alice") {
		t.Errorf("bob's acknowledgement: %v, want it refused naming alice", err)
	}
	if len(h.outbox()) != 0 {
		t.Fatalf("refused acknowledgements queued %v", h.ops())
	}

	// Second event, 13h later: a repeat (12h) would be due, and is held.
	h.clk.advance(13 * time.Hour)
	h.send(ev("e1", scheduled))
	for _, op := range h.ops() {
		if op != "slack:update" {
			t.Fatalf("an event joining an acknowledged incident queued %v, want the silent counter edit only", h.ops())
		}
	}
	if o := h.outcomes(); o[OutcomeAcknowledged] != 1 {
		t.Errorf("outcomes %v, want one acknowledged", o)
	}
	h.sendAll()

	// Third event is worse: the escalation notifies and clears the ack.
	h.send(ev("e2", banned))
	if got := strings.Join(h.ops(), ","); got != "slack:escalate,jira:escalate" {
		t.Fatalf("escalation after an acknowledgement queued %s, want an escalation per action", got)
	}
	note := h.outbox()[0].Notification.Incident
	if !strings.Contains(note.Note, "It had been acknowledged by @alice (U0ALICE)") || note.AckedBy != "" {
		t.Errorf("escalation note %q, acked by %q", note.Note, note.AckedBy)
	}
	if got := h.incident(ev("x", scheduled), "banned"); got.Ack != nil {
		t.Fatalf("escalation left the ack %+v", got.Ack)
	}
	h.sendAll()
	// Repeats resume.
	h.clk.advance(13 * time.Hour)
	h.send(ev("e3", banned))
	if got := strings.Join(h.ops(), ","); got != "slack:update,slack:repeat,jira:repeat" {
		t.Fatalf("after the escalation an event 13h later queued %s, want the repeats back", got)
	}
	h.sendAll()

	// Acknowledged again, resolved, and the next event pages afresh.
	if _, _, err := h.p.AcknowledgeIncident(fp, incident.Ack{By: "bob", Via: "cli"}); err != nil {
		t.Fatal(err)
	}
	h.sendAll()
	if _, _, err := h.p.ResolveIncident(fp); err != nil {
		t.Fatal(err)
	}
	h.sendAll()
	if _, _, err := h.p.AcknowledgeIncident(fp, alice); !errors.Is(err, ErrAlreadyResolved) {
		t.Errorf("acknowledging a resolved incident: %v, want ErrAlreadyResolved", err)
	}
	if _, _, err := h.p.AcknowledgeIncident("no-such-fp", alice); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("acknowledging an unknown incident: %v, want store.ErrNotFound", err)
	}
	h.send(ev("e4", scheduled))
	if got := strings.Join(h.ops(), ","); got != "slack:open,jira:open" {
		t.Fatalf("the first event after the resolve queued %s, want a fresh open", got)
	}
	if got := h.incident(ev("x", scheduled), "banned"); got.Ack != nil || got.Status != incident.Open {
		t.Errorf("the new incident: status %s, ack %+v; want open and nobody's", got.Status, got.Ack)
	}
	if n := h.outbox()[0].Notification.Incident; n.AckedBy != "" {
		t.Errorf("the fresh open shows acked by %q", n.AckedBy)
	}
}

// TestPendingIncidentCannotBeAcknowledged: nothing was sent yet.
func TestPendingIncidentCannotBeAcknowledged(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: bursts
    match: {codes: [131048]}
    threshold: {count: 5, within: 10m}
    actions:
      - slack: {channel: "#ops"}
`)
	h.send(spam("a", "PN1"))
	fp := fpOf(h.harness, "bursts", spam("x", "PN1"))
	if _, _, err := h.p.AcknowledgeIncident(fp, incident.Ack{By: "alice"}); !errors.Is(err, incident.ErrNotOpen) {
		t.Errorf("acknowledging a pending incident: %v, want incident.ErrNotOpen", err)
	}
}

// TestMuteReleaseOfAcknowledgedIncidentIsSilent: what a mute held back of
// an acknowledged incident, when it is only more of the same, is a repeat:
// held like any other. The same for an incident nobody acknowledged is told.
func TestMuteReleaseOfAcknowledgedIncidentIsSilent(t *testing.T) {
	h := newIncidentHarness(t, `
rules:
  - name: quiet-hours
    match: {codes: [131048]}
    group_by: [phone_number_id]
    mute_time:
      - times: [{start: "11:00", end: "12:00"}]
    actions:
      - slack: {channel: "#ops"}
`) // the clock is at 10:00
	h.send(spam("a0", "PN1"), spam("b0", "PN2"))
	h.sendAll()
	if _, _, err := h.p.AcknowledgeIncident(fpOf(h.harness, "quiet-hours", spam("x", "PN1")), incident.Ack{By: "ana"}); err != nil {
		t.Fatal(err)
	}
	h.sendAll()
	h.clk.advance(65 * time.Minute)
	h.send(many(3, "a", "PN1")...)
	h.send(many(3, "b", "PN2")...)
	if n := len(h.outbox()); n != 0 {
		t.Fatalf("notified inside mute_time: %v", h.ops())
	}
	h.clk.advance(time.Hour)
	h.tick()
	var told []string
	for _, e := range h.outbox() {
		told = append(told, e.Notification.Incident.Fingerprint+":"+string(e.Notification.Op))
	}
	want := fpOf(h.harness, "quiet-hours", spam("x", "PN2")) + ":repeat"
	if strings.Join(told, ",") != want {
		t.Errorf("when the mute ended: %v, want only the unacknowledged incident's repeat %s", told, want)
	}
}
