package pipeline

import (
	"encoding/binary"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/store"
)

// A damaged inbox entry (disk damage) fails every read of the inbox; it is
// moved aside, and the deliveries around it are processed.
func TestDamagedInboxEntryDoesNotStopProcessing(t *testing.T) {
	h := newHarness(t, fastConfig(), testRules)
	for _, id := range []string{"e1", "e2", "e3"} {
		ev := failed(id)
		ev.PhoneNumberID = "PN-" + id // an incident each
		h.accept(ev)
	}
	if err := h.p.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(h.dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := binary.BigEndian.AppendUint64(nil, 2)
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("inbox")).Put(key, []byte("{\"id\":")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	h.open()
	logs := &logBuffer{}
	h.p.log = slog.New(slog.NewTextHandler(logs, nil))
	h.run()
	h.idle()
	var got []string
	for _, c := range h.slack.snapshot() {
		got = append(got, c.eventID)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"e1", "e3"}) {
		t.Errorf("notified %v, want e1 and e3", got)
	}
	if n := h.counter("wabridge_inbox_quarantined_total"); n != 1 {
		t.Errorf("quarantined %v, want 1", n)
	}
	lines := logs.lines("quarantine")
	if len(lines) != 1 || !strings.Contains(lines[0], "seq=2") {
		t.Errorf("log of the quarantined entry: %q", lines)
	}
	if n := h.counter("wabridge_processing_errors_total"); n != 0 {
		t.Errorf("processing errors %v, want 0", n)
	}
}
