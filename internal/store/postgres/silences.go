package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
)

// silenceChannel is the NOTIFY channel every silence change is announced
// on, in the changing transaction: the notification goes out when it
// commits.
const silenceChannel = "wabridge_silences"

// AddSilence stores a new silence and returns it with its id.
func (s *Store) AddSilence(ctx context.Context, sil silence.Silence) (silence.Silence, error) {
	if err := s.alive(ctx); err != nil {
		return silence.Silence{}, s.wrap("add silence", err)
	}
	sil.State, sil.ID = "", ""
	doc, err := json.Marshal(sil)
	if err != nil {
		return silence.Silence{}, fmt.Errorf("store: encode silence: %w", err)
	}
	var id int64
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "INSERT INTO silences (doc) VALUES ($1) RETURNING id", doc).Scan(&id); err != nil {
			return err
		}
		return notifySilences(ctx, tx, id)
	})
	if err != nil {
		return silence.Silence{}, s.wrap("add silence", err)
	}
	sil.ID = strconv.FormatInt(id, 10)
	return sil, nil
}

func notifySilences(ctx context.Context, tx pgx.Tx, id int64) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", silenceChannel, strconv.FormatInt(id, 10))
	return err
}

// PutSilence replaces a stored silence.
func (s *Store) PutSilence(ctx context.Context, sil silence.Silence) error {
	if err := s.alive(ctx); err != nil {
		return s.wrap("update silence", err)
	}
	id, err := outboxID(sil.ID)
	if err != nil {
		return s.wrap("update silence", err)
	}
	sil.State = ""
	stored := sil
	stored.ID = ""
	doc, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("store: encode silence: %w", err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE silences SET doc = $2 WHERE id = $1", id, doc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("silence %s: %w", sil.ID, store.ErrNotFound)
		}
		return notifySilences(ctx, tx, id)
	})
	return s.wrap("update silence", err)
}

// Silences lists every silence, oldest first, expired ones included.
func (s *Store) Silences(ctx context.Context) ([]silence.Silence, error) {
	if err := s.alive(ctx); err != nil {
		return nil, s.wrap("read silences", err)
	}
	rows, err := s.pool.Query(ctx, "SELECT id, doc FROM silences ORDER BY id")
	if err != nil {
		return nil, s.wrap("read silences", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (silence.Silence, error) {
		var id int64
		var doc []byte
		if err := r.Scan(&id, &doc); err != nil {
			return silence.Silence{}, err
		}
		return decodeSilence(id, doc)
	})
	return out, s.wrap("read silences", err)
}

func decodeSilence(id int64, doc []byte) (silence.Silence, error) {
	var sil silence.Silence
	if err := json.Unmarshal(doc, &sil); err != nil {
		return sil, fmt.Errorf("silence %d: %w", id, err)
	}
	sil.ID = strconv.FormatInt(id, 10)
	return sil, nil
}

// ExpireSilence ends a silence at at; one already over keeps its end.
func (s *Store) ExpireSilence(ctx context.Context, id string, at time.Time) (silence.Silence, error) {
	if err := s.alive(ctx); err != nil {
		return silence.Silence{}, s.wrap("expire silence", err)
	}
	n, err := outboxID(id)
	if err != nil {
		return silence.Silence{}, s.wrap("expire silence", err)
	}
	var sil silence.Silence
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var doc []byte
		err := tx.QueryRow(ctx, "SELECT doc FROM silences WHERE id = $1 FOR UPDATE", n).Scan(&doc)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("silence %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if sil, err = decodeSilence(n, doc); err != nil {
			return err
		}
		if !sil.EndsAt.After(at) {
			return nil
		}
		sil.EndsAt = at
		if sil.StartsAt.After(at) {
			sil.StartsAt = at
		}
		stored := sil
		stored.ID = ""
		doc, err = json.Marshal(stored)
		if err != nil {
			return fmt.Errorf("encode silence: %w", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE silences SET doc = $2 WHERE id = $1", n, doc); err != nil {
			return err
		}
		return notifySilences(ctx, tx, n)
	})
	if err != nil {
		return silence.Silence{}, s.wrap("expire silence", err)
	}
	return sil, nil
}

// silenceWatch listens on its own connection for silence changes made by
// any replica and tells the subscribers; a reload tick every
// SilenceReload tells them too, so a notification lost while the
// connection was down costs at most a tick.
type silenceWatch struct {
	s    *Store
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
	done chan struct{}
}

func newSilenceWatch(s *Store) *silenceWatch {
	return &silenceWatch{s: s, subs: map[chan struct{}]struct{}{}, done: make(chan struct{})}
}

// SilencesChanged returns a channel that receives when the silences may
// have changed (a change on any replica, or the periodic reload); the
// receiver reads them again with Silences. A signal not yet received is
// not doubled. The channel closes when ctx ends or the store closes.
func (s *Store) SilencesChanged(ctx context.Context) <-chan struct{} {
	w := s.silences
	c := make(chan struct{}, 1)
	w.mu.Lock()
	select {
	case <-w.done:
		w.mu.Unlock()
		close(c)
		return c
	default:
	}
	w.subs[c] = struct{}{}
	w.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-w.done:
		}
		w.mu.Lock()
		if _, ok := w.subs[c]; ok {
			delete(w.subs, c)
			close(c)
		}
		w.mu.Unlock()
	}()
	return c
}

func (w *silenceWatch) signal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (w *silenceWatch) run(ctx context.Context) {
	defer func() {
		w.mu.Lock()
		close(w.done)
		for c := range w.subs {
			delete(w.subs, c)
			close(c)
		}
		w.mu.Unlock()
	}()
	notes := make(chan struct{}, 1)
	go w.listen(ctx, notes)
	t := time.NewTicker(w.s.cfg.SilenceReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.signal()
		case <-notes:
			w.signal()
		}
	}
}

// listen holds a connection with LISTEN, reconnecting after a failure
// (and signalling then: changes made meanwhile were not announced to it).
func (w *silenceWatch) listen(ctx context.Context, notes chan<- struct{}) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.listenOnce(ctx, notes, func() { wait = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		w.s.log.Debug("store: silence notifications interrupted; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, w.s.cfg.SilenceReload)
	}
}

func (w *silenceWatch) listenOnce(ctx context.Context, notes chan<- struct{}, connected func()) error {
	conn, err := w.s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is not given back: LISTEN state must not leak into
	// the pool.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "LISTEN "+silenceChannel); err != nil {
		return err
	}
	connected()
	send := func() {
		select {
		case notes <- struct{}{}:
		default:
		}
	}
	send() // what changed while no one listened
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			return err
		}
		send()
	}
}
