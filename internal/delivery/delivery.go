// Package delivery holds the webhook request as wabridge received it: what
// the server writes to the inbox and the sources parse, again after a
// restart. It depends on nothing, so the store and the sources share it
// without knowing each other.
package delivery

import "time"

// Delivery is one webhook request as received. It is what the inbox stores,
// so everything an adapter needs to parse it again after a restart is here.
type Delivery struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	ReceivedAt  time.Time `json:"received_at"`
	RemoteAddr  string    `json:"remote_addr"`
	ContentType string    `json:"content_type"`
	Body        []byte    `json:"body"`
	// Account is the provider account the delivery is about, when the
	// receiver knows it (the Meta WABA id, or the source and the phone):
	// a store shared by several replicas partitions the work by it. Empty
	// files the delivery under its source. The embedded store has one
	// partition and does not keep it.
	Account string `json:"account,omitempty"`
}
