package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/silence"
)

const matchHelp = "KEY=VALUE, KEY!=VALUE, KEY=~REGEX or KEY!~REGEX (repeatable; a regex matches the whole value; keys are event fields: code, phone_number_id, waba_id, status, kind, source, attributes.NAME ...)"

// defaultAuthor is who a silence is recorded as when --author is not given.
func defaultAuthor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

func newSilenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Silences: suppress matching events for a while; add, query, update, import or expire them",
	}
	cmd.AddCommand(newSilenceAddCmd(g), newSilenceQueryCmd(g, "list"), newSilenceQueryCmd(g, "query"),
		newSilenceUpdateCmd(g), newSilenceImportCmd(g), newSilenceExpireCmd(g))
	return cmd
}

func newSilenceAddCmd(g *globals) *cobra.Command {
	var (
		matchers []string
		dur      time.Duration
		comment  string
		author   string
		asJSON   bool
	)
	add := &cobra.Command{
		Use:   "add --match MATCHER... --for DURATION --comment TEXT [--author NAME]",
		Short: "Silence events that match every --match for a while",
		Example: `  wabridge silence add --match code=131048 --match phone_number_id=106540352242922 --for 2h --comment "campaign paused"
  wabridge silence add --match waba_id=102290129340398 --match 'code=~13104[0-9]' --for 1d --comment "BSP migration"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := admin.SilenceInput{}
			in.Comment, in.Author = comment, author
			for _, s := range matchers {
				m, err := silence.ParseMatcher(s)
				if err != nil {
					return fail(1, "wabridge silence add: %v", err)
				}
				in.Matchers = append(in.Matchers, m)
			}
			if dur > 0 {
				in.For = duration.Format(dur)
			}
			return operate(g, "silence add", func(ctx context.Context, op *operator) error {
				out, err := op.svc.SaveSilences(ctx, []admin.SilenceInput{in}, true)
				if err != nil {
					return err
				}
				s := out[0]
				if asJSON {
					return writeJSON(g, s)
				}
				fmt.Fprintf(g.stdout, "silence %s added, until %s\n", s.ID, s.EndsAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	add.Flags().StringArrayVar(&matchers, "match", nil, matchHelp)
	add.Flags().Var(duration.NewValue(&dur, 0), "for", "how long the silence lasts (90m, 2h, 1d, 1w)")
	add.Flags().StringVar(&comment, "comment", "", "why, for whoever finds it later (required)")
	add.Flags().StringVar(&author, "author", defaultAuthor(), "who adds it")
	add.Flags().BoolVar(&asJSON, "json", false, "print the silence as JSON")
	return add
}

func newSilenceQueryCmd(g *globals, name string) *cobra.Command {
	var (
		matchers []string
		states   []string
		text     string
		asJSON   bool
	)
	short := "List silences, expired ones included"
	if name == "query" {
		short = "Find silences by matcher, state and text"
	}
	cmd := &cobra.Command{
		Use:   name + " [--match MATCHER]... [--state active|pending|expired]... [--text TEXT]",
		Short: short,
		Example: `  wabridge silence query --match code=131048 --state active
  wabridge silence query --match 'code=~1310.*' --text campaign --json > silences.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"match": matchers, "state": states}
			if text != "" {
				q.Set("text", text)
			}
			f, err := admin.ParseSilenceFilter(q)
			if err != nil {
				return fail(1, "wabridge silence %s: %v", name, err)
			}
			return operate(g, "silence "+name, func(ctx context.Context, op *operator) error {
				l, err := op.svc.Silences(ctx, f)
				if err != nil {
					return err
				}
				return printList(g, l, asJSON, "no silences",
					[]string{"ID", "STATE", "ENDS", "MATCHERS", "AUTHOR", "COMMENT"},
					func(s silence.Silence) []string {
						ms := make([]string, len(s.Matchers))
						for i, m := range s.Matchers {
							ms[i] = silence.MatcherString(m)
						}
						return []string{s.ID, s.State, s.EndsAt.Format(time.RFC3339), oneLine(strings.Join(ms, " "), 80),
							oneLine(s.Author, 20), oneLine(s.Comment, 60)}
					})
			})
		},
	}
	cmd.Flags().StringArrayVar(&matchers, "match", nil, "only silences with a matcher on this field whose value this accepts (repeatable)")
	cmd.Flags().StringArrayVar(&states, "state", nil, "only silences in this state: active, pending or expired (repeatable)")
	cmd.Flags().StringVar(&text, "text", "", "only silences whose id, comment, author or matchers contain this text")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the shape silence import and the admin API read)")
	return cmd
}

func newSilenceUpdateCmd(g *globals) *cobra.Command {
	var (
		matchers []string
		dur      time.Duration
		extend   time.Duration
		until    string
		comment  string
		author   string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "update ID [--for D | --extend D | --until TIME] [--match MATCHER]... [--comment TEXT] [--author NAME]",
		Short: "Extend or edit a silence; --match replaces its matchers",
		Example: `  wabridge silence update 3 --extend 2h --comment "campaign still paused"
  wabridge silence update 3 --for 30m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set := 0
			for _, f := range []string{"for", "extend", "until"} {
				if cmd.Flags().Changed(f) {
					set++
				}
			}
			if set > 1 {
				return fail(1, "wabridge silence update: give one of --for, --extend and --until")
			}
			var ms []silence.Matcher
			for _, s := range matchers {
				m, err := silence.ParseMatcher(s)
				if err != nil {
					return fail(1, "wabridge silence update: %v", err)
				}
				ms = append(ms, m)
			}
			var end time.Time
			if until != "" {
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return fail(1, "wabridge silence update: --until %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", until)
				}
				end = t
			}
			return operate(g, "silence update", func(ctx context.Context, op *operator) error {
				l, err := op.svc.Silences(ctx, admin.SilenceFilter{})
				if err != nil {
					return err
				}
				var s *silence.Silence
				for i := range l {
					if l[i].ID == args[0] {
						s = &l[i]
					}
				}
				if s == nil {
					return fmt.Errorf("no silence %q", args[0])
				}
				now := time.Now()
				if s.State == "expired" && set > 0 {
					s.StartsAt = now // an expired silence updated with a new end starts again
				}
				switch {
				case cmd.Flags().Changed("for"):
					s.EndsAt = now.Add(dur)
				case cmd.Flags().Changed("extend"):
					base := s.EndsAt
					if base.Before(now) {
						base = now
					}
					s.EndsAt = base.Add(extend)
				case until != "":
					s.EndsAt = end
				}
				if ms != nil {
					s.Matchers = ms
				}
				if cmd.Flags().Changed("comment") {
					s.Comment = comment
				}
				if cmd.Flags().Changed("author") {
					s.Author = author
				}
				in := admin.SilenceInput{Silence: *s, Matchers: s.Matchers}
				out, err := op.svc.SaveSilences(ctx, []admin.SilenceInput{in}, false)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(g, out[0])
				}
				fmt.Fprintf(g.stdout, "silence %s updated, until %s\n", out[0].ID, out[0].EndsAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&matchers, "match", nil, "replace the matchers: "+matchHelp)
	cmd.Flags().Var(duration.NewValue(&dur, 0), "for", "end this long from now (2h, 1d)")
	cmd.Flags().Var(duration.NewValue(&extend, 0), "extend", "end this much later than now or than its current end, whichever is later")
	cmd.Flags().StringVar(&until, "until", "", "end at this RFC 3339 time")
	cmd.Flags().StringVar(&comment, "comment", "", "a new comment")
	cmd.Flags().StringVar(&author, "author", "", "a new author")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the silence as JSON")
	return cmd
}

func newSilenceImportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Add the silences of a JSON list (what silence query --json prints), all or none",
		Long: `Add the silences of a JSON list, as silence query --json prints it (- reads
standard input). Every silence is checked first; if one is refused, none is
added. Each is added as a new silence with a new id; silences that have
already ended are skipped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := readPayload(args[0], g.stdin)
			if err != nil {
				return fail(1, "wabridge silence import: %v", err)
			}
			in, err := admin.DecodeSilences(body)
			if err != nil {
				return fail(1, "wabridge silence import: %s: %v", args[0], err)
			}
			return operate(g, "silence import", func(ctx context.Context, op *operator) error {
				now := time.Now()
				var live []admin.SilenceInput
				skipped := 0
				for _, s := range in {
					if !s.EndsAt.IsZero() && !s.EndsAt.After(now) {
						skipped++
						continue
					}
					live = append(live, s)
				}
				var out []silence.Silence
				if len(live) > 0 {
					if out, err = op.svc.SaveSilences(ctx, live, true); err != nil {
						return err
					}
				}
				fmt.Fprintf(g.stdout, "%d silences imported, %d already ended and skipped\n", len(out), skipped)
				return nil
			})
		},
	}
	return cmd
}

func newSilenceExpireCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "expire ID...",
		Short: "End silences now",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "silence expire", func(ctx context.Context, op *operator) error {
				for _, id := range args {
					if _, err := op.svc.ExpireSilence(ctx, id); err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "silence %s expired\n", id)
				}
				return nil
			})
		},
	}
}
