package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/whatsapp"
)

func intakeRouter(t *testing.T, d Deps) (http.Handler, *memInbox, *syncLog) {
	t.Helper()
	meta, err := sources.NewMeta(sources.Config{Name: "meta", Type: "meta", AppSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	inbox, logs := &memInbox{}, &syncLog{}
	d.Sources = map[string]sources.Source{"meta": meta}
	if d.Inbox == nil {
		d.Inbox = inbox
	}
	d.Logger = slog.New(slog.NewTextHandler(logs, nil))
	return NewRouter(d), inbox, logs
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncLog) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Bodies not yet authenticated share one budget: while one body of the
// whole budget is being read, another request is answered 503 with
// Retry-After at once; when the first is done the budget is free again.
func TestUnauthenticatedBodiesShareABudget(t *testing.T) {
	const size = 1 << 20
	h, _, _ := intakeRouter(t, Deps{MaxBodyBytes: size, MaxUnauthenticatedBytes: size})
	pr, pw := io.Pipe()
	slow := httptest.NewRequest(http.MethodPost, "/webhooks/meta", pr)
	slow.ContentLength = size
	slow.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("00", 32))
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, slow)
		done <- rec.Code
	}()
	// The handler reserves the body before it reads: once it has read a
	// byte, the budget is held.
	if _, err := pw.Write([]byte("{")); err != nil {
		t.Fatal(err)
	}
	body := []byte(failed131031)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signedPost(body, whatsapp.Sign([]byte(testSecret), body)))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("while the budget is held: %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte(" "), size-1))
		_ = pw.Close()
	}()
	if code := <-done; code != http.StatusUnauthorized {
		t.Fatalf("the slow bad-signature body: %d, want 401", code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, signedPost(body, whatsapp.Sign([]byte(testSecret), body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("after the budget was released: %d, want 200", rec.Code)
	}
	// A body without a Content-Length is held chunk by chunk, and read whole.
	req := signedPost(body, whatsapp.Sign([]byte(testSecret), body))
	req.ContentLength = -1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("chunked: %d %s", rec.Code, rec.Body)
	}
}

func statuses(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"2"},"statuses":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"wamid.%d","status":"delivered","timestamp":"1700000000","recipient_id":"1555000%04d"}`, i, i)
	}
	b.WriteString(`]}}]}]}`)
	return []byte(b.String())
}

// A delivery over server.max_events is 413 naming the limit, kept for the
// audit trail, and not stored; one at the limit is taken. A body with far
// more array elements than that is refused before it is parsed.
func TestEventsPerDeliveryCapped(t *testing.T) {
	h, inbox, _ := intakeRouter(t, Deps{MaxEvents: 100})
	post := func(body []byte) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedPost(body, whatsapp.Sign([]byte(testSecret), body)))
		return rec
	}
	if rec := post(statuses(100)); rec.Code != http.StatusOK {
		t.Fatalf("100 events with max_events 100: %d %s", rec.Code, rec.Body)
	}
	rec := post(statuses(101))
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "server.max_events") || !strings.Contains(rec.Body.String(), "101 events") {
		t.Fatalf("101 events: %d %s, want 413 naming the count and server.max_events", rec.Code, rec.Body)
	}
	huge := []byte(`{"object":"whatsapp_business_account","entry":[` + strings.Repeat(`{},`, 1_000_000) + `{}]}`)
	start := time.Now()
	rec = post(huge)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "array elements") {
		t.Fatalf("a million entries: %d %s", rec.Code, rec.Body)
	}
	t.Logf("a %d-byte body with a million entries refused in %v", len(huge), time.Since(start))
	if len(inbox.accepted) != 1 {
		t.Fatalf("%d deliveries stored, want only the one within the cap", len(inbox.accepted))
	}
	if len(inbox.rejected) != 2 || !strings.HasPrefix(inbox.rejected[0], "413 ") {
		t.Fatalf("refused deliveries are kept for the audit trail: %v", inbox.rejected)
	}
}

func TestTooManyElements(t *testing.T) {
	for _, tt := range []struct {
		body  string
		limit int
		want  bool
	}{
		{`[1,2,3]`, 3, false},
		{`[1,2,3,4]`, 3, true},
		{`{"a":[1,2],"b":[{"c":[3]}]}`, 4, false},
		{`{"a":[1,2],"b":[{"c":[3,4]}]}`, 4, true},
		{`{"s":"[1,2,3,4,5,\"],[",  "t":[]}`, 0, false},
		{`[[],[],[]]`, 2, true},
		{`not json at all, with, commas`, 0, false},
		{`hub.mode=x&a=[1,2,3]`, 0, false},
	} {
		if got := tooManyElements([]byte(tt.body), tt.limit); got != tt.want {
			t.Errorf("tooManyElements(%s, %d) = %v, want %v", tt.body, tt.limit, got, tt.want)
		}
	}
}

type slowInbox struct{ delay time.Duration }

func (s slowInbox) Accept(ctx context.Context, d delivery.Delivery, events []event.Event) error {
	time.Sleep(s.delay)
	return nil
}

// When the answer cannot be written (server.write_timeout passed while the
// delivery was stored), the log says the client got nothing, not 200.
func TestAccessLogSaysWhatTheClientGot(t *testing.T) {
	h, _, logs := intakeRouter(t, Deps{Inbox: slowInbox{delay: 400 * time.Millisecond}})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	body := []byte(failed131031)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/meta", bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", whatsapp.Sign([]byte(testSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the client got %d after the write timeout; the test needs it to get nothing", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "http request") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out := logs.String()
	if strings.Contains(out, "status=200") || !strings.Contains(out, "status=0") || !strings.Contains(out, "answer 200 not delivered") {
		t.Fatalf("access log after a write timeout:\n%s", out)
	}
}

// Connections over server.max_connections get a 503 with Retry-After and
// are closed; the ones within the limit are served.
func TestLimitListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(raw, 2)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	addr := raw.Addr().String()
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A request answered proves the connection was accepted and holds a slot.
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("third connection: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection: %d, want 503 with Retry-After", resp.StatusCode)
	}
	// Closing one frees its slot.
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := http.Get("http://" + addr + "/")
		if err == nil && r.StatusCode == 200 {
			r.Body.Close()
			break
		}
		if err == nil {
			r.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("a slot freed by a closed connection was not reused")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The 200 is written without encoding/json; it must be the bytes
// json.Marshal wrote before, and the delivery id the same format.
func TestAcceptedAnswerIsWhatMarshalWrites(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	id := newDeliveryID(now)
	if ok, _ := regexp.MatchString(`^[0-9a-f]{16}-[0-9a-f]{12}$`, id); !ok || id[:16] != fmt.Sprintf("%016x", now.UnixNano()) {
		t.Fatalf("delivery id %q, want %016x-<12 hex>", id, now.UnixNano())
	}
	for _, n := range []int{0, 1, 50, 10000} {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		h := &handlers{}
		if got := h.accepted(c, id, n); got != http.StatusOK {
			t.Fatalf("status %d", got)
		}
		want, _ := json.Marshal(gin.H{"status": "accepted", "delivery_id": id, "events": n})
		if rec.Body.String() != string(want) {
			t.Errorf("answer %s, want %s", rec.Body, want)
		}
		if rec.Header().Get("Content-Length") != strconv.Itoa(len(want)) || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("headers %v", rec.Header())
		}
	}
}
