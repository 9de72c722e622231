package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
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
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	if len(header) < len(signaturePrefix) || !strings.EqualFold(header[:len(signaturePrefix)], signaturePrefix) {
		if strings.HasPrefix(strings.ToLower(header), "sha1=") {
			return fmt.Errorf("%w: it holds a sha1 signature, want sha256=<hex>", ErrSignatureMalformed)
		}
		return fmt.Errorf("%w: want sha256=<hex>", ErrSignatureMalformed)
	}
	digest := header[len(signaturePrefix):]
	if len(digest) != hex.EncodedLen(sha256.Size) {
		return fmt.Errorf("%w: the digest after sha256= has %d characters, want %d hex digits",
			ErrSignatureMalformed, len(digest), hex.EncodedLen(sha256.Size))
	}
	got, err := hex.DecodeString(digest)
	if err != nil {
		return fmt.Errorf("%w: the digest after sha256= is not hex", ErrSignatureMalformed)
	}
	if !hmac.Equal(got, mac(secret, body)) {
		return ErrSignatureMismatch
	}
	return nil
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
