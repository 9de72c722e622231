package server

import (
	"net/http/pprof"

	"github.com/gin-gonic/gin"
)

// mountPprof serves Go's profiler under /debug/pprof/ behind the admin
// token: a profile shows memory contents and costs CPU, so it is never open.
func (h *handlers) mountPprof(r *gin.Engine) {
	g := r.Group("/debug/pprof", h.requireToken)
	g.GET("/", gin.WrapF(pprof.Index))
	g.GET("/cmdline", gin.WrapF(pprof.Cmdline))
	g.GET("/profile", gin.WrapF(pprof.Profile))
	g.GET("/symbol", gin.WrapF(pprof.Symbol))
	g.POST("/symbol", gin.WrapF(pprof.Symbol))
	g.GET("/trace", gin.WrapF(pprof.Trace))
	// Index serves the named profiles (heap, goroutine, allocs, block,
	// mutex, threadcreate) from the path's last element.
	g.GET("/:profile", gin.WrapF(pprof.Index))
}
