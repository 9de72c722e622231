package app

import (
	"context"
	"errors"
	"testing"

	"github.com/wabridge/wabridge/internal/server"
)

// TestReloadRequestWhileReloading: a reload asked for while another runs
// (SIGHUP, a file change or another request) is answered at once.
func TestReloadRequestWhileReloading(t *testing.T) {
	s := &Service{}
	s.reloadMu.Lock()
	_, err := s.reloadRequest(context.Background())
	s.reloadMu.Unlock()
	if !errors.Is(err, server.ErrReloadRunning) {
		t.Errorf("reload during a reload: %v, want ErrReloadRunning", err)
	}
	s.httpReload.Store(true)
	if _, err := s.reloadRequest(context.Background()); !errors.Is(err, server.ErrReloadRunning) {
		t.Errorf("reload during a reload request: %v, want ErrReloadRunning", err)
	}
}
