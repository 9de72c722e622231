package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
)

func newCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Validate the config, rules and templates; exit 1 with FILE:LINE: message for each problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, srcs, rt, err := app.Load(g.config, slog.New(slog.DiscardHandler))
			if err != nil {
				for _, p := range app.Problems(splitErr(err)) {
					fmt.Fprintln(g.stderr, p)
				}
				return &exitError{code: 1, err: fmt.Errorf("%s: %d problem(s)", g.config, len(splitErr(err)))}
			}
			defer rt.Close()
			for _, w := range rt.Warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			fmt.Fprintf(g.stdout, "%s: ok (%d sources, %d rules, notifiers: %v)\n", g.config, len(srcs), rt.Rules.Len(), rt.NotifierNames())
			return nil
		},
	}
}

func splitErr(err error) []string {
	if p, ok := err.(app.Problems); ok {
		return p
	}
	return []string{err.Error()}
}
