package sources

import (
	"math/rand"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

// A redelivery of a body gives the same ids; the same body delivered again
// later, a new occurrence of something without an id or time of its own
// (a session's logout after a reconnect), gives new ones.
func TestRedeliverySameIDsLaterOccurrenceNew(t *testing.T) {
	cases := []struct {
		source, fixture string
		timeless        bool // nothing in the body tells occurrences apart
	}{
		{"wppconnect", "wppconnect.json", true},
		{"wppfile", "wppconnect.json", true},
		{"wppconnect", "wppconnect_open.json", true},
		{"gateway", "status_array.json", false},
		{"gateway", "status_logout_timeless.json", true},
		{"evo", "evolution_close_401.json", false},
		{"zapi", "zapi_disconnected.json", false},
		{"crm", "inbound_seed.json", false},
		{"twilio", "twilio_failed.form", false},
	}
	rng := rand.New(rand.NewSource(1))
	for _, tc := range cases {
		src := exampleSource(t, tc.source)
		body := fixtureDelivery(t, tc.fixture).Body
		ids := func(at time.Time) []string {
			evs, err := src.Parse(delivery.Delivery{ID: "d", ReceivedAt: at, Body: body})
			if err != nil {
				t.Fatalf("%s/%s: %v", tc.source, tc.fixture, err)
			}
			out := make([]string, len(evs))
			for i, e := range evs {
				out[i] = e.ID
			}
			return out
		}
		for i := 0; i < 50; i++ {
			start := receivedAt.Add(time.Duration(rng.Intn(10000)) * event.RedeliveryWindow)
			first := start.Add(time.Duration(rng.Int63n(int64(event.RedeliveryWindow / 2))))
			redelivered := first.Add(time.Duration(rng.Int63n(int64(event.RedeliveryWindow / 2))))
			later := first.Add(time.Hour + time.Duration(rng.Int63n(int64(7*24*time.Hour))))
			a, b, c := ids(first), ids(redelivered), ids(later)
			for k := range a {
				if a[k] != b[k] {
					t.Fatalf("%s/%s event %d: redelivery %s after the first got another id", tc.source, tc.fixture, k, redelivered.Sub(first))
				}
				if tc.timeless && a[k] == c[k] {
					t.Fatalf("%s/%s event %d: the same event %s later kept its id and would be dropped as a duplicate", tc.source, tc.fixture, k, later.Sub(first))
				}
				if !tc.timeless && a[k] != c[k] {
					t.Fatalf("%s/%s event %d: the body carries its own id or time, yet a later redelivery got another id", tc.source, tc.fixture, k)
				}
			}
		}
	}
}
