// Package server owns wabridge's HTTP surface: the webhook receiver, health,
// metrics and the admin API, as one gin router that main and tests share.
package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/authlimit"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/sources"
)

// Inbox takes an authenticated delivery and keeps it durably. Accept returns
// only once the delivery would survive a crash: the 200 is a promise.
// events are what the source parsed from d.Body (never nil: a payload
// without events is an empty slice), so the inbox need not parse it again;
// what the inbox stores is the raw body.
type Inbox interface {
	Accept(ctx context.Context, d delivery.Delivery, events []event.Event) error
}

// Rejecter is implemented by inboxes that keep deliveries answered with a
// 4xx (a payload of the wrong provider, a bad signature) for the audit trail.
type Rejecter interface {
	Reject(ctx context.Context, d delivery.Delivery, status int, reason string)
}

// Deps is everything the handlers need.
type Deps struct {
	Sources      map[string]sources.Source
	Inbox        Inbox
	MaxBodyBytes int64
	// MaxUnauthenticatedBytes bounds the bodies held, across requests,
	// before their signature is checked; 0 = DefaultMaxUnauthenticatedBytes.
	MaxUnauthenticatedBytes int64
	// MaxEvents is the most events one delivery may make; more is 413.
	// 0 = DefaultMaxEvents.
	MaxEvents int
	Logger    *slog.Logger
	Now       func() time.Time
	// Ready reports why the service cannot take traffic; nil means ready.
	Ready func() error
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// Admin is the operator service, served at /api/v1/ and POST
	// /-/reload when AdminToken is set.
	Admin      admin.Service
	AdminToken secret.Secret
	// AdminListenerOwn means the admin API is served by NewAdminRouter on
	// a listener of its own, so NewRouter leaves it out.
	AdminListenerOwn bool
	// Observe, when set, is told the outcome of every webhook request
	// (source, HTTP status) for metrics.
	Observe func(source string, status int)
	// AuthLimit throttles failed admin token checks per client; nil gets
	// one of the router's own. Give the routers and the console one
	// Limiter so a client's failures count on every surface.
	AuthLimit *authlimit.Limiter
	// Console, when set, is the web console, served at /ui/ on the router
	// that serves the admin API.
	Console http.Handler
	// Slack, when set with a signing secret, serves POST
	// /slack/interactions: the incident buttons of Slack messages.
	Slack *SlackInteractions
}

// handlers holds the dependencies of every handler.
type handlers struct {
	Deps
	authLimit *authlimit.Limiter
	budget    *byteBudget
	slackSeen slackSeen
}

// NewRouter builds the gin engine. gin.New, not gin.Default: our own
// recovery and slog middleware, and no query strings in logs (the
// handshake's verify token travels in one). The admin API is mounted here
// unless d.AdminListenerOwn says it has a listener of its own
// (NewAdminRouter).
func NewRouter(d Deps) *gin.Engine {
	h, r := newEngine(d)
	r.GET("/webhooks/:source", h.verify)
	r.POST("/webhooks/:source", h.receive)
	h.mountProbes(r)
	h.mountSlack(r)
	if !d.AdminListenerOwn {
		h.mountAdminAPI(r)
		h.mountConsole(r)
	}
	return r
}

// NewAdminRouter builds the engine for server.admin_listen: the admin API
// and the probes and metrics, no webhooks.
func NewAdminRouter(d Deps) *gin.Engine {
	h, r := newEngine(d)
	h.mountProbes(r)
	h.mountAdminAPI(r)
	h.mountConsole(r)
	return r
}

func newEngine(d Deps) (*handlers, *gin.Engine) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 3 << 20
	}
	if d.MaxUnauthenticatedBytes <= 0 {
		d.MaxUnauthenticatedBytes = DefaultMaxUnauthenticatedBytes
	}
	if d.MaxUnauthenticatedBytes < d.MaxBodyBytes {
		d.MaxUnauthenticatedBytes = d.MaxBodyBytes
	}
	if d.MaxEvents <= 0 {
		d.MaxEvents = DefaultMaxEvents
	}
	if d.AuthLimit == nil {
		d.AuthLimit = authlimit.New()
	}
	h := &handlers{Deps: d, authLimit: d.AuthLimit, budget: &byteBudget{max: d.MaxUnauthenticatedBytes}}
	// Release mode: gin's debug mode prints every route at start and warns
	// on stderr, which is noise in our logs. gin keeps the mode in a global;
	// setting it here rather than in an init() leaves a package that only
	// imports server as it found gin.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// gin trusts X-Forwarded-For from any peer by default, which would let
	// any client write the remote address kept in the audit trail and the
	// log. Trusting no proxy makes it the connection's peer; nil cannot fail.
	_ = r.SetTrustedProxies(nil)
	r.Use(h.recovery, h.accessLog)
	// Another method on a known path is 405 with Allow naming the ones
	// served (gin fills it in), not 404: the path is right.
	r.HandleMethodNotAllowed = true
	r.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, gin.H{"error": "method " + c.Request.Method + " is not allowed on " + c.Request.URL.Path + "; allowed: " + c.Writer.Header().Get("Allow")})
	})
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, gin.H{"error": "no such endpoint: " + c.Request.Method + " " + c.Request.URL.Path})
	})
	return h, r
}

func (h *handlers) mountProbes(r *gin.Engine) {
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/metrics", h.metrics)
}

func (h *handlers) mountAdminAPI(r *gin.Engine) {
	if h.AdminToken.IsSet() && h.Admin != nil {
		api := r.Group("/api/v1", h.requireToken)
		h.mountAdmin(api)
		h.mountPprof(r)
		h.mountReload(r)
	}
}

// mountConsole serves the web console under /ui/, with the admin API: the
// console signs in with the admin token, so it lives where that token is
// taken. The console does its own authentication, sessions and CSRF
// checks.
func (h *handlers) mountConsole(r *gin.Engine) {
	if h.Console == nil || !h.AdminToken.IsSet() {
		return
	}
	r.GET("/ui", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/ui/") })
	r.Any("/ui/*path", gin.WrapH(h.Console))
}

func (h *handlers) recovery(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			h.Logger.Error("handler panic", "path", c.Request.URL.Path, "panic", fmt.Sprint(v))
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": "internal error"})
		}
	}()
	c.Next()
}

func (h *handlers) accessLog(c *gin.Context) {
	start := h.Now()
	c.Next()
	// The path only: queries carry the verify token, and bodies carry phone numbers.
	status := c.Writer.Status()
	level, failed := accessLevel(c)
	if failed != nil {
		// The client got nothing: say so, not the status that was meant.
		status = StatusNotDelivered
	}
	// Most requests are logged at info, which a busy server usually does
	// not keep: build nothing for a line nobody will see.
	if !h.Logger.Enabled(c.Request.Context(), level) {
		return
	}
	attrs := []any{
		"method", c.Request.Method,
		"path", c.Request.URL.Path,
		"status", status,
		"duration", time.Since(start).Round(time.Microsecond).String(),
		"remote", c.ClientIP(),
		"bytes_in", c.Request.ContentLength,
	}
	if id, ok := c.Get("delivery_id"); ok {
		attrs = append(attrs, "delivery_id", id)
	}
	if reason, ok := c.Get("reason"); ok {
		attrs = append(attrs, "reason", reason)
	}
	if failed != nil {
		attrs = append(attrs, "error", failed)
	}
	h.Logger.Log(c.Request.Context(), level, "http request", attrs...)
}

// accessLevel is the level of a request's access log line, once it is
// answered; failed is why the answer was not delivered, if it was not.
func accessLevel(c *gin.Context) (level slog.Level, failed any) {
	failed, _ = c.Get(answerFailedKey)
	switch {
	case failed != nil:
		return slog.LevelError, failed
	case c.Request.URL.Path == "/healthz" || c.Request.URL.Path == "/readyz" || c.Request.URL.Path == "/metrics":
		return slog.LevelDebug, nil
	case c.Writer.Status() >= 500:
		return slog.LevelError, nil
	case c.Writer.Status() >= 400:
		return slog.LevelWarn, nil
	}
	return slog.LevelInfo, nil
}

// verify answers Meta's GET handshake: 200 with the raw challenge when the
// verify token matches, else 403.
func (h *handlers) verify(c *gin.Context) {
	src, ok := h.Sources[c.Param("source")]
	if !ok {
		c.JSON(http.StatusNotFound, gin.H{"error": fmt.Sprintf("no source named %q is configured", c.Param("source"))})
		return
	}
	v, ok := src.(sources.Verifier)
	if !ok {
		c.JSON(http.StatusMethodNotAllowed, gin.H{"error": fmt.Sprintf("source %q (%s) has no GET verification handshake", src.Name(), src.Type())})
		return
	}
	challenge, ok := v.Verify(c.Request.URL.Query())
	if !ok {
		c.Set("reason", "verify token mismatch or hub.mode is not subscribe")
		c.String(http.StatusForbidden, "verification failed")
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(challenge))
}

// receive is the webhook: authenticate over the raw bytes, parse enough to
// answer 400 for what no retry can fix, store, then 200.
func (h *handlers) receive(c *gin.Context) {
	name := c.Param("source")
	var deliveryID string
	status := h.receiveStatus(c, name, &deliveryID)
	// The access log names the delivery; gin's keys cost a map and a box
	// per request, so they are filled only for a line that is written.
	if level, _ := accessLevel(c); deliveryID != "" && h.Logger.Enabled(c.Request.Context(), level) {
		c.Set("delivery_id", deliveryID)
	}
	if h.Observe != nil {
		if _, ok := h.Sources[name]; !ok {
			// The path is the caller's choice: one label per name tried
			// would let anyone grow the metrics without bound.
			name = UnknownSource
		}
		h.Observe(name, status)
	}
}

// UnknownSource is the source Observe is told for a request to a source
// that is not configured. No source name can take this value.
const UnknownSource = "(unknown)"

func (h *handlers) receiveStatus(c *gin.Context, name string, deliveryID *string) int {
	src, ok := h.Sources[name]
	if !ok {
		return h.answer(c, http.StatusNotFound, gin.H{"error": fmt.Sprintf("no source named %q is configured", name)})
	}
	if c.Request.ContentLength > h.MaxBodyBytes {
		return h.tooLarge(c)
	}
	body, held, err := h.readBody(c.Request, c.Writer, h.MaxBodyBytes)
	defer func() { h.budget.release(held) }()
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, errBudget):
			// Too many bodies are being read and not yet authenticated:
			// refuse now rather than hold more. The provider retries.
			c.Set("reason", "server.max_unauthenticated_bytes in use by bodies not yet authenticated")
			c.Header("Retry-After", "5")
			c.Header("Connection", "close")
			return h.answer(c, http.StatusServiceUnavailable, gin.H{"error": "too many deliveries being received at once, retry later"})
		case errors.As(err, &tooBig):
			return h.tooLarge(c)
		case isTimeout(err):
			// The client did not send its body within server.read_timeout.
			c.Set("reason", "reading body: "+err.Error())
			c.Header("Connection", "close")
			return h.answer(c, http.StatusRequestTimeout, gin.H{"error": "the request body did not arrive within server.read_timeout"})
		}
		c.Set("reason", "reading body: "+err.Error())
		return h.answer(c, http.StatusBadRequest, gin.H{"error": "could not read the request body"})
	}
	d := delivery.Delivery{
		ID:          newDeliveryID(h.Now()),
		Source:      name,
		ReceivedAt:  h.Now().UTC(),
		RemoteAddr:  c.ClientIP(),
		ContentType: c.ContentType(),
		Body:        body,
	}
	*deliveryID = d.ID
	authErr := src.Authenticate(c.Request, body)
	// The bound is on bodies nobody vouched for; from here on, a 401's
	// body is garbage and an authenticated one is the provider's traffic.
	h.budget.release(held)
	held = 0
	if authErr != nil {
		msg := authErr.Error()
		c.Set("reason", msg)
		h.reject(c, d, http.StatusUnauthorized, msg)
		return h.answer(c, http.StatusUnauthorized, gin.H{"error": msg})
	}
	if tooManyElements(body, elementsPerEvent*h.MaxEvents) {
		return h.tooManyEvents(c, d, fmt.Sprintf("more than %d array elements", elementsPerEvent*h.MaxEvents))
	}
	events, err := src.Parse(d)
	if err != nil {
		msg := err.Error()
		c.Set("reason", msg)
		h.reject(c, d, http.StatusBadRequest, msg)
		return h.answer(c, http.StatusBadRequest, gin.H{"error": msg})
	}
	if len(events) > h.MaxEvents {
		return h.tooManyEvents(c, d, fmt.Sprintf("%d events", len(events)))
	}
	if events == nil {
		events = []event.Event{} // parsed, with no events: not "not parsed"
	}
	if err := h.Inbox.Accept(c.Request.Context(), d, events); err != nil {
		c.Set("reason", err.Error())
		// 503 makes the provider retry: nothing unstored is acknowledged.
		c.Header("Retry-After", "30")
		return h.answer(c, http.StatusServiceUnavailable, gin.H{"error": "delivery not stored, retry later"})
	}
	return h.accepted(c, d.ID, len(events))
}

// elementsPerEvent is how many array elements per allowed event a body may
// hold before it is refused unparsed: events carry arrays of their own
// (errors, components), so the count of elements is a loose upper bound.
const elementsPerEvent = 4

func (h *handlers) tooManyEvents(c *gin.Context, d delivery.Delivery, what string) int {
	msg := fmt.Sprintf("delivery holds %s; at most %d events are taken in one delivery (server.max_events): send it in smaller batches", what, h.MaxEvents)
	c.Set("reason", msg)
	h.reject(c, d, http.StatusRequestEntityTooLarge, msg)
	return h.answer(c, http.StatusRequestEntityTooLarge, gin.H{"error": msg})
}

func (h *handlers) tooLarge(c *gin.Context) int {
	msg := fmt.Sprintf("body is larger than server.max_body_bytes (%d bytes)", h.MaxBodyBytes)
	c.Set("reason", msg)
	return h.answer(c, http.StatusRequestEntityTooLarge, gin.H{"error": msg})
}

func (h *handlers) reject(c *gin.Context, d delivery.Delivery, status int, reason string) {
	if r, ok := h.Inbox.(Rejecter); ok {
		r.Reject(c.Request.Context(), d, status, reason)
	}
}

func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (h *handlers) readyz(c *gin.Context) {
	if h.Ready != nil {
		if err := h.Ready(); err != nil {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "reason": err.Error()})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (h *handlers) metrics(c *gin.Context) {
	if h.Metrics == nil {
		c.JSON(http.StatusNotFound, gin.H{"error": "metrics are not enabled"})
		return
	}
	h.Metrics.ServeHTTP(c.Writer, c.Request)
}

// isTimeout reports whether a read failed on the connection's deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// newDeliveryID is time-ordered (so the inbox drains in arrival order) and
// unique across processes.
func newDeliveryID(now time.Time) string {
	var raw [8 + 6]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(raw[8:])
	// 16 hex digits of the time (zero-padded, so ids sort as times), a
	// dash, 12 of randomness.
	var out [16 + 1 + 12]byte
	hex.Encode(out[:16], raw[:8])
	out[16] = '-'
	hex.Encode(out[17:], raw[8:])
	return string(out[:])
}
