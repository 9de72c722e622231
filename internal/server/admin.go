package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// ErrNotFound is what AdminAPI implementations wrap for an unknown id (404).
var ErrNotFound = errors.New("not found")

// AdminAPI is what the operator commands do, served under /api/v1/ so the CLI
// can use it while a server holds the store. Results are JSON values.
type AdminAPI interface {
	ListDead(ctx context.Context) (any, error)
	GetDead(ctx context.Context, id string) (any, error)
	ReplayDead(ctx context.Context, id string) error
	DropDead(ctx context.Context, id string) error
}

// AuditAPI is implemented by admin APIs that serve the audit trail at
// GET /api/v1/audit?since=&code=&source=&limit=&before=&payload=, a Page
// at a time. A query it cannot read is an error wrapping ErrBadRequest (400).
type AuditAPI interface {
	Audit(ctx context.Context, q url.Values) (any, error)
}

// ErrBadRequest is what AdminAPI implementations wrap for a request they
// cannot read (400).
var ErrBadRequest = errors.New("bad request")

// SilenceAPI is implemented by admin APIs that serve silences at
// GET /api/v1/silences (?match=&state=&text= filter), POST (one silence, or
// a list; with an id it replaces that silence) and DELETE
// /api/v1/silences/:id (expire). A silence it cannot accept is an error
// wrapping ErrBadRequest (400).
type SilenceAPI interface {
	ListSilences(ctx context.Context, q url.Values) (any, error)
	AddSilence(ctx context.Context, body []byte) (any, error)
	ExpireSilence(ctx context.Context, id string) (any, error)
}

// DryRunAPI is implemented by admin APIs that evaluate a payload against
// the server's state without sending or changing anything, at POST
// /api/v1/test (what `wabridge test --state` calls).
type DryRunAPI interface {
	DryRun(ctx context.Context, body []byte) (any, error)
}

// maxDryRunBody bounds a POST /api/v1/test body: a payload of Meta's
// maximum size, escaped in JSON.
const maxDryRunBody = 8 << 20

// IncidentAPI is implemented by admin APIs that list incidents at
// GET /api/v1/incidents (?all=true includes resolved ones).
type IncidentAPI interface {
	ListIncidents(ctx context.Context, all bool) (any, error)
}

// IncidentResolver is implemented by admin APIs that resolve an incident by
// hand at POST /api/v1/incidents/:fingerprint/resolve. An unknown
// fingerprint wraps ErrNotFound (404), one already resolved ErrConflict
// (409).
type IncidentResolver interface {
	ResolveIncident(ctx context.Context, fingerprint string) (any, error)
}

// maxSilenceBody bounds a POST /api/v1/silences body: one silence is a
// few matchers and a comment; an import is a list of them.
const maxSilenceBody = 1 << 20

func (h *handlers) mountAdmin(api *gin.RouterGroup) {
	api.GET("/dlq", func(c *gin.Context) {
		v, err := h.Admin.ListDead(c.Request.Context())
		h.adminResult(c, v, err)
	})
	api.GET("/dlq/:id", func(c *gin.Context) {
		v, err := h.Admin.GetDead(c.Request.Context(), c.Param("id"))
		h.adminResult(c, v, err)
	})
	api.POST("/dlq/:id/replay", func(c *gin.Context) {
		h.adminDone(c, "replayed", h.Admin.ReplayDead(c.Request.Context(), c.Param("id")))
	})
	api.DELETE("/dlq/:id", func(c *gin.Context) {
		h.adminDone(c, "dropped", h.Admin.DropDead(c.Request.Context(), c.Param("id")))
	})
	if a, ok := h.Admin.(AuditAPI); ok {
		api.GET("/audit", func(c *gin.Context) {
			v, err := a.Audit(c.Request.Context(), c.Request.URL.Query())
			h.adminResult(c, v, err)
		})
	}
	if a, ok := h.Admin.(IncidentAPI); ok {
		api.GET("/incidents", func(c *gin.Context) {
			v, err := a.ListIncidents(c.Request.Context(), c.Query("all") == "true")
			h.adminResult(c, v, err)
		})
	}
	if a, ok := h.Admin.(IncidentResolver); ok {
		api.POST("/incidents/:fingerprint/resolve", func(c *gin.Context) {
			v, err := a.ResolveIncident(c.Request.Context(), c.Param("fingerprint"))
			h.adminResult(c, v, err)
		})
	}
	if s, ok := h.Admin.(SilenceAPI); ok {
		api.GET("/silences", func(c *gin.Context) {
			v, err := s.ListSilences(c.Request.Context(), c.Request.URL.Query())
			h.adminResult(c, v, err)
		})
		api.POST("/silences", func(c *gin.Context) {
			body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxSilenceBody+1))
			if err == nil && len(body) > maxSilenceBody {
				err = fmt.Errorf("%w: silence body is over %d bytes", ErrBadRequest, maxSilenceBody)
			}
			var v any
			if err == nil {
				v, err = s.AddSilence(c.Request.Context(), body)
			}
			h.adminResult(c, v, err)
		})
		api.DELETE("/silences/:id", func(c *gin.Context) {
			v, err := s.ExpireSilence(c.Request.Context(), c.Param("id"))
			h.adminResult(c, v, err)
		})
	}
	if d, ok := h.Admin.(DryRunAPI); ok {
		api.POST("/test", func(c *gin.Context) {
			body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxDryRunBody+1))
			if err == nil && len(body) > maxDryRunBody {
				err = fmt.Errorf("%w: dry run body is over %d bytes", ErrBadRequest, maxDryRunBody)
			}
			var v any
			if err == nil {
				v, err = d.DryRun(c.Request.Context(), body)
			}
			h.adminResult(c, v, err)
		})
	}
	if ext, ok := h.Admin.(interface{ Mount(*gin.RouterGroup) }); ok {
		ext.Mount(api)
	}
}

func (h *handlers) adminResult(c *gin.Context, v any, err error) {
	if err != nil {
		h.adminError(c, err)
		return
	}
	if p, ok := v.(Page); ok {
		if p.Next != "" {
			next := *c.Request.URL
			q := next.Query()
			q.Set("before", p.Next)
			next.RawQuery = q.Encode()
			c.Header("Link", "<"+next.RequestURI()+`>; rel="next"`)
		}
		v = p.Items
	}
	c.JSON(http.StatusOK, v)
}

// Page is one page of a list answer: the items are the body, and Next,
// when set, is the cursor of the next page, given as a Link header
// (rel="next") with ?before=Next.
type Page struct {
	Items any
	Next  string
}

func (h *handlers) adminDone(c *gin.Context, what string, err error) {
	if err != nil {
		h.adminError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": what, "id": c.Param("id")})
}

func (h *handlers) adminError(c *gin.Context, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, ErrNotFound) {
		status = http.StatusNotFound
	} else if errors.Is(err, ErrConflict) {
		status = http.StatusConflict
	} else if errors.Is(err, ErrBadRequest) {
		status = http.StatusBadRequest
	}
	c.JSON(status, gin.H{"error": err.Error()})
}

// DecodeJSON reads body as exactly one JSON value into v: a field v does
// not have, or anything after the value, is an error wrapping
// ErrBadRequest. Admin requests change state, so a typo'd field must not
// be ignored, and trailing bytes mean the body is not what the client
// meant to send.
func DecodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %v", tok)
		}
		return fmt.Errorf("%w: after the JSON value: %v", ErrBadRequest, err)
	}
	return nil
}

// ErrConflict is what AdminAPI implementations wrap when an operation cannot
// be done now (a replay whose send failed again).
var ErrConflict = errors.New("conflict")
