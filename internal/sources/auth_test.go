package sources

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
)

func mustAuth(t *testing.T, a Auth, publicURL string) authenticator {
	t.Helper()
	auth, errs := buildAuth(a, publicURL, "status")
	if len(errs) > 0 {
		t.Fatalf("buildAuth: %v", errs)
	}
	return auth
}

func post(target, body string, headers map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}

// checkAuth runs verify and compares the outcome; wantErr "" means success.
// Every failure must wrap ErrUnauthorized and never show the secret.
func checkAuth(t *testing.T, auth authenticator, r *http.Request, body, wantErr string, secrets ...string) {
	t.Helper()
	err := auth.verify(r, []byte(body))
	if wantErr == "" {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return
	}
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("want ErrUnauthorized containing %q, got %v", wantErr, err)
	}
	if !strings.Contains(err.Error(), wantErr) {
		t.Errorf("error %q should say %q", err, wantErr)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
}

func TestHMACAuth(t *testing.T) {
	const secret, body = "gw-secret", `{"event":"logout"}`
	sum := func(h func() []byte) []byte { return h() }
	mac256 := sum(func() []byte { m := hmac.New(sha256.New, []byte(secret)); m.Write([]byte(body)); return m.Sum(nil) })
	mac1 := sum(func() []byte { m := hmac.New(sha1.New, []byte(secret)); m.Write([]byte(body)); return m.Sum(nil) })
	wrong := hmac.New(sha256.New, []byte("other"))
	wrong.Write([]byte(body))
	wrongHex := hex.EncodeToString(wrong.Sum(nil))

	cases := []struct {
		name    string
		auth    Auth
		header  string
		wantErr string
	}{
		{"sha256 hex", Auth{Type: "hmac", Header: "X-Signature", Secret: secret}, hex.EncodeToString(mac256), ""},
		{"sha256 hex uppercase", Auth{Type: "hmac", Header: "X-Signature", Secret: secret}, strings.ToUpper(hex.EncodeToString(mac256)), ""},
		{"sha256 prefix", Auth{Type: "hmac", Header: "X-Hub-Signature-256", Prefix: "sha256=", Secret: secret}, "sha256=" + hex.EncodeToString(mac256), ""},
		{"sha1 base64", Auth{Type: "hmac", Header: "X-Sig", Algorithm: "sha1", Encoding: "base64", Secret: secret}, base64.StdEncoding.EncodeToString(mac1), ""},
		{"base64 url alphabet", Auth{Type: "hmac", Header: "X-Sig", Encoding: "base64", Secret: secret}, base64.RawURLEncoding.EncodeToString(mac256), ""},
		{"missing", Auth{Type: "hmac", Header: "X-Signature", Secret: secret}, "", "missing header X-Signature"},
		{"wrong secret", Auth{Type: "hmac", Header: "X-Signature", Secret: secret}, wrongHex, "signature mismatch in header X-Signature"},
		{"wrong algorithm", Auth{Type: "hmac", Header: "X-Signature", Algorithm: "sha1", Secret: secret}, hex.EncodeToString(mac256), "signature mismatch"},
		{"not hex", Auth{Type: "hmac", Header: "X-Signature", Secret: secret}, "zz-not-hex", "not hex-encoded"},
		{"base64 where hex expected", Auth{Type: "hmac", Header: "X-Signature", Secret: secret}, base64.StdEncoding.EncodeToString(mac256), "not hex-encoded"},
		{"not base64", Auth{Type: "hmac", Header: "X-Signature", Encoding: "base64", Secret: secret}, "!!!", "not base64-encoded"},
		{"prefix missing", Auth{Type: "hmac", Header: "X-Signature", Prefix: "sha256=", Secret: secret}, hex.EncodeToString(mac256), `does not start with "sha256="`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h[tc.auth.Header] = tc.header
			}
			checkAuth(t, mustAuth(t, tc.auth, ""), post("/webhooks/gw", body, h), body, tc.wantErr, secret, tc.header)
		})
	}
	// The body is what is signed: one changed byte fails.
	a := mustAuth(t, Auth{Type: "hmac", Header: "X-Signature", Secret: secret}, "")
	checkAuth(t, a, post("/", body, map[string]string{"X-Signature": hex.EncodeToString(mac256)}), body+" ", "signature mismatch")
}

func TestTokenAuth(t *testing.T) {
	const secret = "evo-key-123"
	header := Auth{Type: "token", Header: "apikey", Secret: secret}
	query := Auth{Type: "token", Query: "token", Secret: secret}
	both := Auth{Type: "token", Header: "Authorization", Prefix: "Bearer ", Query: "token", Secret: secret}
	cases := []struct {
		name    string
		auth    Auth
		target  string
		headers map[string]string
		wantErr string
	}{
		{"header", header, "/webhooks/evo", map[string]string{"apikey": secret}, ""},
		{"header missing", header, "/webhooks/evo", nil, "missing header apikey"},
		{"header wrong", header, "/webhooks/evo", map[string]string{"apikey": "evo-key-124"}, "token mismatch in header apikey"},
		{"header prefix of secret", header, "/webhooks/evo", map[string]string{"apikey": "evo"}, "token mismatch"},
		{"query", query, "/webhooks/evo?token=" + secret, nil, ""},
		{"query missing", query, "/webhooks/evo", nil, "missing query parameter token"},
		{"query wrong", query, "/webhooks/evo?token=nope", nil, "token mismatch in query parameter token"},
		{"bearer header", both, "/webhooks/evo", map[string]string{"Authorization": "Bearer " + secret}, ""},
		{"bearer falls back to query", both, "/webhooks/evo?token=" + secret, nil, ""},
		{"neither", both, "/webhooks/evo", nil, "missing header Authorization or query parameter token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkAuth(t, mustAuth(t, tc.auth, ""), post(tc.target, "{}", tc.headers), "{}", tc.wantErr, secret)
		})
	}
}

func TestBasicAuth(t *testing.T) {
	a := mustAuth(t, Auth{Type: "basic", User: "wabridge", Password: "crm-pass"}, "")
	viaSecret := mustAuth(t, Auth{Type: "basic", User: "wabridge", Secret: "crm-pass"}, "")
	cases := []struct {
		name, user, pass string
		set              bool
		wantErr          string
	}{
		{"good", "wabridge", "crm-pass", true, ""},
		{"missing", "", "", false, "missing basic credentials"},
		{"wrong password", "wabridge", "crm-pas", true, "basic credentials mismatch"},
		{"wrong user", "admin", "crm-pass", true, "basic credentials mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, auth := range []authenticator{a, viaSecret} {
				r := post("/webhooks/crm", "{}", nil)
				if tc.set {
					r.SetBasicAuth(tc.user, tc.pass)
				}
				checkAuth(t, auth, r, "{}", tc.wantErr, "crm-pass")
			}
		})
	}
	r := post("/webhooks/crm", "{}", map[string]string{"Authorization": "Basic !!!notbase64"})
	checkAuth(t, a, r, "{}", "missing basic credentials")
}

// twilioReference is the documented algorithm written out independently:
// the URL, then each POST parameter name followed by its value, names in
// case-sensitive sorted order, HMAC-SHA1 with the auth token, base64.
func twilioReference(token, fullURL string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	data := fullURL
	for _, k := range keys {
		data += k + params[k]
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestTwilioSignatureKnownVector(t *testing.T) {
	// Twilio's published example: auth token 12345, this URL and these params.
	params := map[string]string{"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
		"From": "+14158675309", "To": "+18005551212"}
	const u, want = "https://mycompany.com/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="
	if got := twilioReference("12345", u, params); got != want {
		t.Fatalf("reference algorithm gives %s, want %s", got, want)
	}
	vals := url.Values{}
	for k, v := range params {
		vals.Set(k, v)
	}
	if got := base64.StdEncoding.EncodeToString(TwilioSignature([]byte("12345"), u, vals)); got != want {
		t.Errorf("TwilioSignature gives %s, want %s", got, want)
	}
}

func TestTwilioAuth(t *testing.T) {
	const token = "twilio-auth-token"
	form := url.Values{
		"MessageSid": {"SM1f0e8ae6ade43cb3c0ce4525424e404f"}, "MessageStatus": {"failed"}, "ErrorCode": {"63016"},
		"From": {"whatsapp:+14155238886"}, "To": {"whatsapp:+16505551234"}, "AccountSid": {"AC00000000000000000000000000000000"},
	}
	body := form.Encode()
	flat := map[string]string{}
	for k := range form {
		flat[k] = form.Get(k)
	}
	const public = "https://hooks.example.com/webhooks/twilio"
	formHeaders := func(sig string) map[string]string {
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		if sig != "" {
			h[TwilioSignatureHeader] = sig
		}
		return h
	}
	signedPublic := twilioReference(token, public, flat)
	signedLocal := twilioReference(token, "http://127.0.0.1:8080/webhooks/twilio", flat)
	signedProxied := twilioReference(token, "https://bridge.internal/webhooks/twilio?tag=wa", flat)

	withPublic := mustAuth(t, Auth{Type: "twilio", Secret: token}, public)
	noPublic := mustAuth(t, Auth{Type: "twilio", Secret: token}, "")

	cases := []struct {
		name    string
		auth    authenticator
		req     func() *http.Request
		wantErr string
	}{
		{"public_url", withPublic, func() *http.Request {
			return post("http://127.0.0.1:8080/webhooks/twilio", body, formHeaders(signedPublic))
		}, ""},
		{"public_url with default port", withPublic, func() *http.Request {
			sig := twilioReference(token, "https://hooks.example.com:443/webhooks/twilio", flat)
			return post("http://127.0.0.1:8080/webhooks/twilio", body, formHeaders(sig))
		}, ""},
		{"public_url ignores the local URL", withPublic, func() *http.Request {
			return post("http://127.0.0.1:8080/webhooks/twilio", body, formHeaders(signedLocal))
		}, "signature mismatch in header X-Twilio-Signature for URL https://hooks.example.com/webhooks/twilio"},
		{"request URL", noPublic, func() *http.Request {
			return post("http://127.0.0.1:8080/webhooks/twilio", body, formHeaders(signedLocal))
		}, ""},
		{"request URL behind a TLS proxy", noPublic, func() *http.Request {
			h := formHeaders(signedProxied)
			h["X-Forwarded-Proto"] = "https"
			return post("http://bridge.internal/webhooks/twilio?tag=wa", body, h)
		}, ""},
		{"request URL over TLS", noPublic, func() *http.Request {
			r := post("http://bridge.internal/webhooks/twilio?tag=wa", body, formHeaders(signedProxied))
			r.TLS = &tls.ConnectionState{}
			return r
		}, ""},
		{"proxy scheme not forwarded", noPublic, func() *http.Request {
			return post("http://bridge.internal/webhooks/twilio?tag=wa", body, formHeaders(signedProxied))
		}, "for URL http://bridge.internal/webhooks/twilio (set public_url"},
		{"missing", withPublic, func() *http.Request {
			return post("http://127.0.0.1:8080/webhooks/twilio", body, formHeaders(""))
		}, "missing header X-Twilio-Signature"},
		{"not base64", withPublic, func() *http.Request {
			return post("http://127.0.0.1:8080/webhooks/twilio", body, formHeaders("%%%"))
		}, "not base64"},
		{"wrong token", withPublic, func() *http.Request {
			return post("http://127.0.0.1:8080/webhooks/twilio", body, formHeaders(twilioReference("other", public, flat)))
		}, "signature mismatch"},
		{"tampered parameter", withPublic, func() *http.Request {
			return post("http://127.0.0.1:8080/webhooks/twilio", strings.Replace(body, "63016", "63017", 1), formHeaders(signedPublic))
		}, "signature mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			b, err := readAll(r)
			if err != nil {
				t.Fatal(err)
			}
			checkAuth(t, tc.auth, r, b, tc.wantErr, token, r.Header.Get(TwilioSignatureHeader))
		})
	}
}

func TestTwilioJSONBodySHA256(t *testing.T) {
	const token = "12345"
	body := `{"property": "value", "boolean": true}`
	sum := sha256.Sum256([]byte(body))
	u := "https://hooks.example.com/webhooks/twilio?bodySHA256=" + hex.EncodeToString(sum[:])
	sig := twilioReference(token, u, nil)
	a := mustAuth(t, Auth{Type: "twilio", Secret: token}, "")
	h := map[string]string{"Content-Type": "application/json", TwilioSignatureHeader: sig, "X-Forwarded-Proto": "https"}
	r := post(u, body, h)
	r.Host = "hooks.example.com"
	checkAuth(t, a, r, body, "")
	r = post(u, body, h)
	r.Host = "hooks.example.com"
	checkAuth(t, a, r, body+" ", "bodySHA256")
}

func TestNoneAuth(t *testing.T) {
	if _, errs := buildAuth(Auth{Type: "none"}, "", "mapped"); len(errs) == 0 {
		t.Fatal("type none without insecure: true must be refused")
	}
	a := mustAuth(t, Auth{Type: "none", Insecure: true}, "")
	checkAuth(t, a, post("/", "{}", nil), "{}", "")
}

func readAll(r *http.Request) (string, error) {
	b, err := io.ReadAll(r.Body)
	return string(b), err
}

func TestAuthenticateThroughSource(t *testing.T) {
	src := exampleSource(t, "evo")
	r := post("/webhooks/evo", "{}", map[string]string{"apikey": testSecrets["EVO_KEY"]})
	if err := src.Authenticate(r, []byte("{}")); err != nil {
		t.Errorf("good key: %v", err)
	}
	r = post("/webhooks/evo", "{}", nil)
	if err := src.Authenticate(r, []byte("{}")); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("no key: %v", err)
	}
}
