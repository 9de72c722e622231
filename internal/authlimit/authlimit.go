// Package authlimit throttles failed authentications per client address,
// so the admin token cannot be guessed at request rate through any of the
// surfaces that take it (the admin API, the web console's sign-in).
package authlimit

import (
	"math"
	"sync"
	"time"
)

// Failed authentication is throttled per client address: a burst of Burst
// failures, then one more every Every. While a client is throttled its
// token is not even compared.
const (
	Burst = 10
	Every = time.Second
	// ClientsCap bounds the addresses tracked: past it, every new address
	// shares one bucket, so rotating addresses does not buy more guesses.
	ClientsCap = 4096
)

// Limiter counts failed authentications per client address with a token
// bucket each. The zero value is not usable: call New. It is safe for
// concurrent use, and one Limiter may serve several surfaces so that a
// client's failures on one count against it on all.
type Limiter struct {
	mu       sync.Mutex
	clients  map[string]*bucket
	overflow bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a Limiter with no failures recorded.
func New() *Limiter {
	return &Limiter{clients: map[string]*bucket{}}
}

func (b *bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.tokens, b.last = Burst, now
		return
	}
	b.tokens = math.Min(Burst, b.tokens+now.Sub(b.last).Seconds()/Every.Seconds())
	b.last = now
}

func (l *Limiter) bucket(client string, now time.Time) *bucket {
	if b, ok := l.clients[client]; ok {
		return b
	}
	if len(l.clients) >= ClientsCap {
		l.sweep(now)
	}
	if len(l.clients) >= ClientsCap {
		return &l.overflow
	}
	b := &bucket{}
	l.clients[client] = b
	return b
}

// sweep forgets clients whose bucket has filled up again: they have not
// failed for Burst*Every.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.clients {
		b.refill(now)
		if b.tokens >= Burst {
			delete(l.clients, k)
		}
	}
}

// Wait reports how long client must wait before its token is compared
// again; 0 means now.
func (l *Limiter) Wait(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(client, now)
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(Every))
}

// Fail spends one of client's failures.
func (l *Limiter) Fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(client, now)
	b.refill(now)
	b.tokens = math.Max(0, b.tokens-1)
}

// Tracked is how many client addresses have a bucket of their own.
func (l *Limiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}
