package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadyzFailsWhenTheStoreCloses runs a real service (store, pipeline,
// router) and closes its store underneath: /readyz must turn 503 and say
// why, while /healthz, which only says the process is up, stays 200.
func TestReadyzFailsWhenTheStoreCloses(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`
server: {listen: "127.0.0.1:0", shutdown_timeout: 2s}
storage: {dir: data}
sources:
  - {name: meta, type: meta, app_secret: ready-test-secret, verify_token: v}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(cfg, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	if w := get("/readyz"); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "not running") {
		t.Fatalf("before Run: /readyz %d %s, want 503 naming the workers", w.Code, w.Body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for get("/readyz").Code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %s", get("/readyz").Body)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := s.store.Close(); err != nil {
		t.Fatal(err)
	}
	w := get("/readyz")
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the store closed: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), "store is closed") {
		t.Errorf("/readyz does not say why: %s", w.Body)
	}
	if w := get("/healthz"); w.Code != http.StatusOK {
		t.Errorf("/healthz %d with the store closed: the process is still up", w.Code)
	}
}
