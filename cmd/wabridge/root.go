package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func fail(code int, format string, a ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, a...)}
}

// run executes the CLI and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			// Errors carry texts from Slack, Jira and the admin API.
			fmt.Fprintln(stderr, printable(ee.err.Error(), true))
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "wabridge:", printable(err.Error(), true))
	return 2
}

type globals struct {
	config string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "wabridge",
		Short: "WhatsApp Business webhooks to Slack alerts and Jira tickets",
		Long: `wabridge receives WhatsApp Business webhooks (Meta's Cloud API and gateways),
checks their signatures, normalizes them into one event model, evaluates your
YAML rules and sends Slack alerts and Jira tickets that say what happened and
what Meta recommends doing about it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetVersionTemplate(versionLine() + "\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// WABRIDGE_CONFIG names the file when --config does not.
	defConfig := "config.yaml"
	if v := os.Getenv("WABRIDGE_CONFIG"); v != "" {
		defConfig = v
	}
	root.PersistentFlags().StringVarP(&g.config, "config", "c", defConfig, "config file (default: $WABRIDGE_CONFIG, else config.yaml)")
	root.AddCommand(
		newServeCmd(g),
		newCheckCmd(g),
		newTestCmd(g),
		newCodesCmd(g),
		newNotifyTestCmd(g),
		newDLQCmd(g),
		newIncidentsCmd(g),
		newSilenceCmd(g),
		newAuditCmd(g),
		newVersionCmd(g),
		newConfigCmd(g),
	)
	return root
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(g.stdout, versionLine())
			return nil
		},
	}
}

// versionLine is what `wabridge version` and `wabridge --version` print.
func versionLine() string {
	return fmt.Sprintf("wabridge %s (revision %s, %s)", version, revision, runtime.Version())
}
