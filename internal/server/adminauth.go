package server

import (
	"crypto/subtle"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Failed admin authentication is throttled per client address: a burst of
// authFailBurst failures, then one more every authFailEvery. While a
// client is throttled it gets 429 and its token is not even compared.
const (
	authFailBurst  = 10
	authFailEvery  = time.Second
	authClientsCap = 4096
)

// authThrottle counts failed admin authentications per client address with
// a token bucket each. The map is bounded: once authClientsCap addresses
// are tracked, every new one shares one bucket, so rotating addresses
// does not buy more guesses than the cap allows.
type authThrottle struct {
	mu       sync.Mutex
	clients  map[string]*authBucket
	overflow authBucket
}

type authBucket struct {
	tokens float64
	last   time.Time
}

func newAuthThrottle() *authThrottle {
	return &authThrottle{clients: map[string]*authBucket{}}
}

func (b *authBucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.tokens, b.last = authFailBurst, now
		return
	}
	b.tokens = math.Min(authFailBurst, b.tokens+now.Sub(b.last).Seconds()/authFailEvery.Seconds())
	b.last = now
}

func (t *authThrottle) bucket(client string, now time.Time) *authBucket {
	if b, ok := t.clients[client]; ok {
		return b
	}
	if len(t.clients) >= authClientsCap {
		t.sweep(now)
	}
	if len(t.clients) >= authClientsCap {
		return &t.overflow
	}
	b := &authBucket{}
	t.clients[client] = b
	return b
}

// sweep forgets clients whose bucket has filled up again: they have not
// failed for authFailBurst*authFailEvery.
func (t *authThrottle) sweep(now time.Time) {
	for k, b := range t.clients {
		b.refill(now)
		if b.tokens >= authFailBurst {
			delete(t.clients, k)
		}
	}
}

// wait reports how long client must wait before its token is compared
// again; 0 means now.
func (t *authThrottle) wait(client string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(client, now)
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(authFailEvery))
}

// fail spends one of client's failures.
func (t *authThrottle) fail(client string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(client, now)
	b.refill(now)
	b.tokens = math.Max(0, b.tokens-1)
}

// bearerToken reads "Authorization: Bearer TOKEN"; the scheme is
// case-insensitive (RFC 9110, section 11.1).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (h *handlers) requireToken(c *gin.Context) {
	client, now := c.ClientIP(), h.Now()
	if wait := h.authThrottle.wait(client, now); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Header("Retry-After", strconv.Itoa(secs))
		c.Set("reason", "admin authentication throttled after repeated failures")
		c.AbortWithStatusJSON(http.StatusTooManyRequests, gin.H{"error": "too many failed admin authentications from this address; retry in " + strconv.Itoa(secs) + "s"})
		return
	}
	got, ok := bearerToken(c.GetHeader("Authorization"))
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.AdminToken.Value())) != 1 {
		h.authThrottle.fail(client, now)
		c.Set("reason", "admin authentication failed")
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "admin API needs Authorization: Bearer <server.admin_token>"})
		return
	}
	c.Next()
}
