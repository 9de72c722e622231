package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/duration"
)

// The operator errors, as the admin service defines them: handlers answer
// them with admin.Status.
var (
	ErrNotFound   = admin.ErrNotFound
	ErrConflict   = admin.ErrConflict
	ErrBadRequest = admin.ErrInvalid
)

// maxDryRunBody bounds a POST /api/v1/test body: a payload of Meta's
// maximum size, escaped in JSON.
const maxDryRunBody = 8 << 20

// maxSilenceBody bounds a POST /api/v1/silences body: one silence is a
// few matchers and a comment; an import is a list of them.
const maxSilenceBody = 1 << 20

// mountAdmin serves the operator service under /api/v1/: the operator
// commands use it while a server holds the store.
func (h *handlers) mountAdmin(api *gin.RouterGroup) {
	svc := h.Admin
	api.GET("/dlq", func(c *gin.Context) {
		v, err := svc.DeadLetters(c.Request.Context())
		h.adminResult(c, v, err)
	})
	api.GET("/dlq/:id", func(c *gin.Context) {
		v, err := svc.DeadLetter(c.Request.Context(), c.Param("id"))
		h.adminResult(c, v, err)
	})
	api.POST("/dlq/:id/replay", func(c *gin.Context) {
		h.adminDone(c, "replayed", svc.ReplayDead(c.Request.Context(), c.Param("id")))
	})
	api.DELETE("/dlq/:id", func(c *gin.Context) {
		h.adminDone(c, "dropped", svc.DropDead(c.Request.Context(), c.Param("id")))
	})
	api.GET("/audit", func(c *gin.Context) {
		q, err := auditQuery(c.Request.URL.Query(), time.Now())
		if err != nil {
			h.adminError(c, err)
			return
		}
		page, err := svc.Audit(c.Request.Context(), q)
		if err != nil {
			h.adminError(c, err)
			return
		}
		if page.Next != "" {
			next := *c.Request.URL
			v := next.Query()
			v.Set("before", page.Next)
			next.RawQuery = v.Encode()
			c.Header("Link", "<"+next.RequestURI()+`>; rel="next"`)
		}
		c.JSON(http.StatusOK, page.Records)
	})
	api.GET("/incidents", func(c *gin.Context) {
		q := admin.IncidentQuery{All: c.Query("all") == "true", Status: c.Query("status"),
			Rule: c.Query("rule"), Account: c.Query("account"), Number: c.Query("number")}
		v, err := svc.Incidents(c.Request.Context(), q)
		h.adminResult(c, v, err)
	})
	api.GET("/incidents/:fingerprint", func(c *gin.Context) {
		v, err := svc.Incident(c.Request.Context(), c.Param("fingerprint"))
		h.adminResult(c, v, err)
	})
	api.POST("/incidents/:fingerprint/resolve", func(c *gin.Context) {
		var by admin.Actor
		body, err := readBody(c, 64<<10, "resolve")
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			err = admin.DecodeJSON(body, &by)
		}
		if err != nil {
			h.adminError(c, err)
			return
		}
		v, err := svc.ResolveIncident(c.Request.Context(), c.Param("fingerprint"), by)
		h.adminResult(c, v, err)
	})
	api.POST("/incidents/:fingerprint/ack", func(c *gin.Context) {
		var by admin.Actor
		body, err := readBody(c, 64<<10, "acknowledge")
		switch {
		case err == nil && len(bytes.TrimSpace(body)) == 0:
			err = fmt.Errorf(`%w: acknowledge: want a JSON body {"name": "who acknowledges", "via": "where"}`, ErrBadRequest)
		case err == nil:
			err = admin.DecodeJSON(body, &by)
		}
		if err != nil {
			h.adminError(c, err)
			return
		}
		v, err := svc.AcknowledgeIncident(c.Request.Context(), c.Param("fingerprint"), by)
		h.adminResult(c, v, err)
	})
	api.POST("/incidents/:fingerprint/ticket", func(c *gin.Context) {
		var by admin.Actor
		body, err := readBody(c, 64<<10, "ticket")
		switch {
		case err == nil && len(bytes.TrimSpace(body)) == 0:
			err = fmt.Errorf(`%w: ticket: want a JSON body {"name": "who asks for it", "via": "where"}`, ErrBadRequest)
		case err == nil:
			err = admin.DecodeJSON(body, &by)
		}
		if err != nil {
			h.adminError(c, err)
			return
		}
		v, err := svc.OpenTicket(c.Request.Context(), c.Param("fingerprint"), by)
		h.adminResult(c, v, err)
	})
	api.POST("/incidents/:fingerprint/silence", func(c *gin.Context) {
		var in admin.IncidentSilence
		body, err := readBody(c, 64<<10, "silence")
		switch {
		case err == nil && len(bytes.TrimSpace(body)) == 0:
			err = fmt.Errorf(`%w: silence: want a JSON body {"for": "1h", "name": "who silences", "via": "where"}`, ErrBadRequest)
		case err == nil:
			err = admin.DecodeJSON(body, &in)
		}
		var d time.Duration
		if err == nil {
			if d, err = duration.Parse(in.For); err != nil {
				err = fmt.Errorf("%w: for: %v", ErrBadRequest, err)
			}
		}
		if err != nil {
			h.adminError(c, err)
			return
		}
		v, err := svc.SilenceIncident(c.Request.Context(), c.Param("fingerprint"), d, in.Actor)
		h.adminResult(c, v, err)
	})
	api.GET("/silences", func(c *gin.Context) {
		f, err := admin.ParseSilenceFilter(c.Request.URL.Query())
		if err != nil {
			h.adminError(c, fmt.Errorf("%w: %w", ErrBadRequest, err))
			return
		}
		v, err := svc.Silences(c.Request.Context(), f)
		h.adminResult(c, v, err)
	})
	api.POST("/silences", func(c *gin.Context) {
		body, err := readBody(c, maxSilenceBody, "silence")
		var in []admin.SilenceInput
		if err == nil {
			if in, err = admin.DecodeSilences(body); err != nil {
				err = fmt.Errorf("%w: %w", ErrBadRequest, err)
			}
		}
		if err != nil {
			h.adminError(c, err)
			return
		}
		list := len(in) > 1 || bytes.HasPrefix(bytes.TrimSpace(body), []byte("["))
		out, err := svc.SaveSilences(c.Request.Context(), in, false)
		if err != nil {
			h.adminError(c, err)
			return
		}
		if list {
			c.JSON(http.StatusOK, out)
			return
		}
		c.JSON(http.StatusOK, out[0])
	})
	api.POST("/silences/preview", func(c *gin.Context) {
		body, err := readBody(c, maxSilenceBody, "silence preview")
		var req admin.PreviewRequest
		if err == nil {
			err = admin.DecodeJSON(body, &req)
		}
		if err != nil {
			h.adminError(c, err)
			return
		}
		v, err := svc.PreviewSilence(c.Request.Context(), req.Matchers)
		h.adminResult(c, v, err)
	})
	api.DELETE("/silences/:id", func(c *gin.Context) {
		v, err := svc.ExpireSilence(c.Request.Context(), c.Param("id"))
		h.adminResult(c, v, err)
	})
	api.GET("/stats", func(c *gin.Context) {
		v, err := svc.Stats(c.Request.Context())
		h.adminResult(c, v, err)
	})
	api.POST("/test", func(c *gin.Context) {
		body, err := readBody(c, maxDryRunBody, "dry run")
		var req admin.DryRunRequest
		if err == nil {
			if err = admin.DecodeJSON(body, &req); err != nil {
				err = fmt.Errorf("%w: dry run: want JSON {\"source\": \"meta\", \"payload\": \"...\", \"render\": true}: %w", ErrBadRequest, err)
			}
		}
		if err != nil {
			h.adminError(c, err)
			return
		}
		v, err := svc.DryRun(c.Request.Context(), req)
		h.adminResult(c, v, err)
	})
}

// readBody reads a request body of at most limit bytes; more is a bad
// request naming what was sent.
func readBody(c *gin.Context, limit int64, what string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, limit+1))
	if err == nil && int64(len(body)) > limit {
		err = fmt.Errorf("%w: %s body is over %d bytes", ErrBadRequest, what, limit)
	}
	return body, err
}

// auditQuery reads GET /api/v1/audit?since=&code=&source=&limit=&before=&payload=.
func auditQuery(v url.Values, now time.Time) (admin.AuditQuery, error) {
	q, err := admin.ParseAuditQuery(v.Get("since"), v.Get("code"), v.Get("source"), v.Get("limit"), now)
	if err != nil {
		return admin.AuditQuery{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	switch v.Get("payload") {
	case "", "false":
	case "true":
		q.Body = true
	default:
		return admin.AuditQuery{}, fmt.Errorf("%w: payload %q: want true or false", ErrBadRequest, v.Get("payload"))
	}
	q.Before = v.Get("before")
	return admin.AuditQuery{Query: q}, nil
}

func (h *handlers) adminResult(c *gin.Context, v any, err error) {
	if err != nil {
		h.adminError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (h *handlers) adminDone(c *gin.Context, what string, err error) {
	if err != nil {
		h.adminError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": what, "id": c.Param("id")})
}

// adminError answers an operator error with the status its kind maps to.
func (h *handlers) adminError(c *gin.Context, err error) {
	c.JSON(admin.Status(err), gin.H{"error": err.Error()})
}

// DecodeJSON is admin.DecodeJSON: one JSON value, strictly.
func DecodeJSON(body []byte, v any) error { return admin.DecodeJSON(body, v) }
