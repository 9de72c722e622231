package sources

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/whatsapp"
)

// Meta is the source for Meta's WhatsApp Cloud API webhooks.
type Meta struct {
	cfg      Config
	accept   acceptFilter
	verifier *whatsapp.Verifier // nil without an app secret
}

var _ Source = (*Meta)(nil)
var _ Verifier = (*Meta)(nil)

// NewMeta builds a Meta source; it refuses a source without an app secret
// unless insecure_skip_signature is set.
func NewMeta(cfg Config) (*Meta, error) {
	if strings.TrimSpace(cfg.Name) == "" {
		return nil, errors.New("meta source: name is required")
	}
	if !cfg.AppSecret.IsSet() && !cfg.InsecureSkipSignature {
		return nil, fmt.Errorf("source %q (type meta): app_secret is required to check X-Hub-Signature-256; "+
			"set it from App Dashboard > Settings > Basic, or set insecure_skip_signature: true for local testing only", cfg.Name)
	}
	accept, errs := newAccept(cfg.Accept)
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("source %s: %w", cfg.Name, err)
		}
		return nil, errors.Join(errs...)
	}
	m := &Meta{cfg: cfg, accept: accept}
	if cfg.AppSecret.IsSet() {
		m.verifier = whatsapp.NewVerifier([]byte(cfg.AppSecret.Value()))
	}
	return m, nil
}

// Name is the source's name, the last segment of /webhooks/{name}.
func (m *Meta) Name() string { return m.cfg.Name }

// Type is "meta".
func (m *Meta) Type() string { return "meta" }

// Authenticate checks X-Hub-Signature-256 over the raw body. With an app
// secret configured the signature is always checked, even when
// insecure_skip_signature is also set: the flag only permits running
// without a secret.
func (m *Meta) Authenticate(r *http.Request, body []byte) error {
	if m.verifier == nil {
		return nil // NewMeta allowed this only with insecure_skip_signature
	}
	header := r.Header.Get(whatsapp.SignatureHeader)
	if strings.TrimSpace(header) == "" && r.Header.Get("X-Hub-Signature") != "" {
		return fmt.Errorf("%w: %w (only the legacy sha1 X-Hub-Signature was sent)",
			ErrUnauthorized, whatsapp.ErrSignatureMissing)
	}
	if err := m.verifier.Verify(body, header); err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return nil
}

// Parse turns a delivery into events; only a body that is not JSON at all
// is an error.
func (m *Meta) Parse(d delivery.Delivery) ([]event.Event, error) {
	events, err := whatsapp.Parse(m.cfg.Name, d.Body, d.ReceivedAt)
	if err != nil {
		if errors.Is(err, whatsapp.ErrNotJSON) {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				return nil, fmt.Errorf("source %s: %w: %v (at byte %d)", m.cfg.Name, ErrNotJSON, syn, syn.Offset)
			}
			return nil, fmt.Errorf("source %s: %w", m.cfg.Name, ErrNotJSON)
		}
		return nil, fmt.Errorf("source %s: %w", m.cfg.Name, err)
	}
	return events, nil
}

// Accept applies the source's accept list as every source type does
// (acceptFilter): kind unknown always passes.
func (m *Meta) Accept(e *event.Event) bool { return m.accept.keeps(e) }

// Verify answers Meta's GET handshake: the raw hub.challenge when
// hub.mode is subscribe and hub.verify_token equals the configured token.
func (m *Meta) Verify(q url.Values) (string, bool) {
	want := m.cfg.VerifyToken.Value()
	if q.Get("hub.mode") != "subscribe" || want == "" {
		return "", false
	}
	// Comparing digests keeps the comparison constant-time in the length too.
	got := sha256.Sum256([]byte(q.Get("hub.verify_token")))
	exp := sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 {
		return "", false
	}
	challenge := q.Get("hub.challenge")
	if challenge == "" {
		return "", false
	}
	return challenge, true
}
