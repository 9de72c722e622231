package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/admin"
)

// cookieName is the session cookie. Its Path is /ui/, so it is never sent
// to the webhooks or the admin API.
const cookieName = "wabridge_console"

// maxSessions bounds the sessions held: past it, signing in ends the
// session that would expire first. Only a holder of the admin token can
// make sessions, so the bound is against a script that signs in in a loop,
// not against guessing.
const maxSessions = 1024

// session is one signed-in browser. Its id travels only in the HttpOnly
// cookie; its CSRF token only in the pages' forms.
type session struct {
	csrf    string
	expires time.Time

	mu    sync.Mutex
	flash []flash
	// name is who the person said they are at sign-in (or last wrote as
	// a silence's author): the author of what they do. The token alone
	// names nobody.
	name string
}

// maxName bounds a name a person gives.
const maxName = 80

func (s *session) setName(name string) {
	name = strings.Join(strings.Fields(name), " ")
	if r := []rune(name); len(r) > maxName {
		name = string(r[:maxName])
	}
	if name == "" {
		return
	}
	s.mu.Lock()
	s.name = name
	s.mu.Unlock()
}

// displayName is the name the person gave, "" when none.
func (s *session) displayName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// actor is who does what this session asks.
func (s *session) actor() admin.Actor {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.name
	if name == "" {
		name = "console user"
	}
	return admin.Actor{Name: name, Via: "web console"}
}

// flash is a message shown once, on the page an action redirects to.
type flash struct {
	Kind string // ok, error
	Text string
}

func (s *session) addFlash(kind, text string) {
	s.mu.Lock()
	s.flash = append(s.flash, flash{Kind: kind, Text: text})
	s.mu.Unlock()
}

func (s *session) takeFlash() []flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}

// checkCSRF compares a form's token with the session's in constant time.
func (s *session) checkCSRF(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// sessions is the server-side session table. Sessions live in memory: a
// restart signs everyone out, which costs a sign-in and keeps no secret
// on disk.
type sessions struct {
	mu sync.Mutex
	// byHash is keyed by the SHA-256 of the session id, so the time a
	// lookup takes says nothing about the ids held.
	byHash map[string]*session
}

func newSessions() *sessions { return &sessions{byHash: map[string]*session{}} }

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func idHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// create starts a session and returns its id.
func (t *sessions) create(now time.Time, ttl time.Duration) (string, *session) {
	id := randomToken()
	s := &session{csrf: randomToken(), expires: now.Add(ttl)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	if len(t.byHash) >= maxSessions {
		var oldest string
		for k, v := range t.byHash {
			if oldest == "" || v.expires.Before(t.byHash[oldest].expires) {
				oldest = k
			}
		}
		delete(t.byHash, oldest)
	}
	t.byHash[idHash(id)] = s
	return id, s
}

// sweep forgets expired sessions; t.mu is held.
func (t *sessions) sweep(now time.Time) {
	for k, v := range t.byHash {
		if !now.Before(v.expires) {
			delete(t.byHash, k)
		}
	}
}

// get returns the live session of id, or nil.
func (t *sessions) get(id string, now time.Time) *session {
	if id == "" {
		return nil
	}
	k := idHash(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byHash[k]
	if !ok {
		return nil
	}
	if !now.Before(s.expires) {
		delete(t.byHash, k)
		return nil
	}
	return s
}

func (t *sessions) end(id string) {
	t.mu.Lock()
	delete(t.byHash, idHash(id))
	t.mu.Unlock()
}

func (t *sessions) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byHash)
}

// sessionCookie is the cookie that carries id: HttpOnly (no script reads
// it), SameSite=Strict (no other site's page sends it), Secure when the
// console is reached over TLS.
func sessionCookie(id string, expires time.Time, secure bool) *http.Cookie {
	c := &http.Cookie{
		Name:     cookieName,
		Value:    id,
		Path:     "/ui/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	}
	if id == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}
