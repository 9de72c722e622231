package slack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
)

// TestNoEmptyFields: a field the event does not carry is left out, never
// shown as "Code —".
func TestNoEmptyFields(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification(notification.OpOpen)
	nt.Event = event.Event{ID: "e-1", Source: "evolution", Kind: event.KindConnection, Status: "close",
		Severity: event.SeverityCritical, Attributes: map[string]string{"instance": "acme-sales"}}
	nt.Catalog = catalog.Entry{Title: "WhatsApp session logged out", Actions: []string{"Scan the QR code again."}}
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	f.checkAccepted(t)
	b := blocksJSON(t, f.requests()[0])
	for _, bad := range []string{"—", "*Code*", "*WABA*", "*Recipient*", "*Time*", "*Phone number*"} {
		if strings.Contains(b, bad) {
			t.Errorf("blocks show %q for a value the event lacks:\n%s", bad, b)
		}
	}
	mustContain(t, "blocks", b, "*Instance*\\nacme-sales", "WhatsApp session logged out · instance acme-sales")
}

// TestTitleNamesTheThing: the header says which template and why, which
// number, the ban date, the old and new limit; a customer's number masked.
func TestTitleNamesTheThing(t *testing.T) {
	cases := []struct {
		name  string
		event event.Event
		want  []string
		never string
	}{
		{"template rejected", event.Event{Kind: event.KindTemplate, Status: "rejected", DisplayPhoneNumber: "15550783881",
			Attributes: map[string]string{"template_name": "order_update", "template_language": "en_US", "reason": "INCORRECT_CATEGORY"}},
			[]string{"on 15550783881", "template order_update (en_US): INCORRECT_CATEGORY"}, ""},
		{"ban with a date", event.Event{Kind: event.KindAccountUpdate, Status: "disabled", WABAID: "102290129340398",
			Attributes: map[string]string{"ban_state": "DISABLE", "ban_date": "2026-03-09"}},
			[]string{"on WABA 102290129340398", "ban date 2026-03-09"}, ""},
		{"limit raised", event.Event{Kind: event.KindAccountUpdate, Status: "upgrade", DisplayPhoneNumber: "15550783881",
			Attributes: map[string]string{"old_limit": "TIER_1K", "current_limit": "TIER_10K"}},
			[]string{"limit TIER_1K → TIER_10K"}, ""},
		{"recipient masked", event.Event{Kind: event.KindStatus, Status: "failed", Code: 131026, Severity: event.SeverityRecipient,
			DisplayPhoneNumber: "15550783881", RecipientID: "16505551234"},
			[]string{"(131026) on 15550783881", "to *******1234"}, "16505551234"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSlack(t)
			n, _ := newTokenNotifier(t, f)
			nt := testNotification(notification.OpOpen)
			nt.Event, nt.Catalog = tc.event, catalog.Entry{Title: "It happened", Actions: []string{"Act."}}
			if _, err := n.Notify(context.Background(), nt); err != nil {
				t.Fatal(err)
			}
			f.checkAccepted(t)
			r := f.requests()[0]
			mustContain(t, "fallback text", r.Form.Get("text"), tc.want...)
			if tc.never != "" && strings.Contains(r.Form.Get("text")+r.Form.Get("blocks"), tc.never) {
				t.Errorf("the customer's number is shown: %s", r.Form.Get("text"))
			}
		})
	}
}

func TestLinksAreShown(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification(notification.OpUpdate)
	nt.Catalog.DocsURL = "https://developers.facebook.com/docs/whatsapp/error-codes"
	nt.Catalog.RunbookURL = "https://wiki.example.com/runbooks/131031"
	nt.Incident.Links = map[string]string{"jira": "https://jira.example.com/browse/WAOPS-7", "slack": "https://x.slack.com/archives/C123/p1"}
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	f.checkAccepted(t)
	b := blocksJSON(t, f.requests()[0])
	mustContain(t, "blocks", b, "\\u003chttps://jira.example.com/browse/WAOPS-7|Jira ticket WAOPS-7\\u003e",
		"|Runbook\\u003e", "|Provider docs\\u003e")
	if strings.Contains(b, "x.slack.com") {
		t.Error("the message links to itself")
	}
}

// TestLinkOpRepliesWithTheTicket: once the incident's ticket exists, its
// link goes in the thread, once; without a message there is nothing to do.
func TestLinkOpRepliesWithTheTicket(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification(notification.OpLink)
	nt.Incident.Links = map[string]string{"jira": "https://jira.example.com/browse/WAOPS-7"}
	res, err := n.Notify(context.Background(), nt)
	if err != nil {
		t.Fatal(err)
	}
	f.checkAccepted(t)
	replies := f.Replies(existingTS)
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "<https://jira.example.com/browse/WAOPS-7|WAOPS-7>") {
		t.Fatalf("replies = %+v", replies)
	}
	if res.Ref != "C123/"+existingTS {
		t.Errorf("ref = %q", res.Ref)
	}
	nt.Incident.Ref = ""
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	if got := len(f.requests()); got != 1 {
		t.Errorf("a link without a message made %d calls, want none more", got-1)
	}
}

func TestRepeatNamesTheLatestEvent(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification(notification.OpRepeat)
	nt.Event.ID = "evt-latest-42"
	nt.Event.Timestamp = first.Add(89 * time.Minute)
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	f.checkAccepted(t)
	r := f.Replies(existingTS)
	if len(r) != 1 {
		t.Fatalf("%d replies", len(r))
	}
	mustContain(t, "reply", r[0].Text, "Latest: Business account locked (131031) on 15550783881", "10:29:00 UTC", "evt-latest-42")
}

func TestTestNotificationIsMarked(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification(notification.OpOpen)
	nt.Test = true
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	f.checkAccepted(t)
	r := f.requests()[0]
	if !strings.HasPrefix(r.Form.Get("text"), "[TEST] ") {
		t.Errorf("fallback text %q does not start with [TEST]", r.Form.Get("text"))
	}
	mustContain(t, "blocks", blocksJSON(t, r), ":rotating_light: [TEST] Business account locked", "not a real incident")
}
