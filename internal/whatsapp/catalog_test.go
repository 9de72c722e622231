package whatsapp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wabridge/wabridge/internal/catalog"
)

// TestCatalogueGuidance checks that the statuses, states and fields this
// package produces find the catalogue's guidance meant for them: a display
// name rejection must not get the account review's advice.
func TestCatalogueGuidance(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("catalogue: %v", err)
	}
	tests := []struct {
		file, key string
	}{
		{"account_update_ban_disable", "account_update/disabled_update/disable"},
		{"account_update_ban_reinstate", "account_update/disabled_update/reinstate"},
		{"account_update_violation", "account_update/account_violation"},
		{"account_update_restriction", "account_update/account_restriction"},
		{"account_update_partner_removed", "account_update/partner_removed"},
		{"account_review_update", "account_review_update/rejected"},
		{"phone_number_name_update", "phone_number_name_update/rejected"},
		{"account_alerts", "account_alert/increased_capabilities_eligibility_deferred"},
		{"security", "account_alert/pin_reset_request"},
		{"quality_downgrade", "quality_update/downgrade"},
		{"quality_flagged", "quality_update/flagged"},
		{"template_rejected", "template_status/rejected"},
		{"template_paused", "template_status/paused"},
		{"template_disabled", "template_status/disabled"},
		{"template_quality_red_misfiled", "template_status/red"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			events, err := Parse("meta", body, received)
			if err != nil {
				t.Fatal(err)
			}
			ent, ok := cat.ForEvent(&events[0])
			if !ok {
				t.Fatalf("no catalogue entry for kind=%s status=%q state=%q field=%q, want %s",
					events[0].Kind, events[0].Status, events[0].Attr(AttrState), events[0].Attr(AttrField), tt.key)
			}
			if ent.Key != tt.key {
				t.Errorf("entry %q, want %q", ent.Key, tt.key)
			}
		})
	}
}
