package sources

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wabridge/wabridge/internal/delivery"
)

// FuzzParse feeds every adapter the same bytes: none may panic, an error is
// always one of the 400-class sentinels, and every event marshals.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.*")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{`{}`, `[]`, `null`, `1e999`, `{"event":"connection.update","data":[]}`,
		`{"event":"messages.update","data":{"status":1e300}}`, `{"type":"MessageStatusCallback","ids":{},"status":"READ"}`,
		`[{"event":"x","timestamp":-1e308}]`, `{"data":{"events":[1,"a",null]}}`, "MessageSid=a&MessageStatus=b&ErrorCode=99999999999999"} {
		f.Add([]byte(s))
	}
	sources := exampleSources(f)
	var built []Source
	for _, name := range []string{"evo", "zapi", "twilio", "gateway", "crm", "wppconnect", "wppfile"} {
		s, err := New(sources[name])
		if err != nil {
			f.Fatal(err)
		}
		built = append(built, s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, s := range built {
			events, err := s.Parse(delivery.Delivery{ReceivedAt: receivedAt, Body: body})
			if err != nil {
				if !errors.Is(err, ErrNotJSON) && !errors.Is(err, ErrBadPayload) {
					t.Fatalf("%s: error %v is neither ErrNotJSON nor ErrBadPayload", s.Name(), err)
				}
				continue
			}
			for _, e := range events {
				if e.ID == "" || e.Source != s.Name() || e.Kind == "" {
					t.Fatalf("%s: incomplete event %+v", s.Name(), e)
				}
				if _, err := json.Marshal(e); err != nil {
					t.Fatalf("%s: event does not marshal: %v", s.Name(), err)
				}
				s.Accept(&e)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ source, fixture string }{
		{"evo", "evolution_close_401.json"},
		{"zapi", "zapi_status.json"},
		{"twilio", "twilio_failed.form"},
		{"gateway", "status_array.json"},
		{"crm", "inbound_seed.json"},
		{"wppconnect", "wppconnect.json"},
	} {
		b.Run(bc.source, func(b *testing.B) {
			src := exampleSource(b, bc.source)
			d := fixtureDelivery(b, bc.fixture)
			b.SetBytes(int64(len(d.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.Parse(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	body := make([]byte, 64<<10)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	for _, name := range []string{"gateway", "evo"} {
		b.Run(name, func(b *testing.B) {
			src := exampleSource(b, name)
			r := post("/webhooks/"+name, "", map[string]string{"apikey": testSecrets["EVO_KEY"], "X-Signature": "00"})
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_ = src.Authenticate(r, body)
			}
		})
	}
}
