package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/sources"
)

func newTestCmd(g *globals) *cobra.Command {
	var sourceName, contentType string
	cmd := &cobra.Command{
		Use:   "test [--source NAME] PAYLOAD",
		Short: "Dry run: print the events a payload becomes and the notifications they would send; sends nothing",
		Long: `Dry run: parse PAYLOAD (a file, - for standard input, or inline JSON) as the
named source would, then print {"events": [...], "notifications": [...]}.
Events the source's accept filter drops are listed under "dropped" with the
reason, as serve drops them before the rules. Nothing is sent and nothing is
stored; signatures are not checked.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := readPayload(args[0], g.stdin)
			if err != nil {
				return fail(1, "wabridge test: %v", err)
			}
			cfg, srcs, rt, err := app.Load(g.config, slog.New(slog.DiscardHandler))
			if err != nil {
				return fail(1, "wabridge test: %s is not valid:\n%v", g.config, err)
			}
			defer rt.Close()
			// stdout is JSON for scripts; the warnings (a notifier standing
			// in for another) go beside it so a person still sees them.
			for _, w := range rt.Warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			src, err := pickSource(srcs, sourceName, cfg.Sources[0].Name)
			if err != nil {
				return fail(1, "wabridge test: %v", err)
			}
			if contentType == "" {
				contentType = "application/json"
				if src.Type() == "twilio" {
					contentType = "application/x-www-form-urlencoded"
				}
			}
			events, err := src.Parse(sources.Delivery{
				ID: "test", Source: src.Name(), ReceivedAt: time.Now().UTC(), ContentType: contentType, Body: body,
			})
			if err != nil {
				return fail(1, "wabridge test: source %s (%s) rejects this payload: %v", src.Name(), src.Type(), err)
			}
			if events == nil {
				events = []event.Event{}
			}
			planned := rt.Plan(src, events)
			if planned == nil {
				planned = []app.Planned{}
			}
			// As serve does, the source's accept filter drops events before
			// the rules: they are shown apart, with why, not as if they
			// would alert.
			kept, dropped := []event.Event{}, []droppedEvent{}
			for _, e := range events {
				if src.Accept(&e) {
					kept = append(kept, e)
					continue
				}
				dropped = append(dropped, droppedEvent{Event: e,
					Reason: fmt.Sprintf("status %q is not in source %s's accept list", e.Status, src.Name())})
			}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(struct {
				Events        []event.Event  `json:"events"`
				Dropped       []droppedEvent `json:"dropped"`
				Notifications []app.Planned  `json:"notifications"`
			}{kept, dropped, planned})
		},
	}
	cmd.Flags().StringVar(&sourceName, "source", "", "source name from the config (default: the first source)")
	cmd.Flags().StringVar(&contentType, "content-type", "", "content type of the payload (default: JSON, form data for twilio)")
	return cmd
}

// droppedEvent is an event the source's accept filter drops, and why.
type droppedEvent struct {
	Event  event.Event `json:"event"`
	Reason string      `json:"reason"`
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

func pickSource(srcs map[string]sources.Source, name, first string) (sources.Source, error) {
	if name == "" {
		name = first
	}
	if src, ok := srcs[name]; ok {
		return src, nil
	}
	var names []string
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("no source named %q (configured: %s)", name, strings.Join(names, ", "))
}
