package sources

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/whatsapp"
)

const (
	metaTestSecret = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	metaTestToken  = "verify-me-2f9c"
	metaTestBody   = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA","status":"failed","timestamp":"1751142888","recipient_id":"16505551234","errors":[{"code":131026,"title":"Message undeliverable","message":"Message undeliverable","error_data":{"details":"Message Undeliverable."}}]}]},"field":"messages"}]}]}`
)

func newTestMeta(t *testing.T, mod func(*Config)) *Meta {
	t.Helper()
	cfg := Config{Name: "meta", Type: "meta", AppSecret: metaTestSecret, VerifyToken: metaTestToken}
	if mod != nil {
		mod(&cfg)
	}
	m, err := NewMeta(cfg)
	if err != nil {
		t.Fatalf("NewMeta: %v", err)
	}
	return m
}

func TestNewMeta(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"with secret", Config{Name: "meta", AppSecret: "s"}, ""},
		{"insecure without secret", Config{Name: "dev", InsecureSkipSignature: true}, ""},
		{"no secret", Config{Name: "prod-meta"}, `source "prod-meta" (type meta): app_secret is required`},
		{"no name", Config{AppSecret: "s"}, "name is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMeta(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || m == nil {
					t.Fatalf("NewMeta: %v", err)
				}
				if m.Name() != tt.cfg.Name || m.Type() != "meta" {
					t.Errorf("name=%q type=%q", m.Name(), m.Type())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "insecure_skip_signature") && tt.name == "no secret" {
				t.Errorf("err = %v, want it to say how to run without a secret", err)
			}
		})
	}
}

func TestMetaAuthenticate(t *testing.T) {
	body := []byte(metaTestBody)
	good := whatsapp.Sign([]byte(metaTestSecret), body)
	tests := []struct {
		name     string
		headers  map[string]string
		body     []byte
		wantErr  string // "" means accepted
		sentinel error
	}{
		{"good", map[string]string{"X-Hub-Signature-256": good}, body, "", nil},
		{"missing", nil, body, "missing X-Hub-Signature-256 header", whatsapp.ErrSignatureMissing},
		{"legacy sha1 only", map[string]string{"X-Hub-Signature": "sha1=0123456789abcdef0123456789abcdef01234567"}, body, "only the legacy sha1", whatsapp.ErrSignatureMissing},
		{"wrong prefix", map[string]string{"X-Hub-Signature-256": "sha1=" + strings.TrimPrefix(good, "sha256=")}, body, "malformed X-Hub-Signature-256 header", whatsapp.ErrSignatureMalformed},
		{"bad hex", map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("g", 64)}, body, "not hex", whatsapp.ErrSignatureMalformed},
		{"other body", map[string]string{"X-Hub-Signature-256": good}, []byte(strings.Replace(metaTestBody, "131026", "131031", 1)), "signature does not match the body", whatsapp.ErrSignatureMismatch},
		{"signed with another secret", map[string]string{"X-Hub-Signature-256": whatsapp.Sign([]byte("other"), body)}, body, "signature does not match the body", whatsapp.ErrSignatureMismatch},
	}
	m := newTestMeta(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/meta", strings.NewReader(string(tt.body)))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			err := m.Authenticate(r, tt.body)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) || !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrUnauthorized and %v saying %q", err, tt.sentinel, tt.wantErr)
			}
			if strings.Contains(err.Error(), metaTestSecret) || strings.Contains(err.Error(), strings.TrimPrefix(good, "sha256=")) {
				t.Errorf("error %q echoes the secret or the signature", err)
			}
		})
	}
}

func TestMetaAuthenticateInsecure(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/dev", strings.NewReader(metaTestBody))
	m := newTestMeta(t, func(c *Config) { c.AppSecret, c.InsecureSkipSignature = "", true })
	if err := m.Authenticate(r, []byte(metaTestBody)); err != nil {
		t.Errorf("insecure source without secret: %v", err)
	}
	// A secret, once configured, is always checked.
	m = newTestMeta(t, func(c *Config) { c.InsecureSkipSignature = true })
	if err := m.Authenticate(r, []byte(metaTestBody)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("insecure flag with a secret and no signature: err = %v, want ErrUnauthorized", err)
	}
}

func TestMetaVerify(t *testing.T) {
	q := func(mode, token, challenge string) url.Values {
		v := url.Values{}
		if mode != "" {
			v.Set("hub.mode", mode)
		}
		if token != "" {
			v.Set("hub.verify_token", token)
		}
		if challenge != "" {
			v.Set("hub.challenge", challenge)
		}
		return v
	}
	tests := []struct {
		name   string
		source *Meta
		query  url.Values
		want   string
		wantOK bool
	}{
		{"match", newTestMeta(t, nil), q("subscribe", metaTestToken, "1158201444"), "1158201444", true},
		{"challenge is returned raw", newTestMeta(t, nil), q("subscribe", metaTestToken, "a b&c"), "a b&c", true},
		{"wrong token", newTestMeta(t, nil), q("subscribe", "guess", "1158201444"), "", false},
		{"token prefix", newTestMeta(t, nil), q("subscribe", metaTestToken[:5], "1158201444"), "", false},
		{"wrong mode", newTestMeta(t, nil), q("unsubscribe", metaTestToken, "1158201444"), "", false},
		{"no mode", newTestMeta(t, nil), q("", metaTestToken, "1158201444"), "", false},
		{"no token", newTestMeta(t, nil), q("subscribe", "", "1158201444"), "", false},
		{"no challenge", newTestMeta(t, nil), q("subscribe", metaTestToken, ""), "", false},
		{"no token configured", newTestMeta(t, func(c *Config) { c.VerifyToken = "" }), q("subscribe", "", "1158201444"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.source.Verify(tt.query)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Verify = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestMetaParse(t *testing.T) {
	m := newTestMeta(t, nil)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events, err := m.Parse(delivery.Delivery{ID: "d1", Source: "meta", ReceivedAt: at, Body: []byte(metaTestBody)})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Code != 131026 || events[0].Source != "meta" || events[0].Kind != event.KindStatus {
		t.Fatalf("got %+v", events)
	}

	for _, body := range []string{"", "<xml/>", `{"entry":`} {
		_, err := m.Parse(delivery.Delivery{Source: "meta", ReceivedAt: at, Body: []byte(body)})
		if !errors.Is(err, ErrNotJSON) {
			t.Errorf("%q: err = %v, want ErrNotJSON", body, err)
		}
	}
	// JSON nobody knows is kept, not refused.
	events, err = m.Parse(delivery.Delivery{Source: "meta", ReceivedAt: at, Body: []byte(`["surprise"]`)})
	if err != nil || len(events) != 1 || events[0].Kind != event.KindUnknown {
		t.Errorf("got %+v, %v; want one unknown event", events, err)
	}
}

func TestMetaAccept(t *testing.T) {
	all := newTestMeta(t, nil)
	some := newTestMeta(t, func(c *Config) { c.Accept = []string{"failed", " DISABLED_UPDATE "} })
	tests := []struct {
		status   string
		wantAll  bool
		wantSome bool
	}{
		{"failed", true, true},
		{"disabled_update", true, true},
		{"delivered", true, false},
		{"", true, false},
	}
	for _, tt := range tests {
		e := &event.Event{Kind: event.KindStatus, Status: tt.status}
		if got := all.Accept(e); got != tt.wantAll {
			t.Errorf("no accept list, status %q: %v, want %v", tt.status, got, tt.wantAll)
		}
		if got := some.Accept(e); got != tt.wantSome {
			t.Errorf("accept list, status %q: %v, want %v", tt.status, got, tt.wantSome)
		}
	}
	// A shape nobody knows passes Meta's filter as every source's: the
	// filter is written for known statuses.
	if !some.Accept(&event.Event{Kind: event.KindUnknown}) {
		t.Error("an accept list dropped an event of kind unknown")
	}
	if _, err := NewMeta(Config{Name: "meta", AppSecret: "s", Accept: []string{"failed", " "}}); err == nil || !strings.Contains(err.Error(), "accept: an empty status") {
		t.Errorf("an empty accept entry: %v", err)
	}
}
