package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
)

func newServeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Receive webhooks and send alerts until SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := app.Open(g.config, g.stderr)
			if err != nil {
				return fail(1, "wabridge: cannot start:\n%v", err)
			}
			svc.SetBuildInfo(version, revision)
			app.ServeRuntime()
			if err := svc.Run(context.Background()); err != nil {
				return fail(1, "wabridge: %v", err)
			}
			return nil
		},
	}
}
