package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/problem"
)

func newCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Validate the config, rules and templates; exit 1 with FILE:LINE: message for each problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, srcs, rt, err := app.Load(g.config, slog.New(slog.DiscardHandler))
			if err != nil {
				problems := problem.Of(err)
				for _, p := range problems {
					fmt.Fprintln(g.stderr, p)
				}
				return &exitError{code: 1, err: fmt.Errorf("%s: %d problem(s)", g.config, len(problems))}
			}
			defer rt.Close()
			if err := app.CheckStorage(cmd.Context(), cfg); err != nil {
				fmt.Fprintln(g.stderr, err)
				return &exitError{code: 1, err: fmt.Errorf("%s: the store cannot be reached", g.config)}
			}
			for _, w := range rt.Warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			fmt.Fprintf(g.stdout, "%s: ok (%d sources, %d rules, notifiers: %v)\n", g.config, len(srcs), rt.Rules.Len(), rt.NotifierNames())
			return nil
		},
	}
}
