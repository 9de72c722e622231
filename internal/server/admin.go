package server

import (
	"context"
	"errors"
	"net/http"

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
	if ext, ok := h.Admin.(interface{ Mount(*gin.RouterGroup) }); ok {
		ext.Mount(api)
	}
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

func (h *handlers) adminError(c *gin.Context, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, ErrNotFound) {
		status = http.StatusNotFound
	} else if errors.Is(err, ErrConflict) {
		status = http.StatusConflict
	}
	c.JSON(status, gin.H{"error": err.Error()})
}

// ErrConflict is what AdminAPI implementations wrap when an operation cannot
// be done now (a replay whose send failed again).
var ErrConflict = errors.New("conflict")
