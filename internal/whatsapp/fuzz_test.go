package whatsapp

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
)

// FuzzParse: no input panics; valid JSON always yields events with an id
// and a known kind, anything else yields ErrNotJSON.
func FuzzParse(f *testing.F) {
	for _, path := range fixtures(f) {
		body, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, s := range []string{``, `[]`, `{}`, `null`, `{"entry":[{}]}`, `{"entry":[{"changes":[{"field":"messages","value":{"statuses":[{}]}}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := Parse("meta", body, received)
		if !json.Valid(body) {
			if !errors.Is(err, ErrNotJSON) {
				t.Fatalf("invalid JSON: err = %v, want ErrNotJSON", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid JSON: %v", err)
		}
		if len(events) == 0 {
			t.Fatal("valid JSON yielded no events: something was dropped")
		}
		for _, e := range events {
			if e.ID == "" || !event.ValidKind(e.Kind) || e.Source != "meta" || e.Timestamp.IsZero() {
				t.Fatalf("bad event: %+v", e)
			}
			if e.Severity != "" && !event.ValidSeverity(e.Severity) {
				t.Fatalf("bad severity %q", e.Severity)
			}
		}
	})
}
