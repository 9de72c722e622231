package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
)

// ReloadResult is the answer of POST /-/reload.
type ReloadResult struct {
	// Status is "success" or "failure".
	Status string `json:"status"`
	// Rules is how many rules run now (the old ones after a failure).
	Rules    int      `json:"rules"`
	Warnings []string `json:"warnings,omitempty"`
	// Problems are the reasons of a failure, each "FILE:LINE: message"
	// where a line is known.
	Problems []string `json:"problems,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// ErrReloadRunning is what Reload returns while another reload runs (409).
var ErrReloadRunning = errors.New("a reload is already running; try again when it has finished")

// mountReload serves POST /-/reload behind the admin token, as
// Alertmanager and Prometheus do: 200 with the result when the new files
// took over, 422 with the problems when they were refused (the previous
// rules keep running), 409 while another reload runs.
func (h *handlers) mountReload(r *gin.Engine) {
	r.POST("/-/reload", h.requireToken, func(c *gin.Context) {
		res, err := h.Reload(c.Request.Context())
		switch {
		case errors.Is(err, ErrReloadRunning):
			c.JSON(http.StatusConflict, gin.H{"status": "failure", "error": err.Error()})
		case err != nil:
			c.JSON(http.StatusInternalServerError, gin.H{"status": "failure", "error": err.Error()})
		case res.Status != "success":
			c.JSON(http.StatusUnprocessableEntity, res)
		default:
			c.JSON(http.StatusOK, res)
		}
	})
}

// ReloadFunc reloads and says how it went.
type ReloadFunc func(ctx context.Context) (ReloadResult, error)
