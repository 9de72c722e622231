package app

import (
	"net/http"

	"github.com/wabridge/wabridge/internal/console"
)

// consoleHandler builds the web console once, when the admin token is set
// and server.console.enabled; nil otherwise. The router that serves the
// admin API mounts it.
func (s *Service) consoleHandler() http.Handler {
	s.consoleOnce.Do(func() {
		cc := s.cfg.Server.Console
		if !s.cfg.Server.AdminToken.IsSet() || !cc.Enabled {
			return
		}
		var names []string
		for _, src := range s.cfg.Sources {
			names = append(names, src.Name)
		}
		c, err := console.New(cc, console.Deps{
			Token:        s.cfg.Server.AdminToken,
			AuthLimit:    s.authLimit,
			Logger:       s.logger,
			Operator:     s.operator(true),
			Sources:      names,
			MaxBodyBytes: s.cfg.Server.MaxBodyBytes,
		})
		if err != nil {
			// The templates are embedded and the config validated: this
			// is a bug, and the admin API still works without the console.
			s.logger.Error("web console off", "error", err)
			return
		}
		s.console = c
	})
	if s.console == nil {
		return nil
	}
	return s.console
}
