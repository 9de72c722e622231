package sources

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
)

var presetFixtures = map[string][]string{
	"gupshup":              {"gupshup_failed.json", "gupshup_message.json"},
	"infobip":              {"infobip_dlr.json", "infobip_inbound.json", "infobip_seen.json"},
	"twilio-event-streams": {"twilio_es_failed.json"},
	"green-api":            {"green_api_status.json", "green_api_state.json"},
	"wati":                 {"wati_failed.json", "wati_message.json"},
	"ycloud":               {"ycloud_failed.json", "ycloud_inbound.json"},
}

func presetSource(t *testing.T, preset string, mapping Mapping) Source {
	t.Helper()
	s, err := New(Config{Name: "bsp", Type: TypeMapped, Preset: preset, Mapping: mapping,
		Auth: Auth{Type: AuthNone, Insecure: true}})
	if err != nil {
		t.Fatalf("preset %s: %v", preset, err)
	}
	return s
}

// Every shipped preset reads its own payloads, and answers another BSP's
// with a 400 that names the source, rather than making up events.
func TestPresetsRejectOtherProviders(t *testing.T) {
	if got := strings.Join(Presets(), ","); got != "green-api,gupshup,infobip,twilio-event-streams,wati,ycloud" {
		t.Fatalf("presets %s", got)
	}
	for preset := range presetFixtures {
		src := presetSource(t, preset, Mapping{})
		for other, fixtures := range presetFixtures {
			for _, f := range fixtures {
				evs, err := src.Parse(fixtureDelivery(t, filepath.Join("presets", f)))
				if other == preset {
					if err != nil || len(evs) == 0 {
						t.Errorf("%s on its own %s: %v", preset, f, err)
					}
					for _, e := range evs {
						if e.Kind == event.KindUnknown {
							t.Errorf("%s on its own %s: an unknown event %s", preset, f, e.Raw)
						}
						if e.Kind == event.KindMessage && e.Status != "received" {
							t.Errorf("%s %s: incoming message with status %q", preset, f, e.Status)
						}
					}
					continue
				}
				if !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), "source bsp") || !strings.Contains(err.Error(), "preset "+preset) {
					t.Errorf("preset %s given %s's %s: err %v, %d events", preset, other, f, err, len(evs))
				}
			}
		}
	}
}

// A user's mapping lays over a preset: the fields it names win, the rest is
// the preset's; a mapping file does the same.
func TestPresetOverride(t *testing.T) {
	src := presetSource(t, "wati", Mapping{
		Fields: map[string]string{"attributes.ticket": "conversationId", "message": "failedCode"},
		Values: map[string]map[string]string{"status": {"failed": "error"}},
	})
	evs, err := src.Parse(fixtureDelivery(t, "presets/wati_failed.json"))
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %d", err, len(evs))
	}
	e := evs[0]
	if e.Attr("ticket") != "6728a0aac9e77a0b8c1d0001" || e.Message != "131047" || e.Status != "error" || e.Code != 131047 || e.RecipientID != "5521988887777" {
		t.Errorf("override: %+v", e)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "wati.yaml")
	if err := os.WriteFile(file, []byte("fields:\n  attributes.team: conversationId\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Name: "bsp", Type: TypeMapped, Preset: "wati", MappingFile: file, Auth: Auth{Type: AuthNone, Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ = s.Parse(fixtureDelivery(t, "presets/wati_failed.json"))
	if len(evs) != 1 || evs[0].Attr("team") == "" || evs[0].Code != 131047 {
		t.Errorf("mapping_file over preset: %+v", evs)
	}
	if errs := Validate(Config{Name: "x", Type: TypeStatus, Preset: "wati", Auth: Auth{Type: AuthNone, Insecure: true}}); len(errs) == 0 {
		t.Errorf("a preset on type status was accepted")
	}
}
