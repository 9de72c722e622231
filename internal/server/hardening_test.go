package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/authlimit"
)

// Another method on /webhooks/{source} is 405 naming the methods served,
// not 404 (the path exists).
func TestOtherMethodsAre405WithAllow(t *testing.T) {
	f := newFixture(t, 0)
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		rec := f.do(httptest.NewRequest(m, "/webhooks/meta", strings.NewReader("{}")))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("%s /webhooks/meta: %d, want 405", m, rec.Code)
		}
		allow := rec.Header().Get("Allow")
		if !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
			t.Fatalf("%s: Allow %q, want GET and POST", m, allow)
		}
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.Contains(body["error"], m) {
			t.Fatalf("%s: body %q, want a JSON error naming the method", m, rec.Body.String())
		}
	}
	// An unknown path stays 404.
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/nowhere", nil)); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown path: %d", rec.Code)
	}
}

const goodAdminToken = "0123456789abcdef0123456789abcdef"

func adminRouter() http.Handler {
	return NewRouter(Deps{Admin: &fakeAdmin{}, AdminToken: goodAdminToken})
}

func adminGet(h http.Handler, auth, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/api/v1/dlq", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if remote != "" {
		req.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The auth scheme is case-insensitive (RFC 9110): curl users write bearer.
func TestAdminBearerSchemeIsCaseInsensitive(t *testing.T) {
	h := adminRouter()
	for _, auth := range []string{"Bearer " + goodAdminToken, "bearer " + goodAdminToken, "BEARER " + goodAdminToken, "Bearer  " + goodAdminToken} {
		if rec := adminGet(h, auth, ""); rec.Code != http.StatusOK {
			t.Errorf("%q: %d, want 200", strings.Replace(auth, goodAdminToken, "TOKEN", 1), rec.Code)
		}
	}
	for _, auth := range []string{"Basic " + goodAdminToken, goodAdminToken, "Bearer", "Bearer " + goodAdminToken + "x"} {
		if rec := adminGet(h, auth, ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("%q: %d, want 401", strings.Replace(auth, goodAdminToken, "TOKEN", 1), rec.Code)
		}
	}
}

// Failed admin authentication is throttled per client: after the burst,
// guesses get 429 with Retry-After and are not compared, so even the right
// token waits; another client is not affected.
func TestAdminFailedAuthIsThrottled(t *testing.T) {
	h := adminRouter()
	attacker := "192.0.2.7:5000"
	codes := map[int]int{}
	for i := 0; i < 50; i++ {
		rec := adminGet(h, fmt.Sprintf("Bearer guess-%d", i), attacker)
		codes[rec.Code]++
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if codes[http.StatusUnauthorized] > authlimit.Burst+2 || codes[http.StatusTooManyRequests] < 50-authlimit.Burst-2 {
		t.Fatalf("50 guesses in a row: %v; want about %d compared (401) and the rest throttled (429)", codes, authlimit.Burst)
	}
	if rec := adminGet(h, "Bearer "+goodAdminToken, attacker); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("the right token from a throttled client: %d, want 429 (a throttled guess is not compared)", rec.Code)
	}
	if rec := adminGet(h, "Bearer "+goodAdminToken, "198.51.100.1:6000"); rec.Code != http.StatusOK {
		t.Fatalf("another client with the right token: %d, want 200", rec.Code)
	}
}

// Admin POST bodies are one JSON value with known fields only.
func TestDecodeJSONIsStrict(t *testing.T) {
	type req struct {
		Matchers []string `json:"matchers"`
		For      string   `json:"for"`
	}
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"matchers":["code=1"],"for":"2h"}`, true},
		{"  {\"for\":\"2h\"}\n", true},
		{`{"matchers":["code=1"],"for":"2h"}{"for":"9999h"}`, false},
		{`{"for":"2h"} junk`, false},
		{`{"for":"2h"}]`, false},
		{`{"for":"2h","fro":"1h"}`, false},
		{``, false},
	} {
		var v req
		err := DecodeJSON([]byte(tt.body), &v)
		if (err == nil) != tt.ok {
			t.Errorf("DecodeJSON(%q) = %v, want ok=%v", tt.body, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadRequest) {
			t.Errorf("DecodeJSON(%q): %v does not wrap ErrBadRequest", tt.body, err)
		}
	}
}

// A body that does not arrive within the read timeout is 408, so the
// client (and the log) can tell a slow sender from a bad request.
func TestSlowBodyIs408(t *testing.T) {
	h, _, logs := intakeRouter(t, Deps{})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 500 * time.Millisecond
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 1000\r\n\r\n{\"object\":")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a slow body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body: %d %s, want 408", resp.StatusCode, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "status=408") {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say 408:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
