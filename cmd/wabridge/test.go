package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

func newTestCmd(g *globals) *cobra.Command {
	var (
		sourceName, contentType, output string
		render, state                   bool
	)
	cmd := &cobra.Command{
		Use:   "test [--source NAME] [--render] [--state] [--output json|text] PAYLOAD",
		Short: "Dry run: what a payload becomes, which rules match and why, what would be sent; sends nothing",
		Long: `Dry run: parse PAYLOAD (a file, - for standard input, or inline JSON) as the
named source would, evaluate it through the pipeline's own decisions on a
throwaway store, and print {"events": [...], "notifications": [...],
"evaluations": [...]}: for each event, every rule matched or not and the
first condition it failed, and each decision (opened, joined, silenced by
ID, inhibited by FINGERPRINT, muted, below threshold n of N, duplicate).

--render adds the exact HTTP requests the Slack and Jira notifiers would
send. --state starts from the store's incidents, silences and dedup records
(offline, or through the admin API when a server holds the store).
Nothing is sent and nothing in the store changes; signatures are not checked.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "json" && output != "text" {
				return fail(1, "wabridge test: --output %q: want json or text", output)
			}
			body, err := readPayload(args[0], g.stdin)
			if err != nil {
				return fail(1, "wabridge test: %v", err)
			}
			rep, err := dryRun(g, sourceName, contentType, body, render, state)
			if err != nil {
				return err
			}
			if output == "text" {
				printReport(g.stdout, rep)
				return nil
			}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(rep)
		},
	}
	cmd.Flags().StringVar(&sourceName, "source", "", "source name from the config (default: the first source)")
	cmd.Flags().StringVar(&contentType, "content-type", "", "content type of the payload (default: JSON, form data for twilio)")
	cmd.Flags().BoolVar(&render, "render", false, "show the exact Slack and Jira requests that would be sent")
	cmd.Flags().BoolVar(&state, "state", false, "evaluate against the store's incidents, silences and dedup records")
	cmd.Flags().StringVarP(&output, "output", "o", "json", "json, or text for people")
	cmd.AddCommand(newTestRulesCmd(g))
	return cmd
}

func dryRun(g *globals, sourceName, contentType string, body []byte, render, state bool) (*admin.Report, error) {
	ctx := context.Background()
	if !state {
		cfg, srcs, rt, err := app.Load(g.config, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, fail(1, "wabridge test: %s is not valid:\n%v", g.config, err)
		}
		defer rt.Close()
		warn(g, rt)
		d, err := app.NewDryRun(cfg, srcs, rt, admin.DryRunOptions{Render: render})
		if err != nil {
			return nil, fail(1, "wabridge test: %v", err)
		}
		defer d.Close()
		rep, err := d.Deliver(ctx, sourceName, contentType, body)
		if err != nil {
			return nil, fail(1, "wabridge test: %v", err)
		}
		return rep, nil
	}
	var rep *admin.Report
	err := operate(g, "test --state", func(ctx context.Context, op *operator) error {
		warn(g, op.rt)
		var err error
		rep, err = op.svc.DryRun(ctx, admin.DryRunRequest{Source: sourceName, ContentType: contentType, Payload: string(body), Render: render})
		return err
	})
	return rep, err
}

// warn prints load warnings (a notifier standing in for another) beside
// the JSON on stdout, so a person still sees them.
func warn(g *globals, rt *app.Runtime) {
	if rt == nil {
		return
	}
	for _, w := range rt.Warnings {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
}

// printReport writes a report for people.
func printReport(w io.Writer, rep *admin.Report) {
	evals := map[string]admin.Evaluation{}
	for _, e := range rep.Evaluations {
		evals[e.EventID] = e
	}
	if len(rep.Events) == 0 && len(rep.Dropped) == 0 {
		fmt.Fprintln(w, "no events in this payload")
	}
	for _, d := range rep.Dropped {
		fmt.Fprintf(w, "dropped: %s: %s\n", describeEvent(d.Event), d.Reason)
	}
	for i, e := range rep.Events {
		fmt.Fprintf(w, "event %d of %d: %s\n", i+1, len(rep.Events), describeEvent(e))
		ev := evals[e.ID]
		if ev.Dropped != "" {
			fmt.Fprintf(w, "  %s\n", ev.Dropped)
			continue
		}
		if len(ev.Rules) == 0 {
			fmt.Fprintln(w, "  no rules are loaded")
		}
		for _, r := range ev.Rules {
			if r.Matched {
				fmt.Fprintf(w, "  rule %s: matched\n", r.Rule)
			} else {
				fmt.Fprintf(w, "  rule %s: not matched: %s\n", r.Rule, r.Reason)
			}
		}
		for _, d := range ev.Decisions {
			fmt.Fprintf(w, "  decision %s: %s\n", d.Rule, d.Text)
		}
	}
	for _, ev := range rep.Evaluations {
		if len(ev.Rules) == 0 && ev.Dropped == "" && len(ev.Decisions) > 0 {
			for _, d := range ev.Decisions {
				fmt.Fprintf(w, "decision %s (incident %s): %s\n", d.Rule, d.Fingerprint, d.Text)
			}
		}
	}
	if len(rep.Notifications) == 0 {
		fmt.Fprintln(w, "no notifications")
	}
	specs := builtin.Specs()
	for i, n := range rep.Notifications {
		target := n.Target
		if j := slices.IndexFunc(specs, func(sp notifiers.Spec) bool { return sp.Name == n.Notifier }); j >= 0 {
			target = specs[j].Describe(target)
		}
		fmt.Fprintf(w, "\nnotification %d of %d: rule %s, %s %s, %s\n", i+1, len(rep.Notifications), n.Rule, n.Notifier, target, n.Op)
		if n.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", n.Error)
			continue
		}
		fmt.Fprintf(w, "  summary: %s\n", n.Summary)
		if n.Requests == nil {
			fmt.Fprintf(w, "  body:\n%s\n", indent(n.Body, "    "))
		}
		for _, r := range n.Requests {
			fmt.Fprintf(w, "  %s %s\n", r.Method, r.URL)
			if r.ContentType != "" {
				fmt.Fprintf(w, "  Content-Type: %s\n", r.ContentType)
			}
			fmt.Fprintln(w, indent(readableBody(r), "    "))
		}
		if n.RenderError != "" {
			fmt.Fprintf(w, "  the notifier would report: %s\n", n.RenderError)
		}
	}
}

// readableBody shows a request body as a person reads it: JSON indented,
// a form one field a line with JSON fields (Slack's blocks) indented.
func readableBody(r admin.Request) string {
	if strings.HasPrefix(r.ContentType, "application/x-www-form-urlencoded") {
		v, err := url.ParseQuery(r.Body)
		if err == nil {
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			for _, k := range keys {
				for _, x := range v[k] {
					if k == "token" {
						x = "<secret>"
					}
					var out bytes.Buffer
					if json.Indent(&out, []byte(x), "", "  ") == nil && strings.ContainsAny(x[:1], "[{") {
						x = out.String()
					}
					fmt.Fprintf(&b, "%s: %s\n", k, x)
				}
			}
			return strings.TrimRight(b.String(), "\n")
		}
	}
	var out bytes.Buffer
	if json.Indent(&out, []byte(r.Body), "", "  ") == nil {
		return out.String()
	}
	return r.Body
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

func readPayload(arg string, stdin io.Reader) ([]byte, error) {
	trimmed := strings.TrimSpace(arg)
	switch {
	case arg == "-":
		return io.ReadAll(stdin)
	case strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "["):
		return []byte(arg), nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	return bytes.TrimSpace(b), nil
}

func describeEvent(e event.Event) string { return e.Describe() + ", id " + e.ID }
