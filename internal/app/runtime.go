// Package app builds wabridge's parts from a Config: the catalogue,
// templates, notifiers, rules and sources. It is the one place that knows
// every concrete notifier, so notifiers/ has no import cycles.
package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/problem"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/builtin"
	"github.com/wabridge/wabridge/notifiers/jira"
	lognotifier "github.com/wabridge/wabridge/notifiers/log"
	"github.com/wabridge/wabridge/notifiers/slack"
	"github.com/wabridge/wabridge/rules"
	"github.com/wabridge/wabridge/templates"
)

// Runtime is everything that hot reload replaces as one: rules, templates,
// the catalogue and the notifiers built with those templates.
type Runtime struct {
	*pipeline.Runtime
	Templates *templates.Templates
	// Warnings are problems that do not stop loading (a code missing from
	// the catalogue, a notifier standing in for another).
	Warnings []string
	closers  []io.Closer
}

// Close releases what the runtime's notifiers hold (the log file).
func (r *Runtime) Close() error {
	var errs []error
	for _, c := range r.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// BuildRuntime loads the catalogue, templates, notifiers and rules named by
// cfg, collecting every problem rather than stopping at the first: the
// error is a problem.List.
func BuildRuntime(cfg *config.Config, logger *slog.Logger) (*Runtime, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var problems problem.List
	rt := &Runtime{Runtime: &pipeline.Runtime{Notifiers: map[string]notifiers.Notifier{}}}

	var catFiles []string
	for _, f := range cfg.Catalog.Files {
		catFiles = append(catFiles, cfg.Resolve(f))
	}
	cat, err := catalog.Load(catFiles...)
	if err != nil {
		problems.Append(err)
		cat, _ = catalog.Load() // keep checking rules against the embedded catalogue
	}
	rt.Catalog = cat

	specs := builtin.Specs()
	tmpl, err := templates.Load(cfg.Resolve(cfg.Templates.Dir), templates.WithSpecs(specs...))
	if err != nil {
		problems.Append(err)
		if tmpl, err = templates.Load("", templates.WithSpecs(specs...)); err != nil {
			problems.Append(err)
			return nil, problems
		}
	}
	rt.Templates = tmpl

	logN, err := lognotifier.New(cfg.Notifiers.Log, tmpl, logger)
	if err != nil {
		problems.Add("", 0, "notifiers.log: %v", err)
	} else {
		rt.Notifiers["log"] = logN
		rt.closers = append(rt.closers, logN)
	}
	standIn := func(name string) {
		if cfg.Notifiers.Unconfigured == "log" && logN != nil {
			rt.Notifiers[name] = logN
			rt.Warnings = append(rt.Warnings, fmt.Sprintf("notifiers.%s: no credentials; its actions go to the log notifier (notifiers.unconfigured: log)", name))
		}
	}
	rt.Warnings = append(rt.Warnings, slackButtonWarnings(cfg.Notifiers.Slack)...)
	if cfg.Notifiers.Slack.Configured() {
		n, err := slack.New(cfg.Notifiers.Slack, tmpl, logger.With("notifier", "slack"))
		if err != nil {
			problems.Add("", 0, "notifiers.slack: %v", err)
		} else {
			rt.Notifiers["slack"] = n
		}
	} else {
		standIn("slack")
	}
	if cfg.Notifiers.Jira.Configured() {
		n, err := jira.New(cfg.Notifiers.Jira, tmpl, logger.With("notifier", "jira"))
		if err != nil {
			problems.Add("", 0, "notifiers.jira: %v", err)
		} else {
			rt.Notifiers["jira"] = n
		}
	} else {
		standIn("jira")
	}

	var patterns []string
	for _, f := range cfg.Rules.Files {
		patterns = append(patterns, cfg.Resolve(f))
	}
	set, warnings, err := rules.Load(patterns, rules.Options{
		Specs:          specs,
		Notifiers:      func(name string) bool { _, ok := rt.Notifiers[name]; return ok },
		TemplateExists: tmpl.Has,
		Catalog:        cat,
	})
	for _, w := range warnings {
		rt.Warnings = append(rt.Warnings, w.String())
	}
	problems.Append(err)
	rt.Rules = set
	if set != nil && !cfg.Notifiers.Slack.Buttons() {
		for _, r := range set.Rules() {
			for _, a := range r.Actions {
				if a.OnDemand {
					rt.Warnings = append(rt.Warnings, fmt.Sprintf("rule %q: its %s action is on_demand: true, and alerts carry no buttons: only wabridge incidents ticket FINGERPRINT (or POST /api/v1/incidents/FINGERPRINT/ticket) opens it", r.Name, a.Notifier))
					break
				}
			}
		}
	}
	if len(problems) > 0 {
		_ = rt.Close()
		return nil, problems
	}
	return rt, nil
}

// BuildSources builds every configured source, collecting every problem:
// the error is a problem.List. A problem of a mapping file names that file;
// the others are the config file's.
func BuildSources(cfg *config.Config) (map[string]sources.Source, error) {
	out := make(map[string]sources.Source, len(cfg.Sources))
	var problems problem.List
	for _, sc := range cfg.Sources {
		if sc.MappingFile != "" {
			sc.MappingFile = cfg.Resolve(sc.MappingFile)
		}
		src, err := sources.New(sc)
		if err != nil {
			problems = append(problems, problem.Of(err).InFile(cfg.File)...)
			continue
		}
		out[sc.Name] = src
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return out, nil
}

// Load reads and validates the config file, then builds the sources and the
// runtime: everything `check` checks and `serve` needs. The error is a
// problem.List.
func Load(path string, logger *slog.Logger) (*config.Config, map[string]sources.Source, *Runtime, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, nil, problem.Of(err)
	}
	problems := cfg.Problems()
	srcs, err := BuildSources(cfg)
	problems.Append(err)
	rt, err := BuildRuntime(cfg, logger)
	problems.Append(err)
	if len(problems) > 0 {
		if rt != nil {
			_ = rt.Close()
		}
		return cfg, nil, nil, problems
	}
	return cfg, srcs, rt, nil
}

// NotificationFor builds the notification that opens an incident for an
// event matched by a rule.
func NotificationFor(cat *catalog.Catalog, rule *rules.Rule, action notification.Action, e event.Event) notification.Notification {
	entry, _ := cat.ForEvent(&e)
	return notification.Notification{
		ID:      e.ID + "/" + rule.Name + "/" + action.Notifier,
		Rule:    rule.Ref(),
		Action:  action,
		Op:      notification.OpOpen,
		Event:   e,
		Catalog: entry,
		Incident: &notification.Incident{
			Fingerprint: rules.Fingerprint(rule, &e),
			Status:      "open",
			Count:       1,
			FirstSeen:   e.Timestamp,
			LastSeen:    e.Timestamp,
			SinceTime:   e.Timestamp,
		},
	}
}

// NotifierNames lists the runtime's notifiers, sorted.
func (r *Runtime) NotifierNames() []string {
	var out []string
	for n := range r.Notifiers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// slackButtonWarnings says why alerts carry no buttons when Slack is set up
// without what they need: a click changes the message (chat.update, which
// needs a bot token) and must be verified (the signing secret).
func slackButtonWarnings(sc slack.Config) []string {
	const buttons = "alerts carry no buttons (Acknowledge, Silence, Resolve, Open Jira ticket) and POST /slack/interactions is off"
	var out []string
	switch {
	case sc.Buttons():
	case sc.WebhookURL.IsSet() && !sc.Token.IsSet():
		out = append(out, "notifiers.slack.webhook_url: "+buttons+": a click edits the message with chat.update, which an incoming webhook cannot do; set notifiers.slack.token and signing_secret for them")
	case sc.SigningSecret.IsSet():
		out = append(out, "notifiers.slack.signing_secret: set, but without notifiers.slack.token "+buttons+": a click needs chat.update, which an incoming webhook cannot do")
	case sc.Token.IsSet():
		out = append(out, "notifiers.slack.signing_secret: not set, so "+buttons+"; set it to the Slack app's signing secret to take clicks")
	}
	if !sc.Buttons() && (len(sc.AllowedUsers) > 0 || len(sc.AllowedGroups) > 0) {
		out = append(out, "notifiers.slack.allowed_users, allowed_groups: set, but no buttons are shown, so they are not used")
	}
	return out
}
