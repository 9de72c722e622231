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
// after the first error. The loop must take the error, check the files in
// case a change was lost, and keep reacting to later changes.
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
		s.reloadLoop(ctx, make(chan os.Signal), events, errs, func() {}, func() { reloads <- struct{}{} })
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
	cancel()
	<-done
}

// TestFilesStateSeesEdits: whatever the config path looks like (a bare
// file name as `make run` passes it, ./, absolute), an edit, a rename-over
// write and a ConfigMap-style ..data symlink swap change the state; a
// change to a file the runtime does not read does not.
func TestFilesStateSeesEdits(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A ConfigMap volume: files are symlinks into ..data, itself a symlink
	// to a timestamped directory that an update replaces atomically.
	write("cm/..2026_01/catalog.yaml", "codes: {}\n")
	if err := os.Symlink("..2026_01", "cm/..data"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/catalog.yaml", "cm/catalog.yaml"); err != nil {
		t.Fatal(err)
	}
	write("rules.yaml", "rules: []\n")
	write("templates/a.tmpl", `{{define "x"}}x{{end}}`)

	for _, file := range []string{"config.yaml", "./config.yaml", filepath.Join(dir, "config.yaml")} {
		s := &Service{cfg: &config.Config{
			File:      file,
			Rules:     config.Rules{Files: []string{"rules.yaml"}},
			Catalog:   config.Catalog{Files: []string{"cm/catalog.yaml"}},
			Templates: config.Templates{Dir: "templates"},
		}}
		for _, d := range s.watchedDirs() {
			if !filepath.IsAbs(d) {
				t.Errorf("config %q: watched dir %q is not absolute", file, d)
			}
		}
		last := s.filesState()
		step := func(what string, change func(), wantChange bool) {
			t.Helper()
			change()
			now := s.filesState()
			if (now != last) != wantChange {
				t.Errorf("config %q, %s: state changed = %v, want %v\n%s", file, what, now != last, wantChange, now)
			}
			last = now
		}
		step("nothing", func() {}, false)
		step("an unrelated file", func() { write("notes.txt", file) }, false)
		step("an edit in place", func() { write("rules.yaml", "rules: [] # "+file+"\n") }, true)
		step("a rename-over write", func() {
			write("rules.yaml.swp", "rules: []\n")
			if err := os.Rename("rules.yaml.swp", "rules.yaml"); err != nil {
				t.Fatal(err)
			}
		}, true)
		step("a new template file", func() { write("templates/b.tmpl", `{{define "y"}}y{{end}}`) }, true)
		step("a ..data swap", func() {
			next := "..v" + filepath.Base(t.TempDir())
			write("cm/"+next+"/catalog.yaml", "codes: {}\n")
			if err := os.Symlink(next, "cm/..data_tmp"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename("cm/..data_tmp", "cm/..data"); err != nil {
				t.Fatal(err)
			}
		}, true)
		if err := os.Remove("templates/b.tmpl"); err != nil {
			t.Fatal(err)
		}
	}
}
