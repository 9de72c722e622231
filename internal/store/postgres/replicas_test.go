package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/pgtest"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/internal/store/postgres"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// replica opens a store on dsn as the named replica, closed when the test
// ends. The lease lasts a minute, so the keeper never renews during a case
// and a heartbeat the case ends stays ended.
func replica(t *testing.T, dsn, name string, partitions int) *postgres.Store {
	t.Helper()
	s := openStore(t, dsn, postgres.Config{ReplicaID: name, Partitions: partitions, PoolSize: 8, LeaseTTL: time.Minute})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func fencesOf(t *testing.T, s *postgres.Store) []store.Fence {
	t.Helper()
	fs, err := s.Fences(t.Context())
	if err != nil {
		t.Fatalf("fences of %s: %v", s.Owner(), err)
	}
	return fs
}

func partitions(fs []store.Fence) []int {
	out := []int{}
	for _, f := range fs {
		out = append(out, f.Partition)
	}
	return out
}

// connect connects to dsn in the store's default schema.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "SET search_path TO "+postgres.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	return conn
}

func sql(t *testing.T, dsn, q string, args ...any) {
	t.Helper()
	conn := connect(t, dsn)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// lapse ends a replica's heartbeat, as if it hung or was cut off.
func lapse(t *testing.T, dsn string, s *postgres.Store) {
	t.Helper()
	sql(t, dsn, "UPDATE replicas SET expires = now() - interval '1 second' WHERE owner = $1", s.Owner())
}

func TestLeasesSplitPartitions(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 8)
	// Alone, a takes every partition.
	if got := partitions(fencesOf(t, a)); len(got) != 8 {
		t.Fatalf("a lone replica owns %v, want all 8", got)
	}
	b := replica(t, dsn, "b", 8)
	// b joined: everything is owned, so b waits for a to give back.
	if got := fencesOf(t, b); len(got) != 0 {
		t.Fatalf("b took %v from a live owner", got)
	}
	fa := fencesOf(t, a)
	fb := fencesOf(t, b)
	if len(fa) != 4 || len(fb) != 4 {
		t.Fatalf("after b joined: a %v, b %v; want 4 each", partitions(fa), partitions(fb))
	}
	all := append(partitions(fa), partitions(fb)...)
	slices.Sort(all)
	if !slices.Equal(all, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("partitions owned %v: want each once", all)
	}
	// A store opened for operator commands takes no part: asked again,
	// both keep theirs and their epochs.
	replica(t, dsn, "cli", 8)
	if again := fencesOf(t, a); !slices.Equal(again, fa) {
		t.Errorf("a's fences changed with nothing changing: %v then %v", fa, again)
	}
	if again := fencesOf(t, b); !slices.Equal(again, fb) {
		t.Errorf("b's fences changed with nothing changing: %v then %v", fb, again)
	}
	// b leaves; a takes its partitions back under new epochs.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	fa2 := fencesOf(t, a)
	if len(fa2) != 8 {
		t.Fatalf("after b left a owns %v", partitions(fa2))
	}
	for _, old := range fb {
		for _, f := range fa2 {
			if f.Partition == old.Partition && f.Epoch <= old.Epoch {
				t.Errorf("partition %d taken back with epoch %d, not above b's %d", f.Partition, f.Epoch, old.Epoch)
			}
		}
	}
}

// deliveryFor is a delivery of an account.
func deliveryFor(account, id string) delivery.Delivery {
	return delivery.Delivery{ID: id, Source: "meta", Account: account, ReceivedAt: t0, Body: []byte(`{}`)}
}

func TestDeliveriesGoToTheirAccountsPartition(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 4)
	fs := fencesOf(t, a)
	accounts := map[int]string{}
	for i := 0; len(accounts) < 4; i++ {
		acc := fmt.Sprintf("waba-%d", i)
		if p := postgres.PartitionOf(acc, 4); accounts[p] == "" {
			accounts[p] = acc
		}
	}
	for p, acc := range accounts {
		for j := range 2 {
			if _, err := a.AddInbox(t.Context(), deliveryFor(acc, fmt.Sprintf("%s-%d", acc, j))); err != nil {
				t.Fatal(err)
			}
		}
		_ = p
	}
	for _, f := range fs {
		in, err := a.PendingInbox(t.Context(), f, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) != 2 || !strings.HasPrefix(in[0].Delivery.ID, accounts[f.Partition]+"-") || !strings.HasPrefix(in[1].Delivery.ID, accounts[f.Partition]+"-") {
			t.Errorf("partition %d holds %v, want the two of %s", f.Partition, in, accounts[f.Partition])
		}
	}
}

func TestPausedOwnerIsFencedAfterTakeover(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 1)
	fa := fencesOf(t, a)
	if len(fa) != 1 {
		t.Fatalf("a owns %v", fa)
	}
	e, err := a.AddInbox(t.Context(), deliveryFor("waba-1", "d1"))
	if err != nil {
		t.Fatal(err)
	}
	b := replica(t, dsn, "b", 1)

	// While a commit of a's holds the lease row, b cannot take the
	// partition: the takeover waits for the transaction.
	inCommit, finish := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Commit(context.Background(), fa[0], func(tx store.CommitTx) error {
			close(inCommit)
			<-finish
			_, err := tx.AddOutbox(entry("k", "written-by-a"))
			return err
		})
	}()
	<-inCommit
	lapse(t, dsn, a)
	if got := fencesOf(t, b); len(got) != 0 {
		t.Fatalf("b took %v while a's commit held it", got)
	}
	close(finish)
	if err := <-done; err != nil {
		t.Fatalf("a's commit under its live fence: %v", err)
	}

	// a pauses (its heartbeat lapses); b takes over with a new epoch.
	lapse(t, dsn, a)
	fb := fencesOf(t, b)
	if len(fb) != 1 || fb[0].Epoch <= fa[0].Epoch {
		t.Fatalf("b after a lapsed: %v, want the partition with an epoch above %d", fb, fa[0].Epoch)
	}
	// a wakes up and commits with its old fence: refused, nothing written.
	err = a.Commit(t.Context(), fa[0], func(tx store.CommitTx) error {
		if _, err := tx.TakeInbox(e.Seq); err != nil {
			return err
		}
		_, err := tx.AddOutbox(entry("k2", "stale"))
		return err
	})
	var fe *store.FencedError
	if !errors.As(err, &fe) || fe.Fence != fa[0] || fe.Current != fb[0].Epoch {
		t.Fatalf("a's stale commit: %v, want a *FencedError naming its fence and epoch %d", err, fb[0].Epoch)
	}
	for _, op := range []func() error{
		func() error { _, err := a.PendingInbox(t.Context(), fa[0], 0); return err },
		func() error { return a.BeginBatch(t.Context(), fa[0], e.Seq, e.Seq) },
		func() error { _, err := a.LiveIncidents(t.Context(), fa[0]); return err },
	} {
		if err := op(); !errors.Is(err, store.ErrFenced) {
			t.Errorf("a fenced read or write: %v, want ErrFenced", err)
		}
	}
	in, err := b.PendingInbox(t.Context(), fb[0], 0)
	if err != nil || len(in) != 1 || in[0].Seq != e.Seq {
		t.Fatalf("b's inbox: %v %v, want d1 still pending", in, err)
	}
	out, err := b.Outbox(t.Context())
	if err != nil || len(out) != 1 || out[0].Notification.Rule.Name != "written-by-a" {
		t.Fatalf("outbox %v %v: want only what a wrote under its live fence", out, err)
	}
	// a's keeper renews its heartbeat again: it owns nothing now, and it
	// gets no partition back from the live b.
	if fs := fencesOf(t, a); len(fs) != 0 {
		t.Errorf("a after the takeover owns %v", fs)
	}
}

func entry(key, name string) outbox.Entry {
	return outbox.Entry{Key: key, Created: t0, NextAttempt: t0,
		Notification: notification.Notification{Rule: notification.RuleRef{Name: name},
			Action: notification.Action{Notifier: "slack", Target: "#ops"}, Op: notification.OpOpen,
			Incident: &notification.Incident{Fingerprint: "fp-" + key}}}
}

func TestOutboxClaimsAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 2)
	b := replica(t, dsn, "b", 2)
	fencesOf(t, a)
	fencesOf(t, b)
	fa := fencesOf(t, a)
	const keys, perKey = 12, 4
	var es []outbox.Entry
	for j := range perKey {
		for i := range keys {
			es = append(es, entry(fmt.Sprintf("k%02d", i), fmt.Sprintf("k%02d-%d", i, j)))
		}
	}
	if err := a.Commit(t.Context(), fa[0], func(tx store.CommitTx) error {
		for _, e := range es {
			if _, err := tx.AddOutbox(e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	held := map[string]string{}
	sent := map[string][]string{}
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b} {
		for range 4 {
			wg.Go(func() {
				for {
					cs, _, err := s.ClaimOutbox(context.Background(), store.ClaimQuery{Now: t0, Lease: time.Hour, Limit: 3})
					if err != nil {
						t.Error(err)
						return
					}
					if len(cs) == 0 {
						c, err := s.Depths(context.Background())
						if err != nil || c.Outbox == 0 {
							return
						}
						continue
					}
					for _, c := range cs {
						mu.Lock()
						if other, ok := held[c.Entry.Key]; ok {
							t.Errorf("key %s claimed by %s while %s holds it", c.Entry.Key, s.Owner(), other)
						}
						held[c.Entry.Key] = s.Owner()
						sent[c.Entry.Key] = append(sent[c.Entry.Key], c.Entry.Notification.Rule.Name)
						// Let go of the key before the outcome commits: a
						// claim of its next entry before then is a bug.
						delete(held, c.Entry.Key)
						mu.Unlock()
						if err := s.Sent(context.Background(), c, store.Sent{Result: audit.NoteSent}); err != nil {
							t.Error(err)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	for i := range keys {
		k := fmt.Sprintf("k%02d", i)
		want := []string{k + "-0", k + "-1", k + "-2", k + "-3"}
		if !slices.Equal(sent[k], want) {
			t.Errorf("key %s sent %v, want %v: each once, in order", k, sent[k], want)
		}
	}
}

func TestDedupAcrossReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 2)
	b := replica(t, dsn, "b", 2)
	fencesOf(t, a)
	fencesOf(t, b)
	fa, fb := fencesOf(t, a), fencesOf(t, b)
	if len(fa) != 1 || len(fb) != 1 {
		t.Fatalf("fences a %v b %v", fa, fb)
	}
	// Meta redelivers one event to both replicas, many times at once.
	var mu sync.Mutex
	firsts := 0
	var wg sync.WaitGroup
	for i := range 12 {
		s, f := a, fa[0]
		if i%2 == 1 {
			s, f = b, fb[0]
		}
		wg.Go(func() {
			err := s.Commit(context.Background(), f, func(tx store.CommitTx) error {
				dup, err := tx.SeeEvent("wamid.same", t0, t0.Add(time.Hour))
				if err == nil && !dup {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Fatalf("%d commits on two replicas saw the event first, want 1", firsts)
	}
}

func TestIncidentOpenedOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 2)
	b := replica(t, dsn, "b", 2)
	fencesOf(t, a)
	fencesOf(t, b)
	fa, fb := fencesOf(t, a), fencesOf(t, b)
	// Two partitions' committers open the same incident at once: the
	// second insert finds the first and its commit fails, writing nothing.
	read := make(chan struct{}, 2)
	both := make(chan struct{})
	open := func(s *postgres.Store, f store.Fence, name string) error {
		return s.Commit(context.Background(), f, func(tx store.CommitTx) error {
			_, ok, err := tx.Incident("fp-shared")
			if err != nil || ok {
				return fmt.Errorf("read: %v %v", ok, err)
			}
			read <- struct{}{}
			<-both
			if err := tx.PutIncident(&incident.Incident{Fingerprint: "fp-shared", Rule: "r", Status: incident.Open, Count: 1}, time.Time{}); err != nil {
				return err
			}
			_, err = tx.AddOutbox(entry("fp-shared/slack/#ops", name))
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- open(a, fa[0], "open-by-a") }()
	go func() { errs <- open(b, fb[0], "open-by-b") }()
	<-read
	<-read
	close(both)
	e1, e2 := <-errs, <-errs
	ok, conflicts := 0, 0
	for _, err := range []error{e1, e2} {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, postgres.ErrConflict):
			conflicts++
		default:
			t.Errorf("commit: %v", err)
		}
	}
	if ok != 1 || conflicts != 1 {
		t.Fatalf("%d commits opened the incident and %d conflicted, want 1 and 1 (%v, %v)", ok, conflicts, e1, e2)
	}
	out, err := a.Outbox(t.Context())
	if err != nil || len(out) != 1 {
		t.Fatalf("outbox %v %v: want one open", out, err)
	}
}

func TestSilencesChangedOnOtherReplica(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := postgres.Config{ReplicaID: "a", Partitions: 1, PoolSize: 4, LeaseTTL: time.Minute, SilenceReload: time.Hour}
	a := openStore(t, dsn, cfg)
	t.Cleanup(func() { _ = a.Close() })
	cfg.ReplicaID = "b"
	b := openStore(t, dsn, cfg)
	t.Cleanup(func() { _ = b.Close() })
	changed := b.SilencesChanged(t.Context())
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(30 * time.Second):
			t.Fatalf("b was not told of %s", what)
		}
	}
	sil, err := a.AddSilence(t.Context(), silence.Silence{Matchers: []silence.Matcher{{Name: "code", Op: "=", Value: "131048"}},
		StartsAt: t0, EndsAt: t0.Add(time.Hour), Comment: "storm", Author: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	// The first signal is the listener connecting or the NOTIFY; either
	// way b reads the silence then, and from now on it listens.
	wait("the new silence")
	if all, err := b.Silences(t.Context()); err != nil || len(all) != 1 || all[0].ID != sil.ID {
		t.Fatalf("b's silences %v %v", all, err)
	}
	for len(changed) > 0 {
		<-changed
	}
	if _, err := a.ExpireSilence(t.Context(), sil.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	wait("the expired silence")
	all, err := b.Silences(t.Context())
	if err != nil || len(all) != 1 || !all[0].EndsAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("b's silences after a expired one: %v %v", all, err)
	}
	// Closing the store closes the channel.
	_ = b.Close()
	for range changed {
	}
}

func TestGroupCommit(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := replica(t, dsn, "a", 1)
	// Hold the inbox so the first inserts wait and the rest queue.
	conn := connect(t, dsn)
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "LOCK TABLE inbox IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	const n = 100
	inserts0, _ := s.IngestStats()
	var wg sync.WaitGroup
	seqs := make(chan uint64, n)
	for i := range n {
		wg.Go(func() {
			e, err := s.AddInbox(context.Background(), deliveryFor("waba", fmt.Sprintf("d%03d", i)))
			if err != nil {
				t.Error(err)
				return
			}
			seqs <- e.Seq
		})
	}
	for postgres.Queued(s) < n {
		time.Sleep(time.Millisecond)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for q := range seqs {
		if seen[q] {
			t.Fatalf("sequence %d given twice", q)
		}
		seen[q] = true
	}
	inserts, _ := s.IngestStats()
	inserts -= inserts0
	// Each writer's first insert held what it had; everything queued
	// behind them goes in one more insert each at most.
	if len(seen) != n || inserts > 2*postgres.DefaultIngestWriters {
		t.Fatalf("%d deliveries stored in %d inserts, want %d in at most %d", len(seen), inserts, n, 2*postgres.DefaultIngestWriters)
	}
	c, err := s.Depths(t.Context())
	if err != nil || c.Inbox != n {
		t.Fatalf("inbox depth %d %v, want %d", c.Inbox, err, n)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openStore(t, dsn, config(dsn))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	newer := postgres.SchemaVersion() + 1
	sql(t, dsn, "INSERT INTO schema_version (version, name) VALUES ($1, 'from_the_future.sql')", newer)
	_, err := postgres.Open(t.Context(), config(dsn), nil)
	var se *postgres.SchemaError
	if !errors.As(err, &se) || !errors.Is(err, postgres.ErrSchemaNewer) || se.Database != newer || se.Binary != postgres.SchemaVersion() {
		t.Fatalf("open against schema %d: %v, want a *SchemaError naming %d and %d", newer, err, newer, postgres.SchemaVersion())
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(newer)) || !strings.Contains(msg, fmt.Sprint(postgres.SchemaVersion())) {
		t.Errorf("the error does not name both versions: %s", msg)
	}
}

func TestPartitionCountMustMatch(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openStore(t, dsn, postgres.Config{Partitions: 8})
	defer s.Close()
	_, err := postgres.Open(t.Context(), postgres.Config{DSN: secret.Secret(dsn), Partitions: 16}, nil)
	if err == nil || !strings.Contains(err.Error(), "partitions is 16") || !strings.Contains(err.Error(), "set up with 8") {
		t.Fatalf("a replica with another partition count: %v", err)
	}
}

func TestMigrationsRunOnceConcurrently(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), postgres.Config{DSN: secret.Secret(dsn), ReplicaID: fmt.Sprint("r", i)}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			_ = s.Close()
		})
	}
	wg.Wait()
	conn := connect(t, dsn)
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM schema_version").Scan(&n); err != nil || n != postgres.SchemaVersion() {
		t.Fatalf("schema_version has %d rows (%v), want %d", n, err, postgres.SchemaVersion())
	}
}

func TestReplicaWithOtherRulesTakesNothing(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 4)
	a.SetRulesHash("rules-1")
	if got := fencesOf(t, a); len(got) != 4 {
		t.Fatalf("a owns %v", got)
	}
	b := replica(t, dsn, "b", 4)
	b.SetRulesHash("rules-2")
	if got := fencesOf(t, b); len(got) != 0 {
		t.Fatalf("b with other rules took %v", got)
	}
	m := b.Mismatch()
	if m == nil || m.Mine != "rules-2" || m.Theirs != "rules-1" || !strings.HasPrefix(m.Replica, "a") {
		t.Fatalf("b's mismatch %+v, want both hashes and a named", m)
	}
	if c, err := b.RulesConflicts(t.Context()); err != nil || c["a"] != "rules-1" || len(c) != 1 {
		t.Fatalf("b's conflicts %v %v, want a with rules-1", c, err)
	}
	// b holds nothing, so a is not held up: it counts only the replicas
	// that agree with it, and keeps all four.
	if got := fencesOf(t, a); len(got) != 4 || a.Mismatch() != nil {
		t.Fatalf("a beside a replica with other rules owns %v, mismatch %+v", got, a.Mismatch())
	}
	// The same rules everywhere: the work is shared again.
	b.SetRulesHash("rules-1")
	fencesOf(t, b)
	if got := fencesOf(t, a); len(got) != 2 || a.Mismatch() != nil {
		t.Fatalf("a after the rules agree owns %v, mismatch %+v", got, a.Mismatch())
	}
	if got := fencesOf(t, b); len(got) != 2 || b.Mismatch() != nil {
		t.Fatalf("b after the rules agree owns %v, mismatch %+v", got, b.Mismatch())
	}
}

// TestInboxChangedOnOtherReplica: a delivery accepted by one replica wakes
// the committers of the others, and PendingPartitions names its partition.
func TestInboxChangedOnOtherReplica(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := postgres.Config{ReplicaID: "a", Partitions: 8, PoolSize: 4, LeaseTTL: time.Minute, SilenceReload: time.Hour}
	a := openStore(t, dsn, cfg)
	t.Cleanup(func() { _ = a.Close() })
	cfg.ReplicaID = "b"
	b := openStore(t, dsn, cfg)
	t.Cleanup(func() { _ = b.Close() })
	woken := b.InboxChanged(t.Context())
	wait := func(what string) {
		t.Helper()
		select {
		case <-woken:
		case <-time.After(30 * time.Second):
			t.Fatalf("b was not woken by %s", what)
		}
	}
	if ps, err := b.PendingPartitions(t.Context()); err != nil || len(ps) != 0 {
		t.Fatalf("pending partitions of an empty inbox: %v %v", ps, err)
	}
	if _, err := a.AddInbox(t.Context(), deliveryFor("waba-1", "d1")); err != nil {
		t.Fatal(err)
	}
	// The first signal is the listener connecting or the NOTIFY; from
	// then on b listens.
	wait("the first delivery")
	for len(woken) > 0 {
		<-woken
	}
	if _, err := a.AddInbox(t.Context(), deliveryFor("waba-2", "d2")); err != nil {
		t.Fatal(err)
	}
	wait("the second delivery")
	ps, err := b.PendingPartitions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []int{postgres.PartitionOf("waba-1", 8), postgres.PartitionOf("waba-2", 8)}
	slices.Sort(want)
	want = slices.Compact(want)
	if !slices.Equal(ps, want) {
		t.Fatalf("pending partitions %v, want %v", ps, want)
	}
}

// TestOwnDeliveriesNotAnnouncedToSelf: the replica that added a delivery
// wakes its committer itself (AddInbox names the partition), so its own
// announcement is not one more wake of all its committers; the other
// replica is woken by it.
func TestOwnDeliveriesNotAnnouncedToSelf(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := postgres.Config{ReplicaID: "a", Partitions: 8, PoolSize: 4, LeaseTTL: time.Minute, SilenceReload: time.Hour}
	a := openStore(t, dsn, cfg)
	t.Cleanup(func() { _ = a.Close() })
	cfg.ReplicaID = "b"
	b := openStore(t, dsn, cfg)
	t.Cleanup(func() { _ = b.Close() })
	ownWoken := a.InboxChanged(t.Context())
	otherWoken := b.InboxChanged(t.Context())
	wait := func(c <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(30 * time.Second):
			t.Fatalf("not woken by %s", what)
		}
	}
	drain := func(c <-chan struct{}) {
		for len(c) > 0 {
			<-c
		}
	}
	// b's delivery wakes a: a listens. Signals of the listeners
	// connecting are drained after it.
	if _, err := b.AddInbox(t.Context(), deliveryFor("waba-0", "d0")); err != nil {
		t.Fatal(err)
	}
	wait(ownWoken, "b's first delivery")
	time.Sleep(100 * time.Millisecond)
	drain(ownWoken)
	drain(otherWoken)
	e, err := a.AddInbox(t.Context(), deliveryFor("waba-1", "d1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := postgres.PartitionOf("waba-1", 8); e.Partition != want {
		t.Errorf("AddInbox filed the delivery under partition %d, the store %d", e.Partition, want)
	}
	wait(otherWoken, "a's delivery")
	// a's listener got the same announcement by now, or very nearly.
	time.Sleep(300 * time.Millisecond)
	select {
	case <-ownWoken:
		t.Error("a was woken by its own delivery's announcement")
	default:
	}
	if _, err := b.AddInbox(t.Context(), deliveryFor("waba-2", "d2")); err != nil {
		t.Fatal(err)
	}
	wait(ownWoken, "b's second delivery")
}

// TestHeldIncidentNotWrittenOverAnother: two partitions' committers
// writing one incident (a rule whose group_by leaves out the account): a
// write from a copy held in memory goes only over the version it saw, so
// the other's change is never lost.
func TestHeldIncidentNotWrittenOverAnother(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := replica(t, dsn, "a", 2)
	b := replica(t, dsn, "b", 2)
	fencesOf(t, a)
	fencesOf(t, b)
	fa, fb := fencesOf(t, a)[0], fencesOf(t, b)[0]
	put := func(s *postgres.Store, f store.Fence, read bool, count int) error {
		return s.Commit(t.Context(), f, func(tx store.CommitTx) error {
			inc := incident.Incident{Fingerprint: "fp-x", Rule: "r", Status: incident.Open}
			if read {
				got, ok, err := tx.Incident("fp-x")
				if err != nil {
					return err
				}
				if ok {
					inc = got
				}
			}
			inc.Count = count
			return tx.PutIncident(&inc, time.Time{})
		})
	}
	if err := put(a, fa, true, 1); err != nil {
		t.Fatal(err)
	}
	// b reads it in its commit and counts an event.
	if err := put(b, fb, true, 2); err != nil {
		t.Fatal(err)
	}
	// a writes from the copy it holds, unread: refused.
	if err := put(a, fa, false, 2); !errors.Is(err, postgres.ErrConflict) {
		t.Fatalf("a's write over b's change: %v, want ErrConflict", err)
	}
	if inc, err := a.GetIncident(t.Context(), "fp-x"); err != nil || inc.Count != 2 {
		t.Fatalf("after the refused write: %+v %v, want b's count 2", inc, err)
	}
	// Read afresh, a's change goes in, and a's next write from memory
	// goes over its own.
	if err := put(a, fa, true, 3); err != nil {
		t.Fatal(err)
	}
	if err := put(a, fa, false, 4); err != nil {
		t.Fatalf("a's write over its own last write: %v", err)
	}
	if inc, err := b.GetIncident(t.Context(), "fp-x"); err != nil || inc.Count != 4 {
		t.Fatalf("at the end: %+v %v, want 4", inc, err)
	}
	// A committer's LiveIncidents is what it holds from then on.
	live, err := b.LiveIncidents(t.Context(), fa)
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("b reading a's partition: %v %v", live, err)
	}
}

// TestSchemasKeepStoresApart: two stores in one database, each in a
// schema of its own, share nothing; the default schema is wabridge's own.
func TestSchemasKeepStoresApart(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openStore(t, dsn, postgres.Config{ReplicaID: "a", Partitions: 1})
	t.Cleanup(func() { _ = a.Close() })
	b := openStore(t, dsn, postgres.Config{ReplicaID: "b", Partitions: 4, Schema: "other_app"})
	t.Cleanup(func() { _ = b.Close() })
	if _, err := a.AddInbox(t.Context(), deliveryFor("waba", "d1")); err != nil {
		t.Fatal(err)
	}
	if c, err := b.Depths(t.Context()); err != nil || c.Inbox != 0 {
		t.Fatalf("b sees a's inbox: %+v %v", c, err)
	}
	if fs := fencesOf(t, b); len(fs) != 4 {
		t.Fatalf("b in its own schema owns %v, want its 4 partitions", fs)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n)
	if err != nil || n != 0 {
		t.Fatalf("%d tables in public (%v): the store's belong in its schema", n, err)
	}
}

// TestVersionRecordFollowsLiveIncidents: the store keeps the versions of
// the incidents a committer holds, and forgets those resolved or deleted.
func TestVersionRecordFollowsLiveIncidents(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := replica(t, dsn, "a", 1)
	f := fencesOf(t, s)[0]
	write := func(status string) {
		t.Helper()
		err := s.Commit(t.Context(), f, func(tx store.CommitTx) error {
			for i := range 10 {
				fp := fmt.Sprint("fp-", i)
				if _, _, err := tx.Incident(fp); err != nil {
					return err
				}
				inc := &incident.Incident{Fingerprint: fp, Rule: "r", Status: status}
				if err := tx.PutIncident(inc, t0.Add(time.Hour)); err != nil {
					return err
				}
			}
			return tx.DeleteIncident("fp-0")
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	write(incident.Open)
	if n := postgres.Versions(s); n != 9 {
		t.Fatalf("%d versions kept after opening 10 and deleting one, want 9", n)
	}
	write(incident.Resolved)
	if n := postgres.Versions(s); n != 0 {
		t.Fatalf("%d versions kept after resolving them all, want 0", n)
	}
	if _, err := s.LiveIncidents(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	if n := postgres.Versions(s); n != 0 {
		t.Fatalf("%d versions after reading no live incident", n)
	}
}
