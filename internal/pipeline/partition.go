package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/rules"
)

// partition is one slice of the work this process owns, by a lease the
// store granted: its fence, the committer's copy of its incidents, and the
// lock that keeps it single-writer. The embedded store has one, owned for
// as long as the file is open; a shared database has many, spread over
// the replicas, and one may pass to another replica at any commit.
type partition struct {
	fence store.Fence

	// mu serialises the partition's committer, its timer and operator
	// actions on its incidents, which alone change them; state is their
	// copy of its pending and open incidents, nil until read.
	mu    sync.Mutex
	state *incidentState

	wake chan struct{} // Accept → the partition's committer

	lostOnce sync.Once
	lost     chan struct{} // closed when the store refused the fence
	stop     context.CancelFunc
	done     chan struct{} // closed when its committer returned
}

func newPartition(f store.Fence) *partition {
	return &partition{fence: f, wake: make(chan struct{}, 1), lost: make(chan struct{})}
}

// isLost reports whether the store refused the partition's fence.
func (pt *partition) isLost() bool {
	select {
	case <-pt.lost:
		return true
	default:
		return false
	}
}

// fenceLost records that the partition passed to another owner: its
// incidents in memory may be stale, and its committer stops.
func (pt *partition) fenceLost() {
	pt.state = nil
	pt.lostOnce.Do(func() { close(pt.lost) })
}

// commit runs fn in one transaction under the partition's fence. The
// caller holds pt.mu. A refused fence stops the partition's committer and
// drops its incidents in memory: another owner may have changed them.
// Any other failure drops them too, since fn may have changed the copy.
func (p *Pipeline) commit(ctx context.Context, pt *partition, fn func(tx store.CommitTx) error) error {
	if pt.isLost() {
		return &store.FencedError{Fence: pt.fence}
	}
	err := p.st.Commit(ctx, pt.fence, fn)
	if err == nil {
		return nil
	}
	pt.state = nil
	p.refused(pt, err)
	return err
}

// refused stops the partition when err is the store refusing its fence.
// The caller holds pt.mu.
func (p *Pipeline) refused(pt *partition, err error) {
	if !errors.Is(err, store.ErrFenced) || pt.isLost() {
		return
	}
	pt.fenceLost()
	p.m.fenced.Inc()
	p.log.Warn("pipeline: the partition passed to another owner; its committer stops and what it held in memory is dropped",
		"partition", pt.fence.Partition, "epoch", pt.fence.Epoch, "err", err)
}

// owned returns the partitions this process owns. While Run runs, the
// lease loop keeps them; without Run (operator commands, dry runs, tests)
// they are taken from the store on first use.
func (p *Pipeline) owned(ctx context.Context) ([]*partition, error) {
	p.partsMu.Lock()
	defer p.partsMu.Unlock()
	if len(p.parts) == 0 && !p.leasing && !p.cfg.NoLeases {
		fs, err := p.st.Fences(ctx)
		if err != nil {
			return nil, fmt.Errorf("take the store's lease: %w", err)
		}
		for _, f := range fs {
			p.parts[f.Partition] = newPartition(f)
		}
	}
	return p.sortedParts(), nil
}

// sortedParts lists the partitions by number. The caller holds partsMu.
func (p *Pipeline) sortedParts() []*partition {
	out := make([]*partition, 0, len(p.parts))
	for _, pt := range p.parts {
		out = append(out, pt)
	}
	slices.SortFunc(out, func(a, b *partition) int { return a.fence.Partition - b.fence.Partition })
	return out
}

// first returns the lowest partition this process owns: the embedded
// store's only one.
func (p *Pipeline) first(ctx context.Context) (*partition, error) {
	parts, err := p.owned(ctx)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, errors.New("this process owns no partition of the store")
	}
	return parts[0], nil
}

// wake wakes the committer of partition n, if this process owns it; a
// partition owned elsewhere is its owner's to take (the store announces
// it). Waking every committer for every delivery made each of a shared
// store's 64 committers query the database for each delivery.
func (p *Pipeline) wake(n int) {
	p.partsMu.Lock()
	if pt, ok := p.parts[n]; ok {
		signal(pt.wake)
	}
	p.partsMu.Unlock()
}

// wakeAll wakes every committer: another replica added deliveries to
// partitions the announcement does not name, and a committer with nothing
// pending goes back to sleep.
func (p *Pipeline) wakeAll() {
	p.partsMu.Lock()
	for _, pt := range p.parts {
		signal(pt.wake)
	}
	p.partsMu.Unlock()
}

// leaseLoop keeps the partitions this process owns in step with the
// store's leases: every LeaseRenew it asks the store for its fences
// (which renews the leases it holds and takes free ones), starts a
// committer for each partition gained, and stops the committer of each
// partition lost or passed on. It returns once every committer stopped.
func (p *Pipeline) leaseLoop(ctx context.Context) {
	var committers sync.WaitGroup
	defer func() {
		p.partsMu.Lock()
		for n, pt := range p.parts {
			pt.stop()
			delete(p.parts, n)
		}
		p.leasing = false
		p.partsMu.Unlock()
		committers.Wait()
		p.m.partitions.Set(0)
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	failing, first := false, true
	conflict := "" // the disagreeing replicas last logged
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gate, gated := p.st.(store.RulesGate)
		hash := rulesOf(p.runtime()).Hash()
		if gated {
			gate.SetRulesHash(hash)
		}
		fs, err := p.st.Fences(ctx)
		if err == nil && gated {
			p.checkRules(ctx, gate, hash, &conflict)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			// The leases held run on until they expire, and a commit after
			// that is refused by its fence: nothing here needs stopping.
			p.m.processingErrors.WithLabelValues("lease").Inc()
			if !failing {
				p.log.Error("pipeline: renew the store's leases; retrying", "err", err)
			}
			failing = true
		default:
			if failing {
				p.log.Info("pipeline: the store's leases are renewed again")
			}
			failing = false
			p.syncFences(ctx, fs, &committers, first)
			first = false
		}
		t.Reset(p.cfg.LeaseRenew)
	}
}

// checkRules reports replicas that run rules other than this one's: the
// store takes no partition for this replica while they hold some.
// last is what was logged last, so a standing conflict is logged once.
func (p *Pipeline) checkRules(ctx context.Context, gate store.RulesGate, hash string, last *string) {
	others, err := gate.RulesConflicts(ctx)
	if err != nil {
		p.log.Warn("pipeline: read the other replicas' rules hashes", "err", err)
		return
	}
	p.m.rulesConflicts.Set(float64(len(others)))
	var theirs []string
	for replica, h := range others {
		theirs = append(theirs, replica+"="+h)
	}
	slices.Sort(theirs)
	now := strings.Join(theirs, ", ")
	switch {
	case now == *last:
	case now == "":
		p.log.Info("pipeline: every replica runs the same rules again; partitions are shared again", "rules_hash", hash)
	default:
		p.log.Error("pipeline: replicas run different rules; this replica takes no partition while they hold some (load the same rules files everywhere)",
			"rules_hash", hash, "other_replicas", now)
	}
	*last = now
}

// syncFences starts and stops committers so that one runs for each fence.
func (p *Pipeline) syncFences(ctx context.Context, fs []store.Fence, committers *sync.WaitGroup, first bool) {
	want := make(map[int]store.Fence, len(fs))
	for _, f := range fs {
		want[f.Partition] = f
	}
	p.partsMu.Lock()
	defer p.partsMu.Unlock()
	for n, pt := range p.parts {
		f, ok := want[n]
		switch {
		case !ok:
			p.log.Info("pipeline: partition lease lost; its committer stops", "partition", n, "epoch", pt.fence.Epoch)
		case f.Epoch != pt.fence.Epoch || pt.isLost():
			p.log.Info("pipeline: partition lease taken again; its committer restarts from the store", "partition", n,
				"epoch", f.Epoch, "was", pt.fence.Epoch)
		default:
			continue
		}
		pt.stop()
		delete(p.parts, n)
	}
	for n, f := range want {
		if pt := p.parts[n]; pt != nil {
			continue
		} else if old := p.stopping[n]; old != nil {
			// The committer of the partition's last lease may still be in
			// a commit (refused, since its fence is stale); the new one
			// starts once it is out.
			select {
			case <-old.done:
				delete(p.stopping, n)
			default:
				continue
			}
		}
		pt := newPartition(f)
		cctx, cancel := context.WithCancel(ctx)
		pt.stop = func() {
			cancel()
			p.stopping[pt.fence.Partition] = pt
		}
		pt.done = make(chan struct{})
		p.parts[n] = pt
		committers.Add(1)
		go func() {
			defer committers.Done()
			defer close(pt.done)
			p.committer(cctx, pt)
		}()
		if !first {
			p.log.Info("pipeline: partition lease taken; its committer starts", "partition", n, "epoch", f.Epoch)
		}
	}
	if first {
		p.log.Info("pipeline: partitions owned", "count", len(want))
	}
	p.m.partitions.Set(float64(len(p.parts)))
}

// countOpen records a partition's open incidents per rule and sets the
// gauge to their sum over the partitions.
func (p *Pipeline) countOpen(partition int, perRule map[string]int) {
	p.openMu.Lock()
	defer p.openMu.Unlock()
	p.openCounts[partition] = maps.Clone(perRule)
	sum := map[string]int{}
	for _, c := range p.openCounts {
		for rule, n := range c {
			sum[rule] += n
		}
	}
	p.m.open.Reset()
	for rule, n := range sum {
		p.m.open.WithLabelValues(rule).Set(float64(n))
	}
}

// partitionOf returns, locked, the partition whose committer holds the
// incident fp in memory, with its state; nil when none does (the incident
// is resolved, unknown, or live in a partition another replica owns).
func (p *Pipeline) partitionOf(ctx context.Context, set *rules.Set, fp string) (*partition, *incidentState, error) {
	parts, err := p.owned(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, pt := range parts {
		pt.mu.Lock()
		st, err := p.incidents(ctx, pt, set)
		if err != nil {
			pt.mu.Unlock()
			return nil, nil, fmt.Errorf("load incidents: %w", err)
		}
		if st.byFP[fp] != nil {
			return pt, st, nil
		}
		pt.mu.Unlock()
	}
	return nil, nil, nil
}

// notLive explains why no partition of this process holds the incident
// fp: unknown (store.ErrNotFound), resolved (ErrAlreadyResolved, with the
// stored incident), or live where another replica owns it (ErrNotOwned).
// when formats the time it was resolved.
func (p *Pipeline) notLive(ctx context.Context, fp string, when func(time.Time) string) (*incident.Incident, error) {
	stored, err := p.st.GetIncident(ctx, fp)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no incident %q (wabridge incidents --all lists them): %w", fp, store.ErrNotFound)
		}
		return nil, err
	}
	if stored.Status != incident.Resolved {
		return &stored, fmt.Errorf("incident %s (rule %s) is in a partition another replica owns; try again there, or once its lease passes: %w",
			fp, stored.Rule, ErrNotOwned)
	}
	return &stored, fmt.Errorf("incident %s (rule %s) was resolved at %s: %w", fp, stored.Rule,
		when(stored.ResolvedAt), ErrAlreadyResolved)
}

// ErrNotOwned means an incident is live in a partition that another
// replica owns.
var ErrNotOwned = errors.New("incident is handled by another replica")
