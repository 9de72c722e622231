package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wabridge/wabridge/internal/config"
)

// TestReloadLoopReadsWatcherErrors: fsnotify's reader blocks until its
// error is taken, so a loop that never reads Errors stops seeing changes
// after the first error. The loop must take the error, reload in case a
// change was lost, and keep reacting to later changes.
func TestReloadLoopReadsWatcherErrors(t *testing.T) {
	dir := t.TempDir()
	s := &Service{
		cfg:    &config.Config{File: filepath.Join(dir, "config.yaml"), Rules: config.Rules{Files: []string{"rules.yaml"}}},
		logger: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan fsnotify.Event)
	errs := make(chan error) // unbuffered, as fsnotify's is
	reloads := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.reloadLoop(ctx, make(chan os.Signal), events, errs, func() { reloads <- struct{}{} })
	}()

	waitReload := func(what string) {
		t.Helper()
		select {
		case <-reloads:
		case <-time.After(5 * time.Second):
			t.Fatalf("no reload after %s", what)
		}
	}
	select {
	case errs <- fsnotify.ErrEventOverflow:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher's error was never read: fsnotify would stop delivering changes")
	}
	waitReload("a watcher error")

	select {
	case events <- fsnotify.Event{Name: filepath.Join(dir, "rules.yaml"), Op: fsnotify.Write}:
	case <-time.After(5 * time.Second):
		t.Fatal("a change after an error was never read")
	}
	waitReload("a rules file change")

	// A file the runtime does not read causes no reload.
	events <- fsnotify.Event{Name: filepath.Join(dir, "notes.txt"), Op: fsnotify.Write}
	select {
	case <-reloads:
		t.Fatal("reloaded for a file the runtime does not read")
	case <-time.After(500 * time.Millisecond):
	}
	cancel()
	<-done
}
