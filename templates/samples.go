package templates

import (
	"encoding/json"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
)

// SampleEvents returns realistic events of every shape templates meet,
// including an unknown one and one with every field empty. Load executes
// each template against all of them; `wabridge check` and notify-test use
// them too. Each call returns fresh values the caller may change.
func SampleEvents() []event.Event {
	at := time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC)
	const (
		phoneID = "106540352242922"
		display = "15550783881"
		waba    = "102290129340398"
	)
	return []event.Event{
		{
			ID: "sample-failed-131031", Source: "meta", Kind: event.KindStatus, Status: "failed",
			Code: 131031, Title: "Business Account locked",
			Message:           "Business Account locked",
			Details:           "Message failed to send because your WhatsApp Business Account has been locked.",
			Severity:          event.SeverityCritical,
			RecommendedAction: "Review the account's status in WhatsApp Manager and the Policy Enforcement documentation.",
			PhoneNumberID:     phoneID, DisplayPhoneNumber: display, WABAID: waba,
			RecipientID: "16505551234",
			MessageID:   "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
			Timestamp:   at,
			Attributes:  map[string]string{"pricing_category": "marketing"},
		},
		{
			ID: "sample-failed-131048", Source: "meta", Kind: event.KindStatus, Status: "failed",
			Code: 131048, Title: "Spam rate limit hit",
			Message:           "Spam rate limit hit",
			Details:           "Message failed to send because there are restrictions on how many messages can be sent from this phone number. This may be because too many previous messages were blocked or flagged as spam.",
			Severity:          event.SeverityThrottle,
			RecommendedAction: "Check your quality status in WhatsApp Manager and see the Template Quality Rating documentation.",
			PhoneNumberID:     phoneID, DisplayPhoneNumber: display, WABAID: waba,
			RecipientID: "447700900123",
			MessageID:   "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSQjE3RkJGMjA0RDc4RTM0RjFBAA==",
			Timestamp:   at.Add(2 * time.Minute),
		},
		{
			ID: "sample-account-ban", Source: "meta", Kind: event.KindAccountUpdate, Status: "disabled_update",
			Title:    "WhatsApp Business Account disabled",
			Message:  "The WhatsApp Business Account was disabled for violating policy.",
			Severity: event.SeverityCritical,
			WABAID:   waba, PhoneNumberID: phoneID, DisplayPhoneNumber: display,
			Timestamp: at.Add(-3 * time.Hour),
			Attributes: map[string]string{
				"ban_state": "DISABLE", "state": "DISABLE", "ban_date": "2026-03-02",
			},
		},
		{
			ID: "sample-template-rejected", Source: "meta", Kind: event.KindTemplate, Status: "rejected",
			Title:    "Template rejected",
			Message:  "Template order_update (en_US) was rejected: INVALID_FORMAT.",
			Severity: event.SeverityTemplate,
			WABAID:   waba, Timestamp: at.Add(-25 * time.Minute),
			Attributes: map[string]string{
				"template_name": "order_update", "template_language": "en_US",
				"template_id": "1689556908129832", "reason": "INVALID_FORMAT",
			},
		},
		{
			ID: "sample-connection-logout", Source: "evolution", Kind: event.KindConnection, Status: "logout",
			Code: 401, Title: "WhatsApp session logged out",
			Message:       "The phone unlinked this device; scan a new QR code to reconnect.",
			Severity:      event.SeverityCritical,
			PhoneNumberID: "support-01", DisplayPhoneNumber: "5511987654321",
			Timestamp:  at.Add(-5 * time.Minute),
			Attributes: map[string]string{"reason": "logged_out", "instance": "support-01", "provider": "evolution"},
		},
		{
			ID: "sample-unknown", Source: "meta", Kind: event.KindUnknown,
			Severity:  event.SeverityInfo,
			Timestamp: at,
			Raw:       json.RawMessage(`{"field":"business_capability_update","value":{"max_daily_conversation_per_phone":1000}}`),
		},
		{}, // every field empty: templates must cope with what a broken adapter sends
	}
}

// sampleData is every sample paired with the variants templates must cope
// with: with and without an incident, with and without a catalogue entry,
// and with an action for each notifier.
func sampleData() []Data {
	first := time.Date(2026, 3, 2, 9, 40, 0, 0, time.UTC)
	incidents := []*notification.Incident{
		nil,
		{
			Fingerprint: "c0ffee1234abcd", Status: "open", Count: 313, NewSince: 312,
			FirstSeen: first, LastSeen: first.Add(24 * time.Minute), SinceTime: first,
			Ref: "C123/1700000000.000100",
		},
		{Status: "resolved"}, // times and counts unset
	}
	entries := []catalog.Entry{
		{},
		{
			Namespace: catalog.NamespaceMeta, Code: 131031, Title: "Business account locked",
			Description: "The WhatsApp Business Account has been restricted or disabled.",
			Reasons:     []string{"The account violated the WhatsApp Business Messaging policy."},
			Actions:     []string{"Review the account's status in WhatsApp Manager.", "Appeal through Business Support if you believe this is an error."},
			Severity:    event.SeverityCritical,
		},
	}
	// Actions as templates see them; a notifier's settings are whatever
	// its spec parses, so a template naming one reads zero here.
	actions := []notification.Action{
		{Notifier: "sample", Target: "#whatsapp-ops"},
		{Notifier: "sample", Target: "WAOPS", EscalatePriority: "Highest", Settings: []byte(`{"project":"WAOPS","labels":["whatsapp"]}`)},
		{Notifier: "log"},
	}
	var out []Data
	for _, ev := range SampleEvents() {
		for i, inc := range incidents {
			for j, ent := range entries {
				out = append(out, Data{
					Event:    ev,
					Rule:     notification.RuleRef{Name: "sample-rule", Description: "A sample rule"},
					Catalog:  ent,
					Incident: inc,
					Action:   actionData(actions[(i+j)%len(actions)]),
				})
			}
		}
	}
	// And nothing at all: no rule, no action, no event.
	return append(out, Data{})
}
