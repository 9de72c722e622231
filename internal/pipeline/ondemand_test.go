package pipeline

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
)

const onDemandRules = `
rules:
  - name: spam
    match: {codes: [131048]}
    group_by: [code, phone_number_id]
    repeat_interval: 1h
    actions:
      - slack: {channel: "#ops"}
      - jira: {project: OPS, on_demand: true}
  - name: plain
    match: {codes: [131031]}
    actions:
      - slack: {channel: "#ops"}
`

// TestOnDemandTicketOnlyWhenAsked: a jira action with on_demand: true is
// not sent with the incident's open; asked for, it is opened once and
// follows the incident (repeats, resolve); the next incident offers it
// again.
func TestOnDemandTicketOnlyWhenAsked(t *testing.T) {
	h := newIncidentHarness(t, onDemandRules)
	h.send(spam("e0", "PN1"))
	if got := strings.Join(h.ops(), ","); got != "slack:open" {
		t.Fatalf("the first event queued %s, want the Slack open alone", got)
	}
	if offer := h.outbox()[0].Notification.Incident.OnDemand; !slices.Equal(offer, []string{"jira"}) {
		t.Errorf("the open offers %v, want [jira]", offer)
	}
	h.sendAll()
	fp := fpOf(h.harness, "spam", spam("x", "PN1"))

	bob := incident.Ack{By: "@bob (U0BOB)", Via: "Slack"}
	_, n, err := h.p.OpenOnDemand(fp, bob)
	if err != nil || n != 2 {
		t.Fatalf("open on demand: %d queued, %v", n, err)
	}
	if got := strings.Join(h.ops(), ","); got != "jira:open,slack:note" {
		t.Fatalf("asking for the ticket queued %s, want the Jira open and a Slack note", got)
	}
	note := h.outbox()[1].Notification.Incident
	if !strings.Contains(note.Note, "Jira ticket asked for by @bob (U0BOB) from Slack") || len(note.OnDemand) != 0 {
		t.Errorf("note %q still offering %v", note.Note, note.OnDemand)
	}
	if _, _, err := h.p.OpenOnDemand(fp, incident.Ack{By: "ana"}); !errors.Is(err, incident.ErrAlreadyRequested) || !strings.Contains(err.Error(), "@bob") {
		t.Errorf("asking twice: %v, want it refused naming bob", err)
	}
	h.sendAll()
	if len(h.outbox()) != 0 {
		t.Fatalf("a refused request queued %v", h.ops())
	}
	h.reopen()

	// From now on the ticket follows the incident.
	h.clk.advance(2 * time.Hour)
	h.send(spam("e1", "PN1"))
	if got := strings.Join(h.ops(), ","); got != "slack:update,slack:repeat,jira:repeat" {
		t.Fatalf("a repeat after the ticket queued %s", got)
	}
	h.sendAll()
	if _, _, err := h.p.ResolveIncident(fp); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.ops(), ","); got != "slack:resolve,jira:resolve" {
		t.Fatalf("the resolve queued %s, want both", got)
	}
	h.sendAll()

	// A new incident: only Slack, and the offer again.
	h.send(spam("e2", "PN1"))
	if got := strings.Join(h.ops(), ","); got != "slack:open" {
		t.Fatalf("the next incident queued %s, want the Slack open alone", got)
	}
	if offer := h.outbox()[0].Notification.Incident.OnDemand; !slices.Equal(offer, []string{"jira"}) {
		t.Errorf("the next open offers %v, want [jira]", offer)
	}
	h.sendAll()
	if _, _, err := h.p.OpenOnDemand(fp, bob); err != nil {
		t.Errorf("asking for the new incident's ticket: %v", err)
	}

	// A rule without on-demand actions has nothing to ask for.
	h.send(spam("p0", "PN9"))
	plain := spam("p1", "PN9")
	plain.Code = 131031
	h.send(plain)
	if _, _, err := h.p.OpenOnDemand(fpOf(h.harness, "plain", plain), bob); !errors.Is(err, ErrNothingOnDemand) {
		t.Errorf("asking a rule without on-demand actions: %v, want ErrNothingOnDemand", err)
	}
	for _, e := range h.outbox() {
		if e.Notification.Op == notification.OpOpen && e.Notification.Action.Notifier == "jira" && e.Notification.Incident.Fingerprint != fp {
			t.Errorf("an on-demand ticket was opened unasked: %+v", e.Notification.Incident)
		}
	}
}
