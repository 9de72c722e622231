package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
)

// ErrConflict means a commit lost a race another commit won (two
// partitions opening one incident at once, or writing over each other's
// copy of it): nothing was written, and the commit done again, with the
// incidents read afresh, sees the winner's write.
var ErrConflict = errors.New("another commit changed the same record first")

// Commit runs fn in one transaction that holds the fence's lease row
// (SELECT ... FOR UPDATE): a stale fence is a *store.FencedError before fn
// runs, and the partition cannot change owner until the transaction ends.
func (s *Store) Commit(ctx context.Context, f store.Fence, fn func(tx store.CommitTx) error) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("commit", err)
	}
	var t *commitTx
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.lockFence(ctx, tx, f); err != nil {
			return err
		}
		t = &commitTx{ctx: ctx, tx: tx, s: s, f: f, absent: map[string]bool{}, written: map[string]*writtenIncident{},
			mine: map[string]bool{}, versions: map[string]int64{}, keep: map[string]bool{}}
		if err := fn(t); err != nil {
			return err
		}
		return t.flush()
	})
	if err == nil {
		s.saw(t.versions, t.keep)
	}
	if fe, ok := errors.AsType[*store.FencedError](err); ok {
		return fe
	}
	if _, ok := errors.AsType[*conflictError](err); ok {
		return err
	}
	return s.wrap("commit", err)
}

type conflictError struct{ what string }

func (e *conflictError) Error() string {
	return fmt.Sprintf("store: commit: %s: %v; nothing was written", e.what, ErrConflict)
}

func (e *conflictError) Unwrap() error { return ErrConflict }

// commitTx sends what it must answer at once (dedup, outbox ids, incident
// reads) and keeps the rest for one pipelined batch at the end (the inbox
// entries taken, incident writes, audit records): a commit of a hundred
// deliveries costs a few round trips per delivery, not one per call.
// Nothing else writes the partition's inbox rows or reads the kept writes
// meanwhile: every fenced write holds the partition's lease row.
type commitTx struct {
	ctx context.Context
	tx  pgx.Tx
	s   *Store
	f   store.Fence
	// absent are the incidents this transaction read as missing: writing
	// one is an insert that must not find a row another commit made.
	absent map[string]bool
	// written are the incidents written or deleted (nil) here, for the
	// reads after the writes.
	written map[string]*writtenIncident
	// pending is the partition's inbox from pendingFrom on, as read in
	// this transaction; pendingAll says it was read to its end.
	pending     map[uint64]bool
	pendingFrom uint64
	pendingTo   uint64 // the last sequence read
	pendingAll  bool
	taken       []int64
	batch       pgx.Batch
	// mine are the incidents whose rows this transaction locked (read
	// FOR UPDATE or written); versions what it read or wrote of theirs,
	// for the store's record once it commits, which keeps those a
	// committer holds (keep true: pending, open, or with a deferred
	// story) and forgets the others (resolved, deleted).
	mine     map[string]bool
	versions map[string]int64
	keep     map[string]bool
}

type writtenIncident struct {
	doc, event []byte
}

// inboxWindow is how many pending sequences one read brings.
const inboxWindow = 1024

// flush sends the kept writes in one batch.
func (t *commitTx) flush() error {
	if len(t.taken) > 0 {
		// First in the batch, as the calls came first.
		b := pgx.Batch{}
		b.Queue("DELETE FROM inbox WHERE partition = $1 AND seq = ANY($2)", t.f.Partition, t.taken)
		b.QueuedQueries = append(b.QueuedQueries, t.batch.QueuedQueries...)
		t.batch = b
	}
	if t.batch.Len() == 0 {
		return nil
	}
	return t.tx.SendBatch(t.ctx, &t.batch).Close()
}

var _ store.CommitTx = (*commitTx)(nil)

// TakeInbox answers from the partition's pending sequences, read a window
// at a time; the deletes go in the final batch.
func (t *commitTx) TakeInbox(seq uint64) (bool, error) {
	if t.pending == nil || seq < t.pendingFrom || (!t.pendingAll && seq > t.pendingTo) {
		rows, err := t.tx.Query(t.ctx, "SELECT seq FROM inbox WHERE partition = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
			t.f.Partition, int64(seq), inboxWindow)
		if err != nil {
			return false, err
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return false, err
		}
		t.pending = make(map[uint64]bool, len(seqs))
		for _, q := range seqs {
			t.pending[uint64(q)] = true
		}
		t.pendingFrom, t.pendingAll = seq, len(seqs) < inboxWindow
		if len(seqs) > 0 {
			t.pendingTo = uint64(seqs[len(seqs)-1])
		}
		for _, q := range t.taken {
			delete(t.pending, uint64(q))
		}
	}
	if !t.pending[seq] {
		return false, nil
	}
	delete(t.pending, seq)
	t.taken = append(t.taken, int64(seq))
	return true, nil
}

// SeeEvent inserts the dedup record, or renews one whose window ended; a
// live one is left as it is and no row comes back. Concurrent commits
// seeing one id wait on its row, so exactly one gets a row.
func (t *commitTx) SeeEvent(id string, now, until time.Time) (bool, error) {
	if id == "" {
		return false, nil
	}
	rows, err := t.tx.Query(t.ctx, `INSERT INTO dedup (event_id, until) VALUES ($1, $2)
		ON CONFLICT (event_id) DO UPDATE SET until = EXCLUDED.until WHERE dedup.until <= $3
		RETURNING 1`, id, until.UnixNano(), now.UnixNano())
	if err != nil {
		return false, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	return n == 0, nil
}

func (t *commitTx) AddOutbox(e outbox.Entry) (outbox.Entry, error) {
	return addOutbox(t.ctx, t.tx, e)
}

// addOutbox stores an entry. It first takes the transaction-long advisory
// lock of the entry's ordering key, so entries of one key commit in the
// order of their ids (a claimer never sees a later entry of a key while an
// earlier one is still uncommitted), and the insert, a statement after the
// lock, sees every committed entry of the key: it is the head when there
// is none. Both go in one round trip.
func addOutbox(ctx context.Context, tx pgx.Tx, e outbox.Entry) (outbox.Entry, error) {
	e.ID, e.Notification.ID = "", ""
	doc, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("encode outbox entry: %w", err)
	}
	var id int64
	var b pgx.Batch
	lockKey(&b, e.Key)
	b.Queue(`INSERT INTO outbox (key, next_attempt, due, doc, head)
		SELECT $1, $2, $2, $3, NOT EXISTS (SELECT 1 FROM outbox WHERE key = $1) RETURNING id`,
		e.Key, nanos(e.NextAttempt), doc).QueryRow(func(r pgx.Row) error { return r.Scan(&id) })
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return e, err
	}
	e.ID = strconv.FormatInt(id, 10)
	e.Notification.ID = e.ID
	return e, nil
}

// lockKey queues the advisory lock of an ordering key, held to the end of
// the transaction.
func lockKey(b *pgx.Batch, key string) {
	b.Queue("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
}

// removeOutbox deletes a key's entry and marks the key's next entry its
// head, under the key's lock so no entry is added meanwhile.
func removeOutbox(ctx context.Context, tx pgx.Tx, id int64, key string) error {
	var b pgx.Batch
	lockKey(&b, key)
	b.Queue("DELETE FROM outbox WHERE id = $1", id)
	b.Queue(`UPDATE outbox SET head = true WHERE id = (SELECT min(id) FROM outbox WHERE key = $1) AND NOT head`, key)
	return tx.SendBatch(ctx, &b).Close()
}

func (t *commitTx) OutboxWaiting(id string) (bool, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return false, nil
	}
	var ok bool
	err = t.tx.QueryRow(t.ctx, "SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1)", n).Scan(&ok)
	return ok, err
}

func (t *commitTx) Incident(fp string) (incident.Incident, bool, error) {
	if w, ok := t.written[fp]; ok {
		if w == nil || w.doc == nil {
			return incident.Incident{}, false, nil
		}
		inc, err := decodeIncident(fp, w.doc, w.event)
		return inc, err == nil, err
	}
	var doc, ev []byte
	var version int64
	err := t.tx.QueryRow(t.ctx, "SELECT doc, event, version FROM incidents WHERE fingerprint = $1 AND doc IS NOT NULL FOR UPDATE", fp).Scan(&doc, &ev, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		t.absent[fp] = true
		return incident.Incident{}, false, nil
	}
	if err != nil {
		return incident.Incident{}, false, err
	}
	inc, err := decodeIncident(fp, doc, ev)
	if err == nil {
		t.written[fp] = &writtenIncident{doc: doc, event: ev}
		t.mine[fp], t.versions[fp], t.keep[fp] = true, version, held(&inc)
	}
	return inc, err == nil, err
}

func decodeIncident(fp string, doc, ev []byte) (incident.Incident, error) {
	var inc incident.Incident
	if err := json.Unmarshal(doc, &inc); err != nil {
		return inc, fmt.Errorf("incident %s: %w", fp, err)
	}
	inc.Event = event.Event{}
	if len(ev) > 0 {
		if err := json.Unmarshal(ev, &inc.Event); err != nil {
			return inc, fmt.Errorf("event of incident %s: %w", fp, err)
		}
	}
	return inc, nil
}

// PutIncident writes an incident into the commit's partition. One this
// transaction read as missing is inserted: when another commit made it
// meanwhile, the commit fails with ErrConflict rather than open it twice.
func (t *commitTx) PutIncident(inc *incident.Incident, until time.Time) error {
	if inc.Fingerprint == "" {
		return errors.New("incident without a fingerprint")
	}
	rec := *inc
	rec.Event = event.Event{}
	doc, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode incident %s: %w", inc.Fingerprint, err)
	}
	var expires int64
	if inc.Status == incident.Resolved && !until.IsZero() {
		expires = until.UnixNano()
	}
	live := held(inc)
	const upsert = `INSERT INTO incidents (fingerprint, partition, live, status, expires, doc, version) VALUES ($1, $2, $3, $4, $5, $6, 1)
		ON CONFLICT (fingerprint) DO UPDATE SET partition = EXCLUDED.partition, live = EXCLUDED.live,
			status = EXCLUDED.status, expires = EXCLUDED.expires, doc = EXCLUDED.doc, version = incidents.version + 1`
	fp := inc.Fingerprint
	t.remember(fp, doc, nil, false)
	args := []any{fp, t.f.Partition, live, inc.Status, expires, doc}
	record := func(what string) func(pgx.Row) error {
		return func(r pgx.Row) error {
			var v int64
			err := r.Scan(&v)
			if errors.Is(err, pgx.ErrNoRows) {
				return &conflictError{what: "incident " + fp + " " + what}
			}
			t.versions[fp] = v
			return err
		}
	}
	known, seen := t.s.version(fp)
	switch {
	case t.absent[fp]:
		// Only a row without a document (its event written first, by
		// this transaction) may be there.
		t.batch.Queue(upsert+" WHERE incidents.doc IS NULL RETURNING version", args...).
			QueryRow(record("was created by another commit meanwhile"))
		delete(t.absent, fp)
	case t.mine[fp] || !seen:
		t.batch.Queue(upsert+" RETURNING version", args...).QueryRow(record("vanished"))
	default:
		// Held in memory since this store last read or wrote it: written
		// only over that version.
		t.batch.Queue(`UPDATE incidents SET partition = $2, live = $3, status = $4, expires = $5, doc = $6, version = version + 1
			WHERE fingerprint = $1 AND version = $7 RETURNING version`, append(args, known)...).
			QueryRow(record("was changed by another commit since this replica read it"))
	}
	t.mine[fp], t.keep[fp] = true, live
	return nil
}

// held reports whether a committer keeps an incident in memory: what
// LiveIncidents returns.
func held(inc *incident.Incident) bool { return inc.Status != incident.Resolved || inc.Deferred != nil }

// remember keeps what the transaction wrote of an incident for its reads.
func (t *commitTx) remember(fp string, doc, ev []byte, isEvent bool) {
	w := t.written[fp]
	if w == nil {
		w = &writtenIncident{}
		t.written[fp] = w
	}
	if isEvent {
		w.event = ev
	} else {
		w.doc = doc
	}
}

func (t *commitTx) PutIncidentEvent(fp string, ev *event.Event) error {
	doc, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event of incident %s: %w", fp, err)
	}
	t.remember(fp, nil, doc, true)
	t.batch.Queue(`INSERT INTO incidents (fingerprint, partition, event) VALUES ($1, $2, $3)
		ON CONFLICT (fingerprint) DO UPDATE SET event = EXCLUDED.event`, fp, t.f.Partition, doc)
	return nil
}

func (t *commitTx) DeleteIncident(fp string) error {
	t.batch.Queue("DELETE FROM incidents WHERE fingerprint = $1", fp)
	delete(t.absent, fp)
	delete(t.versions, fp)
	t.written[fp] = nil
	t.keep[fp] = false
	return nil
}

// version is the version of an incident this store last read for a
// committer or wrote.
func (s *Store) version(fp string) (int64, bool) {
	s.versionMu.Lock()
	defer s.versionMu.Unlock()
	v, ok := s.versions[fp]
	return v, ok
}

// saw records the versions of the incidents a committer holds, as a
// committed transaction (or LiveIncidents) read or wrote them, and forgets
// those keep says it no longer holds: the record stays as small as the
// live incidents.
func (s *Store) saw(versions map[string]int64, keep map[string]bool) {
	s.versionMu.Lock()
	defer s.versionMu.Unlock()
	for fp, k := range keep {
		v, ok := versions[fp]
		if k && ok {
			s.versions[fp] = v
		} else {
			delete(s.versions, fp)
		}
	}
}

func (t *commitTx) PutAudit(rec *audit.Record, body store.Payload, until time.Time, entries []outbox.Entry) error {
	if err := queueAudit(&t.batch, rec, body, until); err != nil {
		return err
	}
	return queueLinks(&t.batch, rec.ID, entries)
}

// LiveIncidents returns the partition's pending and open incidents and
// the resolved ones with a deferred story.
func (s *Store) LiveIncidents(ctx context.Context, f store.Fence) ([]incident.Incident, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("read incidents", err)
	}
	if err := s.checkFence(ctx, s.pool, f, ""); err != nil {
		return nil, fenceErr("read incidents", s, err)
	}
	versions := map[string]int64{}
	out, err := s.incidents(ctx, versions, "WHERE live AND partition = $1 AND doc IS NOT NULL", f.Partition)
	if err != nil {
		return nil, s.wrap("read incidents", err)
	}
	// The committer holds these now: its writes of them go over these
	// versions.
	keep := make(map[string]bool, len(versions))
	for fp := range versions {
		keep[fp] = true
	}
	s.saw(versions, keep)
	return out, nil
}

// incidents reads incidents, and their versions into versions when it is
// not nil.
func (s *Store) incidents(ctx context.Context, versions map[string]int64, where string, args ...any) ([]incident.Incident, error) {
	rows, err := s.pool.Query(ctx, "SELECT fingerprint, doc, event, version FROM incidents "+where+" ORDER BY fingerprint", args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (incident.Incident, error) {
		var fp string
		var doc, ev []byte
		var v int64
		if err := r.Scan(&fp, &doc, &ev, &v); err != nil {
			return incident.Incident{}, err
		}
		if versions != nil {
			versions[fp] = v
		}
		return decodeIncident(fp, doc, ev)
	})
}

// Incidents lists every stored incident, by fingerprint.
func (s *Store) Incidents(ctx context.Context) ([]incident.Incident, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("read incidents", err)
	}
	out, err := s.incidents(ctx, nil, "WHERE doc IS NOT NULL")
	return out, s.wrap("read incidents", err)
}

// GetIncident returns one incident.
func (s *Store) GetIncident(ctx context.Context, fp string) (incident.Incident, error) {
	if err := s.alive(ctx); err != nil {
		return incident.Incident{}, s.wrap("read incident", err)
	}
	out, err := s.incidents(ctx, nil, "WHERE fingerprint = $1 AND doc IS NOT NULL", fp)
	if err != nil {
		return incident.Incident{}, s.wrap("read incident", err)
	}
	if len(out) == 0 {
		return incident.Incident{}, fmt.Errorf("store: read incident: incident %s: %w", fp, store.ErrNotFound)
	}
	return out[0], nil
}
