package sources

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Auth types (sources[].auth.type).
const (
	AuthHMAC   = "hmac"
	AuthToken  = "token"
	AuthBasic  = "basic"
	AuthTwilio = "twilio"
	AuthNone   = "none"
	// AuthHMACTimestamp: HMAC over timestamp + "." + body, the time checked
	// against a tolerance window (YCloud, and the Stripe-style schemes).
	AuthHMACTimestamp = "hmac_timestamp"
	// AuthJWT: an HS256 JSON Web Token in a header, whose payload_hash claim
	// covers the body (Vonage, Bird/MessageBird).
	AuthJWT = "jwt"
)

// defaultTolerance is how old a signed time may be before it is a replay.
const defaultTolerance = 5 * time.Minute

// TwilioSignatureHeader is the header Twilio signs its requests with.
const TwilioSignatureHeader = "X-Twilio-Signature"

// authenticator checks one request. Its errors wrap ErrUnauthorized and
// never contain the secret or the signature received.
type authenticator interface {
	verify(r *http.Request, body []byte) error
}

// buildAuth turns a source's auth config into an authenticator, reporting
// every problem at once.
func buildAuth(a Auth, publicURL, sourceType string) (authenticator, []error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	needSecret := func() {
		if !a.Secret.IsSet() {
			add("auth.secret: required for auth type %s", a.Type)
		}
	}
	switch strings.ToLower(a.Type) {
	case "":
		add("auth: required for type %s: set auth.type to hmac, hmac_timestamp, jwt, token, basic or twilio (or none with insecure: true)", sourceType)
		return nil, errs
	case AuthNone:
		if !a.Insecure {
			add("auth: type none accepts anyone who knows the URL: add insecure: true to mean it, or use hmac, token or basic")
			return nil, errs
		}
		return noAuth{}, nil
	case AuthHMAC:
		if a.Header == "" {
			add("auth.header: required for hmac (the header that carries the signature, e.g. X-Signature)")
		}
		newHash, enc := digestOptions(a, add)
		needSecret()
		if len(errs) > 0 {
			return nil, errs
		}
		return hmacAuth{header: a.Header, prefix: a.Prefix, newHash: newHash, encoding: enc, secret: []byte(a.Secret.Value())}, nil
	case AuthToken:
		if a.Header == "" && a.Query == "" {
			add("auth: token needs auth.header or auth.query (where the provider puts the shared secret)")
		}
		needSecret()
		if len(errs) > 0 {
			return nil, errs
		}
		return tokenAuth{header: a.Header, query: a.Query, prefix: a.Prefix, digest: sha256.Sum256([]byte(a.Secret.Value()))}, nil
	case AuthBasic:
		if a.User == "" {
			add("auth.user: required for basic")
		}
		pass := a.Password
		if !pass.IsSet() {
			pass = a.Secret
		}
		if !pass.IsSet() {
			add("auth.password: required for basic (or auth.secret)")
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return basicAuth{user: sha256.Sum256([]byte(a.User)), pass: sha256.Sum256([]byte(pass.Value()))}, nil
	case AuthTwilio:
		needSecret()
		if publicURL != "" {
			u, err := url.Parse(publicURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("public_url: must be an absolute http(s) URL such as https://hooks.example.com/webhooks/NAME")
			}
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return twilioAuth{token: []byte(a.Secret.Value()), publicURL: publicURL}, nil
	case AuthHMACTimestamp:
		if a.Header == "" {
			add("auth.header: required for hmac_timestamp (the header that carries the signature, e.g. YCloud-Signature)")
		}
		newHash, enc := digestOptions(a, add)
		if a.Tolerance < 0 {
			add("auth.tolerance: must not be negative")
		}
		needSecret()
		if len(errs) > 0 {
			return nil, errs
		}
		return hmacTimestampAuth{header: a.Header, tsHeader: a.TimestampHeader, prefix: a.Prefix, newHash: newHash,
			encoding: enc, secret: []byte(a.Secret.Value()), tolerance: tolerance(a.Tolerance), now: time.Now}, nil
	case AuthJWT:
		header := a.Header
		if header == "" {
			header = "Authorization"
		}
		if a.Tolerance < 0 {
			add("auth.tolerance: must not be negative")
		}
		needSecret()
		if len(errs) > 0 {
			return nil, errs
		}
		return jwtAuth{header: header, prefix: a.Prefix, secret: []byte(a.Secret.Value()), issuer: a.Issuer,
			tolerance: tolerance(a.Tolerance), now: time.Now}, nil
	default:
		add("auth.type: %q is not hmac, hmac_timestamp, jwt, token, basic, twilio or none", a.Type)
		return nil, errs
	}
}

func hashFunc(name string) (func() hash.Hash, bool) {
	switch strings.ToLower(name) {
	case "", "sha256":
		return sha256.New, true
	case "sha1":
		return sha1.New, true
	case "sha512":
		return sha512.New, true
	}
	return nil, false
}

type noAuth struct{}

func (noAuth) verify(*http.Request, []byte) error { return nil }

// hmacAuth checks an HMAC of the raw body carried in a header.
type hmacAuth struct {
	header   string
	prefix   string
	newHash  func() hash.Hash
	encoding string
	secret   []byte
}

func (a hmacAuth) verify(r *http.Request, body []byte) error {
	v := strings.TrimSpace(r.Header.Get(a.header))
	if v == "" {
		return Unauthorized("missing header %s", a.header)
	}
	if a.prefix != "" {
		if len(v) < len(a.prefix) || !strings.EqualFold(v[:len(a.prefix)], a.prefix) {
			return Unauthorized("header %s does not start with %q", a.header, a.prefix)
		}
		v = v[len(a.prefix):]
	}
	got, err := decodeSignature(v, a.encoding)
	if err != nil {
		return Unauthorized("header %s is not %s-encoded", a.header, a.encoding)
	}
	mac := hmac.New(a.newHash, a.secret)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), got) {
		return Unauthorized("signature mismatch in header %s", a.header)
	}
	return nil
}

func decodeSignature(v, encoding string) ([]byte, error) {
	if encoding == "hex" {
		return hex.DecodeString(v)
	}
	// Providers disagree on padding and alphabet; all four are unambiguous.
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// tokenAuth compares a shared secret from a header or a query parameter.
// Both sides are hashed first so the comparison is constant-time whatever
// the lengths.
type tokenAuth struct {
	header string
	query  string
	prefix string
	digest [sha256.Size]byte
}

func (a tokenAuth) verify(r *http.Request, _ []byte) error {
	var v, where string
	if a.header != "" {
		v, where = strings.TrimSpace(r.Header.Get(a.header)), "header "+a.header
	}
	if v == "" && a.query != "" {
		v, where = r.URL.Query().Get(a.query), "query parameter "+a.query
	}
	if v == "" {
		switch {
		case a.header != "" && a.query != "":
			return Unauthorized("missing header %s or query parameter %s", a.header, a.query)
		case a.header != "":
			return Unauthorized("missing header %s", a.header)
		default:
			return Unauthorized("missing query parameter %s", a.query)
		}
	}
	if a.prefix != "" && len(v) >= len(a.prefix) && strings.EqualFold(v[:len(a.prefix)], a.prefix) {
		v = strings.TrimSpace(v[len(a.prefix):])
	}
	got := sha256.Sum256([]byte(v))
	if subtle.ConstantTimeCompare(got[:], a.digest[:]) != 1 {
		return Unauthorized("token mismatch in %s", where)
	}
	return nil
}

// basicAuth compares HTTP basic credentials; user and password are both
// compared before deciding, so timing does not tell which one was wrong.
type basicAuth struct {
	user [sha256.Size]byte
	pass [sha256.Size]byte
}

func (a basicAuth) verify(r *http.Request, _ []byte) error {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return Unauthorized("missing basic credentials (Authorization: Basic ...)")
	}
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	okUser := subtle.ConstantTimeCompare(u[:], a.user[:])
	okPass := subtle.ConstantTimeCompare(p[:], a.pass[:])
	if okUser&okPass != 1 {
		return Unauthorized("basic credentials mismatch")
	}
	return nil
}

// twilioAuth checks X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL +
// each POST parameter's key and value, sorted by key)).
type twilioAuth struct {
	token     []byte
	publicURL string
}

func (a twilioAuth) verify(r *http.Request, body []byte) error {
	sig := strings.TrimSpace(r.Header.Get(TwilioSignatureHeader))
	if sig == "" {
		return Unauthorized("missing header %s", TwilioSignatureHeader)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return Unauthorized("header %s is not base64", TwilioSignatureHeader)
	}
	signed := a.signedURL(r)
	var params url.Values
	if isForm(r.Header.Get("Content-Type")) {
		params, err = url.ParseQuery(string(body))
		if err != nil {
			return Unauthorized("form body cannot be read to check %s", TwilioSignatureHeader)
		}
	}
	for _, candidate := range portVariants(signed) {
		if !hmac.Equal(TwilioSignature(a.token, candidate, params), got) &&
			!hmac.Equal(twilioSignatureConcatSorted(a.token, candidate, params), got) {
			continue
		}
		// JSON bodies are not in the signature: Twilio signs their SHA-256
		// in the bodySHA256 query parameter instead.
		if params == nil && len(body) > 0 {
			want := candidateQuery(candidate).Get("bodySHA256")
			sum := sha256.Sum256(body)
			if want == "" || subtle.ConstantTimeCompare([]byte(strings.ToLower(want)), []byte(hex.EncodeToString(sum[:]))) != 1 {
				return Unauthorized("body does not match the bodySHA256 that %s covers", TwilioSignatureHeader)
			}
		}
		return nil
	}
	return Unauthorized("signature mismatch in header %s for URL %s (set public_url to the exact URL configured in Twilio if a proxy rewrites it)",
		TwilioSignatureHeader, urlWithoutQuery(signed))
}

// TwilioSignature computes what Twilio puts in X-Twilio-Signature (decoded):
// HMAC-SHA1 keyed with the auth token over the URL followed by every POST
// parameter as key+value, keys sorted (values of a repeated key sorted too).
func TwilioSignature(authToken []byte, fullURL string, params url.Values) []byte {
	mac := hmac.New(sha1.New, authToken)
	mac.Write([]byte(fullURL))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return mac.Sum(nil)
}

// twilioSignatureConcatSorted sorts the key+value strings rather than the
// keys, as Twilio's Go helper does; the two orders differ only when one key
// is a prefix of another, and both are accepted since both need the token.
func twilioSignatureConcatSorted(authToken []byte, fullURL string, params url.Values) []byte {
	var pairs []string
	for k, vs := range params {
		for _, v := range vs {
			pairs = append(pairs, k+v)
		}
	}
	sort.Strings(pairs)
	mac := hmac.New(sha1.New, authToken)
	mac.Write([]byte(fullURL))
	for _, p := range pairs {
		mac.Write([]byte(p))
	}
	return mac.Sum(nil)
}

// signedURL is the URL Twilio signed: public_url when set (a proxy may have
// changed scheme, host or path), else the URL the request arrived on.
func (a twilioAuth) signedURL(r *http.Request) string {
	if a.publicURL != "" {
		if !strings.Contains(a.publicURL, "?") && r.URL.RawQuery != "" {
			return a.publicURL + "?" + r.URL.RawQuery
		}
		return a.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		p, _, _ = strings.Cut(p, ",")
		if p = strings.ToLower(strings.TrimSpace(p)); p == "http" || p == "https" {
			scheme = p
		}
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// portVariants returns the URL as is, without its port and with the
// default port added: Twilio's own validators try these, since proxies and
// Twilio disagree on whether a port is part of the signed URL.
func portVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return []string{raw}
	}
	out := []string{raw}
	if u.Port() != "" {
		v := *u
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") {
			v.Host = "[" + v.Host + "]"
		}
		return append(out, v.String())
	}
	def := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	if def != "" {
		v := *u
		v.Host = net.JoinHostPort(u.Hostname(), def)
		out = append(out, v.String())
	}
	return out
}

func candidateQuery(raw string) url.Values {
	u, err := url.Parse(raw)
	if err != nil {
		return url.Values{}
	}
	return u.Query()
}

// urlWithoutQuery keeps scheme, host and path: a query may hold a token.
func urlWithoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

func tolerance(d time.Duration) time.Duration {
	if d == 0 {
		return defaultTolerance
	}
	return d
}

// hmacTimestampAuth checks an HMAC over timestamp + "." + body. The time is
// in its own header, or in the signature header as "t=1654084800,s=<sig>"
// (also "v1=" as Stripe-style schemes name it). A time outside the tolerance
// window is a replay, however good the signature.
type hmacTimestampAuth struct {
	header    string
	tsHeader  string
	prefix    string
	newHash   func() hash.Hash
	encoding  string
	secret    []byte
	tolerance time.Duration
	now       func() time.Time
}

func (a hmacTimestampAuth) verify(r *http.Request, body []byte) error {
	v := strings.TrimSpace(r.Header.Get(a.header))
	if v == "" {
		return Unauthorized("missing header %s", a.header)
	}
	var ts string
	var sigs []string
	if a.tsHeader != "" {
		ts = strings.TrimSpace(r.Header.Get(a.tsHeader))
		if ts == "" {
			return Unauthorized("missing header %s", a.tsHeader)
		}
		if a.prefix != "" {
			if len(v) < len(a.prefix) || !strings.EqualFold(v[:len(a.prefix)], a.prefix) {
				return Unauthorized("header %s does not start with %q", a.header, a.prefix)
			}
			v = v[len(a.prefix):]
		}
		sigs = []string{v}
	} else {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "t", "ts", "timestamp":
				ts = strings.TrimSpace(val)
			case "s", "v1", "sig", "signature":
				sigs = append(sigs, strings.TrimSpace(val))
			}
		}
		if ts == "" || len(sigs) == 0 {
			return Unauthorized("header %s lacks t=TIMESTAMP and s=SIGNATURE", a.header)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Unauthorized("timestamp %q is not Unix seconds", truncateText(ts, 20))
	}
	if sec > 1e12 { // milliseconds
		sec /= 1000
	}
	if d := a.now().Sub(time.Unix(sec, 0)); d > a.tolerance || d < -a.tolerance {
		return Unauthorized("signed timestamp is %s from now, outside the %s tolerance (a replay, or a clock out of step)",
			d.Round(time.Second), a.tolerance)
	}
	mac := hmac.New(a.newHash, a.secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range sigs {
		got, err := decodeSignature(sig, a.encoding)
		if err == nil && hmac.Equal(want, got) {
			return nil
		}
	}
	return Unauthorized("signature mismatch in header %s", a.header)
}

// jwtAuth checks a JSON Web Token signed with HMAC (HS256, HS384, HS512)
// and a shared secret: the signature in constant time, exp and nbf (and iat
// not in the future) within the tolerance, iss when configured, and a
// payload_hash claim, when present or when there is a body, equal to the
// SHA-256 of the raw body, so a token cannot be replayed with another body.
type jwtAuth struct {
	header    string
	prefix    string
	secret    []byte
	issuer    string
	tolerance time.Duration
	now       func() time.Time
}

func (a jwtAuth) verify(r *http.Request, body []byte) error {
	v := strings.TrimSpace(r.Header.Get(a.header))
	if v == "" {
		return Unauthorized("missing header %s", a.header)
	}
	for _, p := range []string{a.prefix, "Bearer "} {
		if p != "" && len(v) >= len(p) && strings.EqualFold(v[:len(p)], p) {
			v = strings.TrimSpace(v[len(p):])
			break
		}
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return Unauthorized("header %s is not a JSON Web Token", a.header)
	}
	rawHeader, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	rawClaims, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return Unauthorized("header %s is not a JSON Web Token (bad base64url)", a.header)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(rawHeader, &hdr) != nil {
		return Unauthorized("header %s: token header is not JSON", a.header)
	}
	var newHash func() hash.Hash
	switch hdr.Alg {
	case "HS256":
		newHash = sha256.New
	case "HS384":
		newHash = sha512.New384
	case "HS512":
		newHash = sha512.New
	default:
		// "none" and public-key algorithms are refused: the secret is shared.
		return Unauthorized("header %s: token algorithm %q is not HS256, HS384 or HS512", a.header, truncateText(hdr.Alg, 10))
	}
	mac := hmac.New(newHash, a.secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(mac.Sum(nil), sig) {
		return Unauthorized("token signature mismatch in header %s (signed with another key?)", a.header)
	}
	var claims struct {
		Exp         *json.Number `json:"exp"`
		Nbf         *json.Number `json:"nbf"`
		Iat         *json.Number `json:"iat"`
		Iss         string       `json:"iss"`
		PayloadHash *string      `json:"payload_hash"`
	}
	dec := json.NewDecoder(strings.NewReader(string(rawClaims)))
	dec.UseNumber()
	if dec.Decode(&claims) != nil {
		return Unauthorized("header %s: token claims are not JSON", a.header)
	}
	now := a.now()
	at := func(n *json.Number) (time.Time, bool) {
		if n == nil {
			return time.Time{}, false
		}
		f, err := n.Float64()
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(int64(f), 0), true
	}
	if t, ok := at(claims.Exp); ok && now.After(t.Add(a.tolerance)) {
		return Unauthorized("token in header %s expired %s ago", a.header, now.Sub(t).Round(time.Second))
	}
	if t, ok := at(claims.Nbf); ok && now.Add(a.tolerance).Before(t) {
		return Unauthorized("token in header %s is not valid before %s", a.header, t.UTC().Format(time.RFC3339))
	}
	if t, ok := at(claims.Iat); ok {
		if now.Add(a.tolerance).Before(t) {
			return Unauthorized("token in header %s was issued in the future (%s)", a.header, t.UTC().Format(time.RFC3339))
		}
		if claims.Exp == nil && now.Sub(t) > a.tolerance {
			return Unauthorized("token in header %s was issued %s ago, outside the %s tolerance (a replay?)", a.header, now.Sub(t).Round(time.Second), a.tolerance)
		}
	}
	if claims.Exp == nil && claims.Iat == nil {
		return Unauthorized("token in header %s has neither exp nor iat: its age cannot be checked", a.header)
	}
	if a.issuer != "" && subtle.ConstantTimeCompare([]byte(claims.Iss), []byte(a.issuer)) != 1 {
		return Unauthorized("token in header %s has another issuer", a.header)
	}
	if claims.PayloadHash != nil || len(body) > 0 {
		if claims.PayloadHash == nil {
			return Unauthorized("token in header %s has no payload_hash claim for the body", a.header)
		}
		sum := sha256.Sum256(body)
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(*claims.PayloadHash)), []byte(hex.EncodeToString(sum[:]))) != 1 {
			return Unauthorized("body does not match the payload_hash of the token in header %s", a.header)
		}
	}
	return nil
}

// truncateText keeps what an error echoes of a request short.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// digestOptions reads the hash algorithm and the signature encoding that
// hmac and hmac_timestamp share; a value it does not know is a problem told
// to add.
func digestOptions(a Auth, add func(format string, args ...any)) (newHash func() hash.Hash, enc string) {
	newHash, ok := hashFunc(a.Algorithm)
	if !ok {
		add("auth.algorithm: %q is not sha256, sha1 or sha512", a.Algorithm)
	}
	enc = strings.ToLower(a.Encoding)
	if enc == "" {
		enc = "hex"
	}
	if enc != "hex" && enc != "base64" {
		add("auth.encoding: %q is not hex or base64", a.Encoding)
	}
	return newHash, enc
}
