package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReloadAnswers: POST /-/reload answers each outcome with its status:
// success 200, refused files 422 with the problems, a reload already
// running 409, and nothing without the token.
func TestReloadAnswers(t *testing.T) {
	const token = "reload-test-admin-token-0123456789abcdef"
	for _, tc := range []struct {
		name   string
		res    ReloadResult
		err    error
		token  string
		status int
		body   string
	}{
		{"success", ReloadResult{Status: "success", Rules: 3}, nil, token, 200, `"rules":3`},
		{"refused", ReloadResult{Status: "failure", Rules: 3, Problems: []string{"rules.yaml:5: unknown key"}}, nil, token, 422, `rules.yaml:5: unknown key`},
		{"running", ReloadResult{}, ErrReloadRunning, token, 409, "already running"},
		{"no token", ReloadResult{Status: "success"}, nil, "", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			h := NewRouter(Deps{Admin: &fakeAdmin{reload: func(context.Context) (ReloadResult, error) {
				called = true
				return tc.res, tc.err
			}}, AdminToken: token})
			req := httptest.NewRequest(http.MethodPost, "/-/reload", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("%d %s, want %d with %q", rec.Code, rec.Body.String(), tc.status, tc.body)
			}
			if tc.token == "" && called {
				t.Error("reloaded without the token")
			}
		})
	}
}
