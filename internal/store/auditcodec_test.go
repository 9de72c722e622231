package store

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
)

// A record decodes to what was encoded, whatever its optional parts.
func TestAuditRecordRoundTrip(t *testing.T) {
	full := audit.Record{
		ID: audit.ID(t0, "d1"), DeliveryID: "d1", Source: "meta", ReceivedAt: t0, ProcessedAt: t0.Add(time.Millisecond),
		RemoteAddr: "203.0.113.9", Signature: audit.SignatureValid, HTTPStatus: 200, Reason: "", Size: 812,
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", PayloadKept: 812,
		Events: []audit.Event{
			{ID: "wamid.1", Kind: "status", Status: "failed", Code: 131026, Outcome: audit.EventEvaluated,
				Decisions: []audit.Decision{{Rule: "undeliverable", Outcome: "opened"}, {Rule: "spam", Outcome: "silenced", Detail: "7"}}},
			{ID: "wamid.2", Kind: "status", Status: "delivered", Outcome: audit.EventDropped},
		},
	}
	for name, rec := range map[string]audit.Record{
		"full":        full,
		"no events":   {ID: "x", DeliveryID: "x", ReceivedAt: t0},
		"empty list":  {ID: "y", DeliveryID: "y", ReceivedAt: t0, Events: []audit.Event{}, HTTPStatus: 401, Reason: "bad signature"},
		"negative":    {ID: "z", Size: -1, Events: []audit.Event{{Code: -5}}},
		"unprocessed": {ID: "w", ReceivedAt: t0, Signature: audit.SignatureInvalid},
	} {
		got, err := decodeAuditRecord(appendAuditRecord(nil, &rec))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("%s: decoded\n%+v\nwant\n%+v", name, got, rec)
		}
	}
	// Every cut of a record is refused, never read as something else.
	b := appendAuditRecord(nil, &full)
	for n := range len(b) {
		if _, err := decodeAuditRecord(b[:n]); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", n, len(b))
		}
	}
	if _, err := decodeAuditRecord(append(b, 0)); err == nil {
		t.Error("a record with a trailing byte decoded")
	}
}

// Records the previous version wrote, JSON documents, are read beside the
// binary ones until they expire.
func TestAuditReadsRecordsOfThePreviousFormat(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_, rec := commitWithAudit(t, s, "new", t0.Add(time.Minute), 131026)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	old := audit.Record{
		ID: audit.ID(t0, "old"), DeliveryID: "old", Source: "meta", ReceivedAt: t0, RemoteAddr: "127.0.0.1",
		Signature: audit.SignatureValid, HTTPStatus: 200, Size: 2, PayloadKept: 2,
		Events: []audit.Event{{ID: "wamid.old", Kind: "status", Status: "failed", Code: 131031, Outcome: audit.EventEvaluated}},
	}
	v, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(dir+"/"+FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bAudit).Put([]byte(old.ID), v) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	got, err := s.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d records, want 2: %+v", len(got), got)
	}
	if got[0].DeliveryID != "new" || !reflect.DeepEqual(got[0].Events, rec.Events) {
		t.Errorf("binary record: %+v, want the events %+v", got[0], rec.Events)
	}
	if got[1].DeliveryID != "old" || got[1].Events[0].Code != 131031 || !got[1].ReceivedAt.Equal(t0) {
		t.Errorf("JSON record: %+v", got[1])
	}
	if q, err := s.Audit(context.Background(), audit.Query{Code: 131031}); err != nil || len(q) != 1 || q[0].DeliveryID != "old" {
		t.Errorf("query by the old record's code: %+v, %v", q, err)
	}
}
