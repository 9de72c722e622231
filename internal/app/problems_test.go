package app

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/problem"
	"github.com/wabridge/wabridge/internal/sources"
)

// TestBuildSourcesPlacesEachProblem: a mapping file's problem points at
// that file's line, and a source's own problem at the config file, in one
// list, so `wabridge check` prints each once with its place.
func TestBuildSourcesPlacesEachProblem(t *testing.T) {
	dir := t.TempDir()
	mapping := filepath.Join(dir, "bsp.yaml")
	if err := os.WriteFile(mapping, []byte("kind: message_status\nfields:\n  status: status\n  colour: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{File: filepath.Join(dir, "config.yaml"), Sources: []sources.Config{
		{Name: "bsp", Type: "mapped", MappingFile: mapping},
		{Name: "other", Type: "nonsense"},
	}}
	_, err := BuildSources(cfg)
	var list problem.List
	if !errors.As(err, &list) {
		t.Fatalf("BuildSources error = %v (%T), want a problem.List", err, err)
	}
	var inMapping, inConfig bool
	for _, p := range list {
		switch p.File {
		case mapping:
			inMapping = inMapping || p.Line == 4
		case cfg.File:
			inConfig = true
		default:
			t.Errorf("problem %q is in neither the mapping file nor the config file", p)
		}
	}
	if !inMapping || !inConfig {
		t.Fatalf("want a problem at %s:4 and one in %s, got:\n%s", mapping, cfg.File, list)
	}
}
