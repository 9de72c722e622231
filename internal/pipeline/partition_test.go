package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
	"github.com/wabridge/wabridge/rules"
)

// cluster is a store of several partitions shared by replicas, as a
// database backend is, built over one real bbolt store: the inbox is kept
// here per partition (by the phone number of a delivery's first event),
// leases are handed out here with an epoch per partition, and every commit
// is fenced here before it reaches bbolt. Everything else is bbolt's.
type cluster struct {
	bolt  *store.Bolt
	inner store.Fence
	n     int

	mu      sync.Mutex
	hashes  map[string]string // replica → rules hash
	owner   map[int]string
	epoch   map[int]uint64
	pending map[int][]store.InboxEntry
	seq     uint64
	// reads counts PendingInbox calls by partition.
	reads map[int]int
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	b, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	fs, err := b.Fences(bg)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{bolt: b, inner: fs[0], n: n, hashes: map[string]string{}, owner: map[int]string{}, epoch: map[int]uint64{}, pending: map[int][]store.InboxEntry{}, reads: map[int]int{}}
}

func (c *cluster) partitionOf(phone string) int {
	h := fnv.New32a()
	h.Write([]byte(phone))
	return int(h.Sum32() % uint32(c.n))
}

// expire ends every lease of owner, as its lease time running out does.
func (c *cluster) expire(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, o := range c.owner {
		if o == owner {
			delete(c.owner, p)
		}
	}
}

// give hands partition p to owner at a new epoch, whoever held it.
func (c *cluster) give(p int, owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owner[p] = owner
	c.epoch[p]++
}

func (c *cluster) owned(owner string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for p, o := range c.owner {
		if o == owner {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func (c *cluster) inboxLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, es := range c.pending {
		n += len(es)
	}
	return n
}

// replica is one process's view of the cluster.
type replica struct {
	*store.Bolt
	c    *cluster
	name string
	// take is whether Fences takes free partitions.
	take bool
}

var (
	_ store.Store     = (*replica)(nil)
	_ store.RulesGate = (*replica)(nil)
)

func (r *replica) SetRulesHash(h string) {
	r.c.mu.Lock()
	r.c.hashes[r.name] = h
	r.c.mu.Unlock()
}

// conflicts lists the replicas holding partitions under other rules. The
// caller holds c.mu.
func (r *replica) conflicts() map[string]string {
	out := map[string]string{}
	for _, o := range r.c.owner {
		if o != "" && o != r.name && r.c.hashes[o] != r.c.hashes[r.name] {
			out[o] = r.c.hashes[o]
		}
	}
	return out
}

func (r *replica) RulesConflicts(ctx context.Context) (map[string]string, error) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	return r.conflicts(), nil
}

func (r *replica) current(f store.Fence) error {
	if r.c.owner[f.Partition] != r.name || r.c.epoch[f.Partition] != f.Epoch {
		return &store.FencedError{Fence: f, Current: r.c.epoch[f.Partition]}
	}
	return nil
}

func (r *replica) Fences(ctx context.Context) ([]store.Fence, error) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	var out []store.Fence
	agree := len(r.conflicts()) == 0
	for p := range r.c.n {
		if r.c.owner[p] == "" && r.take && agree {
			r.c.owner[p] = r.name
			r.c.epoch[p]++
		}
		if r.c.owner[p] == r.name {
			out = append(out, store.Fence{Partition: p, Epoch: r.c.epoch[p]})
		}
	}
	return out, nil
}

func (r *replica) AddInbox(ctx context.Context, d delivery.Delivery) (store.InboxEntry, error) {
	var evs []event.Event
	_ = json.Unmarshal(d.Body, &evs)
	phone := ""
	if len(evs) > 0 {
		phone = evs[0].PhoneNumberID
	}
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	r.c.seq++
	if d.ID == "" {
		d.ID = fmt.Sprintf("d%d", r.c.seq)
	}
	p := r.c.partitionOf(phone)
	e := store.InboxEntry{Seq: r.c.seq, Delivery: d, Partition: p}
	r.c.pending[p] = append(r.c.pending[p], e)
	return e, nil
}

func (r *replica) PendingInbox(ctx context.Context, f store.Fence, limit int) ([]store.InboxEntry, error) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if err := r.current(f); err != nil {
		return nil, err
	}
	r.c.reads[f.Partition]++
	es := r.c.pending[f.Partition]
	if limit > 0 && len(es) > limit {
		es = es[:limit]
	}
	return slices.Clone(es), nil
}

func (r *replica) BeginBatch(ctx context.Context, f store.Fence, lo, hi uint64) error {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	return r.current(f)
}

func (r *replica) Crashes(ctx context.Context, f store.Fence) (map[uint64]int, error) {
	return map[uint64]int{}, nil
}

func (r *replica) Commit(ctx context.Context, f store.Fence, fn func(tx store.CommitTx) error) error {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if err := r.current(f); err != nil {
		return err
	}
	var tx *clusterTx
	err := r.c.bolt.Commit(ctx, r.c.inner, func(inner store.CommitTx) error {
		tx = &clusterTx{CommitTx: inner, pending: r.c.pending[f.Partition]}
		return fn(tx)
	})
	if err == nil {
		r.c.pending[f.Partition] = slices.DeleteFunc(r.c.pending[f.Partition], func(e store.InboxEntry) bool { return tx.taken[e.Seq] })
	}
	return err
}

func (r *replica) LiveIncidents(ctx context.Context, f store.Fence) ([]incident.Incident, error) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if err := r.current(f); err != nil {
		return nil, err
	}
	all, err := r.c.bolt.LiveIncidents(ctx, r.c.inner)
	return slices.DeleteFunc(all, func(inc incident.Incident) bool {
		return r.c.partitionOf(inc.Event.PhoneNumberID) != f.Partition
	}), err
}

func (r *replica) Depths(ctx context.Context) (store.Counts, error) {
	c, err := r.Bolt.Depths(ctx)
	c.Inbox = r.c.inboxLen()
	return c, err
}

func (r *replica) Close() error { return nil }

// clusterTx takes inbox entries from the cluster's inbox, in the commit.
type clusterTx struct {
	store.CommitTx
	pending []store.InboxEntry
	taken   map[uint64]bool
}

func (t *clusterTx) TakeInbox(seq uint64) (bool, error) {
	if t.taken[seq] || !slices.ContainsFunc(t.pending, func(e store.InboxEntry) bool { return e.Seq == seq }) {
		return false, nil
	}
	if t.taken == nil {
		t.taken = map[uint64]bool{}
	}
	t.taken[seq] = true
	return true, nil
}

// replicaHarness runs one pipeline over a replica's view of the cluster.
type replicaHarness struct {
	t    *testing.T
	r    *replica
	p    *Pipeline
	reg  *prometheus.Registry
	stop func()
}

func startReplica(t *testing.T, c *cluster, name string, rt *Runtime, cfg Config) *replicaHarness {
	t.Helper()
	return startReplicaLog(t, c, name, func() *Runtime { return rt }, cfg, slog.New(slog.DiscardHandler))
}

func startReplicaLog(t *testing.T, c *cluster, name string, rt func() *Runtime, cfg Config, log *slog.Logger) *replicaHarness {
	t.Helper()
	r := &replica{Bolt: c.bolt, c: c, name: name, take: true}
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Deps{
		Store:      r,
		Sources:    func(n string) (sources.Source, bool) { return testSource{}, n == "test" },
		Runtime:    rt,
		Logger:     log,
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	h := &replicaHarness{t: t, r: r, p: p, reg: reg}
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: run: %v", name, err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

func (h *replicaHarness) accept(evs ...event.Event) {
	h.t.Helper()
	body, _ := json.Marshal(evs)
	if err := h.p.Accept(bg, delivery.Delivery{Source: "test", Body: body}, nil); err != nil {
		h.t.Fatalf("%s: accept: %v", h.r.name, err)
	}
}

func (h *replicaHarness) metric(name string) float64 {
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			total := 0.0
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return total
		}
	}
	return 0
}

func partitionRuntime(t *testing.T, slack *recorder) *Runtime {
	t.Helper()
	return partitionRuntimeOf(t, slack, testRules)
}

func partitionRuntimeOf(t *testing.T, slack *recorder, ruleYAML string) *Runtime {
	t.Helper()
	set, _, err := rules.Parse("rules.yaml", []byte(ruleYAML), rules.Options{Specs: builtin.Specs()})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	return &Runtime{Rules: set, Catalog: cat, Notifiers: map[string]notifiers.Notifier{"slack": slack}}
}

func partitionConfig() Config {
	c := fastConfig()
	c.LeaseRenew, c.PollInterval = 5*time.Millisecond, 5*time.Millisecond
	c.Shared = true
	return c
}

func failedOn(id, phone string) event.Event {
	e := failed(id)
	e.PhoneNumberID = phone
	return e
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// opsByKey counts the notifications per ordering key and op.
func opsByKey(calls []call) map[string]map[notification.Op]int {
	out := map[string]map[notification.Op]int{}
	for _, c := range calls {
		if out[c.key] == nil {
			out[c.key] = map[notification.Op]int{}
		}
		out[c.key][c.op]++
	}
	return out
}

// A replica runs a committer for each partition it owns, and the one that
// takes a partition over (its owner died) continues the partition's open
// incidents: their next events join them, nothing opens twice, and
// nothing accepted is lost.
func TestPartitionTakeoverContinuesIncidents(t *testing.T) {
	c := newCluster(t, 4)
	slack := &recorder{name: "slack"}
	rt := partitionRuntime(t, slack)
	a := startReplica(t, c, "a", rt, partitionConfig())
	waitUntil(t, "a to own every partition", func() bool { return len(c.owned("a")) == 4 && a.metric("wabridge_partitions_owned") == 4 })
	b := startReplica(t, c, "b", rt, partitionConfig())

	phones := []string{"PN1", "PN2", "PN3", "PN4", "PN5", "PN6"}
	for _, ph := range phones {
		a.accept(failedOn("first-"+ph, ph))
	}
	waitUntil(t, "an open per incident", func() bool { return slack.count() == len(phones) })
	if got := b.metric("wabridge_partitions_owned"); got != 0 {
		t.Fatalf("b owns %v partitions while a holds them all", got)
	}

	a.stop()
	c.expire("a")
	waitUntil(t, "b to take every partition", func() bool { return len(c.owned("b")) == 4 && b.metric("wabridge_partitions_owned") == 4 })
	for i, ph := range phones {
		b.accept(failedOn(fmt.Sprintf("second-%d", i), ph), failedOn(fmt.Sprintf("third-%d", i), ph))
	}
	waitUntil(t, "every delivery processed", func() bool { return c.inboxLen() == 0 })
	b.p.Tick() // nothing due; but proves a tick over every partition works
	waitUntil(t, "outbox empty", func() bool { return b.p.Stats().Outbox == 0 })

	ops := opsByKey(slack.snapshot())
	if len(ops) != len(phones) {
		t.Errorf("%d incidents notified, want %d: %v", len(ops), len(phones), ops)
	}
	for key, n := range ops {
		if n[notification.OpOpen] != 1 {
			t.Errorf("%s: %d opens, want exactly 1 (the taken-over incident opened again?): %v", key, n[notification.OpOpen], n)
		}
	}
	incs, err := c.bolt.Incidents(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		if inc.Count != 3 {
			t.Errorf("incident %s counts %d events, want 3", inc.Event.PhoneNumberID, inc.Count)
		}
	}
}

// A replica whose lease passed on without it noticing (paused, cut off)
// is refused at its next commit: that partition's committer stops and
// drops its incidents in memory, the other partitions go on, and the new
// owner processes what the stale one could not, once.
func TestStaleOwnerIsFencedAndStops(t *testing.T) {
	c := newCluster(t, 2)
	slack := &recorder{name: "slack"}
	rt := partitionRuntime(t, slack)
	cfgA := partitionConfig()
	cfgA.LeaseRenew = time.Hour // a never looks at its leases again
	a := startReplica(t, c, "a", rt, cfgA)
	waitUntil(t, "a to own both partitions", func() bool { return a.metric("wabridge_partitions_owned") == 2 })
	b := startReplica(t, c, "b", rt, partitionConfig())

	var moved, kept string // a phone number in each partition
	for i := 0; moved == "" || kept == ""; i++ {
		ph := fmt.Sprintf("PN%d", i)
		if c.partitionOf(ph) == 0 {
			moved = ph
		} else {
			kept = ph
		}
	}
	a.accept(failedOn("m1", moved))
	waitUntil(t, "the open of the incident that moves", func() bool { return slack.count() == 1 })

	c.give(0, "b")
	a.accept(failedOn("m2", moved))
	a.accept(failedOn("k1", kept))
	waitUntil(t, "every delivery processed", func() bool { return c.inboxLen() == 0 })
	waitUntil(t, "a's fenced commit counted", func() bool { return a.metric("wabridge_partition_fenced_total") >= 1 })
	waitUntil(t, "outbox empty", func() bool { return b.p.Stats().Outbox == 0 })

	a.p.partsMu.Lock()
	pt := a.p.parts[0]
	a.p.partsMu.Unlock()
	select {
	case <-pt.done:
	case <-time.After(5 * time.Second):
		t.Fatal("a's committer of the partition it lost is still running")
	}
	pt.mu.Lock()
	if pt.state != nil {
		t.Error("a kept the lost partition's incidents in memory")
	}
	pt.mu.Unlock()

	ops := opsByKey(slack.snapshot())
	if len(ops) != 2 {
		t.Fatalf("incidents notified: %v, want 2", ops)
	}
	for key, n := range ops {
		if n[notification.OpOpen] != 1 {
			t.Errorf("%s: %d opens, want 1: %v", key, n[notification.OpOpen], n)
		}
	}
	incs, err := c.bolt.Incidents(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		if want := map[string]int{moved: 2, kept: 1}[inc.Event.PhoneNumberID]; inc.Count != want {
			t.Errorf("incident of %s counts %d events, want %d", inc.Event.PhoneNumberID, inc.Count, want)
		}
	}
}

// Redeliveries of one event to different replicas, and bursts of one
// incident spread over them, notify once per incident: the dedup record and
// the partition's single committer hold across replicas.
func TestReplicasShareDedupAndIncidents(t *testing.T) {
	c := newCluster(t, 4)
	slack := &recorder{name: "slack"}
	rt := partitionRuntime(t, slack)
	a := startReplica(t, c, "a", rt, partitionConfig())
	waitUntil(t, "a to own every partition", func() bool { return a.metric("wabridge_partitions_owned") == 4 })
	b := startReplica(t, c, "b", rt, partitionConfig())
	// Half the partitions move to b.
	c.give(1, "b")
	c.give(3, "b")
	waitUntil(t, "b to own two partitions", func() bool { return b.metric("wabridge_partitions_owned") == 2 })

	phones := []string{"PN1", "PN2", "PN3", "PN4", "PN5", "PN6", "PN7", "PN8"}
	var wg sync.WaitGroup
	for i, ph := range phones {
		for j := range 5 {
			wg.Add(2)
			ev := failedOn(fmt.Sprintf("%s-%d", ph, j), ph)
			// The same event to both replicas: a redelivery.
			go func() { defer wg.Done(); a.accept(ev) }()
			go func() { defer wg.Done(); b.accept(ev) }()
			_ = i
		}
	}
	wg.Wait()
	waitUntil(t, "every delivery processed", func() bool { return c.inboxLen() == 0 })
	waitUntil(t, "outboxes empty", func() bool { return a.p.Stats().Outbox == 0 })

	ops := opsByKey(slack.snapshot())
	if len(ops) != len(phones) {
		t.Errorf("%d incidents notified, want %d", len(ops), len(phones))
	}
	for key, n := range ops {
		if n[notification.OpOpen] != 1 {
			t.Errorf("%s: %d opens, want 1: %v", key, n[notification.OpOpen], n)
		}
	}
	incs, err := c.bolt.Incidents(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, inc := range incs {
		if inc.Count != 5 {
			t.Errorf("incident of %s counts %d events, want 5 (each redelivery once)", inc.Event.PhoneNumberID, inc.Count)
		}
	}
}

// An incident whose group spans accounts (group_by without the phone)
// gets events in several partitions, owned by different replicas: it
// opens once, and the other partition's events join it.
func TestIncidentAcrossPartitionsOpensOnce(t *testing.T) {
	c := newCluster(t, 2)
	slack := &recorder{name: "slack"}
	rt := partitionRuntimeOf(t, slack, `
rules:
  - name: failed-by-code
    match: {statuses: [failed]}
    group_by: [code]
    actions:
      - slack: {channel: "#ops"}
`)
	a := startReplica(t, c, "a", rt, partitionConfig())
	waitUntil(t, "a to own both partitions", func() bool { return a.metric("wabridge_partitions_owned") == 2 })
	b := startReplica(t, c, "b", rt, partitionConfig())
	c.give(1, "b")
	waitUntil(t, "b to own partition 1", func() bool { return b.metric("wabridge_partitions_owned") == 1 })
	var phones [2]string
	for i := 0; phones[0] == "" || phones[1] == ""; i++ {
		ph := fmt.Sprintf("PN%d", i)
		phones[c.partitionOf(ph)] = ph
	}
	a.accept(failedOn("x1", phones[0]))
	waitUntil(t, "the open", func() bool { return slack.count() == 1 })
	b.accept(failedOn("x2", phones[1]))
	waitUntil(t, "every delivery processed", func() bool { return c.inboxLen() == 0 })
	waitUntil(t, "outbox empty", func() bool { return b.p.Stats().Outbox == 0 })
	for key, n := range opsByKey(slack.snapshot()) {
		if n[notification.OpOpen] != 1 {
			t.Errorf("%s: %d opens, want 1: %v", key, n[notification.OpOpen], n)
		}
	}
	incs, err := c.bolt.Incidents(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || incs[0].Count != 2 {
		t.Errorf("incidents = %d, count %v; want one counting both events", len(incs), incs)
	}
}

// Two replicas with different rules files do not share the work: the one
// that joins takes no partition, even free ones, says so in a metric and
// a log line naming both hashes, and takes its share once the rules agree.
func TestReplicasWithDifferentRulesRefuseLeases(t *testing.T) {
	c := newCluster(t, 4)
	slack := &recorder{name: "slack"}
	rtA := partitionRuntime(t, slack)
	a := startReplica(t, c, "a", rtA, partitionConfig())
	waitUntil(t, "a to own every partition", func() bool { return a.metric("wabridge_partitions_owned") == 4 })
	c.mu.Lock()
	a.r.take = false // a keeps what it has and takes no more
	c.mu.Unlock()
	c.give(3, "") // one partition free: b must not take even that

	rtB := partitionRuntimeOf(t, slack, testRules+`
  - name: extra
    match: {statuses: [delivered]}
    actions:
      - slack: {channel: "#ops"}
`)
	var logs syncLog
	var rtOfB atomic.Pointer[Runtime]
	rtOfB.Store(rtB)
	b := startReplicaLog(t, c, "b", rtOfB.Load, partitionConfig(), slog.New(slog.NewTextHandler(&logs, nil)))
	waitUntil(t, "b to see the conflict", func() bool { return b.metric("wabridge_rules_conflicts") == 1 })
	if got := c.owned("b"); len(got) != 0 {
		t.Errorf("b runs other rules and took partitions %v", got)
	}
	hashA, hashB := rtA.Rules.Hash(), rtB.Rules.Hash()
	if hashA == hashB || hashA == "" {
		t.Fatalf("hashes %q and %q: different rules must hash differently", hashA, hashB)
	}
	waitUntil(t, "the log line naming both hashes", func() bool {
		l := logs.String()
		return strings.Contains(l, "replicas run different rules") && strings.Contains(l, "rules_hash="+hashB) && strings.Contains(l, "a="+hashA)
	})
	if n := strings.Count(logs.String(), "replicas run different rules"); n != 1 {
		t.Errorf("the conflict was logged %d times, want once while it stands", n)
	}

	// The same rules on b (a reload): it takes the free partition.
	rtOfB.Store(rtA)
	waitUntil(t, "b to take the free partition", func() bool { return len(c.owned("b")) == 1 && b.metric("wabridge_rules_conflicts") == 0 })
	if !strings.Contains(logs.String(), "every replica runs the same rules again") {
		t.Errorf("the end of the conflict was not logged:\n%s", logs.String())
	}
}

// syncLog is a log sink safe for concurrent writes.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A delivery wakes the committer of its own partition only: the others
// have nothing new, and on a database each wake is a query.
func TestAcceptWakesOnlyItsPartition(t *testing.T) {
	c := newCluster(t, 8)
	slack := &recorder{}
	cfg := partitionConfig()
	cfg.PollInterval, cfg.TickInterval = time.Hour, time.Hour // only wakes make committers read
	h := startReplica(t, c, "a", partitionRuntime(t, slack), cfg)
	waitUntil(t, "all partitions owned", func() bool { return len(c.owned("a")) == 8 })
	phone := "PN-1"
	target := c.partitionOf(phone)
	// Let every committer start and go to sleep.
	time.Sleep(100 * time.Millisecond)
	c.mu.Lock()
	before := maps.Clone(c.reads)
	c.mu.Unlock()
	for i := range 30 {
		h.accept(failedOn(fmt.Sprintf("w%d", i), phone))
	}
	waitUntil(t, "the deliveries processed", func() bool { return c.inboxLen() == 0 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reads[target] == before[target] {
		t.Errorf("partition %d, the deliveries', was never read", target)
	}
	for p := range 8 {
		if p != target && c.reads[p] != before[p] {
			t.Errorf("partition %d read %d times for deliveries of partition %d", p, c.reads[p]-before[p], target)
		}
	}
}
