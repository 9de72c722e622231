package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/store"
)

// bg is the context of calls that nothing cancels.
var bg = context.Background()

// pendingInbox returns up to limit (0: all) entries waiting in st's inbox.
func pendingInbox(st *store.Bolt, limit int) ([]store.InboxEntry, error) {
	fs, err := st.Fences(bg)
	if err != nil {
		return nil, err
	}
	return st.PendingInbox(bg, fs[0], limit)
}

// sentAll records every outbox entry as sent, key by key in order, as
// the senders would, with a ref named after each entry.
func sentAll(t testing.TB, st *store.Bolt) {
	t.Helper()
	for {
		cs, _, err := st.ClaimOutbox(bg, store.ClaimQuery{Now: time.Now().Add(24 * 365 * time.Hour), Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			return
		}
		for _, c := range cs {
			e := c.Entry
			if err := st.Sent(bg, c, store.Sent{Ref: &store.Ref{Key: e.Key, Ref: "C1/" + e.ID}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// commitFirst commits entries in the first partition the pipeline owns:
// the embedded store's only one.
func (p *Pipeline) commitFirst(entries []store.InboxEntry) error {
	pt, err := p.first(context.Background())
	if err != nil {
		return err
	}
	return p.commitBatch(context.Background(), pt, entries)
}
