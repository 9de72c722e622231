package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wabridge/wabridge/internal/problem"
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
		for _, p := range problem.Of(err).Strings() {
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
// changes. It watches the directories that hold them, not the files: an
// editor's rename-over write and a Kubernetes ConfigMap update (a new
// timestamped directory swapped in through the ..data symlink) replace the
// file rather than write to it. Any event in those directories, debounced,
// makes it compare what the files resolve to now (through symlinks) with
// what they resolved to at the last load, and reload when that differs.
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
		s.watch(watcher)
		events, errs = watcher.Events, watcher.Errors
	}
	w := &fileWatch{s: s, watcher: watcher, last: s.filesState()}
	go s.reloadLoop(ctx, hup, events, errs, w.reload, w.changed)
	return func() {
		cancel()
		signal.Stop(hup)
		if watcher != nil {
			_ = watcher.Close()
		}
	}
}

// fileWatch remembers what the watched files resolved to at the last load.
// Only the reload loop's goroutine uses it.
type fileWatch struct {
	s       *Service
	watcher *fsnotify.Watcher
	last    string
}

// reload reloads unconditionally (SIGHUP).
func (w *fileWatch) reload() {
	w.last = w.s.filesState()
	_ = w.s.Reload()
	w.rewatch()
}

// changed reloads when the files differ from the last load's. A reload that
// fails is not retried until they change again.
func (w *fileWatch) changed() {
	now := w.s.filesState()
	if now == w.last {
		return
	}
	w.last = now
	w.s.logger.Info("rule, template or catalogue files changed: reloading")
	_ = w.s.Reload()
	w.rewatch()
}

// rewatch adds the directories again: one that was replaced (a templates
// directory moved into place) is a new directory to inotify.
func (w *fileWatch) rewatch() {
	if w.watcher != nil {
		w.s.watch(w.watcher)
	}
}

func (s *Service) watch(watcher *fsnotify.Watcher) {
	for _, dir := range s.watchedDirs() {
		if err := watcher.Add(dir); err != nil {
			s.logger.Warn("cannot watch for changes; reload with SIGHUP", "dir", dir, "error", err)
		}
	}
}

// reloadLoop calls reload on SIGHUP and, debounced, changed when something
// happens in a watched directory. It reads the watcher's errors too:
// fsnotify blocks its reader until an error is taken, so an unread one (an
// inotify queue overflow) would stop every later change from being seen.
// After an error some changes may have been missed, so it checks again.
func (s *Service) reloadLoop(ctx context.Context, hup <-chan os.Signal, events <-chan fsnotify.Event, errs <-chan error, reload, changed func()) {
	const quiet = 300 * time.Millisecond
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.logger.Info("SIGHUP: reloading")
			reload()
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			debounce = time.After(quiet)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			s.logger.Warn("file watcher error; checking the files in case a change was missed", "error", err)
			debounce = time.After(quiet)
		case <-debounce:
			debounce = nil
			changed()
		}
	}
}

// abs is a config path made absolute and clean, so "rules.yaml",
// "./rules.yaml" and "/etc/wabridge/rules.yaml" compare equal.
func (s *Service) abs(p string) string {
	p = s.cfg.Resolve(p)
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// watchedDirs lists the directories whose changes can change what the
// runtime reads: each file's directory, and the templates directory with
// its parent (so the directory itself being replaced is seen).
func (s *Service) watchedDirs() []string {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, f := range s.cfg.Rules.Files {
		add(filepath.Dir(s.abs(f)))
	}
	for _, f := range s.cfg.Catalog.Files {
		add(filepath.Dir(s.abs(f)))
	}
	if s.cfg.Templates.Dir != "" {
		d := s.abs(s.cfg.Templates.Dir)
		add(d)
		add(filepath.Dir(d))
	}
	return out
}

// filesState describes every file the runtime reads as it resolves now:
// its path through symlinks, size and modification time, and for globs and
// the templates directory which files there are. Two equal states mean
// nothing a reload would read has changed.
func (s *Service) filesState() string {
	var b strings.Builder
	describe := func(p string) {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", p, err)
			return
		}
		st, err := os.Stat(real)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", p, err)
			return
		}
		fmt.Fprintf(&b, "%s -> %s %d %d\n", p, real, st.Size(), st.ModTime().UnixNano())
	}
	for _, f := range s.cfg.Rules.Files {
		p := s.abs(f)
		if !strings.ContainsAny(p, "*?[") {
			describe(p)
			continue
		}
		m, _ := filepath.Glob(p)
		sort.Strings(m)
		fmt.Fprintf(&b, "%s: %d files\n", p, len(m))
		for _, f := range m {
			describe(f)
		}
	}
	for _, f := range s.cfg.Catalog.Files {
		describe(s.abs(f))
	}
	if s.cfg.Templates.Dir != "" {
		d := s.abs(s.cfg.Templates.Dir)
		describe(d)
		m, _ := filepath.Glob(filepath.Join(d, "*.tmpl"))
		sort.Strings(m)
		for _, f := range m {
			describe(f)
		}
	}
	return b.String()
}
