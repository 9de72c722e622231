package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/pgtest"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/internal/store/postgres"
)

// pgReplica runs a pipeline on its own store of the database dsn, as one
// `wabridge serve` replica of several. The store has one partition, so
// the first replica owns it and the others own nothing.
type pgReplica struct {
	st   *postgres.Store
	p    *Pipeline
	stop func()
}

func startPGReplica(t *testing.T, dsn, name string, rt *Runtime) *pgReplica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := postgres.Open(ctx, postgres.Config{DSN: secret.Secret(dsn), ReplicaID: name, Partitions: 1, PoolSize: 8,
		LeaseTTL: time.Minute}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(partitionConfig(), Deps{
		Store:      st,
		Sources:    func(n string) (sources.Source, bool) { return testSource{}, n == "test" },
		Runtime:    func() *Runtime { return rt },
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	var once sync.Once
	r := &pgReplica{st: st, p: p}
	r.stop = func() {
		once.Do(func() {
			rcancel()
			if err := <-done; err != nil {
				t.Errorf("%s: run: %v", name, err)
			}
		})
	}
	t.Cleanup(func() { r.stop(); _ = st.Close() })
	return r
}

func owns(r *pgReplica) bool {
	fs, err := r.st.Fences(bg)
	return err == nil && len(fs) == 1
}

// openOne opens an incident through r and returns its fingerprint.
func openOne(t *testing.T, r *pgReplica, slack *recorder, id string) string {
	t.Helper()
	before := slack.count()
	h := &replicaHarness{t: t, r: &replica{name: "accept"}, p: r.p}
	h.accept(failedOn(id, "PN-"+id))
	waitUntil(t, "the incident's open", func() bool { return slack.count() > before })
	incs, err := r.st.Incidents(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		if inc.Event.PhoneNumberID == "PN-"+id {
			return inc.Fingerprint
		}
	}
	t.Fatalf("no incident for %s in %v", id, incs)
	return ""
}

func countOps(slack *recorder, op notification.Op) int {
	n := 0
	for _, c := range slack.snapshot() {
		if c.op == op {
			n++
		}
	}
	return n
}

// An acknowledgement and a resolve asked on a replica that does not own
// the incident's partition are forwarded through the database to the
// owner, applied there once, and answer as the local call would: the
// incident as changed, the notifications queued, and the same refusal
// (a second person's acknowledgement, a second resolve) with its kind.
func TestIncidentActionsForwardToTheOwner(t *testing.T) {
	dsn := pgtest.DSN(t)
	slack := &recorder{name: "slack"}
	rt := partitionRuntime(t, slack)
	a := startPGReplica(t, dsn, "a", rt)
	waitUntil(t, "a to own the partition", func() bool { return owns(a) })
	b := startPGReplica(t, dsn, "b", rt)
	if fs, _ := b.st.Fences(bg); len(fs) != 0 {
		t.Fatalf("b owns %v while a holds the only partition", fs)
	}
	fp := openOne(t, a, slack, "f1")

	inc, n, err := b.p.AcknowledgeIncident(fp, incident.Ack{By: "ana", Via: "slack"})
	if err != nil {
		t.Fatalf("ack on the replica without the partition: %v", err)
	}
	if inc.Ack == nil || inc.Ack.By != "ana" || inc.Status != incident.Open || n != 1 {
		t.Fatalf("forwarded ack answered %+v, %d queued; want acknowledged by ana, 1 queued", inc.Ack, n)
	}
	waitUntil(t, "the ack's note sent", func() bool { return countOps(slack, notification.OpAck) == 1 })
	stored, err := a.st.GetIncident(bg, fp)
	if err != nil || stored.Ack == nil || stored.Ack.By != "ana" {
		t.Fatalf("stored after the forwarded ack: %+v, %v", stored.Ack, err)
	}

	// Someone else: refused with the owner's own words and kind.
	_, _, remote := b.p.AcknowledgeIncident(fp, incident.Ack{By: "bob"})
	_, _, local := a.p.AcknowledgeIncident(fp, incident.Ack{By: "bob"})
	if !errors.Is(remote, incident.ErrAcknowledged) || local == nil || remote.Error() != local.Error() {
		t.Fatalf("second ack on b: %v; on the owner: %v; want the same refusal", remote, local)
	}
	// The same person again is no change.
	if _, n, err := b.p.AcknowledgeIncident(fp, incident.Ack{By: "ana"}); err != nil || n != 0 {
		t.Fatalf("ana again on b: %d queued, %v; want 0, nil", n, err)
	}

	// A silence of its group is made from the stored incident, the same
	// as the owner makes it; its note is forwarded.
	remoteSil, err := b.p.IncidentSilence(fp, time.Hour, "c", "ana")
	if err != nil {
		t.Fatalf("incident silence on b: %v", err)
	}
	localSil, err := a.p.IncidentSilence(fp, time.Hour, "c", "ana")
	if err != nil || !slices.Equal(remoteSil.Matchers, localSil.Matchers) || len(localSil.Matchers) == 0 {
		t.Fatalf("incident silence: on b %v, on the owner %v (%v); want the same matchers", remoteSil.Matchers, localSil.Matchers, err)
	}
	if _, n, err := b.p.NoteIncident(fp, "Silenced by ana."); err != nil || n != 1 {
		t.Fatalf("forwarded note: %d queued, %v; want 1", n, err)
	}
	waitUntil(t, "the note sent", func() bool { return countOps(slack, notification.OpNote) == 1 })

	inc, n, err = b.p.ResolveIncidentBy(fp, "Resolved by ana.", "resolved by ana")
	if err != nil || inc.Status != incident.Resolved || n != 1 {
		t.Fatalf("forwarded resolve: %s, %d queued, %v; want resolved, 1 queued", inc.Status, n, err)
	}
	waitUntil(t, "the resolve sent", func() bool { return countOps(slack, notification.OpResolve) == 1 })
	if _, _, err := b.p.ResolveIncidentBy(fp, "again", "again"); !errors.Is(err, ErrAlreadyResolved) {
		t.Fatalf("second resolve: %v, want ErrAlreadyResolved", err)
	}
	// An unknown incident is refused on the asking replica.
	if _, _, err := b.p.AcknowledgeIncident("nope", incident.Ack{By: "ana"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ack of an unknown incident: %v, want ErrNotFound", err)
	}
	time.Sleep(50 * time.Millisecond) // let anything doubled show
	if got := countOps(slack, notification.OpAck); got != 1 {
		t.Errorf("%d ack notes sent, want 1", got)
	}
	if got := countOps(slack, notification.OpResolve); got != 1 {
		t.Errorf("%d resolves sent, want 1", got)
	}
	// Each action forwarded (the second resolve and the unknown incident
	// are refused here, from the store; the silence is made here) left
	// one command, done.
	conn, err := pgx.Connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	var total, open int
	if err := conn.QueryRow(bg, "SELECT count(*), count(*) FILTER (WHERE NOT done) FROM "+postgres.DefaultSchema+".commands").Scan(&total, &open); err != nil {
		t.Fatal(err)
	}
	if total != 5 || open != 0 {
		t.Errorf("commands: %d recorded, %d not done; want 5, 0", total, open)
	}
}

// An action asked while the owner is dead waits in the store, and the
// replica that takes the partition over applies it; one nobody takes in
// time expires, changing nothing.
func TestForwardedActionSurvivesTakeover(t *testing.T) {
	dsn := pgtest.DSN(t)
	slack := &recorder{name: "slack"}
	rt := partitionRuntime(t, slack)
	a := startPGReplica(t, dsn, "a", rt)
	waitUntil(t, "a to own the partition", func() bool { return owns(a) })
	b := startPGReplica(t, dsn, "b", rt)
	fp := openOne(t, a, slack, "t1")

	conn, err := pgx.Connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	commands := func() int {
		var n int
		if err := conn.QueryRow(bg, "SELECT count(*) FROM "+postgres.DefaultSchema+".commands").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// a hangs: its committer stops, its lease runs on.
	a.stop()
	type answer struct {
		inc incident.Incident
		n   int
		err error
	}
	got := make(chan answer, 1)
	go func() {
		inc, n, err := b.p.AcknowledgeIncident(fp, incident.Ack{By: "ana"})
		got <- answer{inc, n, err}
	}()
	waitUntil(t, "the ack recorded for the owner", func() bool { return commands() == 1 })
	// a's lease lapses; b takes the partition over and applies it.
	if _, err := conn.Exec(bg, "UPDATE "+postgres.DefaultSchema+".replicas SET expires = now() - interval '1 second' WHERE owner = $1", a.st.Owner()); err != nil {
		t.Fatal(err)
	}
	ans := <-got
	if ans.err != nil || ans.inc.Ack == nil || ans.inc.Ack.By != "ana" || ans.n != 1 {
		t.Fatalf("ack across the takeover: %+v, %d, %v", ans.inc.Ack, ans.n, ans.err)
	}
	if !owns(b) {
		t.Fatal("b does not own the partition after the takeover")
	}
	waitUntil(t, "the ack's note sent", func() bool { return countOps(slack, notification.OpAck) == 1 })

	// Nobody owns it now: b stops too, and c asks.
	b.stop()
	c := startPGReplica(t, dsn, "c", rt)
	old := commandWait
	commandWait = 200 * time.Millisecond
	t.Cleanup(func() { commandWait = old })
	_, _, err = c.p.ResolveIncidentBy(fp, "r", "r")
	if !errors.Is(err, ErrCommandExpired) {
		t.Fatalf("resolve with no owner alive: %v, want ErrCommandExpired", err)
	}
	if inc, err := c.st.GetIncident(bg, fp); err != nil || inc.Status != incident.Open {
		t.Fatalf("after the expired resolve: %s, %v; want still open", inc.Status, err)
	}
}
