package store

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
)

// testdata/v1/wabridge.db was written by the store of schema wabridge/1:
// three deliveries added to its inbox bucket (JSON documents with base64
// bodies), the first processed with an audit record, a dedup record and a
// processed record, the other two still waiting.
const v1Fixture = "testdata/v1/wabridge.db"

var v1Time = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func copyV1(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(v1Fixture)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func wantV1Inbox(t *testing.T, s *Bolt) []InboxEntry {
	t.Helper()
	in, err := s.PendingInbox(bg, fence(s), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 || in[0].Delivery.ID != "v1-d2" || in[1].Delivery.ID != "v1-d3" {
		t.Fatalf("inbox after migration = %+v, want v1-d2 and v1-d3 once each, in order", in)
	}
	for _, e := range in {
		if want := `"n":"` + e.Delivery.ID + `"`; !strings.Contains(string(e.Delivery.Body), want) {
			t.Errorf("%s: body %q, want the body as stored", e.Delivery.ID, e.Delivery.Body)
		}
		if e.Delivery.Source != "meta" || e.Delivery.RemoteAddr != "127.0.0.1" || e.Delivery.ReceivedAt.Before(v1Time) {
			t.Errorf("%s: delivery read back as %+v", e.Delivery.ID, e.Delivery)
		}
	}
	return in
}

func TestOpenMigratesV1Store(t *testing.T) {
	dir := copyV1(t)
	s := open(t, dir)
	in := wantV1Inbox(t, s)
	if c, _ := s.Depths(bg); c.Inbox != 2 {
		t.Errorf("inbox depth %d, want 2", c.Inbox)
	}
	// What the old version kept is read as it was.
	if dup, err := isDup(s, "meta-st-v1", v1Time.Add(time.Hour)); err != nil || !dup {
		t.Errorf("dedup record of the old store: %v, %v; want live", dup, err)
	}
	recs, err := s.Audit(bg, audit.Query{Body: true})
	if err != nil || len(recs) != 1 || recs[0].DeliveryID != "v1-d1" || !strings.Contains(recs[0].Payload, `"n":"v1-d1"`) {
		t.Fatalf("audit trail of the old store = %+v, %v", recs, err)
	}
	var schemaNow string
	_ = s.db.View(func(tx *bolt.Tx) error {
		schemaNow = string(tx.Bucket(bMeta).Get(keySchema))
		if n := tx.Bucket(bInbox).Stats().KeyN; n != 0 {
			t.Errorf("%d entries left in the old inbox bucket", n)
		}
		return nil
	})
	if schemaNow != schema {
		t.Errorf("schema after migration %q, want %q", schemaNow, schema)
	}

	// New deliveries number on from the old ones, and the migrated ones
	// are processed like any other.
	e, err := s.AddInbox(context.Background(), deliveryFor("new"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq <= in[1].Seq {
		t.Errorf("new delivery got sequence %d, not after the migrated %d", e.Seq, in[1].Seq)
	}
	if err := s.Commit(bg, fence(s), func(tx CommitTx) error { return take(tx, in[1].Seq) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	left, err := s.PendingInbox(bg, fence(s), 0)
	if err != nil || len(left) != 1 || left[0].Delivery.ID != "new" {
		t.Fatalf("inbox after reopening = %+v, %v; want only the new delivery", left, err)
	}
}

// A migration cut short after part of the old inbox reached the log (the
// file still says wabridge/1) appends the rest only: nothing twice.
func TestInterruptedMigrationAppendsTheRestOnce(t *testing.T) {
	done := copyV1(t)
	s := open(t, done)
	in := wantV1Inbox(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The state of a crash after the first entry was written.
	dir := copyV1(t)
	seg := filepath.Join(done, inboxDirName, segmentName(in[0].Location.Segment))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	first := b[:in[0].Location.Offset+int64(in[0].Location.Length)]
	if err := os.MkdirAll(filepath.Join(dir, inboxDirName), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, inboxDirName, filepath.Base(seg)), first, 0o600); err != nil {
		t.Fatal(err)
	}
	wantV1Inbox(t, open(t, dir))
}

func TestOldVersionRefusesMigratedStore(t *testing.T) {
	dir := copyV1(t)
	s := open(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What the wabridge/1 version checks on open: the schema.
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if got := string(tx.Bucket(bMeta).Get(keySchema)); got == schemaV1 {
			t.Errorf("a migrated store still says %s: the old version would read its empty inbox bucket and miss the log", got)
		}
		return nil
	})
}

func TestInboxLogCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	var last InboxEntry
	for _, id := range []string{"a", "b"} {
		e, err := s.AddInbox(context.Background(), deliveryFor(id))
		if err != nil {
			t.Fatal(err)
		}
		last = e
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, inboxDirName, segmentName(last.Location.Segment))
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Half a record: a write a crash cut short, never acknowledged.
	torn := binary.BigEndian.AppendUint32(nil, recordMagic)
	torn = binary.BigEndian.AppendUint32(torn, 500)
	if _, err := f.Write(append(torn, "partial"...)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s = open(t, dir)
	in, err := s.PendingInbox(bg, fence(s), 0)
	if err != nil || len(in) != 2 {
		t.Fatalf("inbox after a torn tail = %+v, %v; want the two whole records", in, err)
	}
	e, err := s.AddInbox(context.Background(), deliveryFor("c"))
	if err != nil || e.Seq != last.Seq+1 || e.Location.Offset != last.Location.Offset+int64(last.Location.Length) {
		t.Fatalf("append after the cut: %+v, %v; want sequence %d right after b", e, err, last.Seq+1)
	}
	in, err = s.PendingInbox(bg, fence(s), 0)
	if err != nil || len(in) != 3 || in[2].Delivery.ID != "c" {
		t.Fatalf("inbox = %+v, %v; want a, b, c", in, err)
	}
}

// Concurrent appends share writes and come back in the log in sequence
// order, each readable at its location.
func TestInboxLogConcurrentAppends(t *testing.T) {
	s := open(t, t.TempDir())
	const n = 200
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.AddInbox(context.Background(), deliveryFor("c"+strings.Repeat("x", i%7)))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	in, err := s.PendingInbox(bg, fence(s), 0)
	if err != nil || len(in) != n {
		t.Fatalf("%d entries, %v; want %d", len(in), err, n)
	}
	for i, e := range in {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has sequence %d", i, e.Seq)
		}
		rec, err := s.log.readAt(e.Location)
		if err != nil || rec.seq != e.Seq {
			t.Fatalf("entry %d at %+v: %+v, %v", i, e.Location, rec, err)
		}
	}
	// Reads in batches continue where the last commit stopped.
	var got int
	for {
		b, err := s.PendingInbox(bg, fence(s), 37)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			break
		}
		got += len(b)
		if err := s.Commit(bg, fence(s), func(tx CommitTx) error { return take(tx, b[len(b)-1].Seq) }); err != nil {
			t.Fatal(err)
		}
	}
	if got != n {
		t.Errorf("batched reads saw %d, want %d", got, n)
	}
}

func deliveryFor(id string) delivery.Delivery {
	return delivery.Delivery{ID: id, Source: "meta", ReceivedAt: v1Time.Add(time.Hour), Body: []byte(`{"id":"` + id + `"}`)}
}
