package whatsapp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// ID prefixes say what an id was derived from, which helps when reading a
// dedup log; the hash after them is what makes the id.
const (
	prefixStatus  = "meta-st-"  // wamid, status, error code
	prefixMessage = "meta-msg-" // wamid of an incoming message
	prefixEvent   = "meta-ev-"  // content of an account, quality or template change
	prefixUnknown = "meta-unk-" // content of something unreadable
)

// hashID returns prefix + the first 32 hex digits of the SHA-256 of parts.
// A zero byte separates the parts, so ("ab","c") and ("a","bc") differ.
func hashID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, part := range parts {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return prefix + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// canonicalJSON re-encodes a value with sorted keys and no insignificant
// space, so a redelivery that Meta serialized differently still hashes the
// same. Numbers keep their literal text.
func canonicalJSON(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(b)
}
