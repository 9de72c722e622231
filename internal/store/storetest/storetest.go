// Package storetest is the conformance suite of the store ports: what
// every backend (the embedded bbolt file, a shared database) must do for
// the pipeline's promises to hold. A backend's test calls Run with a
// function that gives each case a fresh, empty backend.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
)

// Backend is one empty store under test.
type Backend interface {
	// Open opens the store. Opened again after the last one was closed, it
	// holds everything written before: a restart. Each open takes the
	// lease anew, so fences taken before are stale.
	Open(t *testing.T) store.Store
}

// Run runs every case, each on a backend of its own from newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	cases := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"InboxAtLeastOnce", testInboxAtLeastOnce},
		{"InboxTakenInOrder", testInboxTakenInOrder},
		{"FailedCommitLeavesNothing", testFailedCommitLeavesNothing},
		{"FenceRejectsStaleOwner", testFenceRejectsStaleOwner},
		{"DedupWindow", testDedupWindow},
		{"DedupConcurrent", testDedupConcurrent},
		{"IncidentsInCommit", testIncidentsInCommit},
		{"OutboxFIFOPerKey", testOutboxFIFOPerKey},
		{"OutboxOneClaimPerKey", testOutboxOneClaimPerKey},
		{"ClaimLeaseExpires", testClaimLeaseExpires},
		{"ClaimAccept", testClaimAccept},
		{"InFlightMarks", testInFlightMarks},
		{"SentWithFollowUps", testSentWithFollowUps},
		{"BuryAndDeadLetters", testBuryAndDeadLetters},
		{"ReplayClaimOnce", testReplayClaimOnce},
		{"SilencesRoundTrip", testSilencesRoundTrip},
		{"CrashRecord", testCrashRecord},
		{"RestartKeepsEverything", testRestartKeepsEverything},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, newBackend(t))
		})
	}
}

// t0 is the cases' clock: leases and windows are judged by the times the
// calls pass, never by the wall clock.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// open opens b and closes the store when the test ends (or earlier, when
// the test closes it itself).
func open(t *testing.T, b Backend) store.Store {
	t.Helper()
	s := b.Open(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func fence(t *testing.T, s store.Store) store.Fence {
	t.Helper()
	fs, err := s.Fences(t.Context())
	if err != nil {
		t.Fatalf("fences: %v", err)
	}
	if len(fs) == 0 {
		t.Fatal("the store gave no fence to a lone process")
	}
	return fs[0]
}

func add(t *testing.T, s store.Store, ids ...string) []store.InboxEntry {
	t.Helper()
	var out []store.InboxEntry
	for _, id := range ids {
		e, err := s.AddInbox(t.Context(), delivery.Delivery{ID: id, Source: "meta", ReceivedAt: t0,
			RemoteAddr: "192.0.2.7:443", ContentType: "application/json", Body: []byte(`{"id":"` + id + `"}`)})
		if err != nil {
			t.Fatalf("add %s: %v", id, err)
		}
		out = append(out, e)
	}
	return out
}

func pendingIDs(t *testing.T, s store.Store, limit int) []string {
	t.Helper()
	in, err := s.PendingInbox(t.Context(), fence(t, s), limit)
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	ids := []string{}
	for _, e := range in {
		ids = append(ids, e.Delivery.ID)
	}
	return ids
}

// commit runs fn in a commit under the store's current fence.
func commit(t *testing.T, s store.Store, fn func(tx store.CommitTx) error) error {
	t.Helper()
	return s.Commit(t.Context(), fence(t, s), fn)
}

func mustCommit(t *testing.T, s store.Store, fn func(tx store.CommitTx) error) {
	t.Helper()
	if err := commit(t, s, fn); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// take takes seqs in a commit, failing the test when one is not pending.
func take(t *testing.T, s store.Store, seqs ...uint64) {
	t.Helper()
	mustCommit(t, s, func(tx store.CommitTx) error {
		for _, seq := range seqs {
			ok, err := tx.TakeInbox(seq)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("inbox entry %d was not pending", seq)
			}
		}
		return nil
	})
}

// entry is an outbox entry for key, due at t0, named by its rule.
func entry(key, name string) outbox.Entry {
	return outbox.Entry{Key: key, Created: t0, NextAttempt: t0,
		Notification: notification.Notification{Rule: notification.RuleRef{Name: name},
			Action: notification.Action{Notifier: "slack", Target: "#ops"}, Op: notification.OpOpen,
			Incident: &notification.Incident{Fingerprint: "fp-" + key}}}
}

// enqueue adds entries in one commit and returns them with their ids.
func enqueue(t *testing.T, s store.Store, es ...outbox.Entry) []outbox.Entry {
	t.Helper()
	var out []outbox.Entry
	mustCommit(t, s, func(tx store.CommitTx) error {
		out = out[:0]
		for _, e := range es {
			e, err := tx.AddOutbox(e)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out
}

// claim claims every claimable head at now for lease, by rule name.
func claim(t *testing.T, s store.Store, now time.Time, lease time.Duration) map[string]store.Claim {
	t.Helper()
	cs, _, err := s.ClaimOutbox(t.Context(), store.ClaimQuery{Now: now, Lease: lease})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	out := map[string]store.Claim{}
	for _, c := range cs {
		out[c.Entry.Notification.Rule.Name] = c
	}
	return out
}

func names(m map[string]store.Claim) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func depths(t *testing.T, s store.Store) store.Counts {
	t.Helper()
	c, err := s.Depths(t.Context())
	if err != nil {
		t.Fatalf("depths: %v", err)
	}
	return c
}

func testInboxAtLeastOnce(t *testing.T, b Backend) {
	s := open(t, b)
	in := add(t, s, "d1", "d2", "d3")
	for i := range in[1:] {
		if in[i+1].Seq <= in[i].Seq {
			t.Fatalf("sequences do not grow: %d then %d", in[i].Seq, in[i+1].Seq)
		}
	}
	if got := pendingIDs(t, s, 0); !slices.Equal(got, []string{"d1", "d2", "d3"}) {
		t.Fatalf("pending %v, want d1 d2 d3 in receive order", got)
	}
	// Reading is not taking: a committer that dies after reading finds
	// the same entries the next time.
	if got := pendingIDs(t, s, 2); !slices.Equal(got, []string{"d1", "d2"}) {
		t.Fatalf("pending with limit 2: %v", got)
	}
	if got := pendingIDs(t, s, 2); !slices.Equal(got, []string{"d1", "d2"}) {
		t.Fatalf("pending read again: %v, want the same two", got)
	}
	take(t, s, in[0].Seq, in[1].Seq)
	if got := pendingIDs(t, s, 0); !slices.Equal(got, []string{"d3"}) {
		t.Fatalf("pending after taking two: %v", got)
	}
	// Taking again what a commit took reports it: a retry after an
	// unclear failure does not process it twice.
	mustCommit(t, s, func(tx store.CommitTx) error {
		ok, err := tx.TakeInbox(in[0].Seq)
		if err != nil {
			return err
		}
		if ok {
			t.Error("an entry taken by an earlier commit was taken again")
		}
		return nil
	})
	if c := depths(t, s); c.Inbox != 1 {
		t.Errorf("inbox depth %d, want 1", c.Inbox)
	}
	got, err := s.PendingInbox(t.Context(), fence(t, s), 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("pending: %v %v", got, err)
	}
	d := got[0].Delivery
	if d.Source != "meta" || !d.ReceivedAt.Equal(t0) || d.RemoteAddr != "192.0.2.7:443" ||
		d.ContentType != "application/json" || string(d.Body) != `{"id":"d3"}` {
		t.Errorf("delivery read back as %+v", d)
	}
}

func testInboxTakenInOrder(t *testing.T, b Backend) {
	s := open(t, b)
	// Deliveries added concurrently, as webhooks add them, each pending
	// once, and a commit that takes some leaves the rest pending.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { add(t, s, fmt.Sprintf("c%02d", i)) })
	}
	wg.Wait()
	in, err := s.PendingInbox(t.Context(), fence(t, s), 0)
	if err != nil || len(in) != 40 {
		t.Fatalf("pending: %d, %v; want 40", len(in), err)
	}
	seen := map[string]bool{}
	for i, e := range in {
		if seen[e.Delivery.ID] {
			t.Fatalf("%s pending twice", e.Delivery.ID)
		}
		seen[e.Delivery.ID] = true
		if i > 0 && e.Seq <= in[i-1].Seq {
			t.Fatalf("pending out of order at %d", i)
		}
	}
	var seqs []uint64
	for _, e := range in[:25] {
		seqs = append(seqs, e.Seq)
	}
	take(t, s, seqs...)
	rest, err := s.PendingInbox(t.Context(), fence(t, s), 0)
	if err != nil || len(rest) != 15 || rest[0].Seq != in[25].Seq {
		t.Fatalf("after taking 25: %d pending, first %v, %v", len(rest), rest, err)
	}
}

func testFailedCommitLeavesNothing(t *testing.T, b Backend) {
	s := open(t, b)
	in := add(t, s, "d1")
	boom := errors.New("boom")
	ev := event.Event{ID: "e1", Kind: event.KindStatus, Status: "failed", Code: 131048}
	err := commit(t, s, func(tx store.CommitTx) error {
		if _, err := tx.TakeInbox(in[0].Seq); err != nil {
			return err
		}
		if _, err := tx.SeeEvent("e1", t0, t0.Add(time.Hour)); err != nil {
			return err
		}
		e, err := tx.AddOutbox(entry("k", "r"))
		if err != nil {
			return err
		}
		inc := &incident.Incident{Fingerprint: "fp1", Rule: "r", Status: incident.Open, Count: 1, Event: ev}
		if err := tx.PutIncident(inc, time.Time{}); err != nil {
			return err
		}
		if err := tx.PutIncidentEvent("fp1", &ev); err != nil {
			return err
		}
		rec := &audit.Record{ID: audit.ID(t0, "d1"), DeliveryID: "d1", Source: "meta", ReceivedAt: t0, Events: []audit.Event{}}
		if err := tx.PutAudit(rec, store.RawPayload([]byte("{}")), t0.Add(time.Hour), []outbox.Entry{e}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("commit returned %v, want the error of its function", err)
	}
	if got := pendingIDs(t, s, 0); !slices.Equal(got, []string{"d1"}) {
		t.Errorf("pending after a failed commit: %v", got)
	}
	if c := depths(t, s); c.Inbox != 1 || c.Outbox != 0 {
		t.Errorf("depths after a failed commit: %+v", c)
	}
	if cs := claim(t, s, t0.Add(time.Hour), time.Minute); len(cs) != 0 {
		t.Errorf("a failed commit's outbox entry can be claimed: %v", names(cs))
	}
	if _, err := s.GetIncident(t.Context(), "fp1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed commit's incident: %v, want ErrNotFound", err)
	}
	if recs, err := s.Audit(t.Context(), audit.Query{}); err != nil || len(recs) != 0 {
		t.Errorf("a failed commit's audit record: %d, %v", len(recs), err)
	}
	mustCommit(t, s, func(tx store.CommitTx) error {
		dup, err := tx.SeeEvent("e1", t0, t0.Add(time.Hour))
		if err == nil && dup {
			t.Error("a failed commit's dedup record holds")
		}
		return err
	})
}

func testFenceRejectsStaleOwner(t *testing.T, b Backend) {
	s := b.Open(t)
	stale := fence(t, s)
	add(t, s, "d1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, b)
	cur := fence(t, s)
	if cur == stale {
		t.Fatalf("a reopen kept the fence %v: a paused former owner could commit", cur)
	}
	in, err := s.PendingInbox(t.Context(), cur, 0)
	if err != nil || len(in) != 1 {
		t.Fatalf("pending: %v %v", in, err)
	}
	for _, f := range []store.Fence{stale, {}} {
		ran := false
		err := s.Commit(t.Context(), f, func(tx store.CommitTx) error {
			ran = true
			if _, err := tx.TakeInbox(in[0].Seq); err != nil {
				return err
			}
			_, err := tx.AddOutbox(entry("k", "r"))
			return err
		})
		if !errors.Is(err, store.ErrFenced) {
			t.Errorf("commit with fence %v: %v, want ErrFenced", f, err)
		}
		var fe *store.FencedError
		if !errors.As(err, &fe) || fe.Fence != f {
			t.Errorf("commit with fence %v: %v, want a *FencedError naming it", f, err)
		}
		_ = ran // a backend may run fn before it finds the fence stale; nothing may stay
	}
	if got := pendingIDs(t, s, 0); !slices.Equal(got, []string{"d1"}) {
		t.Errorf("a stale commit took the inbox entry: pending %v", got)
	}
	if c := depths(t, s); c.Outbox != 0 {
		t.Errorf("a stale commit added to the outbox: %+v", c)
	}
	take(t, s, in[0].Seq)
}

func seeEvent(t *testing.T, s store.Store, id string, now, until time.Time) bool {
	t.Helper()
	var dup bool
	mustCommit(t, s, func(tx store.CommitTx) error {
		var err error
		dup, err = tx.SeeEvent(id, now, until)
		return err
	})
	return dup
}

func testDedupWindow(t *testing.T, b Backend) {
	s := open(t, b)
	until := t0.Add(time.Hour)
	if seeEvent(t, s, "e1", t0, until) {
		t.Fatal("a new event id is a duplicate")
	}
	if !seeEvent(t, s, "e1", t0.Add(59*time.Minute), t0.Add(2*time.Hour)) {
		t.Fatal("an event id seen within the window is not a duplicate")
	}
	// A duplicate does not renew the window: it ends an hour after the
	// first sighting.
	if seeEvent(t, s, "e1", t0.Add(61*time.Minute), t0.Add(3*time.Hour)) {
		t.Fatal("an event id seen after its window is still a duplicate")
	}
	if !seeEvent(t, s, "e1", t0.Add(2*time.Hour), t0.Add(4*time.Hour)) {
		t.Fatal("the sighting after the window did not start a new one")
	}
	// Within one commit the second sighting is a duplicate too.
	mustCommit(t, s, func(tx store.CommitTx) error {
		first, err := tx.SeeEvent("e2", t0, until)
		if err != nil {
			return err
		}
		second, err := tx.SeeEvent("e2", t0, until)
		if err != nil {
			return err
		}
		if first || !second {
			t.Errorf("one commit seeing e2 twice: %v then %v, want false then true", first, second)
		}
		return nil
	})
	// The sweep removes what expired, and only that.
	if _, err := s.Sweep(t.Context(), t0.Add(90*time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	if seeEvent(t, s, "e2", t0.Add(91*time.Minute), t0.Add(5*time.Hour)) {
		t.Error("e2's window outlived its sweep")
	}
	if !seeEvent(t, s, "e1", t0.Add(91*time.Minute), t0.Add(5*time.Hour)) {
		t.Error("the sweep removed e1's live window")
	}
}

func testDedupConcurrent(t *testing.T, b Backend) {
	s := open(t, b)
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for range n {
		wg.Go(func() {
			err := s.Commit(t.Context(), fence(t, s), func(tx store.CommitTx) error {
				dup, err := tx.SeeEvent("same", t0, t0.Add(time.Hour))
				if err != nil {
					return err
				}
				if !dup {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// A commit that a backend retried counts once per attempt: only the
	// committed attempts count, and exactly one of them saw it first.
	if firsts != 1 {
		t.Errorf("%d of %d concurrent commits saw the event first, want exactly 1", firsts, n)
	}
}

func testIncidentsInCommit(t *testing.T, b Backend) {
	s := open(t, b)
	ev := event.Event{ID: "e1", Kind: event.KindStatus, Status: "failed", Code: 131048, PhoneNumberID: "PN1"}
	open1 := &incident.Incident{Fingerprint: "fp-open", Rule: "r", Status: incident.Open, Count: 3, FirstSeen: t0, Event: ev,
		Ack: &incident.Ack{By: "@alice (U0ALICE)", At: t0, Via: "slack"}}
	pending := &incident.Incident{Fingerprint: "fp-pending", Rule: "r", Status: incident.Pending, Count: 1}
	done := &incident.Incident{Fingerprint: "fp-done", Rule: "r", Status: incident.Resolved, ResolvedAt: t0}
	held := &incident.Incident{Fingerprint: "fp-held", Rule: "r", Status: incident.Resolved, ResolvedAt: t0,
		Deferred: &incident.Deferred{Count: 2, Resolved: true}}
	mustCommit(t, s, func(tx store.CommitTx) error {
		for _, inc := range []*incident.Incident{open1, pending, done, held} {
			until := time.Time{}
			if inc.Status == incident.Resolved {
				until = t0.Add(time.Hour)
			}
			if err := tx.PutIncident(inc, until); err != nil {
				return err
			}
		}
		if err := tx.PutIncidentEvent(open1.Fingerprint, &ev); err != nil {
			return err
		}
		// The commit reads what it wrote.
		got, ok, err := tx.Incident("fp-open")
		if err != nil || !ok || got.Count != 3 || got.Event.ID != "e1" {
			t.Errorf("incident read in its commit: %+v %v %v", got, ok, err)
		}
		return nil
	})
	mustCommit(t, s, func(tx store.CommitTx) error {
		got, ok, err := tx.Incident("fp-open")
		if err != nil || !ok || got.Event.PhoneNumberID != "PN1" || !got.FirstSeen.Equal(t0) {
			t.Errorf("incident read in the next commit: %+v %v %v", got, ok, err)
		}
		if _, ok, err := tx.Incident("fp-none"); ok || err != nil {
			t.Errorf("an unknown incident: %v %v", ok, err)
		}
		return nil
	})
	live, err := s.LiveIncidents(t.Context(), fence(t, s))
	if err != nil {
		t.Fatal(err)
	}
	var fps []string
	for _, inc := range live {
		fps = append(fps, inc.Fingerprint)
	}
	slices.Sort(fps)
	if !slices.Equal(fps, []string{"fp-held", "fp-open", "fp-pending"}) {
		t.Errorf("live incidents %v, want the open, the pending and the held one", fps)
	}
	if inc, err := s.GetIncident(t.Context(), "fp-open"); err != nil || inc.Event.ID != "e1" {
		t.Errorf("get incident: %+v %v", inc, err)
	} else if a := inc.Ack; a == nil || a.By != open1.Ack.By || !a.At.Equal(t0) || a.Via != "slack" {
		t.Errorf("the acknowledgement read back is %+v, want %+v", inc.Ack, open1.Ack)
	}
	all, err := s.Incidents(t.Context())
	if err != nil || len(all) != 4 {
		t.Errorf("incidents: %d, %v; want 4", len(all), err)
	}
	mustCommit(t, s, func(tx store.CommitTx) error { return tx.DeleteIncident("fp-pending") })
	if _, err := s.GetIncident(t.Context(), "fp-pending"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted incident: %v, want ErrNotFound", err)
	}
}

func testOutboxFIFOPerKey(t *testing.T, b Backend) {
	s := open(t, b)
	es := enqueue(t, s, entry("k1", "a"), entry("k1", "b"), entry("k2", "d"), entry("k1", "c"))
	if c := depths(t, s); c.Outbox != 4 {
		t.Fatalf("outbox depth %d, want 4", c.Outbox)
	}
	if es[0].ID == "" || es[0].Notification.ID != es[0].ID {
		t.Fatalf("an added entry has id %q and notification id %q", es[0].ID, es[0].Notification.ID)
	}
	// d stays claimed for the whole case: its key is not a's.
	cs := claim(t, s, t0, time.Hour)
	if got := names(cs); !slices.Equal(got, []string{"a", "d"}) {
		t.Fatalf("first claims %v, want the heads a and d", got)
	}
	if again := claim(t, s, t0, time.Minute); len(again) != 0 {
		t.Fatalf("claimed keys gave more: %v", names(again))
	}
	if err := s.Sent(t.Context(), cs["a"], store.Sent{Result: audit.NoteSent}); err != nil {
		t.Fatal(err)
	}
	next := claim(t, s, t0, time.Minute)
	if got := names(next); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after a was sent: %v, want b", got)
	}
	// A failed attempt keeps b at the head until its retry is due: c
	// waits behind it.
	failed := next["b"]
	failed.Entry.Attempts, failed.Entry.LastError = 1, "boom"
	failed.Entry.NextAttempt = t0.Add(time.Minute)
	if err := s.Retry(t.Context(), failed); err != nil {
		t.Fatal(err)
	}
	cs2, wake, err := s.ClaimOutbox(t.Context(), store.ClaimQuery{Now: t0.Add(30 * time.Second), Lease: time.Minute})
	if err != nil || len(cs2) != 0 {
		t.Fatalf("claims before b's retry is due: %d, %v", len(cs2), err)
	}
	if !wake.Equal(t0.Add(time.Minute)) {
		t.Errorf("next due %v, want b's retry at %v", wake, t0.Add(time.Minute))
	}
	retried := claim(t, s, t0.Add(time.Minute), time.Minute)
	if got := names(retried); !slices.Equal(got, []string{"b"}) || retried["b"].Entry.Attempts != 1 ||
		retried["b"].Entry.LastError != "boom" {
		t.Fatalf("after b's retry is due: %v %+v", got, retried["b"].Entry)
	}
	if err := s.Sent(t.Context(), retried["b"], store.Sent{Result: audit.NoteSent}); err != nil {
		t.Fatal(err)
	}
	last := claim(t, s, t0.Add(time.Minute), time.Minute)
	if got := names(last); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("after b was sent: %v, want c", got)
	}
	// Released, c waits as long as the release said, and no longer.
	if err := s.Release(t.Context(), last["c"], t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if cs := claim(t, s, t0.Add(4*time.Minute), time.Minute); cs["c"].Token != 0 {
		t.Error("a released entry was offered before its wait")
	}
	if cs := claim(t, s, t0.Add(5*time.Minute), time.Minute); cs["c"].Token == 0 {
		t.Error("a released entry was not offered after its wait")
	}
}

func testOutboxOneClaimPerKey(t *testing.T, b Backend) {
	s := open(t, b)
	var es []outbox.Entry
	for i := range 5 {
		for j := range 3 {
			es = append(es, entry(fmt.Sprintf("k%d", i), fmt.Sprintf("k%d-%d", i, j)))
		}
	}
	enqueue(t, s, es...)
	var mu sync.Mutex
	perKey := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			cs, _, err := s.ClaimOutbox(t.Context(), store.ClaimQuery{Now: t0, Lease: time.Minute, Limit: 2})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, c := range cs {
				perKey[c.Entry.Key]++
				if c.Entry.Notification.Rule.Name != c.Entry.Key+"-0" {
					t.Errorf("claimed %s, not the head of %s", c.Entry.Notification.Rule.Name, c.Entry.Key)
				}
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(perKey) != 5 {
		t.Errorf("claims covered %d keys, want all 5: %v", len(perKey), perKey)
	}
	for k, n := range perKey {
		if n != 1 {
			t.Errorf("key %s claimed %d times at once", k, n)
		}
	}
}

func testClaimLeaseExpires(t *testing.T, b Backend) {
	s := open(t, b)
	enqueue(t, s, entry("k", "a"), entry("k", "b"))
	first := claim(t, s, t0, time.Minute)["a"]
	if first.Token == 0 || !first.Until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("claim %+v, want a with a lease to %v", first, t0.Add(time.Minute))
	}
	if cs := claim(t, s, t0.Add(59*time.Second), time.Minute); len(cs) != 0 {
		t.Fatalf("a live claim was taken again: %v", names(cs))
	}
	// The sender died or hung: once the lease ends another takes it.
	second := claim(t, s, t0.Add(61*time.Second), time.Minute)["a"]
	if second.Token == 0 || second.Token == first.Token {
		t.Fatalf("the expired claim was not retaken: %+v", second)
	}
	// The first sender's outcome is refused and changes nothing.
	if err := s.Sent(t.Context(), first, store.Sent{Result: audit.NoteSent}); !errors.Is(err, store.ErrClaimLost) {
		t.Fatalf("sent with a lost claim: %v, want ErrClaimLost", err)
	}
	if err := s.Retry(t.Context(), first); !errors.Is(err, store.ErrClaimLost) {
		t.Errorf("retry with a lost claim: %v, want ErrClaimLost", err)
	}
	if err := s.Bury(t.Context(), first, "permanent", t0); !errors.Is(err, store.ErrClaimLost) {
		t.Errorf("bury with a lost claim: %v, want ErrClaimLost", err)
	}
	if c := depths(t, s); c.Outbox != 2 || c.Dead != 0 {
		t.Fatalf("a lost claim's outcome changed the outbox: %+v", c)
	}
	if err := s.Sent(t.Context(), second, store.Sent{Result: audit.NoteSent}); err != nil {
		t.Fatalf("sent with the live claim: %v", err)
	}
	if got := names(claim(t, s, t0.Add(62*time.Second), time.Minute)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after the retaken claim was sent: %v, want b", got)
	}
}

func testClaimAccept(t *testing.T, b Backend) {
	s := open(t, b)
	enqueue(t, s, entry("k1", "a"), entry("k2", "b"), entry("k3", "c"))
	asked := map[string]bool{}
	cs, _, err := s.ClaimOutbox(t.Context(), store.ClaimQuery{Now: t0, Lease: time.Minute,
		Accept: func(e *outbox.Entry) bool {
			asked[e.Notification.Rule.Name] = true
			return e.Notification.Rule.Name != "b"
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || !asked["b"] {
		t.Fatalf("%d claims, asked %v; want a and c claimed and b refused", len(cs), asked)
	}
	for _, c := range cs {
		if c.Entry.Notification.Rule.Name == "b" {
			t.Error("a refused head was claimed")
		}
	}
	if got := names(claim(t, s, t0, time.Minute)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("the refused head is not claimable next: %v", got)
	}
}

func testInFlightMarks(t *testing.T, b Backend) {
	s := b.Open(t)
	enqueue(t, s, entry("k", "a"))
	c := claim(t, s, t0, time.Minute)["a"]
	if !c.InFlight.IsZero() {
		t.Fatalf("a new entry is in flight since %v", c.InFlight)
	}
	at := t0.Add(time.Second)
	if err := s.MarkInFlight(t.Context(), c, at); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The process died mid-send: the next one learns the send started.
	s = open(t, b)
	c = claim(t, s, t0.Add(time.Hour), time.Minute)["a"]
	if !c.InFlight.Equal(at) {
		t.Fatalf("after a restart the claim is in flight since %v, want %v", c.InFlight, at)
	}
	// A retry that keeps the mark keeps it; one without clears it.
	c.Entry.NextAttempt = t0
	if err := s.Retry(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	c = claim(t, s, t0.Add(time.Hour), time.Minute)["a"]
	if !c.InFlight.Equal(at) {
		t.Fatalf("a retry with the mark: in flight since %v", c.InFlight)
	}
	c.InFlight = time.Time{}
	if err := s.Retry(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	c = claim(t, s, t0.Add(time.Hour), time.Minute)["a"]
	if !c.InFlight.IsZero() {
		t.Fatalf("a retry without the mark left it: %v", c.InFlight)
	}
}

func testSentWithFollowUps(t *testing.T, b Backend) {
	s := open(t, b)
	enqueue(t, s, entry("fp/slack/#ops", "open"))
	c := claim(t, s, t0, time.Minute)["open"]
	ref := &store.Ref{Key: "fp/slack/#ops", Ref: "C1/1.2", Link: "https://example.slack.com/archives/C1/p12", Updated: t0, Incident: "fp"}
	link := entry("fp/jira/OPS", "link")
	link.Notification.Op = notification.OpLink
	if err := s.Sent(t.Context(), c, store.Sent{Ref: ref, Result: audit.NoteSent, Then: []outbox.Entry{link}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRef(t.Context(), "fp/slack/#ops")
	if err != nil || got.Ref != "C1/1.2" || got.Link != ref.Link || got.Incident != "fp" {
		t.Fatalf("ref %+v, %v", got, err)
	}
	if _, err := s.GetRef(t.Context(), "fp/jira/OPS"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a missing ref: %v, want ErrNotFound", err)
	}
	cs := claim(t, s, t0, time.Minute)
	if got := names(cs); !slices.Equal(got, []string{"link"}) || cs["link"].Entry.ID == "" {
		t.Fatalf("after the send: %v, want the follow-up link with an id", got)
	}
	if cs["link"].Entry.Notification.Op != notification.OpLink {
		t.Errorf("the follow-up read back as %+v", cs["link"].Entry.Notification)
	}
	if c := depths(t, s); c.Outbox != 1 {
		t.Errorf("outbox depth %d, want 1", c.Outbox)
	}
}

func testBuryAndDeadLetters(t *testing.T, b Backend) {
	s := open(t, b)
	enqueue(t, s, entry("k", "a"), entry("k", "b"))
	c := claim(t, s, t0, time.Minute)["a"]
	c.Entry.Attempts, c.Entry.LastError = 3, "channel_not_found"
	if err := s.Bury(t.Context(), c, "permanent", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if c := depths(t, s); c.Outbox != 1 || c.Dead != 1 {
		t.Fatalf("depths after a bury: %+v", c)
	}
	dl, err := s.DeadLetters(t.Context())
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters %v, %v", dl, err)
	}
	d := dl[0]
	if d.ID != c.Entry.ID || d.Reason != "permanent" || d.Attempts != 3 || d.LastError != "channel_not_found" ||
		!d.Died.Equal(t0.Add(time.Minute)) {
		t.Errorf("dead letter %+v", d)
	}
	if got, err := s.GetDead(t.Context(), d.ID); err != nil || got.ID != d.ID {
		t.Errorf("get dead: %+v %v", got, err)
	}
	if got := names(claim(t, s, t0, time.Minute)); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after the head was buried: %v, want b", got)
	}
	for _, id := range []string{"nope", "0", "999999"} {
		if _, err := s.GetDead(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get dead %q: %v, want ErrNotFound", id, err)
		}
		if err := s.DropDead(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("drop dead %q: %v, want ErrNotFound", id, err)
		}
	}
	if err := s.DropDead(t.Context(), d.ID); err != nil {
		t.Fatal(err)
	}
	if c := depths(t, s); c.Dead != 0 {
		t.Errorf("dead depth after a drop: %d", c.Dead)
	}
}

// bury puts one entry in the dead letters and returns its id.
func buryOne(t *testing.T, s store.Store, key string) string {
	t.Helper()
	enqueue(t, s, entry(key, "dead-"+key))
	c := claim(t, s, t0, time.Minute)["dead-"+key]
	if err := s.Bury(t.Context(), c, "permanent", t0); err != nil {
		t.Fatal(err)
	}
	return c.Entry.ID
}

func testReplayClaimOnce(t *testing.T, b Backend) {
	s := open(t, b)
	id := buryOne(t, s, "k")
	// Many replays at once, from wherever: one gets the claim.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []store.ReplayClaim
	refused := 0
	for range 8 {
		wg.Go(func() {
			c, err := s.ClaimReplay(context.Background(), id, t0, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, c)
			case errors.Is(err, store.ErrReplaying):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || refused != 7 {
		t.Fatalf("%d replays claimed the dead letter and %d were refused, want 1 and 7", len(won), refused)
	}
	c := won[0]
	if c.Dead.ID != id || c.Dead.Reason != "permanent" {
		t.Errorf("the claim read %+v", c.Dead)
	}
	var re *store.ReplayingError
	if _, err := s.ClaimReplay(t.Context(), id, t0.Add(30*time.Second), time.Minute); !errors.As(err, &re) || !re.Since.Equal(t0) {
		t.Errorf("a second replay: %v, want a *ReplayingError since %v", err, t0)
	}
	// A failed replay rewrites the dead letter and frees it.
	d := c.Dead
	d.Attempts, d.LastError = 4, "still failing"
	if err := s.ReplayFailed(t.Context(), c, d); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimReplay(t.Context(), id, t0.Add(time.Second), time.Minute)
	if err != nil || c.Dead.LastError != "still failing" || c.Dead.Attempts != 4 {
		t.Fatalf("the replay after a failed one: %+v %v", c.Dead, err)
	}
	// A replay that died loses its claim with its lease.
	late, err := s.ClaimReplay(t.Context(), id, t0.Add(2*time.Minute), time.Minute)
	if err != nil {
		t.Fatalf("a replay after the claim's lease ended: %v", err)
	}
	if err := s.Replayed(t.Context(), c, nil); !errors.Is(err, store.ErrClaimLost) {
		t.Errorf("the outcome of a lost replay claim: %v, want ErrClaimLost", err)
	}
	ref := &store.Ref{Key: "k", Ref: "C1/9.9", Updated: t0, Incident: "fp-k"}
	if err := s.Replayed(t.Context(), late, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDead(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a replayed dead letter is still there: %v", err)
	}
	if r, err := s.GetRef(t.Context(), "k"); err != nil || r.Ref != "C1/9.9" {
		t.Errorf("the replay's ref: %+v %v", r, err)
	}
	// Replayed already: a replay that starts now reads it is gone.
	if _, err := s.ClaimReplay(t.Context(), id, t0.Add(3*time.Minute), time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a replay of a replayed dead letter: %v, want ErrNotFound", err)
	}
	other := buryOne(t, s, "k2")
	rc, err := s.ClaimReplay(t.Context(), other, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseReplay(t.Context(), rc); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimReplay(t.Context(), other, t0, time.Minute); err != nil {
		t.Errorf("a replay after a release: %v", err)
	}
}

func testSilencesRoundTrip(t *testing.T, b Backend) {
	s := b.Open(t)
	in := silence.Silence{Matchers: []silence.Matcher{{Name: "code", Op: "=", Value: "131048"}},
		StartsAt: t0, EndsAt: t0.Add(2 * time.Hour), Comment: "spam storm", Author: "ops", Created: t0}
	a, err := s.AddSilence(t.Context(), in)
	if err != nil || a.ID == "" {
		t.Fatalf("add silence: %+v %v", a, err)
	}
	b2, err := s.AddSilence(t.Context(), in)
	if err != nil || b2.ID == a.ID {
		t.Fatalf("second silence: %+v %v (ids must differ)", b2, err)
	}
	a.Comment = "spam storm, Meta ticket 42"
	if err := s.PutSilence(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	missing := a
	missing.ID = "999999"
	if err := s.PutSilence(t.Context(), missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("put an unknown silence: %v, want ErrNotFound", err)
	}
	exp, err := s.ExpireSilence(t.Context(), b2.ID, t0.Add(time.Hour))
	if err != nil || !exp.EndsAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("expire: %+v %v", exp, err)
	}
	if _, err := s.ExpireSilence(t.Context(), "999999", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expire an unknown silence: %v, want ErrNotFound", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, b)
	all, err := s.Silences(t.Context())
	if err != nil || len(all) != 2 {
		t.Fatalf("silences after a restart: %v %v", all, err)
	}
	if all[0].ID != a.ID || all[0].Comment != a.Comment || len(all[0].Matchers) != 1 ||
		all[0].Matchers[0] != in.Matchers[0] || !all[0].StartsAt.Equal(t0) || all[0].Author != "ops" {
		t.Errorf("first silence read back as %+v", all[0])
	}
	if !all[1].EndsAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("the expired silence ends at %v", all[1].EndsAt)
	}
}

func testCrashRecord(t *testing.T, b Backend) {
	s := b.Open(t)
	in := add(t, s, "d1", "d2", "d3")
	if err := s.BeginBatch(t.Context(), fence(t, s), in[0].Seq, in[2].Seq); err != nil {
		t.Fatal(err)
	}
	// The process dies while processing the batch.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = b.Open(t)
	crashes, err := s.Crashes(t.Context(), fence(t, s))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range in {
		if crashes[e.Seq] != 1 {
			t.Errorf("entry %s crashed %d times, want 1", e.Delivery.ID, crashes[e.Seq])
		}
	}
	if err := s.QuarantineCrashed(t.Context(), fence(t, s), in[0], "crashed the process 3 times"); err != nil {
		t.Fatal(err)
	}
	if got := pendingIDs(t, s, 0); !slices.Equal(got, []string{"d2", "d3"}) {
		t.Errorf("pending after the quarantine: %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, b)
	crashes, err = s.Crashes(t.Context(), fence(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if len(crashes) != 2 || crashes[in[1].Seq] != 1 {
		t.Errorf("crashes after a clean restart %v, want d2 and d3 once each", crashes)
	}
}

func testRestartKeepsEverything(t *testing.T, b Backend) {
	s := b.Open(t)
	in := add(t, s, "d1", "d2")
	ev := event.Event{ID: "e1", Kind: event.KindStatus, Status: "failed", Code: 131048}
	var added []outbox.Entry
	mustCommit(t, s, func(tx store.CommitTx) error {
		if _, err := tx.TakeInbox(in[0].Seq); err != nil {
			return err
		}
		if _, err := tx.SeeEvent("e1", t0, t0.Add(time.Hour)); err != nil {
			return err
		}
		added = added[:0]
		for _, e := range []outbox.Entry{entry("k", "a"), entry("k", "b"), entry("k2", "dead")} {
			e, err := tx.AddOutbox(e)
			if err != nil {
				return err
			}
			added = append(added, e)
		}
		inc := &incident.Incident{Fingerprint: "fp1", Rule: "r", Status: incident.Open, Count: 2, Event: ev}
		if err := tx.PutIncident(inc, time.Time{}); err != nil {
			return err
		}
		if err := tx.PutIncidentEvent("fp1", &ev); err != nil {
			return err
		}
		rec := &audit.Record{ID: audit.ID(t0, "d1"), DeliveryID: "d1", Source: "meta", ReceivedAt: t0, Events: []audit.Event{}}
		return tx.PutAudit(rec, store.RawPayload([]byte(`{"id":"d1"}`)), t0.Add(time.Hour), added)
	})
	cs := claim(t, s, t0, time.Minute)
	if err := s.Bury(t.Context(), cs["dead"], "auth", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Sent(t.Context(), cs["a"], store.Sent{Ref: &store.Ref{Key: "k", Ref: "C1/1", Updated: t0, Incident: "fp1"}, Result: audit.NoteSent}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddSilence(t.Context(), silence.Silence{Matchers: []silence.Matcher{{Name: "code", Op: "=", Value: "1"}},
		StartsAt: t0, EndsAt: t0.Add(time.Hour), Comment: "c", Author: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, b)
	if got := pendingIDs(t, s, 0); !slices.Equal(got, []string{"d2"}) {
		t.Errorf("pending after a restart: %v", got)
	}
	if c := depths(t, s); c.Inbox != 1 || c.Outbox != 1 || c.Dead != 1 {
		t.Errorf("depths after a restart: %+v", c)
	}
	if got := claim(t, s, t0, time.Minute); len(got) != 1 || got["b"].Entry.ID != added[1].ID {
		t.Errorf("claims after a restart: %v, want b", names(got))
	}
	if r, err := s.GetRef(t.Context(), "k"); err != nil || r.Ref != "C1/1" {
		t.Errorf("ref after a restart: %+v %v", r, err)
	}
	if dl, err := s.DeadLetters(t.Context()); err != nil || len(dl) != 1 || dl[0].Reason != "auth" {
		t.Errorf("dead letters after a restart: %+v %v", dl, err)
	}
	if inc, err := s.GetIncident(t.Context(), "fp1"); err != nil || inc.Count != 2 || inc.Event.ID != "e1" {
		t.Errorf("incident after a restart: %+v %v", inc, err)
	}
	if sils, err := s.Silences(t.Context()); err != nil || len(sils) != 1 {
		t.Errorf("silences after a restart: %v %v", sils, err)
	}
	if !seeEvent(t, s, "e1", t0.Add(time.Minute), t0.Add(time.Hour)) {
		t.Error("the dedup record did not survive the restart")
	}
	recs, err := s.Audit(t.Context(), audit.Query{Body: true})
	if err != nil || len(recs) != 1 || recs[0].DeliveryID != "d1" || recs[0].Payload != `{"id":"d1"}` {
		t.Fatalf("audit after a restart: %+v %v", recs, err)
	}
	results := map[string]string{}
	for _, n := range recs[0].Notifications {
		results[n.ID] = n.Result
	}
	want := map[string]string{added[0].ID: audit.NoteSent, added[1].ID: audit.NotePending, added[2].ID: audit.NoteDead}
	for id, w := range want {
		if results[id] != w {
			t.Errorf("notification %s recorded %q, want %q (all: %v)", id, results[id], w, results)
		}
	}
	if err := s.Check(t.Context()); err != nil {
		t.Errorf("check: %v", err)
	}
}
