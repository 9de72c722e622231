package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/whatsapp"
)

// nopInbox takes every delivery at once: the benchmark measures the
// request path around the durable write, not the write.
type nopInbox struct{}

func (nopInbox) Accept(context.Context, delivery.Delivery, []event.Event) error { return nil }

// benchWriter is a ResponseWriter that keeps nothing, so the benchmark
// counts the handler's allocations rather than a recorder's.
type benchWriter struct {
	header http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.header }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Flush()                      {}

// BenchmarkReceive is one signed Meta delivery through the whole gin
// handler (recovery, access log at the level a busy server keeps,
// signature, parse, answer) into an inbox that keeps nothing. The shapes
// are those of the bench's realistic mix.
func BenchmarkReceive(b *testing.B) {
	meta, err := sources.NewMeta(sources.Config{Name: "meta", Type: "meta", AppSecret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	observed := 0
	router := NewRouter(Deps{
		Sources: map[string]sources.Source{"meta": meta},
		Inbox:   nopInbox{},
		Logger:  slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Observe: func(string, int) { observed++ },
	})
	for _, bm := range []struct {
		name string
		body []byte
	}{
		{"ok_status", benchBody(benchOK, 1)},
		{"failed_status", benchBody(benchFailed, 1)},
		{"batch_50_statuses", benchBody(benchOK, 50)},
		{"incoming_text", []byte(benchIncoming)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			sig := whatsapp.Sign([]byte(testSecret), bm.body)
			body := bytes.NewReader(bm.body)
			req, err := http.NewRequest(http.MethodPost, "/webhooks/meta", body)
			if err != nil {
				b.Fatal(err)
			}
			req.RemoteAddr = "192.0.2.10:51234"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(whatsapp.SignatureHeader, sig)
			w := &benchWriter{header: http.Header{}}
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.body)))
			for b.Loop() {
				body.Reset(bm.body)
				req.Body = readCloser{body}
				req.ContentLength = int64(len(bm.body))
				clear(w.header)
				router.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
	if observed == 0 {
		b.Fatal("no request was observed")
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

const (
	benchOK     = `{"id":"wamid.HBgLBENCHr1.%d.%d","status":"delivered","timestamp":"1751142888","recipient_id":"1555%07d","conversation":{"id":"c0ffee%x","origin":{"type":"utility"}},"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}}`
	benchFailed = `{"id":"wamid.HBgLBENCHr1.%d.%d","status":"failed","timestamp":"1751142888","recipient_id":"1555%07d","errors":[{"code":131026,"title":"Message undeliverable","message":"Message undeliverable","error_data":{"details":"Message undeliverable."},"href":"/documentation/business-messaging/whatsapp/support/error-codes"}]}`

	benchIncoming = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340003","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100013","phone_number_id":"106540352240013"},"contacts":[{"profile":{"name":"Bench Customer"},"wa_id":"15550001234"}],"messages":[{"from":"15550001234","id":"wamid.HBgLBENCHINr1.7","timestamp":"1751142888","type":"text","text":{"body":"Hello, is my order on its way?"}}]},"field":"messages"}]}]}`
)

// benchBody is a messages delivery of n statuses in the format of item
// (which takes the delivery, the item and a recipient).
func benchBody(item string, n int) []byte {
	b := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340003","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100013","phone_number_id":"106540352240013"},"statuses":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		if item == benchFailed {
			b = fmt.Appendf(b, item, 7, i, 31*i+7)
		} else {
			b = fmt.Appendf(b, item, 7, i, 31*i+7, 7)
		}
	}
	return append(b, `]},"field":"messages"}]}]}`...)
}
