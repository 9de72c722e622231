package whatsapp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// SignatureHeader carries Meta's HMAC-SHA256 of the raw body.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Errors of VerifySignature. Their text is what a 401 says: it names the
// problem and never echoes the signature or the secret.
var (
	ErrNoSecret           = errors.New("no app secret configured")
	ErrSignatureMissing   = errors.New("missing X-Hub-Signature-256 header")
	ErrSignatureMalformed = errors.New("malformed X-Hub-Signature-256 header")
	ErrSignatureMismatch  = errors.New("signature does not match the body")
)

// VerifySignature checks header ("sha256=<hex>") against the HMAC-SHA256 of
// body keyed with the app secret. body must be the bytes as received:
// re-encoded JSON (Meta escapes unicode) does not match.
func VerifySignature(secret, body []byte, header string) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	got, err := parseSignature(header)
	if err != nil {
		return err
	}
	if !hmac.Equal(got[:], mac(secret, body)) {
		return ErrSignatureMismatch
	}
	return nil
}

// Verifier is VerifySignature for one app secret, for a server that checks
// every delivery: the keyed HMAC is made once and reset for each body
// rather than built again (eight allocations a request).
type Verifier struct {
	secret []byte
	macs   sync.Pool // of *keyedMAC
}

// keyedMAC is an HMAC keyed with a Verifier's secret and room for its sum.
type keyedMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// NewVerifier returns a Verifier for secret (copied).
func NewVerifier(secret []byte) *Verifier {
	v := &Verifier{secret: bytes.Clone(secret)}
	v.macs.New = func() any { return &keyedMAC{h: hmac.New(sha256.New, v.secret)} }
	return v
}

// Verify is VerifySignature(secret, body, header).
func (v *Verifier) Verify(body []byte, header string) error {
	if len(v.secret) == 0 {
		return ErrNoSecret
	}
	got, err := parseSignature(header)
	if err != nil {
		return err
	}
	m := v.macs.Get().(*keyedMAC)
	defer v.macs.Put(m)
	m.h.Reset()
	m.h.Write(body)
	if !hmac.Equal(got[:], m.h.Sum(m.sum[:0])) {
		return ErrSignatureMismatch
	}
	return nil
}

// parseSignature reads the digest of a "sha256=<hex>" header.
func parseSignature(header string) (digest [sha256.Size]byte, err error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return digest, ErrSignatureMissing
	}
	if len(header) < len(signaturePrefix) || !strings.EqualFold(header[:len(signaturePrefix)], signaturePrefix) {
		if strings.HasPrefix(strings.ToLower(header), "sha1=") {
			return digest, fmt.Errorf("%w: it holds a sha1 signature, want sha256=<hex>", ErrSignatureMalformed)
		}
		return digest, fmt.Errorf("%w: want sha256=<hex>", ErrSignatureMalformed)
	}
	text := header[len(signaturePrefix):]
	if len(text) != hex.EncodedLen(sha256.Size) {
		return digest, fmt.Errorf("%w: the digest after sha256= has %d characters, want %d hex digits",
			ErrSignatureMalformed, len(text), hex.EncodedLen(sha256.Size))
	}
	for i := range digest {
		hi, ok1 := fromHex(text[2*i])
		lo, ok2 := fromHex(text[2*i+1])
		if !ok1 || !ok2 {
			return digest, fmt.Errorf("%w: the digest after sha256= is not hex", ErrSignatureMalformed)
		}
		digest[i] = hi<<4 | lo
	}
	return digest, nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Sign returns the X-Hub-Signature-256 value Meta would send for body, for
// tests, benchmarks and the curl helper in the README.
func Sign(secret, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, body))
}

func mac(secret, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(body)
	return h.Sum(nil)
}
