package app

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reload rebuilds rules, templates, the catalogue and the notifiers from
// disk. The new runtime is fully validated before it replaces the old one
// atomically; on any problem the old one keeps running and the problems are
// logged with FILE:LINE.
func (s *Service) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	rt, err := BuildRuntime(s.cfg, s.logger)
	if err != nil {
		for _, p := range splitLines(err) {
			s.logger.Error("reload rejected; the previous rules keep running", "problem", p)
		}
		s.metrics.reloadFailed()
		return err
	}
	for _, w := range rt.Warnings {
		s.logger.Warn("config warning", "warning", w)
	}
	old := s.runtime.Swap(rt)
	s.metrics.reloadOK(time.Now())
	s.logger.Info("rules reloaded", "rules", rt.Rules.Len())
	if old != nil {
		// A sender may still hold the old runtime for one send; close its
		// files after that send has had time to finish.
		time.AfterFunc(30*time.Second, func() { _ = old.Close() })
	}
	return nil
}

// watchReload reloads on SIGHUP and when a rule, template or catalogue file
// changes. Editors write files in several steps, so changes are debounced.
func (s *Service) watchReload(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	var events <-chan fsnotify.Event
	var errs <-chan error
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		s.logger.Warn("file watching is off; reload with SIGHUP", "error", err)
	} else {
		for _, dir := range s.watchedDirs() {
			if err := watcher.Add(dir); err != nil {
				s.logger.Warn("cannot watch for changes", "dir", dir, "error", err)
			}
		}
		events, errs = watcher.Events, watcher.Errors
	}

	go s.reloadLoop(ctx, hup, events, errs, func() { _ = s.Reload() })
	return func() {
		cancel()
		signal.Stop(hup)
		if watcher != nil {
			_ = watcher.Close()
		}
	}
}

// reloadLoop calls reload on SIGHUP and, debounced, when a watched file
// changes. It reads the watcher's errors too: fsnotify blocks its reader
// until an error is taken, so an unread one (an inotify queue overflow)
// would stop every later change from being seen. After an error some
// changes may have been missed, so it reloads to be safe.
func (s *Service) reloadLoop(ctx context.Context, hup <-chan os.Signal, events <-chan fsnotify.Event, errs <-chan error, reload func()) {
	const quiet = 300 * time.Millisecond
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.logger.Info("SIGHUP: reloading")
			reload()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if s.relevant(ev.Name) {
				debounce = time.After(quiet)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			s.logger.Warn("file watcher error; reloading in case a change was missed", "error", err)
			debounce = time.After(quiet)
		case <-debounce:
			debounce = nil
			s.logger.Info("rule, template or catalogue files changed: reloading")
			reload()
		}
	}
}

func (s *Service) watchedDirs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p == "" {
			return
		}
		d := filepath.Dir(p)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, f := range s.cfg.Rules.Files {
		add(s.cfg.Resolve(f))
	}
	for _, f := range s.cfg.Catalog.Files {
		add(s.cfg.Resolve(f))
	}
	if s.cfg.Templates.Dir != "" {
		d := s.cfg.Resolve(s.cfg.Templates.Dir)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// relevant reports whether a changed file is one the runtime reads.
func (s *Service) relevant(name string) bool {
	for _, f := range s.cfg.Rules.Files {
		if ok, _ := filepath.Match(s.cfg.Resolve(f), name); ok {
			return true
		}
	}
	for _, f := range s.cfg.Catalog.Files {
		if filepath.Clean(s.cfg.Resolve(f)) == filepath.Clean(name) {
			return true
		}
	}
	if s.cfg.Templates.Dir != "" && filepath.Dir(name) == filepath.Clean(s.cfg.Resolve(s.cfg.Templates.Dir)) {
		return filepath.Ext(name) == ".tmpl"
	}
	return false
}
