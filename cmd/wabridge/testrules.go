package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
)

func newTestRulesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rules FILE...",
		Short: "Run rule unit tests: each case's payload must queue exactly the expected notifications",
		Long: `Run rule unit tests, like promtool test rules. Each FILE lists cases: a
payload (a file relative to FILE, or inline JSON), optionally a source, a
clock (at), prior payloads, and the expected notifications (rule, notifier,
target, op) or none. Each case runs through the pipeline's own decisions on
a throwaway store with the config's sources, notifiers and templates.
A failing case prints its diff; any failure exits 1.`,
		Example: `  wabridge test rules --config config.example.yaml rules.example.tests.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed, total := 0, 0
			for _, f := range args {
				results, err := app.RunRulesTests(context.Background(), g.config, f)
				if err != nil {
					return fail(1, "wabridge test rules: %s: cannot run:\n%v", f, err)
				}
				for _, r := range results {
					total++
					switch {
					case r.Err != "":
						failed++
						fmt.Fprintf(g.stdout, "FAIL %s:%d: %s\n  %s\n", r.File, r.Line, r.Name, r.Err)
					case !r.Passed:
						failed++
						fmt.Fprintf(g.stdout, "FAIL %s:%d: %s\n  notifications (- expected, + got):\n", r.File, r.Line, r.Name)
						for _, l := range r.Diff {
							fmt.Fprintf(g.stdout, "    %s\n", l)
						}
					default:
						fmt.Fprintf(g.stdout, "ok   %s:%d: %s\n", r.File, r.Line, r.Name)
					}
				}
			}
			if failed > 0 {
				return fail(1, "%d of %d rule tests failed", failed, total)
			}
			fmt.Fprintf(g.stdout, "%d rule tests passed\n", total)
			return nil
		},
	}
}
