package whatsapp

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the parser's output")

// received is the delivery time every golden test uses, so events without a
// timestamp of their own are stable.
var received = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixtures returns the payload files of testdata (not the goldens).
func fixtures(t testing.TB) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range all {
		if !strings.HasSuffix(f, ".golden.json") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, path := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			events, err := Parse("meta", body, received)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := json.MarshalIndent(events, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(path, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("events differ from %s (rerun with -update after checking the change):\n%s", golden, got)
			}
		})
	}
}

// TestFixtureFacts states, independently of the goldens, what each payload
// must become, so a blessed golden cannot hide a wrong mapping.
func TestFixtureFacts(t *testing.T) {
	type fact struct {
		kind     event.Kind
		status   string
		code     int
		severity event.Severity
		attrs    map[string]string
	}
	tests := []struct {
		file  string
		facts []fact
	}{
		{"status_failed_131026", []fact{{event.KindStatus, "failed", 131026, event.SeverityWarning, nil}}},
		{"status_failed_131031", []fact{{event.KindStatus, "failed", 131031, event.SeverityWarning, nil}}},
		{"status_failed_username", []fact{{event.KindStatus, "failed", 131026, event.SeverityWarning, map[string]string{"parent_user_id": "US.ENT.11815799212886844830"}}}},
		{"message_username", []fact{{event.KindMessage, "received", 0, event.SeverityInfo, map[string]string{"message_type": "text", "username": "@sheena.nelson", "contact_name": "Sheena Nelson"}}}},
		{"message_username_and_phone", []fact{{event.KindMessage, "received", 0, event.SeverityInfo, map[string]string{"message_type": "button", "username": "@pablo", "contact_name": "Pablo Morales"}}}},
		{"status_failed_two_errors", []fact{
			{event.KindStatus, "failed", 131048, event.SeverityWarning, nil},
			{event.KindStatus, "failed", 131049, event.SeverityWarning, nil},
		}},
		{"status_lifecycle", []fact{
			{event.KindStatus, "sent", 0, event.SeverityInfo, map[string]string{"pricing_category": "marketing", "conversation_origin": "marketing", "biz_opaque_callback_data": "order-7781", "billable": "true"}},
			{event.KindStatus, "delivered", 0, event.SeverityInfo, map[string]string{"pricing_category": "utility", "pricing_model": "PMP"}},
			{event.KindStatus, "read", 0, event.SeverityInfo, nil},
			{event.KindStatus, "played", 0, event.SeverityInfo, nil},
			{event.KindStatus, "read", 0, event.SeverityInfo, map[string]string{"recipient_type": "group", "recipient_participant_id": "12035551212"}},
		}},
		{"value_errors_130429", []fact{{event.KindError, "error", 130429, event.SeverityWarning, nil}}},
		{"message_text", []fact{{event.KindMessage, "received", 0, event.SeverityInfo, map[string]string{"contact_name": "Sheena Nelson", "message_type": "text"}}}},
		{"message_unsupported", []fact{{event.KindMessage, "received", 131051, event.SeverityInfo, map[string]string{"unsupported_type": "edit", "message_type": "unsupported"}}}},
		{"message_unavailable_131060", []fact{{event.KindMessage, "received", 131060, event.SeverityInfo, map[string]string{"contact_name": "Pablo Morales"}}}},
		{"message_system_changed_number", []fact{{event.KindMessage, "received", 0, event.SeverityInfo, map[string]string{"state": "user_changed_number", "message_type": "system", "new_wa_id": "12195555358"}}}},
		{"account_update_ban_disable", []fact{{event.KindAccountUpdate, "disabled_update", 0, event.SeverityCritical, map[string]string{"ban_state": "DISABLE", "state": "disable", "ban_date": "April 17, 2025"}}}},
		{"account_update_ban_reinstate", []fact{{event.KindAccountUpdate, "disabled_update", 0, event.SeverityInfo, map[string]string{"ban_state": "REINSTATE", "state": "reinstate"}}}},
		{"account_update_violation", []fact{{event.KindAccountUpdate, "account_violation", 0, event.SeverityCritical, map[string]string{"violation_type": "ADULT", "state": "adult"}}}},
		{"account_update_restriction", []fact{{event.KindAccountUpdate, "account_restriction", 0, event.SeverityCritical, map[string]string{
			"restriction_types":      "RESTRICTED_BIZ_INITIATED_MESSAGING,RESTRICTED_ADD_PHONE_NUMBER_ACTION",
			"restriction_expiration": "2022-01-05T21:08:18Z"}}}},
		{"account_update_partner_removed", []fact{{event.KindAccountUpdate, "partner_removed", 0, event.SeverityCritical, map[string]string{"disconnection_reason": "PRIMARY_INACTIVITY", "initiated_by": "SYSTEM", "state": "primary_inactivity"}}}},
		{"account_update_volume_tier", []fact{{event.KindAccountUpdate, "volume_based_pricing_tier_update", 0, event.SeverityInfo, map[string]string{"tier": "25001:50000"}}}},
		{"account_alerts", []fact{{event.KindAccountAlert, "increased_capabilities_eligibility_deferred", 0, event.SeverityWarning, map[string]string{"entity_type": "BUSINESS", "alert_severity": "WARNING"}}}},
		{"account_review_update", []fact{{event.KindAccountAlert, "rejected", 0, event.SeverityCritical, map[string]string{"field": "account_review_update"}}}},
		{"security", []fact{{event.KindAccountAlert, "pin_reset_request", 0, event.SeverityWarning, map[string]string{"requester": "117295191407451"}}}},
		{"business_capability_update", []fact{{event.KindAccountAlert, "business_capability_update", 0, event.SeverityInfo, map[string]string{"max_daily_conversation_per_phone": "2000", "max_daily_conversations_per_business": "TIER_2K"}}}},
		{"user_preferences", []fact{
			{event.KindAccountAlert, "stop", 0, event.SeverityInfo, map[string]string{"category": "marketing_messages", "contact_name": "Sheena Nelson"}},
			{event.KindAccountAlert, "resume", 0, event.SeverityInfo, map[string]string{"contact_name": "Pablo Morales"}},
		}},
		{"phone_number_name_update", []fact{{event.KindAccountAlert, "rejected", 0, event.SeverityWarning, map[string]string{"rejection_reason": "NAME_FORMAT_UNACCEPTABLE", "requested_verified_name": "Lucky Shrub Plants"}}}},
		{"quality_throughput_upgrade", []fact{{event.KindQuality, "throughput_upgrade", 0, event.SeverityInfo, map[string]string{"current_limit": "TIER_UNLIMITED"}}}},
		{"quality_downgrade", []fact{{event.KindQuality, "downgrade", 0, event.SeverityWarning, map[string]string{"old_limit": "TIER_10K", "current_limit": "TIER_1K"}}}},
		{"quality_flagged", []fact{{event.KindQuality, "flagged", 0, event.SeverityWarning, map[string]string{"max_daily_conversations_per_business": "TIER_10K"}}}},
		{"template_rejected", []fact{{event.KindTemplate, "rejected", 0, event.SeverityTemplate, map[string]string{
			"template_id": "1689556908129835", "template_name": "abandoned_cart", "template_language": "en", "template_category": "MARKETING",
			"reason": "INVALID_FORMAT", "state": "invalid_format"}}}},
		{"template_paused", []fact{{event.KindTemplate, "paused", 0, event.SeverityTemplate, map[string]string{"pause_title": "FIRST_PAUSE", "state": "first_pause", "template_id": "806312974732579"}}}},
		{"template_disabled", []fact{{event.KindTemplate, "disabled", 0, event.SeverityTemplate, map[string]string{"disable_date": "2025-06-29T22:02:43Z"}}}},
		{"template_quality_red_misfiled", []fact{{event.KindTemplate, "red", 0, event.SeverityTemplate, map[string]string{"previous_quality": "GREEN", "new_quality": "RED", "state": "red"}}}},
		{"template_quality_yellow", []fact{{event.KindTemplate, "yellow", 0, event.SeverityWarning, map[string]string{"state": "yellow"}}}},
		{"template_category_impending", []fact{{event.KindTemplate, "category_update", 0, event.SeverityWarning, map[string]string{"new_category": "UTILITY", "correct_category": "MARKETING", "state": "impending"}}}},
		{"template_category_completed", []fact{{event.KindTemplate, "category_update", 0, event.SeverityInfo, map[string]string{"previous_category": "UTILITY", "state": "completed"}}}},
		{"template_components_update", []fact{{event.KindTemplate, "components_update", 0, event.SeverityInfo, map[string]string{"template_name": "abandoned_cart"}}}},
		{"unknown_field", []fact{{event.KindUnknown, "calls", 0, event.SeverityInfo, map[string]string{"field": "calls"}}}},
		{"batch_multi_entry", []fact{
			{event.KindQuality, "downgrade", 0, event.SeverityWarning, nil},
			{event.KindTemplate, "paused", 0, event.SeverityTemplate, map[string]string{"state": "second_pause"}},
			{event.KindStatus, "failed", 131047, event.SeverityWarning, nil},
		}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			events, err := Parse("meta", body, received)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != len(tt.facts) {
				t.Fatalf("got %d events, want %d: %+v", len(events), len(tt.facts), events)
			}
			for i, f := range tt.facts {
				e := events[i]
				if e.Kind != f.kind || e.Status != f.status || e.Code != f.code || e.Severity != f.severity {
					t.Errorf("event %d: got kind=%s status=%q code=%d severity=%s, want kind=%s status=%q code=%d severity=%s",
						i, e.Kind, e.Status, e.Code, e.Severity, f.kind, f.status, f.code, f.severity)
				}
				for k, v := range f.attrs {
					if got := e.Attr(k); got != v {
						t.Errorf("event %d: attribute %s = %q, want %q", i, k, got, v)
					}
				}
				if e.Source != "meta" || e.ID == "" || e.WABAID == "" || e.Timestamp.IsZero() {
					t.Errorf("event %d: source=%q id=%q waba_id=%q timestamp=%v: want all set", i, e.Source, e.ID, e.WABAID, e.Timestamp)
				}
				if e.Kind == event.KindUnknown && len(e.Raw) == 0 {
					t.Errorf("event %d: unknown event without raw value", i)
				}
			}
		})
	}
	for _, path := range fixtures(t) {
		if name := strings.TrimSuffix(filepath.Base(path), ".json"); !covered[name] {
			t.Errorf("fixture %s has no facts in TestFixtureFacts", name)
		}
	}
}
