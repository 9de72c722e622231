package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/sources"
)

const presetSecret = "preset-signing-secret"

func presetRouter(t *testing.T) (http.Handler, *memInbox, *bytes.Buffer) {
	t.Helper()
	sec := secret.Secret(presetSecret)
	cfgs := []sources.Config{
		{Name: "ycloud", Type: "mapped", Preset: "ycloud", Auth: sources.Auth{Type: "hmac_timestamp", Header: "YCloud-Signature", Secret: sec}},
		{Name: "gupshup", Type: "mapped", Preset: "gupshup", Auth: sources.Auth{Type: "hmac_timestamp", Header: "X-Signature", TimestampHeader: "X-Timestamp", Secret: sec, Tolerance: time.Minute}},
		{Name: "wati", Type: "mapped", Preset: "wati", Auth: sources.Auth{Type: "jwt", Header: "MessageBird-Signature-JWT", Secret: sec, Issuer: "MessageBird"}},
		{Name: "vonage", Type: "mapped", Preset: "green-api", Auth: sources.Auth{Type: "jwt", Secret: sec}},
	}
	srcs := map[string]sources.Source{}
	for _, c := range cfgs {
		s, err := sources.New(c)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		srcs[c.Name] = s
	}
	inbox := &memInbox{}
	logs := &bytes.Buffer{}
	return NewRouter(Deps{Sources: srcs, Inbox: inbox, MaxBodyBytes: 1 << 20,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}), inbox, logs
}

func fixtureBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sources", "testdata", "presets", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func stampSig(ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(presetSecret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func jwtFor(key string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	c, _ := json.Marshal(claims)
	p := enc.EncodeToString(c)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(h + "." + p))
	return h + "." + p + "." + enc.EncodeToString(mac.Sum(nil))
}

func bodyHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Presets and the signature schemes through the real router: a good
// signature is stored, a replayed, expired, wrongly keyed or misplaced one
// is a 401 that says why, and another BSP's payload on a preset source is a
// 400 that names the source.
func TestPresetsAndSignatureSchemes(t *testing.T) {
	router, inbox, logs := presetRouter(t)
	now := time.Now()
	ycloud := fixtureBody(t, "ycloud_failed.json")
	gupshup := fixtureBody(t, "gupshup_failed.json")
	wati := fixtureBody(t, "wati_failed.json")
	green := fixtureBody(t, "green_api_state.json")
	ts := strconv.FormatInt(now.Unix(), 10)
	old := strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)
	tests := []struct {
		name    string
		source  string
		body    []byte
		headers map[string]string
		want    int
		why     string // in the log or the answer
	}{
		{"ycloud signed", "ycloud", ycloud, map[string]string{"YCloud-Signature": "t=" + ts + ",s=" + stampSig(ts, ycloud)}, 200, ""},
		{"ycloud replay", "ycloud", ycloud, map[string]string{"YCloud-Signature": "t=" + old + ",s=" + stampSig(old, ycloud)}, 401, "outside the 5m0s tolerance"},
		{"ycloud wrong body", "ycloud", ycloud, map[string]string{"YCloud-Signature": "t=" + ts + ",s=" + stampSig(ts, gupshup)}, 401, "signature mismatch"},
		{"ycloud no signature", "ycloud", ycloud, nil, 401, "missing header YCloud-Signature"},
		{"ycloud gets gupshup's payload", "ycloud", gupshup, map[string]string{"YCloud-Signature": "t=" + ts + ",s=" + stampSig(ts, gupshup)}, 400, "source ycloud"},
		{"gupshup timestamp header", "gupshup", gupshup, map[string]string{"X-Timestamp": ts, "X-Signature": stampSig(ts, gupshup)}, 200, ""},
		{"gupshup replay", "gupshup", gupshup, map[string]string{"X-Timestamp": old, "X-Signature": stampSig(old, gupshup)}, 401, "tolerance"},
		{"gupshup gets wati's payload", "gupshup", wati, map[string]string{"X-Timestamp": ts, "X-Signature": stampSig(ts, wati)}, 400, "preset gupshup"},
		{"bird jwt", "wati", wati, map[string]string{"MessageBird-Signature-JWT": jwtFor(presetSecret, map[string]any{
			"iss": "MessageBird", "nbf": now.Unix() - 5, "exp": now.Unix() + 60, "jti": "j1", "payload_hash": bodyHash(wati)})}, 200, ""},
		{"bird jwt wrong key", "wati", wati, map[string]string{"MessageBird-Signature-JWT": jwtFor("another-key", map[string]any{
			"iss": "MessageBird", "exp": now.Unix() + 60, "payload_hash": bodyHash(wati)})}, 401, "signed with another key"},
		{"bird jwt expired", "wati", wati, map[string]string{"MessageBird-Signature-JWT": jwtFor(presetSecret, map[string]any{
			"iss": "MessageBird", "exp": now.Add(-time.Hour).Unix(), "payload_hash": bodyHash(wati)})}, 401, "expired"},
		{"bird jwt for another body", "wati", wati, map[string]string{"MessageBird-Signature-JWT": jwtFor(presetSecret, map[string]any{
			"iss": "MessageBird", "exp": now.Unix() + 60, "payload_hash": bodyHash(green)})}, 401, "payload_hash"},
		{"bird jwt other issuer", "wati", wati, map[string]string{"MessageBird-Signature-JWT": jwtFor(presetSecret, map[string]any{
			"iss": "Someone", "exp": now.Unix() + 60, "payload_hash": bodyHash(wati)})}, 401, "issuer"},
		{"vonage bearer jwt", "vonage", green, map[string]string{"Authorization": "Bearer " + jwtFor(presetSecret, map[string]any{
			"iss": "Vonage", "iat": now.Unix(), "jti": "j2", "payload_hash": bodyHash(green)})}, 200, ""},
		{"vonage jwt replayed later", "vonage", green, map[string]string{"Authorization": "Bearer " + jwtFor(presetSecret, map[string]any{
			"iss": "Vonage", "iat": now.Add(-time.Hour).Unix(), "payload_hash": bodyHash(green)})}, 401, "tolerance"},
		{"vonage alg none", "vonage", green, map[string]string{"Authorization": "Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"iat":%d}`, now.Unix()))) + "."}, 401, "not HS256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			n := len(inbox.accepted)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/"+tc.source, bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			router.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s\n%s", rec.Code, tc.want, rec.Body, logs)
			}
			stored := len(inbox.accepted) - n
			if (tc.want == 200) != (stored == 1) {
				t.Errorf("%d deliveries stored", stored)
			}
			if tc.why != "" && !strings.Contains(logs.String()+rec.Body.String(), tc.why) {
				t.Errorf("neither the answer nor the log says %q:\n%s\n%s", tc.why, rec.Body, logs)
			}
			if strings.Contains(logs.String()+rec.Body.String(), presetSecret) {
				t.Errorf("the secret leaked")
			}
		})
	}
	// What the stored YCloud delivery became.
	evs := inbox.events[0]
	if len(evs) != 1 || evs[0].Code != 131058 || evs[0].Status != "failed" || evs[0].RecipientID != "5521988887777" {
		t.Errorf("ycloud events: %+v", evs)
	}
}

// A preset that does not exist is a config error naming the source and
// listing the presets.
func TestUnknownPresetIsAConfigError(t *testing.T) {
	errs := sources.Validate(sources.Config{Name: "bsp", Type: "mapped", Preset: "gupshop",
		Auth: sources.Auth{Type: "token", Header: "X-Token", Secret: secret.Secret("x")}})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "source bsp") || !strings.Contains(errs[0].Error(), `"gupshop"`) ||
		!strings.Contains(errs[0].Error(), "gupshup") {
		t.Errorf("errors %v", errs)
	}
}
