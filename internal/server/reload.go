package server

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/wabridge/wabridge/internal/admin"
)

// ReloadResult is the answer of POST /-/reload.
type ReloadResult = admin.ReloadResult

// ErrReloadRunning is what Reload returns while another reload runs (409).
var ErrReloadRunning = admin.ErrReloadRunning

// mountReload serves POST /-/reload behind the admin token, as
// Alertmanager and Prometheus do: 200 with the result when the new files
// took over, 422 with the problems when they were refused (the previous
// rules keep running), 409 while another reload runs.
func (h *handlers) mountReload(r *gin.Engine) {
	r.POST("/-/reload", h.requireToken, func(c *gin.Context) {
		res, err := h.Admin.Reload(c.Request.Context())
		switch {
		case errors.Is(err, ErrReloadRunning):
			c.JSON(http.StatusConflict, gin.H{"status": "failure", "error": err.Error()})
		case err != nil:
			c.JSON(admin.Status(err), gin.H{"status": "failure", "error": err.Error()})
		case res.Status != "success":
			c.JSON(http.StatusUnprocessableEntity, res)
		default:
			c.JSON(http.StatusOK, res)
		}
	})
}
