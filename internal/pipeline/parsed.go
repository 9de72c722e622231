package pipeline

import (
	"sync"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/store"
)

// maxParsed bounds the deliveries whose events wait in memory for the
// committer. Past it a delivery is parsed again from its stored bytes,
// which is slower but changes nothing else.
const maxParsed = 8192

// maxParsedEvents bounds the events waiting in memory, about a KiB each:
// a backlog of batch deliveries held 8192 deliveries of up to a thousand
// events and over 100 MB of heap, for a shortcut only.
const maxParsedEvents = 16384

// parsedCache keeps the events the webhook handler parsed, by source and
// delivery id, until the committer takes them, so a delivery is parsed once
// rather than again from the inbox. It is only a shortcut: the inbox keeps
// the raw bytes, and a delivery not found here (after a restart, without an
// id, or when the cache was full) is parsed from them as stored.
type parsedCache struct {
	mu     sync.Mutex
	m      map[string][]event.Event
	events int // in m
}

func newParsedCache() *parsedCache {
	return &parsedCache{m: map[string][]event.Event{}}
}

func parsedKey(source, deliveryID string) string { return source + "\x00" + deliveryID }

// put keeps events under key and reports whether it did.
func (c *parsedCache) put(key string, events []event.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxParsed || c.events+len(events) > maxParsedEvents {
		return false
	}
	c.m[key] = events
	c.events += len(events)
	return true
}

func (c *parsedCache) drop(key string) {
	c.mu.Lock()
	c.events -= len(c.m[key])
	delete(c.m, key)
	c.mu.Unlock()
}

// take removes and returns the events kept for each entry, in order: nil
// where none were kept. A failed commit parses its entries on the retry.
func (c *parsedCache) take(entries []store.InboxEntry) [][]event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) == 0 {
		return nil
	}
	out := make([][]event.Event, len(entries))
	for i := range entries {
		d := &entries[i].Delivery
		k := parsedKey(d.Source, d.ID)
		if evs, ok := c.m[k]; ok {
			out[i] = evs
			c.events -= len(evs)
			delete(c.m, k)
		}
	}
	return out
}

// len is how many deliveries wait with their events.
func (c *parsedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
