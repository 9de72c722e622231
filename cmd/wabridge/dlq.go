package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/store"
)

func loadConfig(g *globals) (*config.Config, error) {
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, fail(1, "wabridge: %v", err)
	}
	if problems := cfg.Problems(); len(problems) > 0 {
		return nil, fail(1, "wabridge: %s is not valid:\n%s", g.config, problems.Error())
	}
	return cfg, nil
}

// operator runs an operator command through the operator service: on the
// store on disk, or, when a running server holds the store, through its
// admin API. Which one is chosen once, here.
type operator struct {
	g   *globals
	cfg *config.Config
	svc admin.Service
	// remote is set when the service is a running server's.
	remote bool
	// rt is the runtime loaded from the files, offline only.
	rt    *app.Runtime
	close func()
}

func openOperator(g *globals) (*operator, error) {
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	op := &operator{g: g, cfg: cfg, close: func() {}}
	svc, err := app.OpenOperator(g.config, io.Discard)
	switch {
	case err == nil:
		op.svc = svc.Operator()
		op.close = func() { _ = svc.Close() }
		op.rt = svc.Runtime()
		return op, nil
	case errors.Is(err, store.ErrLocked):
		if !cfg.Server.AdminToken.IsSet() {
			return nil, fail(1, "wabridge: the store in %s is in use by a running server, and server.admin_token is not set, so its admin API is off: set it and restart the server, or stop the server", cfg.Storage.Dir)
		}
		addr := cfg.Server.Listen
		if cfg.Server.AdminListen != "" {
			addr = cfg.Server.AdminListen
		}
		op.svc, op.remote = admin.NewClient(addr, cfg.Server.AdminToken.Value()), true
		return op, nil
	default:
		return nil, fail(1, "wabridge: %v", err)
	}
}

// offline says no server sends what this command queues until one starts:
// the embedded store, not held by a server. On the shared database a
// running replica sends it (the owner of the incident applied the action).
func (op *operator) offline() bool {
	return !op.remote && op.cfg.Storage.Backend != config.BackendPostgres
}

// operate runs fn with an operator and reports its error as the command's.
func operate(g *globals, name string, fn func(ctx context.Context, op *operator) error) error {
	op, err := openOperator(g)
	if err != nil {
		return err
	}
	defer op.close()
	if err := fn(context.Background(), op); err != nil {
		return fail(1, "wabridge %s: %v", name, err)
	}
	return nil
}

func newDLQCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Dead letters: notifications that failed for good; list, show, replay or drop them",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "dlq list", func(ctx context.Context, op *operator) error {
				dead, err := op.svc.DeadLetters(ctx)
				if err != nil {
					return err
				}
				return printDead(g, dead, asJSON)
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "dlq show", func(ctx context.Context, op *operator) error {
				d, err := op.svc.DeadLetter(ctx, args[0])
				if err != nil {
					return err
				}
				return writeJSON(g, d)
			})
		},
	}
	replayOne := func(ctx context.Context, op *operator, id string) error {
		ctx, cancel := context.WithTimeout(ctx, 70*time.Second)
		defer cancel()
		return op.svc.ReplayDead(ctx, id)
	}
	dropOne := func(ctx context.Context, op *operator, id string) error {
		return op.svc.DropDead(ctx, id)
	}
	replay := newDLQBulkCmd(g, "replay", "sent",
		"Send dead letters again, rendered with the current rules, templates and notifiers",
		`Send a dead letter again, rendered with the rules, templates and notifiers as
they are now: fixing a rule's channel fixes the replay. A dead letter whose
rule was deleted (or no longer has an action for that notifier) is not sent
and says so. --all replays every dead letter matching --reason and
--notifier; it needs --yes, and prints how many it would replay without it.`,
		replayOne)
	drop := newDLQBulkCmd(g, "drop", "dropped", "Delete dead letters",
		`Delete a dead letter for good. --all deletes every dead letter matching
--reason and --notifier; it needs --yes, and prints how many it would
delete without it.`, dropOne)
	cmd.AddCommand(list, show, replay, drop)
	return cmd
}

func printDead(g *globals, dead []outbox.DeadLetter, asJSON bool) error {
	return printList(g, dead, asJSON, "no dead letters",
		[]string{"ID", "FAILED", "RULE", "NOTIFIER", "ATTEMPTS", "LAST ERROR"},
		func(d outbox.DeadLetter) []string {
			return []string{d.ID, d.Died.Format(time.RFC3339), d.Notification.Rule.Name,
				d.Notification.Action.Notifier, strconv.Itoa(d.Attempts), oneLine(d.LastError, 80)}
		})
}

// oneLine folds s onto one line of at most max runes, for table cells.
// Provider and Jira error texts are not ASCII only: cutting bytes could
// split a rune and print garbage.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max && max > 0 {
		return string(r[:max-1]) + "…"
	}
	return s
}

// newDLQBulkCmd builds dlq replay and dlq drop: one ID, or --all with
// filters, a count and a confirmation flag.
func newDLQBulkCmd(g *globals, verb, done, short, long string, one func(ctx context.Context, op *operator, id string) error) *cobra.Command {
	var (
		all              bool
		yes              bool
		reason, notifier string
	)
	cmd := &cobra.Command{
		Use:   verb + " ID | " + verb + " --all [--reason R] [--notifier N] --yes",
		Short: short,
		Long:  long,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "dlq " + verb
			switch {
			case all && len(args) > 0:
				return fail(1, "wabridge %s: give an ID or --all, not both", name)
			case !all && len(args) != 1:
				return fail(1, "wabridge %s: give one ID, or --all (with --reason, --notifier)", name)
			case !all && (reason != "" || notifier != ""):
				return fail(1, "wabridge %s: --reason and --notifier select dead letters for --all", name)
			}
			return operate(g, name, func(ctx context.Context, op *operator) error {
				if !all {
					if err := one(ctx, op, args[0]); err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "%s: %s\n", args[0], done)
					return nil
				}
				dead, err := op.svc.DeadLetters(ctx)
				if err != nil {
					return err
				}
				var ids []string
				for _, d := range dead {
					if (reason == "" || d.Reason == reason) && (notifier == "" || d.Notification.Action.Notifier == notifier) {
						ids = append(ids, d.ID)
					}
				}
				if !yes {
					fmt.Fprintf(g.stdout, "%d dead letters match; add --yes to %s them\n", len(ids), verb)
					if len(ids) == 0 {
						return nil
					}
					return errors.New("not confirmed: nothing was changed")
				}
				failed := 0
				for _, id := range ids {
					if err := one(ctx, op, id); err != nil {
						failed++
						fmt.Fprintf(g.stdout, "%s: not %s: %s\n", id, done, oneLine(err.Error(), 200))
						continue
					}
					fmt.Fprintf(g.stdout, "%s: %s\n", id, done)
				}
				fmt.Fprintf(g.stdout, "%d of %d dead letters %s\n", len(ids)-failed, len(ids), done)
				if failed > 0 {
					return fmt.Errorf("%d of %d failed", failed, len(ids))
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every dead letter matching --reason and --notifier")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm --all")
	cmd.Flags().StringVar(&reason, "reason", "", "with --all: only this reason (auth, permanent, transient, rate_limited, no_notifier ...)")
	cmd.Flags().StringVar(&notifier, "notifier", "", "with --all: only dead letters for this notifier (slack, jira ...)")
	return cmd
}
