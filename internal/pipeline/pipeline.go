// Package pipeline owns what happens between the webhook's 200 and the
// notifier: the durable inbox, dedup, rule matching, the outbox with its
// retries and ordering, and dead letters.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/rules"
)

// ErrUnavailable means the delivery could not be stored; the webhook answers
// 503 so the provider retries.
var ErrUnavailable = errors.New("storage unavailable")

// Config tunes the pipeline. Zero values take the defaults of WithDefaults.
type Config struct {
	Workers int // goroutines processing the inbox
	Senders int // sends in flight at most per notifier and target
	// RateLimitPace spaces a notifier's sends after a rate limit's pause.
	RateLimitPace time.Duration
	MaxAttempts   int // attempts before a notification is dead-lettered

	MaxAge      time.Duration // a notification older than this is dead-lettered
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// DedupWindow is how long an event id that matched a rule is
	// remembered; longer than Meta's 7 days of redelivery.
	DedupWindow time.Duration
	// Retention is how long a record of each processed delivery is kept.
	Retention       time.Duration
	ShutdownTimeout time.Duration
	SweepInterval   time.Duration
	// BatchSize is how many inbox entries one transaction commits.
	BatchSize int
	// TickInterval is how often pending incidents are checked for
	// group_wait and open ones for resolve_after.
	TickInterval time.Duration
	// PollInterval is how often a committer looks for deliveries that no
	// wake-up announced: those another replica accepted into a partition
	// this one owns.
	PollInterval time.Duration
	// LeaseRenew is how often the store's leases are renewed and free
	// partitions taken: well within the store's lease time.
	LeaseRenew time.Duration
	// Shared says the store is shared by several replicas, each owning
	// some of its partitions: an event whose incident this partition does
	// not hold reads it from the store, since another partition may have
	// opened it (a group_by that spans accounts).
	Shared bool
	// NoLeases keeps a pipeline that does not Run (an operator command on
	// a shared store) from taking leases: taking one makes it a replica,
	// and the others give it partitions it would never process. Its
	// incident actions then find no partition of their own and say which
	// replica to ask (ErrNotOwned).
	NoLeases bool
	// SilenceRefresh is how often silences are read again from the store
	// even when nobody here changed them (another replica, or an expiry).
	SilenceRefresh time.Duration
	// RejectAuditRate is how many rejected deliveries (4xx) per second at
	// most are recorded in the audit trail; anyone can send them, so the
	// rest are only counted.
	RejectAuditRate int
	// ProbeBytes is the size of the write readiness probes the store with
	// after a write failed: the largest delivery.
	ProbeBytes int
	// MaxCrashes is how many times a delivery's processing may crash the
	// process before it is quarantined instead of processed.
	MaxCrashes int
	// ClaimLease is how long a sender's claim on a notification (or a
	// replay's on a dead letter) holds before another may take it: longer
	// than any send takes, so only a sender that died or hung loses it.
	ClaimLease time.Duration
}

// Defaults: the one default of each setting. The config file's keys
// (pipeline.*, storage.dedup_window, storage.reject_audit_rate) take theirs
// from here; storage.retention is the store's (store.DefaultRetention).
const (
	DefaultWorkers       = 4
	DefaultSenders       = 4
	DefaultRateLimitPace = time.Second // Slack's chat.postMessage: one a second per channel
	DefaultMaxAttempts   = 12
	DefaultMaxAge        = 24 * time.Hour
	DefaultBackoffBase   = time.Second
	DefaultBackoffMax    = 5 * time.Minute
	DefaultDedupWindow   = 8 * 24 * time.Hour
	DefaultRetention     = store.DefaultRetention
	// DefaultShutdownTimeout is server.shutdown_timeout's: the drain of
	// the senders is what a shutdown waits for.
	DefaultShutdownTimeout = 15 * time.Second
	DefaultSweepInterval   = 5 * time.Minute
	DefaultBatchSize       = 256
	DefaultTickInterval    = time.Second
	DefaultRejectAuditRate = 50
	DefaultMaxCrashes      = 3
	DefaultClaimLease      = 10 * time.Minute
	DefaultLeaseRenew      = 5 * time.Second
)

// WithDefaults fills every zero (or negative) setting with its default.
func (c Config) WithDefaults() Config {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&c.Workers, DefaultWorkers)
	setInt(&c.Senders, DefaultSenders)
	setDur(&c.RateLimitPace, DefaultRateLimitPace)
	setInt(&c.MaxAttempts, DefaultMaxAttempts)
	setDur(&c.MaxAge, DefaultMaxAge)
	setDur(&c.BackoffBase, DefaultBackoffBase)
	setDur(&c.BackoffMax, DefaultBackoffMax)
	setDur(&c.DedupWindow, DefaultDedupWindow)
	setDur(&c.Retention, DefaultRetention)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDur(&c.SweepInterval, DefaultSweepInterval)
	setInt(&c.BatchSize, DefaultBatchSize)
	setDur(&c.TickInterval, DefaultTickInterval)
	setDur(&c.PollInterval, c.TickInterval)
	setDur(&c.LeaseRenew, DefaultLeaseRenew)
	setDur(&c.SilenceRefresh, DefaultSilenceRefresh)
	setInt(&c.RejectAuditRate, DefaultRejectAuditRate)
	setInt(&c.ProbeBytes, 3<<20)
	setInt(&c.MaxCrashes, DefaultMaxCrashes)
	setDur(&c.ClaimLease, DefaultClaimLease)
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = c.BackoffBase
	}
	return c
}

// Runtime is what hot reload swaps as one: the rules, the notifiers built
// with the current templates, and the catalogue.
type Runtime struct {
	Rules     *rules.Set
	Notifiers map[string]notifiers.Notifier
	Catalog   *catalog.Catalog
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Store   store.Store
	Sources func(name string) (sources.Source, bool)
	// Runtime returns the current runtime; hot reload swaps it atomically.
	Runtime    func() *Runtime
	Logger     *slog.Logger
	Now        func() time.Time      // nil = time.Now
	Registerer prometheus.Registerer // nil = no metrics
	// Decided, when set, receives the decisions of each committed
	// transaction, in order: a feed for the audit trail.
	Decided func([]Decision)
}

// Stats are the sizes of the durable lists.
type Stats struct {
	Inbox   int  `json:"inbox"`
	Outbox  int  `json:"outbox"`
	Dead    int  `json:"dead"`
	Running bool `json:"running"`
}

// Pipeline moves deliveries from the inbox to the notifiers.
type Pipeline struct {
	cfg     Config
	st      store.Store
	sources func(string) (sources.Source, bool)
	runtime func() *Runtime
	log     *slog.Logger
	now     func() time.Time
	m       *metrics
	am      *auditMetrics
	rejects chan rejected // Reject → auditLoop

	rejectBudget *tokenBucket
	rejectDrops  dropLog

	lim       *limiter
	recording sync.WaitGroup // sends whose outbox removal is committing
	running   atomic.Bool
	runMu     sync.Mutex // one Run at a time
	closeMu   sync.Once
	closeErr  error

	parsed *parsedCache // Accept → committer: events parsed by the webhook
	zip    store.Compressor

	writes writeHealth // the store's last write failure, for Ready

	decided  func([]Decision)
	silences atomic.Pointer[silences]

	// partsMu guards parts, the partitions this process owns by number,
	// and stopping, those whose committer is stopping; leasing is set
	// while Run's lease loop keeps them.
	partsMu  sync.Mutex
	parts    map[int]*partition
	stopping map[int]*partition
	leasing  bool

	// openMu guards openCounts, each partition's open incidents per rule,
	// which the open-incidents gauge adds up.
	openMu     sync.Mutex
	openCounts map[int]map[string]int
}

// New builds a pipeline. It does not start anything: dead-letter methods
// work without Run, so the CLI can use them on the store file.
func New(cfg Config, deps Deps) (*Pipeline, error) {
	if deps.Store == nil {
		return nil, errors.New("pipeline: no store")
	}
	if deps.Sources == nil {
		deps.Sources = func(string) (sources.Source, bool) { return nil, false }
	}
	if deps.Runtime == nil {
		deps.Runtime = func() *Runtime { return nil }
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	p := &Pipeline{
		cfg:      cfg.WithDefaults(),
		st:       deps.Store,
		sources:  deps.Sources,
		runtime:  deps.Runtime,
		log:      deps.Logger,
		now:      deps.Now,
		parts:    map[int]*partition{},
		stopping: map[int]*partition{},

		openCounts: map[int]map[string]int{},
		parsed:     newParsedCache(),
		decided:    deps.Decided,
		rejects:    make(chan rejected, rejectQueue),
	}
	p.lim = newLimiter(p.cfg.Senders, p.cfg.RateLimitPace)
	p.rejectBudget = newTokenBucket(p.cfg.RejectAuditRate)
	m, err := newMetrics(deps.Registerer, p)
	if err != nil {
		return nil, fmt.Errorf("pipeline: register metrics: %w", err)
	}
	p.m = m
	if p.am, err = newAuditMetrics(deps.Registerer); err != nil {
		return nil, fmt.Errorf("pipeline: register audit metrics: %w", err)
	}
	return p, nil
}

// Accept stores a delivery in the inbox. It returns nil only once the
// delivery is on disk; a storage failure returns an error wrapping
// ErrUnavailable, so nothing half-written is acknowledged.
//
// events are what d's source parsed from d.Body, when the caller parsed it
// (the webhook does, to answer 400 to a bad payload); the committer then
// uses them instead of parsing the body again. nil means not parsed. Only
// the raw body is stored: after a restart the delivery is parsed from it.
func (p *Pipeline) Accept(ctx context.Context, d delivery.Delivery, events []event.Event) error {
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = p.now()
	}
	if d.Account == "" {
		d.Account = accountOf(d.Source, events)
	}
	// Kept before the write, so the committer, which may take the entry as
	// soon as it is committed, finds them. Without an id the store names
	// the delivery, too late for that.
	key, kept := "", false
	if events != nil && d.ID != "" {
		key = parsedKey(d.Source, d.ID)
		kept = p.parsed.put(key, events)
	}
	e, err := p.st.AddInbox(ctx, d)
	if err != nil {
		if kept {
			p.parsed.drop(key)
		}
		p.m.processingErrors.WithLabelValues("accept").Inc()
		p.writes.fail(err, p.now())
		return fmt.Errorf("accept delivery from %s: %w: %w", d.Source, ErrUnavailable, err)
	}
	p.writes.ok()
	p.wake(e.Partition)
	return nil
}

// accountOf is the account a delivery is about, which a store shared by
// replicas partitions the work by: the Meta WABA id, else the source and
// phone number; "" when the events do not say (the store then files the
// delivery under its source). The phone numbers of a WABA are its own, so
// every incident grouped by phone number (or finer) stays in one
// partition.
func accountOf(source string, events []event.Event) string {
	for i := range events {
		if events[i].WABAID != "" {
			return events[i].WABAID
		}
	}
	for i := range events {
		if events[i].PhoneNumberID != "" {
			return source + "/" + events[i].PhoneNumberID
		}
	}
	return ""
}

// signal wakes a loop without blocking; one pending wake-up is enough.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run processes the inbox and sends the outbox until ctx is done. Then it
// stops taking new work, lets in-flight sends finish within
// ShutdownTimeout, and returns. Whatever is left stays in the store for the
// next Run.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.runMu.TryLock() {
		return errors.New("pipeline: already running")
	}
	defer p.runMu.Unlock()

	// Incidents are read afresh by each partition's committer: the store
	// is the truth.
	p.partsMu.Lock()
	clear(p.parts)
	clear(p.stopping)
	p.leasing = true
	p.partsMu.Unlock()
	if err := p.loadSilences(ctx); err != nil {
		return fmt.Errorf("pipeline: load silences: %w", err)
	}

	// Sends get their own context: on shutdown they may finish within
	// ShutdownTimeout rather than being cut off mid-request.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var loops, workers sync.WaitGroup
	loops.Add(3)
	go func() { defer loops.Done(); p.leaseLoop(ctx) }()
	go func() { defer loops.Done(); p.sendLoop(ctx, workCtx, &workers) }()
	go func() { defer loops.Done(); p.sweepLoop(ctx) }()
	loops.Add(3)
	go func() { defer loops.Done(); p.auditLoop(ctx) }()
	go func() { defer loops.Done(); p.watchSilences(ctx) }()
	go func() { defer loops.Done(); p.watchInbox(ctx) }()
	p.running.Store(true)
	depth, err := p.st.Depths(ctx)
	if err != nil {
		return fmt.Errorf("pipeline: read the store's counts: %w", err)
	}
	p.log.Info("pipeline running", "workers", p.cfg.Workers, "senders", p.cfg.Senders,
		"batch", p.cfg.BatchSize, "outbox", depth.Outbox)

	<-ctx.Done()
	p.running.Store(false)
	loops.Wait() // no send starts after this
	done := make(chan struct{})
	// Sends whose records are still committing are waited for too: the
	// store is closed after Run returns.
	go func() { workers.Wait(); p.recording.Wait(); close(done) }()
	timer := time.NewTimer(p.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		p.log.Warn("pipeline: shutdown timeout, cancelling sends in flight",
			"timeout", p.cfg.ShutdownTimeout)
		cancelWork()
		<-done
	}
	p.log.Info("pipeline stopped")
	return nil
}

// Close closes the store. Call it after Run returned.
func (p *Pipeline) Close() error {
	p.closeMu.Do(func() { p.closeErr = p.st.Close() })
	return p.closeErr
}

// Stats reports the sizes of the inbox, outbox and dead letters.
func (p *Pipeline) Stats() Stats {
	c, err := p.st.Depths(context.Background())
	if err != nil {
		p.log.Warn("pipeline: read store counts", "err", err)
	}
	return Stats{Inbox: c.Inbox, Outbox: c.Outbox, Dead: c.Dead, Running: p.running.Load()}
}

// Ready reports whether the store can write and the workers run.
func (p *Pipeline) Ready() error {
	if err := p.st.Check(context.Background()); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := p.checkWrites(); err != nil {
		return err
	}
	if !p.running.Load() {
		return errors.New("pipeline workers are not running")
	}
	return nil
}
