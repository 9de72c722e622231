package sources

import (
	"time"

	"github.com/wabridge/wabridge/internal/secret"
)

// Config is one entry of `sources`: a provider endpoint at /webhooks/{name}.
type Config struct {
	Name string `mapstructure:"name" json:"name"`
	// Type is the adapter: meta, evolution, zapi, twilio, status, inbound, mapped.
	Type string `mapstructure:"type" json:"type"`

	// Meta: X-Hub-Signature-256 is checked with AppSecret; VerifyToken answers
	// the GET handshake. Without AppSecret the source refuses to start unless
	// InsecureSkipSignature says otherwise.
	AppSecret             secret.Secret `mapstructure:"app_secret" json:"app_secret"`
	VerifyToken           secret.Secret `mapstructure:"verify_token" json:"verify_token"`
	InsecureSkipSignature bool          `mapstructure:"insecure_skip_signature" json:"insecure_skip_signature"`

	// Auth is how other source types authenticate their requests.
	Auth Auth `mapstructure:"auth" json:"auth"`
	// PublicURL is the URL the provider signs (Twilio), when a proxy changes
	// what the request arrives on.
	PublicURL string `mapstructure:"public_url" json:"public_url"`

	// Accept lists the statuses to keep; others are acknowledged, counted and
	// dropped before the rules. Empty keeps everything.
	Accept []string `mapstructure:"accept" json:"accept"`
	// StatusMap renames a provider's own status words onto ours.
	StatusMap map[string]string `mapstructure:"status_map" json:"status_map"`
	// Mapping describes any JSON (type mapped), inline or in MappingFile.
	Mapping     Mapping `mapstructure:"mapping" json:"mapping"`
	MappingFile string  `mapstructure:"mapping_file" json:"mapping_file"`
	// Preset names a shipped mapping for a BSP's own shape (type mapped):
	// gupshup, infobip, twilio-event-streams, green-api, wati, ycloud.
	// A mapping or mapping_file given as well overrides it.
	Preset string `mapstructure:"preset" json:"preset"`
}

// Auth is a source's authentication scheme.
type Auth struct {
	// Type is hmac, token, basic, twilio or none.
	Type string `mapstructure:"type" json:"type"`
	// Header carries the signature or token; Query names a query parameter
	// that carries the token instead.
	Header string `mapstructure:"header" json:"header"`
	Query  string `mapstructure:"query" json:"query"`
	// Algorithm (sha256, sha1), Encoding (hex, base64) and Prefix ("sha256=")
	// describe an hmac signature.
	Algorithm string        `mapstructure:"algorithm" json:"algorithm"`
	Encoding  string        `mapstructure:"encoding" json:"encoding"`
	Prefix    string        `mapstructure:"prefix" json:"prefix"`
	Secret    secret.Secret `mapstructure:"secret" json:"secret"`
	// User and Password are for basic auth (Password may also be Secret).
	User     string        `mapstructure:"user" json:"user"`
	Password secret.Secret `mapstructure:"password" json:"password"`
	// Insecure must be true for type none.
	Insecure bool `mapstructure:"insecure" json:"insecure"`
	// TimestampHeader carries the signing time for hmac_timestamp (the
	// signature covers timestamp + "." + body); empty means the time is in
	// the signature header itself, as "t=...,s=...".
	TimestampHeader string `mapstructure:"timestamp_header" json:"timestamp_header"`
	// Tolerance bounds how far a signed time (hmac_timestamp, jwt) may be
	// from now: older is a replay. Default 5m.
	Tolerance time.Duration `mapstructure:"tolerance" json:"tolerance"`
	// Issuer, when set, must equal a jwt's iss claim.
	Issuer string `mapstructure:"issuer" json:"issuer"`
}

// Mapping turns any JSON into events with gjson paths.
type Mapping struct {
	// Items is a path to an array of items; "" means the body is one item.
	Items string `mapstructure:"items" yaml:"items" json:"items"`
	// Kind is a literal kind for every item (when Fields has no "kind" path).
	Kind string `mapstructure:"kind" yaml:"kind" json:"kind"`
	// Fields maps event fields (id, kind, status, code, title, message,
	// details, phone_number_id, recipient_id, message_id, timestamp,
	// attributes.X ...) to gjson paths.
	Fields map[string]string `mapstructure:"fields" yaml:"fields" json:"fields"`
	// Values renames values per field: {status: {desconnectedMobile: logout}}.
	Values map[string]map[string]string `mapstructure:"values" yaml:"values" json:"values"`
	// Require lists paths every item of this provider's payload has; a body
	// where no item has them all is another provider's (400).
	Require []string `mapstructure:"require" yaml:"require" json:"require"`
}
