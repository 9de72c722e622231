package pipeline

import (
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// damageInboxRecord flips a byte in the body of the n-th record (from 1)
// of the inbox log's only segment, as disk damage would. Records start
// with a 4-byte magic, a 4-byte length of the rest and a 4-byte checksum.
func damageInboxRecord(t *testing.T, dir string, n int) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "inbox", "*.seg"))
	if err != nil || len(segs) != 1 {
		t.Fatalf("inbox segments %v, %v; want one", segs, err)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for range n - 1 {
		off += 12 + int(binary.BigEndian.Uint32(b[off+4:]))
	}
	end := off + 12 + int(binary.BigEndian.Uint32(b[off+4:]))
	b[end-2] ^= 0xff
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
}

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
	damageInboxRecord(t, h.dir, 2)

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
