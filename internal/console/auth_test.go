package console

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/authlimit"
	"github.com/wabridge/wabridge/internal/secret"
)

const testToken = "console-test-admin-token-0123456789abcdef"

// clock is a test's time, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestConsole(t *testing.T, cfg Config) (*Console, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	c, err := New(cfg, Deps{Token: secret.Secret(testToken), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

const origin = "http://console.test"

// do sends one request as a browser on origin would, with the cookie.
func do(c http.Handler, method, target string, form url.Values, cookie *http.Cookie, hdr map[string]string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, origin+target, body)
	req.RemoteAddr = "192.0.2.10:40000"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", origin)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	return rec
}

func sessionOf(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == cookieName && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("no session cookie in %d answer: %s", rec.Code, rec.Body.String())
	return nil
}

func signIn(t *testing.T, c *Console) (*http.Cookie, *session) {
	t.Helper()
	rec := do(c, http.MethodPost, "/ui/login", url.Values{"token": {testToken}, "next": {"/ui/"}}, nil, nil)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", rec.Code, rec.Body.String())
	}
	ck := sessionOf(t, rec)
	s := c.sessions.get(ck.Value, c.d.Now())
	if s == nil {
		t.Fatal("sign-in made no session")
	}
	return ck, s
}

// Without a session, a page sends the browser to sign in and come back,
// and an action is 401: nothing is done.
func TestNoSession(t *testing.T) {
	c, _ := newTestConsole(t, DefaultConfig())
	rec := do(c, http.MethodGet, "/ui/?x=1", nil, nil, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/login?next=%2Fui%2F%3Fx%3D1" {
		t.Fatalf("page without session: %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = do(c, http.MethodPost, "/ui/logout", url.Values{"csrf": {"anything"}}, nil, nil)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "not signed in") {
		t.Fatalf("action without session: %d %s", rec.Code, rec.Body.String())
	}
	forged := &http.Cookie{Name: cookieName, Value: randomToken()}
	if rec := do(c, http.MethodGet, "/ui/", nil, forged, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("page with a made-up session id: %d, want the sign-in redirect", rec.Code)
	}
}

// A wrong or empty token gets a message that says what to enter, and no
// cookie; the right one a session cookie that scripts and other sites
// cannot use.
func TestSignIn(t *testing.T) {
	c, _ := newTestConsole(t, DefaultConfig())
	for _, tc := range []struct{ token, want string }{
		{"", "Enter the admin token"},
		{"not-the-token", "That is not the admin token"},
		{testToken + "x", "That is not the admin token"},
	} {
		rec := do(c, http.MethodPost, "/ui/login", url.Values{"token": {tc.token}}, nil, nil)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), tc.want) || !strings.Contains(rec.Body.String(), "server.admin_token") {
			t.Errorf("token %q: %d, body lacks %q:\n%s", tc.token, rec.Code, tc.want, rec.Body.String())
		}
		if len(rec.Result().Cookies()) != 0 {
			t.Errorf("token %q: a failed sign-in set a cookie", tc.token)
		}
	}
	rec := do(c, http.MethodPost, "/ui/login", url.Values{"token": {testToken}, "next": {"/ui/dead?reason=auth"}}, nil, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/dead?reason=auth" {
		t.Fatalf("sign-in: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	ck := sessionOf(t, rec)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui/" || ck.Secure {
		t.Fatalf("cookie over plain http: %+v; want HttpOnly, SameSite=Strict, Path=/ui/, not Secure", ck)
	}
	if rec := do(c, http.MethodGet, "/ui/", nil, ck, nil); rec.Code != http.StatusOK {
		t.Fatalf("page with the session: %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), testToken) {
		t.Fatal("the sign-in answer contains the token")
	}
}

// The session cookie is Secure over TLS, and whenever the configured
// public URL is https (TLS ends at a proxy).
func TestSecureCookie(t *testing.T) {
	c, _ := newTestConsole(t, DefaultConfig())
	req := httptest.NewRequest(http.MethodPost, "https://console.test/ui/login", strings.NewReader("token="+testToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://console.test")
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if ck := sessionOf(t, rec); !ck.Secure {
		t.Fatal("cookie over TLS is not Secure")
	}

	cfg := DefaultConfig()
	cfg.PublicURL = "https://wabridge.example.com"
	c, _ = newTestConsole(t, cfg)
	rec = do(c, http.MethodPost, "/ui/login", url.Values{"token": {testToken}}, nil, map[string]string{"Origin": "https://wabridge.example.com"})
	if ck := sessionOf(t, rec); !ck.Secure {
		t.Fatal("cookie behind an https public_url is not Secure")
	}
	// Behind the proxy, the origin is the public URL's, whatever Host says.
	rec = do(c, http.MethodPost, "/ui/login", url.Values{"token": {testToken}}, nil, nil)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("sign-in from the Host's origin with public_url set: %d, want 403", rec.Code)
	}
}

// Failed sign-ins are throttled per address like the admin API's bearer
// check, and a throttled attempt is not compared: even the right token
// waits. Another address is not affected.
func TestSignInIsThrottled(t *testing.T) {
	c, _ := newTestConsole(t, DefaultConfig())
	codes := map[int]int{}
	for i := 0; i < authlimit.Burst+5; i++ {
		rec := do(c, http.MethodPost, "/ui/login", url.Values{"token": {"guess"}}, nil, nil)
		codes[rec.Code]++
		if rec.Code == http.StatusTooManyRequests && (rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Too many failed sign-ins")) {
			t.Fatalf("429 without Retry-After or message: %s", rec.Body.String())
		}
	}
	if codes[http.StatusUnauthorized] != authlimit.Burst || codes[http.StatusTooManyRequests] != 5 {
		t.Fatalf("guesses: %v; want %d compared and 5 throttled", codes, authlimit.Burst)
	}
	if rec := do(c, http.MethodPost, "/ui/login", url.Values{"token": {testToken}}, nil, nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("right token while throttled: %d, want 429", rec.Code)
	}
	req := httptest.NewRequest(http.MethodPost, origin+"/ui/login", strings.NewReader("token="+testToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.RemoteAddr = "198.51.100.4:1234"
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("another address with the right token: %d", rec.Code)
	}
}

// A state-changing form needs the session's CSRF token and the console's
// origin; with either wrong it is 403 and nothing is done (the session
// that sign-out would end lives on).
func TestCSRFAndOrigin(t *testing.T) {
	c, _ := newTestConsole(t, DefaultConfig())
	ck, s := signIn(t, c)
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  map[string]string
		want string
	}{
		{"no token", url.Values{}, nil, "CSRF token is missing or wrong"},
		{"wrong token", url.Values{"csrf": {randomToken()}}, nil, "CSRF token is missing or wrong"},
		{"token with a byte more", url.Values{"csrf": {s.csrf + "A"}}, nil, "CSRF token is missing or wrong"},
		{"other origin", url.Values{"csrf": {s.csrf}}, map[string]string{"Origin": "http://evil.test"}, "not from the console"},
		{"other port", url.Values{"csrf": {s.csrf}}, map[string]string{"Origin": "http://console.test:8081"}, "not from the console"},
		{"no origin nor referer", url.Values{"csrf": {s.csrf}}, map[string]string{"Origin": ""}, "without an Origin header"},
		{"referer of another site", url.Values{"csrf": {s.csrf}}, map[string]string{"Origin": "", "Referer": "http://evil.test/ui/"}, "not from the console"},
		{"cross-site fetch", url.Values{"csrf": {s.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, "from another site"},
	} {
		rec := do(c, http.MethodPost, "/ui/logout", tc.form, ck, tc.hdr)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d, body lacks %q: %s", tc.name, rec.Code, tc.want, rec.Body.String())
		}
		if c.sessions.get(ck.Value, c.d.Now()) == nil {
			t.Fatalf("%s: the refused sign-out ended the session", tc.name)
		}
	}
	// A Referer of our own origin stands in for a missing Origin.
	rec := do(c, http.MethodPost, "/ui/logout", url.Values{"csrf": {s.csrf}}, ck, map[string]string{"Origin": "", "Referer": origin + "/ui/"})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign-out with the token and our Referer: %d %s", rec.Code, rec.Body.String())
	}
	if c.sessions.get(ck.Value, c.d.Now()) != nil {
		t.Fatal("sign-out left the session")
	}
	if rec := do(c, http.MethodGet, "/ui/", nil, ck, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("page after sign-out: %d, want the sign-in redirect", rec.Code)
	}
}

// A session ends session_ttl after the sign-in.
func TestSessionExpires(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SessionTTL = time.Hour
	c, clk := newTestConsole(t, cfg)
	ck, _ := signIn(t, c)
	clk.add(59 * time.Minute)
	if rec := do(c, http.MethodGet, "/ui/", nil, ck, nil); rec.Code != http.StatusOK {
		t.Fatalf("within the TTL: %d", rec.Code)
	}
	clk.add(time.Minute)
	if rec := do(c, http.MethodGet, "/ui/", nil, ck, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("at the TTL: %d, want the sign-in redirect", rec.Code)
	}
	if c.sessions.len() != 0 {
		t.Fatal("the expired session is still held")
	}
}

// Sessions are bounded: signing in past the bound ends the oldest.
func TestSessionsAreBounded(t *testing.T) {
	c, clk := newTestConsole(t, DefaultConfig())
	first, _ := signIn(t, c)
	for i := 1; i < maxSessions+10; i++ {
		clk.add(time.Second)
		c.sessions.create(clk.now(), c.cfg.SessionTTL)
	}
	if n := c.sessions.len(); n != maxSessions {
		t.Fatalf("%d sessions held, bound %d", n, maxSessions)
	}
	if c.sessions.get(first.Value, clk.now()) != nil {
		t.Fatal("the oldest session survived past the bound")
	}
}

// After sign-in the browser goes back where it was, never off the console.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/incidents?rule=x": "/ui/incidents?rule=x",
		"//evil.test/ui/":      "/ui/",
		"https://evil.test/":   "/ui/",
		"/api/v1/dlq":          "/ui/",
		"/ui/\r\nSet-Cookie:":  "/ui/",
		"":                     "/ui/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every answer forbids framing and foreign scripts.
func TestSecurityHeaders(t *testing.T) {
	c, _ := newTestConsole(t, DefaultConfig())
	for _, p := range []string{"/ui/login", "/ui/", "/ui/static/console.css", "/ui/nothing"} {
		rec := do(c, http.MethodGet, p, nil, nil, nil)
		h := rec.Header()
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
	if rec := do(c, http.MethodGet, "/ui/static/console.js", nil, nil, nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "wirePlayground") {
		t.Fatalf("embedded script: %d", rec.Code)
	}
}

func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{PublicURL: "wabridge.example.com", SessionTTL: time.Hour}, "public_url"},
		{Config{PublicURL: "https://wabridge.example.com/ui/", SessionTTL: time.Hour}, "origin alone"},
		{Config{PublicURL: "ftp://x", SessionTTL: time.Hour}, "public_url"},
		{Config{SessionTTL: time.Second}, "session_ttl"},
	} {
		p := strings.Join(tc.cfg.Problems("server.console"), "\n")
		if !strings.Contains(p, tc.want) || !strings.Contains(p, "server.console.") {
			t.Errorf("%+v: problems %q, want one about %s", tc.cfg, p, tc.want)
		}
	}
	if p := DefaultConfig().Problems("server.console"); len(p) != 0 {
		t.Fatalf("defaults: %v", p)
	}
	if p := (Config{PublicURL: "https://w.example.com:8443", SessionTTL: time.Hour}).Problems("x"); len(p) != 0 {
		t.Fatalf("an origin with a port: %v", p)
	}
}
