// Package secret holds the Secret type: a string that never prints itself.
package secret

import "encoding/json"

// Redacted is what a Secret prints as.
const Redacted = "<secret>"

// Secret is a credential from config or the environment. It prints as
// <secret> through fmt, slog, JSON and YAML; Value is the only way to read it.
type Secret string

// Value returns the secret itself, for the one place that must use it.
func (s Secret) Value() string { return string(s) }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) String() string   { return s.redacted() }
func (s Secret) GoString() string { return `secret.Secret("` + Redacted + `")` }

// MarshalJSON writes <secret> (or "" when unset, so an empty setting stays visible).
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

// MarshalYAML writes <secret>.
func (s Secret) MarshalYAML() (any, error) { return s.redacted(), nil }

// MarshalText covers encoders that use encoding.TextMarshaler (slog's JSON handler among them).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

func (s Secret) redacted() string {
	if s == "" {
		return ""
	}
	return Redacted
}
