package postgres

import (
	"context"
	"sync"
	"time"
)

// Channels every replica LISTENs on. A change is announced in the changing
// transaction, so the notification goes out when it commits.
const (
	silenceChannel = "wabridge_silences" // a silence added, changed or expired
	inboxChannel   = "wabridge_inbox"    // deliveries added to the inbox
)

// watch listens on a connection of its own for the changes other replicas
// (and this one) announce, and tells the subscribers of each channel. A
// tick every SilenceReload tells them all too, and so does each
// (re)connection, so a notification lost while the connection was down
// costs at most a tick.
type watch struct {
	s      *Store
	mu     sync.Mutex
	topics map[string]map[chan struct{}]struct{}
	done   chan struct{}
}

func newWatch(s *Store) *watch {
	return &watch{s: s, done: make(chan struct{}), topics: map[string]map[chan struct{}]struct{}{
		silenceChannel: {}, inboxChannel: {},
	}}
}

// SilencesChanged returns a channel that receives when the silences may
// have changed (a change on any replica, or the periodic reload); the
// receiver reads them again with Silences. A signal not yet received is
// not doubled. The channel closes when ctx ends or the store closes.
func (s *Store) SilencesChanged(ctx context.Context) <-chan struct{} {
	return s.watch.subscribe(ctx, silenceChannel)
}

// InboxChanged returns a channel that receives when deliveries may have
// been added to the inbox by another replica (or at the periodic tick;
// this replica's own are in the partition AddInbox returns): a
// committer waiting for work reads PendingInbox (or PendingPartitions)
// then. Signals coalesce; the channel closes when ctx ends or the store
// closes.
func (s *Store) InboxChanged(ctx context.Context) <-chan struct{} {
	return s.watch.subscribe(ctx, inboxChannel)
}

func (w *watch) subscribe(ctx context.Context, topic string) <-chan struct{} {
	c := make(chan struct{}, 1)
	w.mu.Lock()
	select {
	case <-w.done:
		w.mu.Unlock()
		close(c)
		return c
	default:
	}
	w.topics[topic][c] = struct{}{}
	w.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-w.done:
		}
		w.mu.Lock()
		if _, ok := w.topics[topic][c]; ok {
			delete(w.topics[topic], c)
			close(c)
		}
		w.mu.Unlock()
	}()
	return c
}

// signal tells the subscribers of topic, or of every topic when it is "".
func (w *watch) signal(topic string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, subs := range w.topics {
		if topic != "" && name != topic {
			continue
		}
		for c := range subs {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
}

func (w *watch) run(ctx context.Context) {
	defer func() {
		w.mu.Lock()
		close(w.done)
		for _, subs := range w.topics {
			for c := range subs {
				delete(subs, c)
				close(c)
			}
		}
		w.mu.Unlock()
	}()
	notes := make(chan string, 16)
	go w.listen(ctx, notes)
	t := time.NewTicker(w.s.cfg.SilenceReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.signal("")
		case topic := <-notes:
			w.signal(topic)
		}
	}
}

// listen holds a connection with LISTEN, reconnecting after a failure.
func (w *watch) listen(ctx context.Context, notes chan<- string) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.listenOnce(ctx, notes, func() { wait = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		w.s.log.Debug("store: change notifications interrupted; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, w.s.cfg.SilenceReload)
	}
}

func (w *watch) listenOnce(ctx context.Context, notes chan<- string, connected func()) error {
	conn, err := w.s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is not given back: LISTEN state must not leak into
	// the pool.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "LISTEN "+silenceChannel+"; LISTEN "+inboxChannel); err != nil {
		return err
	}
	connected()
	send := func(topic string) {
		select {
		case notes <- topic:
		case <-ctx.Done():
		}
	}
	send("") // what changed while no one listened
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel == inboxChannel && n.Payload == w.s.owner {
			// This process's own deliveries: their committer was woken
			// when each was added.
			continue
		}
		send(n.Channel)
	}
}
