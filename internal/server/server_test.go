package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/whatsapp"
)

const (
	testSecret      = "test-app-secret"
	testVerifyToken = "test-verify-token"
)

// memInbox is the inbox at the HTTP boundary: the router's contract is
// "200 only after Accept returned nil", which this records.
type memInbox struct {
	mu       sync.Mutex
	accepted []delivery.Delivery
	events   [][]event.Event // what the handler parsed, per accepted delivery
	rejected []string
	failWith error
}

func (m *memInbox) Accept(ctx context.Context, d delivery.Delivery, events []event.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWith != nil {
		return m.failWith
	}
	m.accepted = append(m.accepted, d)
	m.events = append(m.events, events)
	return nil
}

func (m *memInbox) Reject(ctx context.Context, d delivery.Delivery, status int, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejected = append(m.rejected, fmt.Sprintf("%d %s", status, reason))
}

type fixture struct {
	router http.Handler
	inbox  *memInbox
	logs   *bytes.Buffer
}

func newFixture(t *testing.T, maxBody int64) *fixture {
	t.Helper()
	meta, err := sources.NewMeta(sources.Config{Name: "meta", Type: "meta", AppSecret: testSecret, VerifyToken: testVerifyToken})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{inbox: &memInbox{}, logs: &bytes.Buffer{}}
	f.router = NewRouter(Deps{
		Sources:      map[string]sources.Source{"meta": meta},
		Inbox:        f.inbox,
		MaxBodyBytes: maxBody,
		Logger:       slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return f
}

func (f *fixture) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, req)
	return rec
}

func signedPost(body []byte, sig string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/meta", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	return req
}

const failed131031 = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"555182137088","phone_number_id":"1370198982834159"},"statuses":[{"id":"wamid.X==","status":"failed","timestamp":"1788275824","recipient_id":"555199134479","errors":[{"code":131031,"title":"Business Account locked","message":"Business Account locked","error_data":{"details":"Business account has been locked."}}]}]},"field":"messages"}]}]}`

func TestHandshake(t *testing.T) {
	f := newFixture(t, 0)
	tests := []struct {
		name, query string
		want        int
		body        string
	}{
		{"matching token", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" + testVerifyToken, 200, "1158201444"},
		{"wrong token", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=nope", 403, ""},
		{"no token", "hub.mode=subscribe&hub.challenge=1158201444", 403, ""},
		{"wrong mode", "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=" + testVerifyToken, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(httptest.NewRequest(http.MethodGet, "/webhooks/meta?"+tt.query, nil))
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d", rec.Code, tt.want)
			}
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Fatalf("body %q, want the raw challenge %q", rec.Body.String(), tt.body)
			}
		})
	}
	if strings.Contains(f.logs.String(), testVerifyToken) {
		t.Fatalf("request log shows the verify token:\n%s", f.logs.String())
	}
}

func TestReceive(t *testing.T) {
	batch := `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"statuses":[`
	for i := 0; i < 1000; i++ {
		if i > 0 {
			batch += ","
		}
		batch += fmt.Sprintf(`{"id":"wamid.%d","status":"delivered","timestamp":"1700000000","recipient_id":"1555000%04d"}`, i, i)
	}
	batch += `]}}]}]}`
	reserialized := func() []byte {
		var v any
		_ = json.Unmarshal([]byte(failed131031), &v)
		b, _ := json.MarshalIndent(v, "", " ")
		return b
	}()

	tests := []struct {
		name       string
		body       []byte
		sig        string // "" = sign the body; "-" = no header
		want       int
		wantEvents int
		wantErr    string
	}{
		{"failed status", []byte(failed131031), "", 200, 1, ""},
		{"missing signature", []byte(failed131031), "-", 401, 0, "X-Hub-Signature-256"},
		{"wrong signature", []byte(failed131031), "sha256=" + strings.Repeat("ab", 32), 401, 0, "does not match"},
		{"wrong prefix", []byte(failed131031), "sha1=abcdef", 401, 0, "sha256="},
		{"body re-serialized after signing", reserialized, whatsapp.Sign([]byte(testSecret), []byte(failed131031)), 401, 0, "does not match"},
		{"not JSON", []byte("hello, world"), "", 400, 0, "not JSON"},
		{"unknown shape", []byte(`{"hello":"world"}`), "", 200, 1, ""},
		{"JSON array", []byte(`[1,2,3]`), "", 200, 1, ""},
		{"empty entry (kept as unknown)", []byte(`{"object":"whatsapp_business_account","entry":[]}`), "", 200, 1, ""},
		{"numeric timestamp and string code", []byte(strings.Replace(strings.Replace(failed131031, `"timestamp":"1788275824"`, `"timestamp":1788275824`, 1), `"code":131031`, `"code":"131031"`, 1)), "", 200, 1, ""},
		{"1000 statuses", []byte(batch), "", 200, 1000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 0)
			sig := tt.sig
			switch sig {
			case "":
				sig = whatsapp.Sign([]byte(testSecret), tt.body)
			case "-":
				sig = ""
			}
			rec := f.do(signedPost(tt.body, sig))
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
			}
			var resp map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("answer is not JSON: %q", rec.Body.String())
			}
			if tt.want == 200 {
				if len(f.inbox.accepted) != 1 || !bytes.Equal(f.inbox.accepted[0].Body, tt.body) {
					t.Fatalf("a 200 must mean the exact bytes were stored")
				}
				if got := int(resp["events"].(float64)); got != tt.wantEvents {
					t.Fatalf("events %d, want %d", got, tt.wantEvents)
				}
				// The inbox gets the events parsed here, so it need not
				// parse the body again.
				if evs := f.inbox.events[0]; evs == nil || len(evs) != tt.wantEvents {
					t.Fatalf("inbox was handed %d parsed events (nil: %v), want %d", len(evs), evs == nil, tt.wantEvents)
				}
				return
			}
			if len(f.inbox.accepted) != 0 {
				t.Fatalf("a %d delivery was stored as accepted", rec.Code)
			}
			if msg, _ := resp["error"].(string); !strings.Contains(msg, tt.wantErr) {
				t.Fatalf("error %q lacks %q", msg, tt.wantErr)
			}
			if len(f.inbox.rejected) != 1 {
				t.Fatalf("a rejected delivery must be kept for the audit trail: %v", f.inbox.rejected)
			}
			if strings.Contains(f.logs.String(), sig) && sig != "" {
				t.Fatalf("log shows the signature:\n%s", f.logs.String())
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, 1024)
	body := []byte(`{"object":"whatsapp_business_account","entry":[],"pad":"` + strings.Repeat("x", 2048) + `"}`)
	rec := f.do(signedPost(body, whatsapp.Sign([]byte(testSecret), body)))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	// Without a Content-Length the limit still holds while reading.
	req := signedPost(body, whatsapp.Sign([]byte(testSecret), body))
	req.ContentLength = -1
	if rec := f.do(req); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d, want 413", rec.Code)
	}
	if len(f.inbox.accepted) != 0 {
		t.Fatal("an oversized body was stored")
	}
}

func TestStorageFailureIs503(t *testing.T) {
	f := newFixture(t, 0)
	f.inbox.failWith = errors.New("storage unavailable: no space left on device")
	body := []byte(failed131031)
	rec := f.do(signedPost(body, whatsapp.Sign([]byte(testSecret), body)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 so the provider retries", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestUnknownSourceAndRoutes(t *testing.T) {
	f := newFixture(t, 0)
	if rec := f.do(httptest.NewRequest(http.MethodPost, "/webhooks/nope", strings.NewReader("{}"))); rec.Code != 404 || !strings.Contains(rec.Body.String(), "nope") {
		t.Fatalf("unknown source: %d %s", rec.Code, rec.Body.String())
	}
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Code != 200 {
		t.Fatalf("healthz: %d", rec.Code)
	}
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/readyz", nil)); rec.Code != 200 {
		t.Fatalf("readyz: %d", rec.Code)
	}
	// The admin API is off without a token.
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/api/v1/dlq", nil)); rec.Code != 404 {
		t.Fatalf("admin API without a token: %d", rec.Code)
	}
}

func TestReadyzReportsReason(t *testing.T) {
	h := NewRouter(Deps{Ready: func() error { return errors.New("store closed") }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "store closed") {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body.String())
	}
}

// fakeAdmin answers the operator calls the tests make; any other panics
// (the embedded Service is nil).
type fakeAdmin struct {
	admin.Service
	dropped string
	reload  func(context.Context) (ReloadResult, error)
}

func (a *fakeAdmin) DeadLetters(ctx context.Context) ([]outbox.DeadLetter, error) {
	return []outbox.DeadLetter{{Entry: outbox.Entry{ID: "d1"}}}, nil
}
func (a *fakeAdmin) DeadLetter(ctx context.Context, id string) (outbox.DeadLetter, error) {
	return outbox.DeadLetter{}, fmt.Errorf("%w: %s", ErrNotFound, id)
}
func (a *fakeAdmin) ReplayDead(ctx context.Context, id string) error { return nil }
func (a *fakeAdmin) DropDead(ctx context.Context, id string) error   { a.dropped = id; return nil }
func (a *fakeAdmin) Reload(ctx context.Context) (ReloadResult, error) {
	if a.reload == nil {
		return ReloadResult{}, fmt.Errorf("%w: no reload here", admin.ErrUnavailable)
	}
	return a.reload(ctx)
}

func TestAdminAPIRequiresToken(t *testing.T) {
	adm := &fakeAdmin{}
	h := NewRouter(Deps{Admin: adm, AdminToken: "admin-secret"})
	do := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do(http.MethodGet, "/api/v1/dlq", ""); rec.Code != 401 {
		t.Fatalf("no token: %d", rec.Code)
	}
	if rec := do(http.MethodGet, "/api/v1/dlq", "wrong"); rec.Code != 401 {
		t.Fatalf("wrong token: %d", rec.Code)
	}
	if rec := do(http.MethodGet, "/api/v1/dlq", "admin-secret"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "d1") {
		t.Fatalf("list: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(http.MethodGet, "/api/v1/dlq/x", "admin-secret"); rec.Code != 404 {
		t.Fatalf("unknown id: %d", rec.Code)
	}
	if rec := do(http.MethodDelete, "/api/v1/dlq/d1", "admin-secret"); rec.Code != 200 || adm.dropped != "d1" {
		t.Fatalf("drop: %d", rec.Code)
	}
}

// TestRemoteAddrIgnoresForwardedHeaders: the remote address goes into the
// audit trail and the request log, so a client must not choose it by
// sending X-Forwarded-For or X-Real-IP; only the connection's peer counts.
func TestRemoteAddrIgnoresForwardedHeaders(t *testing.T) {
	f := newFixture(t, 0)
	req := signedPost([]byte(failed131031), whatsapp.Sign([]byte(testSecret), []byte(failed131031)))
	req.RemoteAddr = "192.0.2.10:40000"
	req.Header.Set("X-Forwarded-For", "203.0.113.66")
	req.Header.Set("X-Real-IP", "203.0.113.67")
	if rec := f.do(req); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if len(f.inbox.accepted) != 1 {
		t.Fatalf("accepted %d deliveries, want 1", len(f.inbox.accepted))
	}
	if got := f.inbox.accepted[0].RemoteAddr; got != "192.0.2.10" {
		t.Fatalf("stored remote address %q, want the peer 192.0.2.10", got)
	}
	if strings.Contains(f.logs.String(), "203.0.113.") {
		t.Fatalf("request log shows a client-chosen address:\n%s", f.logs.String())
	}
}

// TestObserveBoundsUnknownSources: the source in the URL is the caller's
// choice, so requests to sources that are not configured share one label
// rather than adding a metric series per name tried.
func TestObserveBoundsUnknownSources(t *testing.T) {
	meta, err := sources.NewMeta(sources.Config{Name: "meta", Type: "meta", AppSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	r := NewRouter(Deps{
		Sources: map[string]sources.Source{"meta": meta},
		Inbox:   &memInbox{},
		Observe: func(source string, status int) {
			mu.Lock()
			defer mu.Unlock()
			seen[fmt.Sprintf("%s %d", source, status)]++
		},
	})
	for _, path := range []string{"/webhooks/a1", "/webhooks/b2", "/webhooks/c3"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}")))
	}
	r.ServeHTTP(httptest.NewRecorder(), signedPost([]byte(failed131031), whatsapp.Sign([]byte(testSecret), []byte(failed131031))))
	want := map[string]int{UnknownSource + " 404": 3, "meta 200": 1}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("observed %v, want %v", seen, want)
	}
}
