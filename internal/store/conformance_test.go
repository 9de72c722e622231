package store_test

import (
	"testing"

	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/internal/store/storetest"
)

// boltBackend is a store directory: each Open opens the file in it.
type boltBackend struct{ dir string }

func (b boltBackend) Open(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(b.dir, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

func TestBoltConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend { return boltBackend{dir: t.TempDir()} })
}
