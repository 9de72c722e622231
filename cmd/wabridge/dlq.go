package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
		return nil, fail(1, "wabridge: %s is not valid:\n%s", g.config, strings.Join(problems, "\n"))
	}
	return cfg, nil
}

// operator runs an operator command against the store on disk, or, when a
// running server holds the store, through its admin API.
type operator struct {
	g   *globals
	cfg *config.Config
	svc *app.Service // offline
	api *adminClient // online
}

func openOperator(g *globals) (*operator, error) {
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	op := &operator{g: g, cfg: cfg}
	svc, err := app.Open(g.config, io.Discard)
	switch {
	case err == nil:
		op.svc = svc
		return op, nil
	case errors.Is(err, store.ErrLocked):
		if !cfg.Server.AdminToken.IsSet() {
			return nil, fail(1, "wabridge: the store in %s is in use by a running server, and server.admin_token is not set, so its admin API is off: set it and restart the server, or stop the server", cfg.Storage.Dir)
		}
		addr := cfg.Server.Listen
		if cfg.Server.AdminListen != "" {
			addr = cfg.Server.AdminListen
		}
		op.api = &adminClient{base: "http://" + addr + "/api/v1", token: cfg.Server.AdminToken.Value()}
		return op, nil
	default:
		return nil, fail(1, "wabridge: %v", err)
	}
}

// operate runs fn with an operator and reports its error as the command's.
func operate(g *globals, name string, fn func(op *operator) error) error {
	op, err := openOperator(g)
	if err != nil {
		return err
	}
	defer op.Close()
	if err := fn(op); err != nil {
		return fail(1, "wabridge %s: %v", name, err)
	}
	return nil
}

func (op *operator) Close() {
	if op.svc != nil {
		_ = op.svc.Close()
	}
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
			return operate(g, "dlq list", func(op *operator) error {
				var dead []outbox.DeadLetter
				var err error
				if op.api != nil {
					err = op.api.do(http.MethodGet, "/dlq", &dead)
				} else {
					dead, err = op.svc.Pipeline().ListDead()
				}
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
			return operate(g, "dlq show", func(op *operator) error {
				var d outbox.DeadLetter
				var err error
				if op.api != nil {
					err = op.api.do(http.MethodGet, "/dlq/"+url.PathEscape(args[0]), &d)
				} else {
					d, err = op.svc.Pipeline().GetDead(args[0])
				}
				if err != nil {
					return err
				}
				return writeJSON(g, app.MaskDead(d))
			})
		},
	}
	replayOne := func(op *operator, id string) error {
		if op.api != nil {
			return op.api.do(http.MethodPost, "/dlq/"+url.PathEscape(id)+"/replay", nil)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return op.svc.Pipeline().ReplayDead(ctx, id)
	}
	dropOne := func(op *operator, id string) error {
		if op.api != nil {
			return op.api.do(http.MethodDelete, "/dlq/"+url.PathEscape(id), nil)
		}
		return op.svc.Pipeline().DropDead(id)
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
	for i := range dead {
		dead[i] = app.MaskDead(dead[i])
	}
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

// adminClient calls a running server's admin API.
type adminClient struct {
	base  string
	token string
}

// do calls the admin API without a request body.
func (c *adminClient) do(method, path string, out any) error {
	return c.request(method, path, nil, out)
}

// request calls the admin API with an optional JSON body and decodes the
// answer into out. The timeout leaves room for a replay, which sends.
func (c *adminClient) request(method, path string, in, out any) error {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 70 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("admin API of the running server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("admin API answered %s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// newDLQBulkCmd builds dlq replay and dlq drop: one ID, or --all with
// filters, a count and a confirmation flag.
func newDLQBulkCmd(g *globals, verb, done, short, long string, one func(op *operator, id string) error) *cobra.Command {
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
			return operate(g, name, func(op *operator) error {
				if !all {
					if err := one(op, args[0]); err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "%s: %s\n", args[0], done)
					return nil
				}
				var dead []outbox.DeadLetter
				var err error
				if op.api != nil {
					err = op.api.do(http.MethodGet, "/dlq", &dead)
				} else {
					dead, err = op.svc.Pipeline().ListDead()
				}
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
					if err := one(op, id); err != nil {
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
