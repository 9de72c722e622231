package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
)

// DefaultSilenceRefresh is how often the pipeline reloads silences from
// the store even when nobody told it they changed (so one that expires,
// or one another replica added, is seen).
const DefaultSilenceRefresh = 10 * time.Second

// silences is the compiled set the committer reads for every event, with
// when it was read from the store.
type silences struct {
	*silence.Set
	loaded time.Time
}

// loadSilences reads the silences that have not ended from the store.
func (p *Pipeline) loadSilences(ctx context.Context) error {
	all, err := p.st.Silences(ctx)
	if err != nil {
		return err
	}
	now := p.now()
	set := silence.Compile(all, now, func(id string, err error) {
		p.log.Warn("pipeline: silence has a bad matcher; it is ignored", "silence", id, "err", err)
	})
	p.silences.Store(&silences{Set: set, loaded: now})
	p.m.silences.Set(float64(set.Len()))
	return nil
}

// currentSilences returns the cached silences, reloading them when they are
// older than SilenceRefresh.
func (p *Pipeline) currentSilences(now time.Time) *silences {
	s := p.silences.Load()
	if s == nil || now.Sub(s.loaded) >= p.cfg.SilenceRefresh || now.Before(s.loaded) {
		if err := p.loadSilences(context.Background()); err != nil {
			p.m.processingErrors.WithLabelValues("read_silences").Inc()
			p.log.Error("pipeline: read silences; using the last ones read", "err", err)
		}
		s = p.silences.Load()
	}
	return s
}

// AddSilence checks and stores a silence; the pipeline applies it from the
// next event.
func (p *Pipeline) AddSilence(s silence.Silence) (silence.Silence, error) {
	s, err := silence.Check(s, p.now())
	if err != nil {
		return silence.Silence{}, err
	}
	if s, err = p.st.AddSilence(context.Background(), s); err != nil {
		return silence.Silence{}, err
	}
	p.silenceChanged()
	p.log.Info("silence added", "id", s.ID, "ends", s.EndsAt, "author", s.Author, "comment", s.Comment)
	s.State = s.StateAt(p.now())
	return s, nil
}

// UpdateSilence checks a silence and replaces the stored one of its id.
func (p *Pipeline) UpdateSilence(s silence.Silence) (silence.Silence, error) {
	id := s.ID
	s, err := silence.Check(s, p.now())
	if err != nil {
		return silence.Silence{}, err
	}
	s.ID = id
	if s.Updated.IsZero() {
		s.Updated = p.now()
	}
	if err := p.st.PutSilence(context.Background(), s); err != nil {
		return silence.Silence{}, err
	}
	p.silenceChanged()
	p.log.Info("silence updated", "id", s.ID, "ends", s.EndsAt, "author", s.Author, "comment", s.Comment)
	s.State = s.StateAt(p.now())
	return s, nil
}

// ListSilences lists every silence, expired ones included, oldest first,
// each with its state now and its matchers in the current form.
func (p *Pipeline) ListSilences() ([]silence.Silence, error) {
	l, err := p.st.Silences(context.Background())
	if err != nil {
		return nil, err
	}
	now := p.now()
	for i := range l {
		for j := range l[i].Matchers {
			l[i].Matchers[j] = silence.Normalize(l[i].Matchers[j])
		}
		l[i].State = l[i].StateAt(now)
	}
	return l, nil
}

// GetSilence returns one silence; a missing id is store.ErrNotFound.
func (p *Pipeline) GetSilence(id string) (silence.Silence, error) {
	l, err := p.ListSilences()
	if err != nil {
		return silence.Silence{}, err
	}
	for _, s := range l {
		if s.ID == id {
			return s, nil
		}
	}
	return silence.Silence{}, fmt.Errorf("no silence %q: %w", id, store.ErrNotFound)
}

// ExpireSilence ends a silence now; a missing id is store.ErrNotFound.
func (p *Pipeline) ExpireSilence(id string) (silence.Silence, error) {
	s, err := p.st.ExpireSilence(context.Background(), id, p.now())
	if err != nil {
		return silence.Silence{}, err
	}
	p.silenceChanged()
	p.log.Info("silence expired", "id", id)
	s.State = s.StateAt(p.now())
	return s, nil
}

// silenceWatcher is a store that signals changes of the silences made by
// any process sharing it (another replica, an operator command).
type silenceWatcher interface {
	SilencesChanged(ctx context.Context) <-chan struct{}
}

// watchSilences reloads the silences at each change the store signals,
// until ctx is done; a store that signals nothing is left to the refresh.
func (p *Pipeline) watchSilences(ctx context.Context) {
	w, ok := p.st.(silenceWatcher)
	if !ok {
		return
	}
	watch(ctx, w.SilencesChanged(ctx), func() {
		if err := p.loadSilences(ctx); err != nil && ctx.Err() == nil {
			p.m.processingErrors.WithLabelValues("read_silences").Inc()
			p.log.Warn("pipeline: reload silences another process changed; the refresh reads them again soon", "err", err)
		}
	})
}

// watch calls fn at each signal on changed until ctx is done or changed
// is closed.
func watch(ctx context.Context, changed <-chan struct{}, fn func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, open := <-changed:
			if !open {
				return
			}
			fn()
		}
	}
}

// inboxWatcher is a store that signals deliveries added by any process
// sharing it, which this process's Accept did not see.
type inboxWatcher interface {
	InboxChanged(ctx context.Context) <-chan struct{}
}

// watchInbox wakes every committer at each delivery the store announces,
// until ctx is done; without announcements the committers poll.
func (p *Pipeline) watchInbox(ctx context.Context) {
	w, ok := p.st.(inboxWatcher)
	if !ok {
		return
	}
	watch(ctx, w.InboxChanged(ctx), p.wakeAll)
}

func (p *Pipeline) silenceChanged() {
	if err := p.loadSilences(context.Background()); err != nil {
		// The timer reloads them soon; until then the old list applies.
		p.log.Warn("pipeline: reload silences", "err", err)
		p.silences.Store(nil)
	}
}

// Now is the pipeline's clock, for callers that build silences.
func (p *Pipeline) Now() time.Time { return p.now() }
