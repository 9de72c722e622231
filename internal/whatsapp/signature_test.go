package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifySignature(t *testing.T) {
	secret := []byte("6f1c0d2a9be34e7f")
	body, err := os.ReadFile(filepath.Join("testdata", "status_failed_131026.json"))
	if err != nil {
		t.Fatal(err)
	}
	good := Sign(secret, body)

	// Meta escapes non-ASCII; a body decoded and encoded again differs in its
	// bytes and must not verify against the original signature.
	unicodeBody := []byte(`{"entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"text":{"body":"Ol\u00e1 \ud83d\udc4b"}}]}}]}]}`)
	var v any
	if err := json.Unmarshal(unicodeBody, &v); err != nil {
		t.Fatal(err)
	}
	reserialized, _ := json.Marshal(v)

	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   error
	}{
		{"good", secret, body, good, nil},
		{"good with surrounding space", secret, body, " " + good + " ", nil},
		{"upper-case hex", secret, body, "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), nil},
		{"missing", secret, body, "", ErrSignatureMissing},
		{"wrong prefix", secret, body, "md5=" + strings.TrimPrefix(good, "sha256="), ErrSignatureMalformed},
		{"sha1 legacy", secret, body, "sha1=0123456789abcdef0123456789abcdef01234567", ErrSignatureMalformed},
		{"no prefix", secret, body, strings.TrimPrefix(good, "sha256="), ErrSignatureMalformed},
		{"bad hex", secret, body, "sha256=" + strings.Repeat("zz", 32), ErrSignatureMalformed},
		{"short digest", secret, body, good[:40], ErrSignatureMalformed},
		{"other secret", []byte("another-secret"), body, good, ErrSignatureMismatch},
		{"body changed", secret, append([]byte(" "), body...), good, ErrSignatureMismatch},
		{"re-serialized body", secret, reserialized, Sign(secret, unicodeBody), ErrSignatureMismatch},
		{"no secret", nil, body, good, ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.body, tt.header)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// The Verifier of the secret says the same, also with its
			// HMAC reused.
			v := NewVerifier(tt.secret)
			for range 2 {
				if verr := v.Verify(tt.body, tt.header); fmt.Sprint(verr) != fmt.Sprint(err) {
					t.Fatalf("Verifier: err = %v, VerifySignature says %v", verr, err)
				}
			}
			if err == nil {
				return
			}
			msg := err.Error()
			if strings.Contains(msg, string(secret)) || (len(tt.header) > 16 && strings.Contains(msg, strings.TrimSpace(tt.header)[7:])) {
				t.Errorf("error %q echoes the secret or the signature", msg)
			}
		})
	}
}

func TestSignKnownVector(t *testing.T) {
	// HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231 style vector.
	got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
