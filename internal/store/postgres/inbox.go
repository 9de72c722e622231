package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/store"
)

// ingester is the group commit of AddInbox: calls queue their delivery,
// and each of IngestWriters writers takes what is queued (up to
// IngestRows) into one multi-row insert and one commit. A writer never
// waits for more: while one insert commits, the next group fills, so
// groups grow with the load and a lone delivery pays no delay.
type ingester struct {
	s    *Store
	ch   chan *ingestReq
	mu   sync.RWMutex // held for sending; closing takes it whole
	shut bool
	wg   sync.WaitGroup
	// announce asks tell for a NOTIFY of new deliveries.
	announce chan struct{}
	// queued counts the deliveries handed to the writers; inserts and
	// rows the inserts that committed and the deliveries they held.
	queued, inserts, rows counter
}

// ingestTimeout bounds one group commit: a database that hangs fails the
// webhooks waiting on it (they answer 503 and the provider retries)
// rather than holding them.
const ingestTimeout = 30 * time.Second

type ingestReq struct {
	d    delivery.Delivery
	part int
	seq  uint64
	err  error
	done chan struct{}
}

// counter is a mutex-guarded count; atomics would do, this reads clearly.
type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) add(n int64) { c.mu.Lock(); c.n += n; c.mu.Unlock() }
func (c *counter) get() int64  { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func newIngester(s *Store) *ingester {
	return &ingester{s: s, ch: make(chan *ingestReq, 4*s.cfg.IngestRows), announce: make(chan struct{}, 1)}
}

// start runs the writers; they stop once close was called and what was
// queued is written.
func (g *ingester) start() {
	for range g.s.cfg.IngestWriters {
		g.wg.Go(func() { g.write(context.Background()) })
	}
}

// close refuses new deliveries and returns once the writers finished
// what was queued.
func (g *ingester) close() {
	g.mu.Lock()
	if !g.shut {
		g.shut = true
		close(g.ch)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *ingester) write(ctx context.Context) {
	max := g.s.cfg.IngestRows
	batch := make([]*ingestReq, 0, max)
	for first := range g.ch {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < max {
			select {
			case r, ok := <-g.ch:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		ictx, cancel := context.WithTimeout(ctx, ingestTimeout)
		err := g.insert(ictx, batch)
		cancel()
		for _, r := range batch {
			r.err = err
			close(r.done)
		}
	}
}

// insert writes a group in one statement: unnest keeps the rows in the
// group's order, so the sequences they get ascend with it.
func (g *ingester) insert(ctx context.Context, batch []*ingestReq) error {
	n := len(batch)
	parts := make([]int32, n)
	ids, sources, addrs, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	received := make([]int64, n)
	bodies := make([][]byte, n)
	for i, r := range batch {
		parts[i] = int32(r.part)
		ids[i], sources[i], addrs[i], types[i] = r.d.ID, r.d.Source, r.d.RemoteAddr, r.d.ContentType
		received[i] = nanos(r.d.ReceivedAt)
		bodies[i] = r.d.Body
		if bodies[i] == nil {
			bodies[i] = []byte{}
		}
	}
	rows, err := g.s.pool.Query(ctx, `INSERT INTO inbox (partition, delivery_id, source, received_at, remote_addr, content_type, body)
		SELECT p, id, src, rcv, ra, ct, body
		FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bytea[])
			WITH ORDINALITY AS u(p, id, src, rcv, ra, ct, body, n)
		ORDER BY n
		RETURNING seq`, parts, ids, sources, received, addrs, types, bodies)
	if err != nil {
		return err
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if len(seqs) != n {
		return fmt.Errorf("inserted %d deliveries of %d", len(seqs), n)
	}
	slices.Sort(seqs)
	for i, r := range batch {
		r.seq = uint64(seqs[i])
	}
	g.inserts.add(1)
	g.rows.add(int64(n))
	// No local signal: AddInbox's caller wakes the committer of the
	// partition it returns. Signalling here woke every committer of this
	// replica for every insert, each then querying its partition.
	select {
	case g.announce <- struct{}{}:
	default:
	}
	return nil
}

// tell announces new deliveries to the other replicas, one NOTIFY at a
// time for however many group commits happened meanwhile. The payload
// names this process, whose own committers AddInbox's caller woke: its
// watch does not wake them all again for it. It is not in
// the inserts' transactions: a NOTIFY holds a lock on the notification
// queue through its commit, which would make the group commits take turns
// (it cost a third of the ingest rate). A replica that dies between an
// insert and its announcement leaves the others to find the deliveries at
// their next tick.
func (g *ingester) tell(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.announce:
		}
		nctx, cancel := context.WithTimeout(ctx, ingestTimeout)
		_, err := g.s.pool.Exec(nctx, "SELECT pg_notify($1, $2)", inboxChannel, g.s.owner)
		cancel()
		if err != nil && ctx.Err() == nil {
			g.s.log.Debug("store: cannot announce new deliveries; the other replicas find them at their next tick", "err", err)
		}
	}
}

// IngestStats reports the group commits of AddInbox so far: inserts that
// committed and the deliveries they held.
func (s *Store) IngestStats() (inserts, rows int64) {
	return s.ingest.inserts.get(), s.ingest.rows.get()
}

// AddInbox stores a delivery in its account's partition and returns once
// the group commit that holds it committed.
func (s *Store) AddInbox(ctx context.Context, d delivery.Delivery) (store.InboxEntry, error) {
	if err := s.alive(ctx); err != nil {
		return store.InboxEntry{}, s.wrap("add to inbox", err)
	}
	r := &ingestReq{d: d, part: PartitionOf(AccountOf(d), s.cfg.Partitions), done: make(chan struct{})}
	g := s.ingest
	g.mu.RLock()
	if g.shut {
		g.mu.RUnlock()
		return store.InboxEntry{}, s.wrap("add to inbox", store.ErrClosed)
	}
	select {
	case g.ch <- r:
		g.queued.add(1)
	case <-ctx.Done():
		g.mu.RUnlock()
		return store.InboxEntry{}, s.wrap("add to inbox", ctx.Err())
	}
	g.mu.RUnlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		// The insert may still commit: the provider's retry is then a
		// duplicate, which dedup drops.
		return store.InboxEntry{}, s.wrap("add to inbox", ctx.Err())
	}
	if r.err != nil {
		return store.InboxEntry{}, s.wrap("add to inbox", r.err)
	}
	if d.ID == "" {
		d.ID = strconv.FormatUint(r.seq, 10)
	}
	return store.InboxEntry{Seq: r.seq, Delivery: d, Partition: r.part}, nil
}

const inboxColumns = "seq, delivery_id, source, received_at, remote_addr, content_type, body"

func scanEntry(r pgx.CollectableRow) (store.InboxEntry, error) {
	var e store.InboxEntry
	var seq, rcv int64
	d := &e.Delivery
	if err := r.Scan(&seq, &d.ID, &d.Source, &rcv, &d.RemoteAddr, &d.ContentType, &d.Body); err != nil {
		return e, err
	}
	e.Seq, d.ReceivedAt = uint64(seq), fromNanos(rcv)
	if d.ID == "" {
		d.ID = strconv.FormatInt(seq, 10)
	}
	return e, nil
}

// PendingInbox returns the partition's entries no commit took, oldest
// first. Rows are typed columns, so none is ever damaged.
func (s *Store) PendingInbox(ctx context.Context, f store.Fence, limit int) ([]store.InboxEntry, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("read inbox", err)
	}
	if err := s.checkFence(ctx, s.pool, f, ""); err != nil {
		return nil, fenceErr("read inbox", s, err)
	}
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(ctx, "SELECT "+inboxColumns+" FROM inbox WHERE partition = $1 ORDER BY seq LIMIT $2", f.Partition, lim)
	if err != nil {
		return nil, s.wrap("read inbox", err)
	}
	out, err := pgx.CollectRows(rows, scanEntry)
	return out, s.wrap("read inbox", err)
}

// PendingPartitions returns the partitions that have deliveries waiting,
// whoever owns them: one index probe per partition.
func (s *Store) PendingPartitions(ctx context.Context) ([]int, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("read inbox", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT p FROM generate_series(0, $1::int - 1) AS p
		WHERE EXISTS (SELECT 1 FROM inbox WHERE partition = p)`, s.cfg.Partitions)
	if err != nil {
		return nil, s.wrap("read inbox", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (int, error) {
		var p int32
		err := r.Scan(&p)
		return int(p), err
	})
	return out, s.wrap("read inbox", err)
}

// fenceErr returns a *store.FencedError as it is, and wraps anything else.
func fenceErr(what string, s *Store, err error) error {
	if fe, ok := errors.AsType[*store.FencedError](err); ok {
		return fe
	}
	return s.wrap(what, err)
}

// QuarantineDamaged has nothing to move: a row decodes or is not there.
func (s *Store) QuarantineDamaged(ctx context.Context, f store.Fence, seq uint64) error {
	return s.fenced(ctx, f, "quarantine inbox entry", func(tx pgx.Tx) error {
		var ok bool
		err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM inbox WHERE seq = $1 AND partition = $2)", int64(seq), f.Partition).Scan(&ok)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("inbox entry %d: %w", seq, store.ErrNotFound)
		}
		return fmt.Errorf("inbox entry %d decodes: it is not damaged, so it stays in the inbox", seq)
	})
}

// BeginBatch records the partition's batch lo..hi as being processed.
func (s *Store) BeginBatch(ctx context.Context, f store.Fence, lo, hi uint64) error {
	return s.fenced(ctx, f, "record batch attempt", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO batches (partition, lo, hi) VALUES ($1, $2, $3)
			ON CONFLICT (partition) DO UPDATE SET lo = EXCLUDED.lo, hi = EXCLUDED.hi`, f.Partition, int64(lo), int64(hi))
		return err
	})
}

// Crashes counts the partition's recorded batch, left by an owner that
// died (or lost the partition) while processing it, as one crash of each
// of its entries still pending, and returns the counts of the pending
// entries.
func (s *Store) Crashes(ctx context.Context, f store.Fence) (map[uint64]int, error) {
	out := map[uint64]int{}
	err := s.fenced(ctx, f, "read crash record", func(tx pgx.Tx) error {
		clear(out)
		var lo, hi int64
		err := tx.QueryRow(ctx, "DELETE FROM batches WHERE partition = $1 RETURNING lo, hi", f.Partition).Scan(&lo, &hi)
		switch {
		case err == nil:
			_, err = tx.Exec(ctx, `INSERT INTO crashes (seq, partition, count)
				SELECT seq, partition, 1 FROM inbox WHERE partition = $1 AND seq BETWEEN $2 AND $3
				ON CONFLICT (seq) DO UPDATE SET count = crashes.count + 1`, f.Partition, lo, hi)
			if err != nil {
				return err
			}
		case errors.Is(err, pgx.ErrNoRows):
		default:
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM crashes c WHERE c.partition = $1
			AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.seq = c.seq)`, f.Partition)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT seq, count FROM crashes WHERE partition = $1", f.Partition)
		if err != nil {
			return err
		}
		var seq int64
		var n int32
		_, err = pgx.ForEachRow(rows, []any{&seq, &n}, func() error {
			out[uint64(seq)] = int(n)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QuarantineCrashed moves a pending entry, as received, to the quarantine
// with the reason.
func (s *Store) QuarantineCrashed(ctx context.Context, f store.Fence, e store.InboxEntry, reason string) error {
	return s.fenced(ctx, f, "quarantine inbox entry", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `WITH moved AS (DELETE FROM inbox WHERE seq = $1 AND partition = $2 RETURNING *)
			INSERT INTO quarantine (seq, partition, delivery_id, source, received_at, remote_addr, content_type, body, reason)
			SELECT seq, partition, delivery_id, source, received_at, remote_addr, content_type, body, $3 FROM moved`,
			int64(e.Seq), f.Partition, reason)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("inbox entry %d: %w", e.Seq, store.ErrNotFound)
		}
		_, err = tx.Exec(ctx, "DELETE FROM crashes WHERE seq = $1", int64(e.Seq))
		return err
	})
}

// Quarantined returns the reason an inbox entry was quarantined for, and
// whether it is there.
func (s *Store) Quarantined(ctx context.Context, seq uint64) (reason string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, "SELECT reason FROM quarantine WHERE seq = $1", int64(seq)).Scan(&reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.wrap("read quarantine", err)
	}
	return reason, true, nil
}
