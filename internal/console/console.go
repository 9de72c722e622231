// Package console is wabridge's web console at /ui/: incidents, silences,
// the audit trail, dead letters and a playground, as server-rendered pages
// over the operator service. It owns its sign-in (the admin token into a
// server-side session), its CSRF checks and its embedded assets; it needs
// no network beyond the browser's connection to it.
package console

import (
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/authlimit"
	"github.com/wabridge/wabridge/internal/secret"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps is what the console works with.
type Deps struct {
	// Token is server.admin_token: what a person signs in with.
	Token secret.Secret
	// AuthLimit throttles failed sign-ins per client; share the admin
	// API's so failures count on both. Nil gets one of the console's own.
	AuthLimit *authlimit.Limiter
	Logger    *slog.Logger
	Now       func() time.Time
	// Operator is what the pages read and do: the same operator service
	// the CLI and the admin API use.
	Operator admin.Service
	// Sources are the configured source names, for the playground.
	Sources []string
	// MaxBodyBytes is server.max_body_bytes: the largest payload the
	// playground evaluates, as the webhook accepts; 0 = 3 MiB.
	MaxBodyBytes int64
}

// Console serves /ui/. Build it with New; it is an http.Handler.
type Console struct {
	cfg      Config
	d        Deps
	origin   string // cfg.PublicURL as an origin; "" = the request's own
	secure   bool   // cookies are Secure whatever the request says
	sessions *sessions
	pages    map[string]*template.Template
	nav      []string // the pages in the top bar, in order
	mux      *http.ServeMux
}

// New builds the console. Templates are parsed here, so a broken one fails
// at start, not on the first visit.
func New(cfg Config, d Deps) (*Console, error) {
	if !d.Token.IsSet() {
		return nil, errors.New("console: server.admin_token is empty; the console signs in with it")
	}

	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultConfig().SessionTTL
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.AuthLimit == nil {
		d.AuthLimit = authlimit.New()
	}
	c := &Console{cfg: cfg, d: d, sessions: newSessions(), mux: http.NewServeMux(),
		nav: []string{"incidents", "silences", "deliveries", "dead", "playground"}}
	if cfg.PublicURL != "" {
		o, err := parseOrigin(cfg.PublicURL)
		if err != nil {
			return nil, fmt.Errorf("console: server.console.public_url: %w", err)
		}
		c.origin, c.secure = o, strings.HasPrefix(o, "https://")
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func (c *Console) parseTemplates() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("console: templates: %w", err)
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		// Files named _*.html hold what several pages share.
		t, err := template.New(base).Funcs(funcs()).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return fmt.Errorf("console: template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

// ServeHTTP sets the headers every answer carries, then routes.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Everything the pages load is the console's own; no inline script,
	// no framing (clickjacking an "expire" button), no referrer leaving.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	c.mux.Handle("GET /ui/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=300")
		files.ServeHTTP(w, r)
	}))
	c.mux.HandleFunc("GET /ui/login", c.loginPage)
	c.mux.HandleFunc("POST /ui/login", c.login)
	c.mux.HandleFunc("POST /ui/logout", c.action(c.logout))
	c.mux.HandleFunc("GET /ui/{$}", c.page(c.homePage))
	if c.d.Operator != nil {
		c.pageRoutes()
	}
	c.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, http.StatusNotFound, "There is no console page at "+r.URL.Path+".")
	})
}

// handler is a page or action of a signed-in person.
type handler func(w http.ResponseWriter, r *http.Request, s *session)

// page serves a GET to a signed-in person; without a session it sends the
// browser to sign in and come back.
func (c *Console) page(next handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s := c.session(r)
		if s == nil {
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r, s)
	}
}

// maxFormBytes bounds the body of every form but the playground's.
const maxFormBytes = 64 << 10

// action serves a state-changing POST: it must come from the console's
// own origin, from a signed-in person, with the session's CSRF token.
// Whatever fails, nothing is done.
func (c *Console) action(next handler) http.HandlerFunc {
	return c.actionWithLimit(maxFormBytes, next)
}

func (c *Console) actionWithLimit(limit int64, next handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if msg := c.checkOrigin(r); msg != "" {
			c.fail(w, r, nil, http.StatusForbidden, msg)
			return
		}
		s := c.session(r)
		if s == nil {
			c.fail(w, r, nil, http.StatusUnauthorized, "You are not signed in, or your session has expired: sign in again, then repeat what you did.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := parseForm(r, limit); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) || errors.Is(err, errFormTooLarge) {
				c.fail(w, r, s, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d bytes; nothing was done.", limit))
				return
			}
			c.fail(w, r, s, http.StatusBadRequest, "The form could not be read ("+err.Error()+"); nothing was done.")
			return
		}
		if !s.checkCSRF(r.PostFormValue("csrf")) {
			c.fail(w, r, s, http.StatusForbidden, "This form is not from your current session (its CSRF token is missing or wrong), so nothing was done. Reload the page and try again.")
			return
		}
		next(w, r, s)
	}
}

var errFormTooLarge = errors.New("form too large")

// parseForm reads an urlencoded or multipart form within limit.
func parseForm(r *http.Request, limit int64) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err := r.ParseMultipartForm(limit)
		if errors.Is(err, http.ErrNotMultipart) {
			return err
		}
		if err != nil && strings.Contains(err.Error(), "too large") {
			return errFormTooLarge
		}
		return err
	}
	return r.ParseForm()
}

// checkOrigin says why a POST is refused as cross-site, or "" when it
// comes from the console's own pages. SameSite=Strict already keeps the
// cookie off other sites' requests; this refuses them even where a
// browser or proxy gets that wrong.
func (c *Console) checkOrigin(r *http.Request) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "This form was sent from another site (Sec-Fetch-Site: " + site + "), so nothing was done."
	}
	want := c.origin
	if want == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		want = scheme + "://" + r.Host
	}
	got := r.Header.Get("Origin")
	if got == "" {
		// Browsers send Origin on every POST; a Referer of our own origin
		// is the fallback for the rare one that does not.
		if ref, err := url.Parse(r.Header.Get("Referer")); err == nil && ref.Host != "" {
			got = ref.Scheme + "://" + ref.Host
		}
	}
	switch {
	case got == "":
		return "This form came without an Origin header, so it cannot be told from a forged one; nothing was done."
	case !strings.EqualFold(got, want):
		return fmt.Sprintf("This form was sent from %s, not from the console's origin %s, so nothing was done. Behind a reverse proxy, set server.console.public_url to the address you open the console at.", got, want)
	}
	return ""
}

func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	return c.sessions.get(ck.Value, c.d.Now())
}

func (c *Console) secureCookie(r *http.Request) bool { return c.secure || r.TLS != nil }

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if c.session(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.render(w, r, nil, http.StatusOK, "login", loginView{Next: safeNext(r.URL.Query().Get("next"))})
}

type loginView struct {
	Next  string
	Error string
}

// login checks the admin token, throttled per client as the admin API's
// bearer check is, and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if msg := c.checkOrigin(r); msg != "" {
		c.fail(w, r, nil, http.StatusForbidden, msg)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.render(w, r, nil, http.StatusBadRequest, "login", loginView{Error: "The sign-in form could not be read: " + err.Error()})
		return
	}
	next := safeNext(r.PostFormValue("next"))
	client, now := clientIP(r), c.d.Now()
	if wait := c.d.AuthLimit.Wait(client, now); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.render(w, r, nil, http.StatusTooManyRequests, "login", loginView{Next: next,
			Error: fmt.Sprintf("Too many failed sign-ins from your address: try again in %d s.", secs)})
		return
	}
	got := r.PostFormValue("token")
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.d.Token.Value())) != 1 {
		c.d.AuthLimit.Fail(client, now)
		c.d.Logger.Warn("console sign-in failed", "remote", client)
		msg := "That is not the admin token. Sign in with the value of server.admin_token (or WABRIDGE_SERVER_ADMIN_TOKEN) of this server."
		if strings.TrimSpace(got) == "" {
			msg = "Enter the admin token: the value of server.admin_token (or WABRIDGE_SERVER_ADMIN_TOKEN) of this server."
		}
		c.render(w, r, nil, http.StatusUnauthorized, "login", loginView{Next: next, Error: msg})
		return
	}
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.end(ck.Value) // a new sign-in never keeps an old id
	}
	id, s := c.sessions.create(now, c.cfg.SessionTTL)
	s.setName(r.PostFormValue("name"))
	http.SetCookie(w, sessionCookie(id, s.expires, c.secureCookie(r)))
	c.d.Logger.Info("console sign-in", "remote", client)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.end(ck.Value)
	}
	http.SetCookie(w, sessionCookie("", time.Time{}, c.secureCookie(r)))
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// view is what every page template gets.
type view struct {
	Title   string
	Nav     []navItem
	CSRF    string
	Flash   []flash
	Page    any
	Error   string
	Status  int
	Signed  bool
	Version string
}

// render writes a whole page, or with a fragment request (the playground
// and preview scripts ask for one) the page's "fragment" template alone.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, page any) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "console: no template "+name, http.StatusInternalServerError)
		return
	}
	v := view{Title: titles[name], Page: page, Status: status}
	for _, n := range c.nav {
		v.Nav = append(v.Nav, navItem{Path: "/ui/" + n, Title: titles[n], Current: n == name})
	}
	if s != nil {
		v.CSRF, v.Signed, v.Flash = s.csrf, true, s.takeFlash()
	}
	tmpl := "layout"
	if r.Header.Get("X-Console-Fragment") == "1" && t.Lookup("fragment") != nil {
		tmpl = "fragment"
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		c.d.Logger.Error("console: render page", "page", name, "error", err)
		http.Error(w, "console: the page could not be rendered; the server log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

var titles = map[string]string{
	"login":      "Sign in",
	"home":       "Console",
	"error":      "Error",
	"incidents":  "Incidents",
	"silences":   "Silences",
	"deliveries": "Deliveries",
	"dead":       "Dead letters",
	"playground": "Playground",
}

// navItem is one page in the top bar.
type navItem struct {
	Path, Title string
	Current     bool
}

type errorView struct {
	Message string
	Back    string
}

// fail answers a refused or failed request with a page that says what to
// do; for a fragment request, the fragment alone.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	back := ""
	if ref, err := url.Parse(r.Header.Get("Referer")); err == nil && strings.HasPrefix(ref.Path, "/ui/") {
		back = ref.RequestURI()
	}
	c.render(w, r, s, status, "error", errorView{Message: msg, Back: back})
}
