package store

import (
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
)

// Payloads come back from the audit trail as they were sent, whether they
// were stored compressed, raw because small, or raw by an older version.
func TestAuditPayloadsRoundTrip(t *testing.T) {
	s := open(t, t.TempDir())
	var zip Compressor
	big := strings.Repeat(`{"id":"wamid.1","status":"failed","errors":[{"code":131026}]},`, 40)
	tests := []struct {
		name     string
		body     string
		deflated bool
	}{
		{"large, compressed", big, true},
		{"small, raw", `{"a":1}`, false},
		{"empty", "", false},
		{"not compressible", "\x00\xff\x13\x37", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := zip.Payload([]byte(tt.body))
			if p.deflated != tt.deflated {
				t.Fatalf("deflated = %v, want %v", p.deflated, tt.deflated)
			}
			if tt.deflated && len(p.b) >= len(tt.body)/2 {
				t.Errorf("compressed %d bytes to %d", len(tt.body), len(p.b))
			}
			at := t0.Add(time.Duration(i) * time.Minute)
			rec := &audit.Record{DeliveryID: "d" + tt.name, Source: "meta", ReceivedAt: at}
			if err := s.Commit(bg, fence(s), func(tx CommitTx) error { return tx.PutAudit(rec, p, at.Add(time.Hour), nil) }); err != nil {
				t.Fatal(err)
			}
			got, err := s.Audit(bg, audit.Query{Since: at, Limit: 1, Body: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Payload != tt.body {
				t.Fatalf("payload read back = %+v, want %q", got, tt.body)
			}
		})
	}

	// A payload an older version stored raw, whatever its size.
	legacy := audit.ID(t0.Add(time.Hour), "legacy")
	if err := s.AddAudit(bg, []audit.Record{{ID: legacy, DeliveryID: "legacy", ReceivedAt: t0.Add(time.Hour)}}, nil, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bAuditBody).Put([]byte(legacy), []byte(big)) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Audit(bg, audit.Query{Since: t0.Add(time.Hour), Body: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Payload != big {
		t.Fatalf("legacy payload read back = %d records", len(got))
	}

	// Sweeping removes compressed payloads with their records.
	if _, err := s.Sweep(bg, t0.Add(3*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bAuditBody, bAuditBodyZ} {
			if n := tx.Bucket(b).Stats().KeyN; n != 0 {
				t.Errorf("%s keeps %d payloads after their records expired", b, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A damaged compressed payload is an error naming the record, not a panic
// or a silently empty payload.
func TestDamagedCompressedPayload(t *testing.T) {
	s := open(t, t.TempDir())
	rec := &audit.Record{DeliveryID: "z", ReceivedAt: t0}
	if err := s.Commit(bg, fence(s), func(tx CommitTx) error { return tx.PutAudit(rec, RawPayload(nil), t0.Add(time.Hour), nil) }); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bAuditBodyZ).Put([]byte(rec.ID), []byte("not deflate")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Audit(bg, audit.Query{Body: true}); err == nil || !strings.Contains(err.Error(), "decompress") {
		t.Fatalf("reading a damaged payload: %v", err)
	}
}
