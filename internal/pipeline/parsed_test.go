package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/store"
)

// countingSource is testSource counting its Parse calls.
type countingSource struct {
	testSource
	parses *atomic.Int64
}

func (c countingSource) Parse(d delivery.Delivery) ([]event.Event, error) {
	c.parses.Add(1)
	return c.testSource.Parse(d)
}

// A delivery handed over with the events the webhook parsed is not parsed
// again; one handed over without them, or found in the inbox after a
// restart, is parsed from its stored bytes.
func TestAcceptedEventsAreParsedOnce(t *testing.T) {
	tests := []struct {
		name       string
		id         string // delivery id; "" lets the store name it
		withEvents bool
		restart    bool // close and reopen between Accept and Run
		wantParses int64
	}{
		{name: "parsed by the webhook", id: "d1", withEvents: true, wantParses: 0},
		{name: "not parsed by the caller", id: "d1", withEvents: false, wantParses: 1},
		{name: "without an id", id: "", withEvents: true, wantParses: 1},
		{name: "after a restart", id: "d1", withEvents: true, restart: true, wantParses: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parses := &atomic.Int64{}
			h := newHarness(t, fastConfig(), testRules)
			h.src = countingSource{parses: parses}
			if err := h.p.Close(); err != nil {
				t.Fatal(err)
			}
			h.open() // with the counting source
			body, _ := json.Marshal([]event.Event{failed("e1"), status("e2", "delivered")})
			d := delivery.Delivery{ID: tt.id, Source: "test", Body: body, RemoteAddr: "127.0.0.1"}
			var events []event.Event
			if tt.withEvents {
				var err error
				if events, err = (testSource{}).Parse(d); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.p.Accept(context.Background(), d, events); err != nil {
				t.Fatal(err)
			}
			if tt.restart {
				if err := h.p.Close(); err != nil {
					t.Fatal(err)
				}
				h.open()
			}
			h.run()
			h.idle()
			if got := parses.Load(); got != tt.wantParses {
				t.Errorf("parsed %d times in the pipeline, want %d", got, tt.wantParses)
			}
			calls := h.slack.snapshot()
			if len(calls) != 1 || calls[0].eventID != "e1" {
				t.Fatalf("calls = %+v, want one for e1", calls)
			}
			if n := h.p.parsed.len(); n != 0 {
				t.Errorf("%d deliveries left waiting with their events after processing", n)
			}
			c, err := h.st.Counts(bg)
			if err != nil {
				t.Fatal(err)
			}
			if c.Processed != 1 {
				t.Errorf("processed records = %d, want 1", c.Processed)
			}
		})
	}
}

// A delivery the store refused leaves nothing behind in memory.
func TestRefusedDeliveryKeepsNoEvents(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	err := h.p.Accept(context.Background(), delivery.Delivery{ID: "d1", Source: "test", Body: []byte("[]")}, []event.Event{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if n := h.p.parsed.len(); n != 0 {
		t.Errorf("%d deliveries kept with their events after the store refused them", n)
	}
}

// The cache is bounded: past maxParsed a delivery is left to be parsed
// from the inbox, and taking entries frees room.
func TestParsedCacheIsBounded(t *testing.T) {
	c := newParsedCache()
	for i := range maxParsed {
		if !c.put(parsedKey("test", fmt.Sprint(i)), []event.Event{}) {
			t.Fatalf("put %d refused below the bound", i)
		}
	}
	if c.put(parsedKey("test", "over"), []event.Event{}) {
		t.Fatal("put past the bound was kept")
	}
	got := c.take([]store.InboxEntry{
		{Delivery: delivery.Delivery{Source: "test", ID: "0"}},
		{Delivery: delivery.Delivery{Source: "other", ID: "1"}}, // another source's id
	})
	if got[0] == nil || got[1] != nil {
		t.Fatalf("take = %v, want events for the first entry only", got)
	}
	if !c.put(parsedKey("test", "over"), []event.Event{}) {
		t.Fatal("put refused after take freed room")
	}
}

// The events held are bounded too: a few batch deliveries of many events
// fill the cache long before maxParsed deliveries do.
func TestParsedCacheBoundsEvents(t *testing.T) {
	c := newParsedCache()
	batch := make([]event.Event, 1000)
	n := 0
	for c.put(parsedKey("test", fmt.Sprint(n)), batch) {
		n++
		if n > maxParsed {
			t.Fatal("no bound on the events held")
		}
	}
	if n != maxParsedEvents/len(batch) {
		t.Fatalf("kept %d deliveries of %d events, want %d", n, len(batch), maxParsedEvents/len(batch))
	}
	if !c.put(parsedKey("test", "small"), make([]event.Event, maxParsedEvents-n*len(batch))) {
		t.Fatal("a delivery that fits the rest of the bound was refused")
	}
	c.take([]store.InboxEntry{{Delivery: delivery.Delivery{Source: "test", ID: "0"}}})
	c.drop(parsedKey("test", "1"))
	for i := range 2 {
		if !c.put(parsedKey("test", fmt.Sprint("again", i)), batch) {
			t.Fatalf("put %d refused after take and drop freed room", i)
		}
	}
	if c.put(parsedKey("test", "over"), batch) {
		t.Fatal("put past the bound was kept")
	}
}
