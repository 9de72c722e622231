package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/config"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "The effective configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration (file, environment and defaults) as YAML; secrets as <secret>",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(g.config)
			if err != nil {
				return fail(1, "wabridge config show: %v", err)
			}
			out, err := cfg.YAML()
			if err != nil {
				return fail(1, "wabridge config show: %v", err)
			}
			fmt.Fprintf(g.stdout, "# %s, with the environment's WABRIDGE_ overrides and the defaults\n%s", g.config, out)
			for _, p := range cfg.Problems() {
				fmt.Fprintln(g.stderr, "problem:", p)
			}
			return nil
		},
	})
	return cmd
}
