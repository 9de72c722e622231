package app

import (
	"context"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/problem"
)

// reloadRequest serves POST /-/reload with the same Reload that SIGHUP and
// file changes call. A reload already running (from any of them) is
// answered at once rather than queued behind it.
func (s *Service) reloadRequest(ctx context.Context) (admin.ReloadResult, error) {
	if !s.httpReload.CompareAndSwap(false, true) {
		return admin.ReloadResult{}, admin.ErrReloadRunning
	}
	defer s.httpReload.Store(false)
	if !s.reloadMu.TryLock() {
		return admin.ReloadResult{}, admin.ErrReloadRunning
	}
	s.reloadMu.Unlock()
	err := s.Reload()
	res := admin.ReloadResult{Status: "success"}
	if err != nil {
		res.Status = "failure"
		res.Error = "reload rejected; the previous rules keep running"
		res.Problems = problem.Of(err).Strings()
	}
	if rt := s.runtime.Load(); rt != nil {
		res.Rules = rt.Rules.Len()
		if err == nil {
			res.Warnings = rt.Warnings
		}
	}
	return res, nil
}

// SetBuildInfo publishes wabridge_build_info{version,revision,goversion}.
// A revision left "unknown" by the build is taken from the Go build's VCS
// stamp when there is one.
func (s *Service) SetBuildInfo(version, revision string) {
	if revision == "" || revision == "unknown" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, st := range bi.Settings {
				if st.Key == "vcs.revision" {
					revision = st.Value
				}
			}
		}
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wabridge_build_info",
		Help: "Always 1; the labels say which build is running.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(version, revision, runtime.Version()).Set(1)
	if err := s.registry.Register(g); err != nil {
		s.logger.Warn("build info metric not registered", "err", err)
	}
}
