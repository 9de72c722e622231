package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPprofBehindAdminToken: the profiler answers only with the admin token,
// and is not mounted at all when no admin token is configured.
func TestPprofBehindAdminToken(t *testing.T) {
	get := func(h http.Handler, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	open := NewRouter(Deps{})
	if rec := get(open, "/debug/pprof/", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("without an admin token /debug/pprof/ must not exist: %d", rec.Code)
	}
	h := NewRouter(Deps{Admin: &fakeAdmin{}, AdminToken: "admin-secret"})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine"} {
		if rec := get(h, path, ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", path, rec.Code)
		}
		if rec := get(h, path, "wrong"); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d", path, rec.Code)
		}
	}
	if rec := get(h, "/debug/pprof/", "admin-secret"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "goroutine") {
		t.Fatalf("index with the token: %d %.200s", rec.Code, rec.Body.String())
	}
	if rec := get(h, "/debug/pprof/goroutine?debug=1", "admin-secret"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "goroutine profile") {
		t.Fatalf("goroutine profile with the token: %d %.200s", rec.Code, rec.Body.String())
	}
}
