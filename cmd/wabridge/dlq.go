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
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/store"
)

func loadConfig(g *globals) (*config.Config, error) {
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, fail(1, "wabridge: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fail(1, "wabridge: %s is not valid:\n%v", g.config, err)
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
				var dead []pipeline.DeadLetter
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
				var d pipeline.DeadLetter
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
	replay := &cobra.Command{
		Use:   "replay ID",
		Short: "Send a dead letter again through the current templates and notifiers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "dlq replay", func(op *operator) error {
				if op.api != nil {
					if err := op.api.do(http.MethodPost, "/dlq/"+url.PathEscape(args[0])+"/replay", nil); err != nil {
						return err
					}
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					if err := op.svc.Pipeline().ReplayDead(ctx, args[0]); err != nil {
						return err
					}
				}
				fmt.Fprintf(g.stdout, "%s: sent\n", args[0])
				return nil
			})
		},
	}
	drop := &cobra.Command{
		Use:   "drop ID",
		Short: "Delete a dead letter",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "dlq drop", func(op *operator) error {
				var err error
				if op.api != nil {
					err = op.api.do(http.MethodDelete, "/dlq/"+url.PathEscape(args[0]), nil)
				} else {
					err = op.svc.Pipeline().DropDead(args[0])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s: dropped\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(list, show, replay, drop)
	return cmd
}

func printDead(g *globals, dead []pipeline.DeadLetter, asJSON bool) error {
	for i := range dead {
		dead[i] = app.MaskDead(dead[i])
	}
	return printList(g, dead, asJSON, "no dead letters",
		[]string{"ID", "FAILED", "RULE", "NOTIFIER", "ATTEMPTS", "LAST ERROR"},
		func(d pipeline.DeadLetter) []string {
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
