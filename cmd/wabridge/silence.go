package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/pipeline"
)

func newSilenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Silences: suppress matching events for a while; add, list or expire them",
	}
	var (
		matchers []string
		dur      time.Duration
		comment  string
		asJSON   bool
	)
	add := &cobra.Command{
		Use:   "add --match KEY=VALUE... --for DURATION [--comment TEXT]",
		Short: "Silence events that match every --match (values exact, or ~regex) for a while",
		Example: `  wabridge silence add --match code=131048 --match phone_number_id=106540352242922 --for 2h --comment "campaign paused"
  wabridge silence add --match waba_id=102290129340398 --match 'code=~13104[0-9]' --for 30m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := app.SilenceRequest{Matchers: matchers, For: dur.String(), Comment: comment}
			if dur == 0 {
				req.For = "" // "0s" would read as a duration
			}
			return operate(g, "silence add", func(op *operator) error {
				var s pipeline.Silence
				var err error
				if op.api != nil {
					err = op.api.request(http.MethodPost, "/silences", req, &s)
				} else {
					p := op.svc.Pipeline()
					if s, err = app.NewSilence(req, p.Now()); err == nil {
						s, err = p.AddSilence(s)
					}
				}
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(g, s)
				}
				fmt.Fprintf(g.stdout, "silence %s added, until %s\n", s.ID, s.EndsAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	add.Flags().StringArrayVar(&matchers, "match", nil, "KEY=VALUE or KEY=~REGEX an event must match (repeatable; keys are event fields: code, phone_number_id, waba_id, status, kind, source, attributes.NAME ...)")
	add.Flags().DurationVar(&dur, "for", 0, "how long the silence lasts (2h, 30m)")
	add.Flags().StringVar(&comment, "comment", "", "why, for whoever finds it later")
	add.Flags().BoolVar(&asJSON, "json", false, "print the silence as JSON")

	list := &cobra.Command{
		Use:   "list",
		Short: "List silences, expired ones included",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "silence list", func(op *operator) error {
				var l []pipeline.Silence
				var err error
				now := time.Now()
				if op.api != nil {
					err = op.api.request(http.MethodGet, "/silences", nil, &l)
				} else {
					l, err = op.svc.Pipeline().ListSilences()
					now = op.svc.Pipeline().Now()
				}
				if err != nil {
					return err
				}
				return printList(g, l, asJSON, "no silences",
					[]string{"ID", "STATE", "ENDS", "MATCHERS", "COMMENT"},
					func(s pipeline.Silence) []string {
						state := "expired"
						switch {
						case s.Active(now):
							state = "active"
						case now.Before(s.StartsAt):
							state = "pending"
						}
						ms := make([]string, len(s.Matchers))
						for i, m := range s.Matchers {
							ms[i] = m.Name + "=" + m.Value
						}
						return []string{s.ID, state, s.EndsAt.Format(time.RFC3339), strings.Join(ms, " "), oneLine(s.Comment, 60)}
					})
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	expire := &cobra.Command{
		Use:   "expire ID",
		Short: "End a silence now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "silence expire", func(op *operator) error {
				var err error
				if op.api != nil {
					err = op.api.request(http.MethodDelete, "/silences/"+url.PathEscape(args[0]), nil, nil)
				} else {
					_, err = op.svc.Pipeline().ExpireSilence(args[0])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "silence %s expired\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, expire)
	return cmd
}
