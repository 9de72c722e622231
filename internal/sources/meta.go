package sources

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/event"
)

// Meta is the source for Meta's WhatsApp Cloud API webhooks.
type Meta struct {
	cfg config.Source
}

var _ Source = (*Meta)(nil)
var _ Verifier = (*Meta)(nil)

// NewMeta builds a Meta source; it refuses a source without an app secret
// unless insecure_skip_signature is set.
func NewMeta(cfg config.Source) (*Meta, error) {
	return &Meta{cfg: cfg}, errors.New("meta source: not implemented yet")
}

func (m *Meta) Name() string { return m.cfg.Name }
func (m *Meta) Type() string { return "meta" }

func (m *Meta) Authenticate(r *http.Request, body []byte) error {
	return Unauthorized("not implemented")
}

func (m *Meta) Parse(d Delivery) ([]event.Event, error) { return nil, ErrNotJSON }

func (m *Meta) Accept(e *event.Event) bool { return true }

func (m *Meta) Verify(q url.Values) (string, bool) { return "", false }
