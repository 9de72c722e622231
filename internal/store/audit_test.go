package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// commitWithAudit stores a delivery and commits it with an audit record of
// two events (the second a redelivery of an id already seen) and one
// notification per evaluated event.
func commitWithAudit(t *testing.T, s *Bolt, id string, at time.Time, code int) (processed, *audit.Record) {
	t.Helper()
	body := []byte(`{"delivery":"` + id + `"}`)
	e, err := s.AddInbox(context.Background(), delivery.Delivery{ID: id, Source: "meta", ReceivedAt: at, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	rec := &audit.Record{
		DeliveryID: id, Source: "meta", ReceivedAt: at, RemoteAddr: "127.0.0.1",
		Signature: audit.SignatureValid, HTTPStatus: 200, Size: len(body), PayloadKept: len(body),
		Events: []audit.Event{
			{ID: id + "-ev", Kind: "status", Status: "failed", Code: code, Outcome: audit.EventEvaluated,
				Decisions: []audit.Decision{{Rule: "blocked", Outcome: "matched"}}},
			{ID: "seen-before", Kind: "status", Status: "failed", Code: code, Outcome: audit.EventEvaluated,
				Decisions: []audit.Decision{{Rule: "blocked", Outcome: "matched"}}},
		},
	}
	note := func(ev string) outbox.Entry {
		return outbox.Entry{Key: "k/" + ev, Created: at, Notification: notification.Notification{
			Rule:   notification.RuleRef{Name: "blocked"},
			Action: notification.Action{Notifier: "slack", Target: "#ops"},
		}}
	}
	res, err := process(s, testDelivery{
		Seq: e.Seq, Now: at, DedupUntil: at.Add(time.Hour), ProcessedUntil: at.Add(2 * time.Hour),
		Events: []testEvent{
			{ID: id + "-ev", Matched: true, Notifications: []outbox.Entry{note(id)}},
			{ID: "seen-before", Matched: true, Notifications: []outbox.Entry{note("seen")}},
		},
		Audit: rec, Body: body,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}

func TestAuditRecordsEveryResult(t *testing.T) {
	s := open(t, t.TempDir())
	// Make "seen-before" a live dedup record, so the second event of the
	// next delivery is a duplicate.
	e, _ := s.AddInbox(context.Background(), delivery.Delivery{ID: "d0", Source: "meta", ReceivedAt: t0})
	if _, err := process(s, testDelivery{Seq: e.Seq, Now: t0, DedupUntil: t0.Add(time.Hour), ProcessedUntil: t0.Add(time.Hour),
		Events: []testEvent{{ID: "seen-before", Matched: true}}}); err != nil {
		t.Fatal(err)
	}

	res, _ := commitWithAudit(t, s, "d1", t0.Add(time.Minute), 131031)
	if len(res.Outbox) != 1 || res.Duplicates != 1 {
		t.Fatalf("committed %+v", res)
	}
	got, err := s.Audit(bg, audit.Query{Body: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d records, want 1 (the commit without an audit record keeps none)", len(got))
	}
	rec := got[0]
	if rec.ID != audit.ID(t0.Add(time.Minute), "d1") || rec.Payload != `{"delivery":"d1"}` {
		t.Errorf("record %q payload %q", rec.ID, rec.Payload)
	}
	if rec.Events[0].Outcome != audit.EventEvaluated || len(rec.Events[0].Decisions) != 1 {
		t.Errorf("first event %+v", rec.Events[0])
	}
	if rec.Events[1].Outcome != audit.EventDuplicate || rec.Events[1].Decisions != nil {
		t.Errorf("redelivered event not marked duplicate: %+v", rec.Events[1])
	}
	if len(rec.Notifications) != 1 || rec.Notifications[0].Result != audit.NotePending {
		t.Fatalf("notifications %+v", rec.Notifications)
	}

	ob := res.Outbox[0]
	var link string
	_ = s.db.View(func(tx *bolt.Tx) error {
		k, _ := idKey(ob.ID)
		link = string(tx.Bucket(bAuditLinks).Get(k))
		return nil
	})
	if link != rec.ID {
		t.Fatalf("outbox entry %s links to audit record %q, want %q", ob.ID, link, rec.ID)
	}
	steps := []struct {
		name string
		do   func() error
		want audit.Notification
	}{
		{"failed attempt", func() error {
			ob.Attempts, ob.LastError, ob.LastReason = 1, "slack: transient: 500", "transient"
			return retry(t, s, ob)
		}, audit.Notification{Result: audit.NoteFailed, Reason: "transient", Error: "slack: transient: 500", Attempts: 1}},
		{"dead-lettered", func() error {
			return bury(t, s, outbox.DeadLetter{Entry: ob, Reason: "auth", Died: t0})
		}, audit.Notification{Result: audit.NoteDead, Reason: "auth", Error: "slack: transient: 500", Attempts: 1}},
		{"replayed", func() error {
			return replayed(s, ob.ID, &Ref{Key: ob.Key, Ref: "C1/1.2", Updated: t0})
		}, audit.Notification{Result: audit.NoteSent, Ref: "C1/1.2", Attempts: 1}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, _ := s.Audit(bg, audit.Query{})
		n := got[0].Notifications[0]
		if n.Result != st.want.Result || n.Reason != st.want.Reason || n.Error != st.want.Error ||
			n.Ref != st.want.Ref || n.Attempts != st.want.Attempts || n.Rule != "blocked" || n.Target != "#ops" {
			t.Errorf("%s: note %+v, want %+v", st.name, n, st.want)
		}
	}
}

func TestAuditSentRecordsRef(t *testing.T) {
	s := open(t, t.TempDir())
	res, _ := commitWithAudit(t, s, "d1", t0, 131031)
	for _, ob := range res.Outbox {
		if err := sent(t, s, ob.ID, &Ref{Key: ob.Key, Ref: "C9/1", Updated: t0}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Audit(bg, audit.Query{})
	for _, n := range got[0].Notifications {
		if n.Result != audit.NoteSent || n.Ref != "C9/1" {
			t.Errorf("note %+v", n)
		}
	}
}

func TestAuditQuery(t *testing.T) {
	s := open(t, t.TempDir())
	commitWithAudit(t, s, "a", t0, 131031)
	commitWithAudit(t, s, "b", t0.Add(time.Minute), 131026)
	if err := s.AddAudit(bg, []audit.Record{{DeliveryID: "r", Source: "twilio", ReceivedAt: t0.Add(2 * time.Minute),
		Signature: audit.SignatureInvalid, HTTPStatus: 401, Reason: "unauthorized: bad signature"}},
		[][]byte{[]byte("x")}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    audit.Query
		want []string // delivery ids, newest first
	}{
		{"all, newest first", audit.Query{}, []string{"r", "b", "a"}},
		{"since", audit.Query{Since: t0.Add(30 * time.Second)}, []string{"r", "b"}},
		{"code", audit.Query{Code: 131031}, []string{"a"}},
		{"code nobody has", audit.Query{Code: 1}, nil},
		{"source, any case", audit.Query{Source: "META"}, []string{"b", "a"}},
		{"limit", audit.Query{Limit: 1}, []string{"r"}},
		{"since in the future", audit.Query{Since: t0.Add(time.Hour)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Audit(bg, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.DeliveryID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestAuditExpiresWithEverythingItOwns(t *testing.T) {
	s := open(t, t.TempDir())
	res, _ := commitWithAudit(t, s, "old", t0, 131031) // expires at t0+2h
	if err := sent(t, s, res.Outbox[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAudit(bg, []audit.Record{{DeliveryID: "new", Source: "meta", ReceivedAt: t0.Add(time.Hour), HTTPStatus: 400}},
		[][]byte{[]byte("not json")}, t0.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(bg, t0.Add(90*time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Audit(bg, audit.Query{}); len(got) != 2 {
		t.Fatalf("%d records inside retention, want 2", len(got))
	}
	if _, err := s.Sweep(bg, t0.Add(3*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Audit(bg, audit.Query{Body: true})
	if len(got) != 1 || got[0].DeliveryID != "new" || got[0].Payload != "not json" {
		t.Fatalf("after the first record's retention: %+v", got)
	}
	for _, b := range auditBuckets {
		n := 0
		_ = s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(b).Stats().KeyN; return nil })
		if want := map[string]int{"audit": 1, "audit_body": 1, "audit_notes": 0}[string(b)]; n != want {
			t.Errorf("bucket %s has %d keys, want %d", b, n, want)
		}
	}
	if _, err := s.Sweep(bg, t0.Add(6*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Audit(bg, audit.Query{}); len(got) != 0 {
		t.Fatalf("records left after retention: %+v", got)
	}
}

func TestAuditOnClosedStore(t *testing.T) {
	s := open(t, t.TempDir())
	_ = s.Close()
	if _, err := s.Audit(bg, audit.Query{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Audit on a closed store: %v", err)
	}
	if err := s.AddAudit(bg, []audit.Record{{DeliveryID: "x", ReceivedAt: t0}}, nil, t0); !errors.Is(err, ErrClosed) {
		t.Errorf("AddAudit on a closed store: %v", err)
	}
}

func TestAuditIDSortsByTime(t *testing.T) {
	a, b := audit.ID(t0, "zzz"), audit.ID(t0.Add(time.Nanosecond), "aaa")
	if !(a < b) {
		t.Errorf("%q does not sort before %q", a, b)
	}
	if at, ok := auditIDTime([]byte(b)); !ok || !at.Equal(t0.Add(time.Nanosecond)) {
		t.Errorf("time of %q = %v, %v", b, at, ok)
	}
	if _, ok := auditIDTime([]byte("short")); ok {
		t.Error("a short key has a time")
	}
}
