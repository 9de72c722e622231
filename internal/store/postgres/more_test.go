package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/pgtest"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/internal/store/postgres"
)

// TestClaimRetakenByAnotherReplica: a sender that died holding a claim
// loses it to another replica once the lease ends, by the senders' clock.
func TestClaimRetakenByAnotherReplica(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 1)
	b := replica(t, dsn, "b", 1)
	f := fencesOf(t, a)[0]
	if err := a.Commit(t.Context(), f, func(tx store.CommitTx) error {
		_, err := tx.AddOutbox(entry("k", "first"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ca, _, err := a.ClaimOutbox(t.Context(), store.ClaimQuery{Now: t0, Lease: time.Minute})
	if err != nil || len(ca) != 1 {
		t.Fatalf("a's claim: %v %v", ca, err)
	}
	if cb, _, err := b.ClaimOutbox(t.Context(), store.ClaimQuery{Now: t0.Add(59 * time.Second), Lease: time.Minute}); err != nil || len(cb) != 0 {
		t.Fatalf("b claimed a live claim of a's: %v %v", cb, err)
	}
	cb, _, err := b.ClaimOutbox(t.Context(), store.ClaimQuery{Now: t0.Add(61 * time.Second), Lease: time.Minute})
	if err != nil || len(cb) != 1 || cb[0].Token == ca[0].Token {
		t.Fatalf("b after a's lease ended: %v %v", cb, err)
	}
	if err := a.Sent(t.Context(), ca[0], store.Sent{Result: audit.NoteSent}); !errors.Is(err, store.ErrClaimLost) {
		t.Fatalf("a's late outcome: %v, want ErrClaimLost", err)
	}
	if err := b.Sent(t.Context(), cb[0], store.Sent{Result: audit.NoteSent}); err != nil {
		t.Fatal(err)
	}
}

// TestReplayClaimAcrossReplicas: dlq replay started on two replicas at
// once sends once.
func TestReplayClaimAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 1)
	b := replica(t, dsn, "b", 1)
	f := fencesOf(t, a)[0]
	if err := a.Commit(t.Context(), f, func(tx store.CommitTx) error {
		_, err := tx.AddOutbox(entry("k", "dead"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cs, _, err := a.ClaimOutbox(t.Context(), store.ClaimQuery{Now: t0, Lease: time.Minute})
	if err != nil || len(cs) != 1 {
		t.Fatal(cs, err)
	}
	if err := a.Bury(t.Context(), cs[0], "permanent", t0); err != nil {
		t.Fatal(err)
	}
	id := cs[0].Entry.ID
	var mu sync.Mutex
	won, refused := 0, 0
	var wg sync.WaitGroup
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, err := s.ClaimReplay(context.Background(), id, t0, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrReplaying):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 || refused != 7 {
		t.Fatalf("%d replays won and %d were refused, want 1 and 7", won, refused)
	}
}

func TestAuditPagesAndFilters(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := replica(t, dsn, "a", 1)
	var recs []audit.Record
	var bodies [][]byte
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Minute)
		src := "meta"
		if i%2 == 1 {
			src = "Twilio"
		}
		recs = append(recs, audit.Record{ID: audit.ID(at, fmt.Sprint("d", i)), DeliveryID: fmt.Sprint("d", i), Source: src, ReceivedAt: at,
			HTTPStatus: 401, Events: []audit.Event{{ID: fmt.Sprint("e", i), Code: 131000 + i}}})
		bodies = append(bodies, []byte(strings.Repeat(fmt.Sprintf(`{"n":%d}`, i), 100)))
	}
	if err := s.AddAudit(t.Context(), recs, bodies, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []audit.Record) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.DeliveryID)
		}
		return out
	}
	page, err := s.Audit(t.Context(), audit.Query{Limit: 2})
	if err != nil || fmt.Sprint(ids(page)) != "[d4 d3]" {
		t.Fatalf("first page %v %v, want d4 d3", ids(page), err)
	}
	next, err := s.Audit(t.Context(), audit.Query{Limit: 2, Before: page[1].ID})
	if err != nil || fmt.Sprint(ids(next)) != "[d2 d1]" {
		t.Fatalf("next page %v %v, want d2 d1", ids(next), err)
	}
	since, err := s.Audit(t.Context(), audit.Query{Since: t0.Add(3 * time.Minute)})
	if err != nil || fmt.Sprint(ids(since)) != "[d4 d3]" {
		t.Fatalf("since 09:03: %v %v", ids(since), err)
	}
	twilio, err := s.Audit(t.Context(), audit.Query{Source: "twilio"})
	if err != nil || fmt.Sprint(ids(twilio)) != "[d3 d1]" {
		t.Fatalf("source twilio: %v %v", ids(twilio), err)
	}
	code, err := s.Audit(t.Context(), audit.Query{Code: 131002, Body: true})
	if err != nil || fmt.Sprint(ids(code)) != "[d2]" || code[0].Payload != string(bodies[2]) {
		t.Fatalf("code 131002 with body: %v %v", ids(code), err)
	}
	if page[0].Payload != "" {
		t.Error("a query without Body returned the payload")
	}
	n, err := s.Sweep(t.Context(), t0.Add(2*time.Hour), 0)
	if err != nil || n != 5 {
		t.Fatalf("sweep removed %d, %v; want the 5 expired records", n, err)
	}
	if all, err := s.Audit(t.Context(), audit.Query{}); err != nil || len(all) != 0 {
		t.Fatalf("after the sweep: %v %v", ids(all), err)
	}
}

// TestSweepResolvedIncidentsAndTheirRefs: a resolved incident goes with
// its refs when its time comes, and a neighbour's refs stay.
func TestSweepResolvedIncidentsAndTheirRefs(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := replica(t, dsn, "a", 1)
	f := fencesOf(t, s)[0]
	err := s.Commit(t.Context(), f, func(tx store.CommitTx) error {
		if err := tx.PutIncident(&incident.Incident{Fingerprint: "aa", Status: incident.Resolved, ResolvedAt: t0}, t0.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.PutIncident(&incident.Incident{Fingerprint: "aab", Status: incident.Open}, time.Time{}); err != nil {
			return err
		}
		for _, k := range []string{"aa/slack/#ops", "aab/slack/#ops"} {
			if _, err := tx.AddOutbox(entry(k, k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, _, err := s.ClaimOutbox(t.Context(), store.ClaimQuery{Now: t0, Lease: time.Minute})
	if err != nil || len(cs) != 2 {
		t.Fatal(cs, err)
	}
	for _, c := range cs {
		fp, _, _ := strings.Cut(c.Entry.Key, "/")
		if err := s.Sent(t.Context(), c, store.Sent{Ref: &store.Ref{Key: c.Entry.Key, Ref: "C1/" + fp, Incident: fp}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Sweep(t.Context(), t0.Add(30*time.Minute), 0); err != nil || n != 0 {
		t.Fatalf("an early sweep removed %d, %v", n, err)
	}
	if n, err := s.Sweep(t.Context(), t0.Add(2*time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("the sweep removed %d, %v; want the resolved incident", n, err)
	}
	if _, err := s.GetIncident(t.Context(), "aa"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the swept incident: %v", err)
	}
	if _, err := s.GetRef(t.Context(), "aa/slack/#ops"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the swept incident's ref: %v", err)
	}
	if r, err := s.GetRef(t.Context(), "aab/slack/#ops"); err != nil || r.Ref != "C1/aab" {
		t.Errorf("the open neighbour's ref: %+v %v", r, err)
	}
}

// TestOneReplicaSweeps: concurrent sweeps from two replicas remove each
// expired record once.
func TestOneReplicaSweeps(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 1)
	b := replica(t, dsn, "b", 1)
	f := fencesOf(t, a)[0]
	if err := a.Commit(t.Context(), f, func(tx store.CommitTx) error {
		for i := range 50 {
			if _, err := tx.SeeEvent(fmt.Sprint("e", i), t0, t0.Add(time.Minute)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b, a, b} {
		wg.Go(func() {
			n, err := s.Sweep(context.Background(), t0.Add(time.Hour), 0)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 50 {
		t.Fatalf("sweeps removed %d in all, want each of the 50 once", total)
	}
	if c, err := a.Counts(t.Context()); err != nil || c.Dedup != 0 {
		t.Fatalf("dedup records left: %+v %v", c, err)
	}
}

// TestOutboxOrderUnderConcurrentAdds: while two replicas send, commits
// and the senders' follow-ups add to the same keys; every entry is sent
// once, each key's in the order of its ids (the order they were added),
// and no key is left without a head.
func TestOutboxOrderUnderConcurrentAdds(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 1)
	b := replica(t, dsn, "b", 1)
	f := fencesOf(t, a)[0]
	const keys, rounds = 6, 15
	key := func(i int) string { return fmt.Sprintf("fp%d/slack/#ops", i) }
	var mu sync.Mutex
	sent := map[string][]int{}
	added := 0
	adding := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(adding)
		for r := range rounds {
			err := a.Commit(context.Background(), f, func(tx store.CommitTx) error {
				for i := range keys {
					if _, err := tx.AddOutbox(entry(key(i), fmt.Sprint("commit-", r))); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			added += keys
			mu.Unlock()
		}
	})
	for _, s := range []*postgres.Store{a, b} {
		for range 3 {
			wg.Go(func() {
				idle := 0
				for {
					cs, _, err := s.ClaimOutbox(context.Background(), store.ClaimQuery{Now: t0, Lease: time.Hour, Limit: 2})
					if err != nil {
						t.Error(err)
						return
					}
					if len(cs) == 0 {
						select {
						case <-adding:
							c, err := s.Depths(context.Background())
							if err != nil || c.Outbox == 0 {
								return
							}
							// Others may hold the last claims; entries
							// nobody can claim for this long have lost
							// their key's head.
							if idle++; idle > 5000 {
								t.Errorf("%d outbox entries left that no claim takes", c.Outbox)
								return
							}
						default:
						}
						continue
					}
					idle = 0
					for _, c := range cs {
						id, _ := strconv.Atoi(c.Entry.ID)
						var then []outbox.Entry
						if strings.HasPrefix(c.Entry.Notification.Rule.Name, "commit-") {
							// A follow-up on the same key, as a new message's
							// link is.
							then = append(then, entry(c.Entry.Key, "follow-up"))
						}
						mu.Lock()
						sent[c.Entry.Key] = append(sent[c.Entry.Key], id)
						added += len(then)
						mu.Unlock()
						if err := s.Sent(context.Background(), c, store.Sent{Result: audit.NoteSent, Then: then}); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	total := 0
	for k, ids := range sent {
		total += len(ids)
		if !slices.IsSorted(ids) {
			t.Errorf("key %s sent out of order: %v", k, ids)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] == ids[i-1] {
				t.Errorf("key %s: entry %d sent twice", k, ids[i])
			}
		}
	}
	if total != added || total != 2*keys*rounds {
		t.Fatalf("%d sends of %d entries added, want %d", total, added, 2*keys*rounds)
	}
}
