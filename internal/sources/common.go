package sources

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

// base holds what every non-Meta adapter shares: its name, authentication,
// the accept filter and the status_map.
type base struct {
	name      string
	typ       string
	auth      authenticator
	accept    acceptFilter
	statusMap map[string]string // lowercased provider word → our status
}

func (b *base) Name() string { return b.name }
func (b *base) Type() string { return b.typ }

// Authenticate checks the request with the source's auth scheme.
func (b *base) Authenticate(r *http.Request, body []byte) error {
	if b.auth == nil {
		return Unauthorized("source %s has no authentication configured", b.name)
	}
	return b.auth.verify(r, body)
}

// Accept applies the source's accept list (acceptFilter).
func (b *base) Accept(e *event.Event) bool { return b.accept.keeps(e) }

// mapStatus applies status_map to a provider's word. Keys are compared
// lowercased because viper lowercases map keys read from the config file.
func (b *base) mapStatus(s string) (string, bool) {
	to, ok := b.statusMap[strings.ToLower(strings.TrimSpace(s))]
	return to, ok
}

// newEvent starts an event with the fields every adapter sets the same way.
func (b *base) newEvent(d delivery.Delivery, kind event.Kind, status string) event.Event {
	return event.Event{
		Source:    b.name,
		Kind:      kind,
		Status:    strings.ToLower(status),
		Timestamp: d.ReceivedAt.UTC(),
	}
}

// unknown keeps a value nobody could read, so it is stored and can be
// matched by rules on kind unknown.
func (b *base) unknown(d delivery.Delivery, status string, raw []byte) event.Event {
	e := b.newEvent(d, event.KindUnknown, status)
	e.ID = b.id("unknown", canonical(raw))
	e.Raw = json.RawMessage(compact(raw))
	return e
}

// id derives a deterministic event ID from the source name and the parts
// that identify one provider event, so a redelivery dedups to the same ID.
func (b *base) id(parts ...string) string {
	h := sha256.New()
	h.Write([]byte(b.typ))
	h.Write([]byte{0})
	h.Write([]byte(b.name))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// parseJSON reads a body as JSON without trusting it.
func parseJSON(body []byte) (gjson.Result, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || !gjson.ValidBytes(body) {
		return gjson.Result{}, ErrNotJSON
	}
	return gjson.ParseBytes(body), nil
}

// canonical renders JSON with sorted keys and no insignificant space, so two
// deliveries of the same value hash the same whatever the provider's key order.
func canonical(raw []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(out)
}

func compact(raw []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}

// str returns the first non-empty scalar among paths, as text.
func str(r gjson.Result, paths ...string) string {
	for _, p := range paths {
		v := r.Get(p)
		if !v.Exists() || v.Type == gjson.Null || v.IsObject() || v.IsArray() {
			continue
		}
		if s := strings.TrimSpace(v.String()); s != "" {
			return s
		}
	}
	return ""
}

// first returns the first non-empty string.
func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// intValue reads an integer from a number or a numeric string.
func intValue(r gjson.Result) (int, bool) {
	switch r.Type {
	case gjson.Number:
		f := r.Float()
		if f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
			return 0, false
		}
		return int(f), true
	case gjson.String:
		n, err := strconv.Atoi(strings.TrimSpace(r.Str))
		if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// Bounds for timestamps (1971 to 3000, in Unix seconds): anything outside is
// a provider bug or garbage, and beyond year 9999 would not even marshal.
const (
	minUnix = 31536000
	maxUnix = 32503680000
)

// timeLayouts are the text times providers send: RFC 3339, and the numeric
// offsets without a colon ("2025-11-22T10:00:00.000+0000", Infobip and
// Java-based platforms), with or without a T, fraction or zone.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999 Z0700",
	"2006-01-02 15:04:05.999999999 Z07:00",
	"2006-01-02 15:04:05.999999999",
	time.RFC1123Z,
	time.RFC1123,
}

// parseTime reads Unix seconds, milliseconds or microseconds (as a number or
// a numeric string) or an RFC 3339 text. Providers mix all of them.
func parseTime(r gjson.Result) (time.Time, bool) {
	var t time.Time
	switch r.Type {
	case gjson.Number:
		t = unixAny(r.Float())
	case gjson.String:
		s := strings.TrimSpace(r.Str)
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			t = unixAny(f)
			break
		}
		for _, layout := range timeLayouts {
			if p, err := time.Parse(layout, s); err == nil {
				t = p
				break
			}
		}
	default:
		return time.Time{}, false
	}
	if t.IsZero() || t.Unix() < minUnix || t.Unix() > maxUnix {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func unixAny(f float64) time.Time {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f > 1e18 {
		return time.Time{}
	}
	switch {
	case f >= 1e15: // microseconds
		return time.UnixMicro(int64(f))
	case f >= 1e12: // milliseconds: 1e12 ms is 2001, 1e12 s is year 33658
		return time.UnixMilli(int64(f))
	default:
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9))
	}
}

// setTime sets e.Timestamp from the first path that holds a readable time.
func setTime(e *event.Event, r gjson.Result, paths ...string) {
	for _, p := range paths {
		if t, ok := parseTime(r.Get(p)); ok {
			e.Timestamp = t
			return
		}
	}
}

// hasTime reports whether any of paths holds a readable time.
func hasTime(r gjson.Result, paths ...string) bool {
	for _, p := range paths {
		if _, ok := parseTime(r.Get(p)); ok {
			return true
		}
	}
	return false
}

// jidNumber turns a WhatsApp JID ("5511999999999:12@s.whatsapp.net") into
// its number; a group JID keeps its id.
func jidNumber(jid string) string {
	n, _, _ := strings.Cut(jid, "@")
	n, _, _ = strings.Cut(n, ":")
	return strings.TrimPrefix(strings.TrimSpace(n), "+")
}

// phoneDigits strips the decorations providers put around a number
// ("whatsapp:+1 650-555-1234" → "16505551234"); anything that is not a
// phone number at all is returned trimmed, so an id is not lost.
func phoneDigits(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "whatsapp:")
	if strings.Contains(s, "@") {
		return jidNumber(s)
	}
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' || c == ' ' || c == '-' || c == '(' || c == ')' || c == '.':
		default:
			return strings.TrimPrefix(s, "+")
		}
	}
	return b.String()
}

// boolText renders a JSON boolean as an attribute, "" when absent.
func boolText(r gjson.Result) string {
	switch r.Type {
	case gjson.True:
		return "true"
	case gjson.False:
		return "false"
	}
	return ""
}

// connectionReason is the catalogue key (connection namespace) for a
// Baileys/whatsmeow disconnect code; "" when the code has no key.
func connectionReason(code int) string {
	switch code {
	case 401:
		return "logged_out"
	case 403:
		return "forbidden"
	case 406:
		return "banned"
	case 440:
		return "replaced"
	case 515:
		return "restart_required"
	case 428:
		return "connection_closed"
	case 408:
		return "connection_lost"
	case 500:
		return "bad_session"
	case 411:
		return "multidevice_mismatch"
	case 503:
		return "unavailable_service"
	}
	return ""
}

// truncate shortens text for an attribute, on a rune boundary.
func truncate(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}

// itemsOf returns the elements of an array, or the value itself.
func itemsOf(r gjson.Result) []gjson.Result {
	if r.IsArray() {
		return r.Array()
	}
	return []gjson.Result{r}
}

func kindOfJSON(r gjson.Result) string {
	switch {
	case r.IsArray():
		return "an array"
	case r.IsObject():
		return "an object"
	case r.Type == gjson.String:
		return "a string"
	case r.Type == gjson.Number:
		return "a number"
	default:
		return fmt.Sprintf("%q", truncate(r.Raw, 16))
	}
}
