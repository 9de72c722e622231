package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The console is mounted at /ui/ only with the admin token, and on the
// router that serves the admin API: the admin listener's when there is
// one, never beside the public webhooks then.
func TestConsoleMount(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("console " + r.URL.Path)) })
	get := func(h http.Handler, p string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		return rec
	}
	main := NewRouter(Deps{Admin: &fakeAdmin{}, AdminToken: goodAdminToken, Console: ui})
	if rec := get(main, "/ui/incidents"); rec.Code != http.StatusOK || rec.Body.String() != "console /ui/incidents" {
		t.Fatalf("/ui/incidents: %d %q", rec.Code, rec.Body.String())
	}
	if rec := get(main, "/ui"); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ui/" {
		t.Fatalf("/ui: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := get(NewRouter(Deps{Console: ui}), "/ui/"); rec.Code != http.StatusNotFound {
		t.Fatalf("without admin_token: %d, want 404", rec.Code)
	}
	d := Deps{Admin: &fakeAdmin{}, AdminToken: goodAdminToken, Console: ui, AdminListenerOwn: true}
	if rec := get(NewRouter(d), "/ui/"); rec.Code != http.StatusNotFound {
		t.Fatalf("public router with an admin listener: %d, want 404", rec.Code)
	}
	if rec := get(NewAdminRouter(d), "/ui/"); rec.Code != http.StatusOK {
		t.Fatalf("admin router: %d, want the console", rec.Code)
	}
}
