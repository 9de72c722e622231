package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

func newNotifyTestCmd(g *globals) *cobra.Command {
	var ruleName string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "notify-test --rule NAME",
		Short: "Send one real sample notification through a rule's actions, to prove the wiring before an incident",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(g)
			if err != nil {
				return err
			}
			rt, err := app.BuildRuntime(cfg, app.NewLogger(cfg.Log, g.stderr))
			if err != nil {
				return fail(1, "wabridge notify-test: %s is not valid:\n%v", g.config, err)
			}
			defer rt.Close()
			for _, w := range rt.Warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			rule := rt.Rules.Rule(ruleName)
			if rule == nil {
				var names []string
				for _, r := range rt.Rules.Rules() {
					names = append(names, r.Name)
				}
				return fail(1, "wabridge notify-test: no rule named %q (rules: %v)", ruleName, names)
			}
			e := rule.SampleEvent()
			e.ID = fmt.Sprintf("notify-test-%d", time.Now().UnixNano())
			e.SetAttr("notify_test", "true")
			rt.Catalog.Enrich(&e)
			failed := 0
			// A fingerprint of its own: the sample event's would be a real
			// incident's, and Jira would comment on that incident's ticket.
			fp := notifyTestFingerprint(rule.Name)
			for _, action := range rule.Actions {
				n := app.NotificationFor(rt.Catalog, rule, action, e)
				n.ID = e.ID + "/" + action.Notifier
				n.Test = true
				n.Incident.Fingerprint = fp
				notifier, ok := rt.Notifiers[action.Notifier]
				if !ok {
					fmt.Fprintf(g.stdout, "%s: not configured\n", action.Notifier)
					failed++
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				res, err := notifier.Notify(ctx, &n)
				cancel()
				if err != nil {
					reason, _, _ := notifiers.Classify(err)
					fmt.Fprintf(g.stdout, "%s: FAILED (%s): %s\n", action.Notifier, reason, printable(err.Error(), false))
					failed++
					continue
				}
				// A notifier without credentials may stand in as the log: saying
				// "sent" then would tell the team their Slack or Jira wiring works
				// when nothing reached it.
				if logN := rt.Notifiers["log"]; action.Notifier != "log" && notifier == logN {
					fmt.Fprintf(g.stdout, "%s: NOT SENT: no credentials for %s, written to the log notifier instead\n", action.Notifier, action.Notifier)
					failed++
					continue
				}
				msg, _ := notifier.Render(&n)
				fmt.Fprintf(g.stdout, "%s: sent to %s%s, marked %q, with fingerprint %s (a test's own, not a real incident's)\n",
					action.Notifier, msg.Target, refSuffix(res.Ref), strings.TrimSpace(notification.TestMarker), fp)
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("wabridge notify-test: %d of %d actions failed", failed, len(rule.Actions))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ruleName, "rule", "", "the rule whose actions to exercise")
	cmd.Flags().Var(duration.NewValue(&timeout, 30*time.Second), "timeout", "how long each send may take (30s, 2m)")
	_ = cmd.MarkFlagRequired("rule")
	return cmd
}

// notifyTestFingerprint is the fingerprint notify-test gives a rule's test
// notifications: the same on every run, so a second run finds the first
// run's Slack message and Jira ticket rather than a real incident's.
func notifyTestFingerprint(rule string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(rule) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	return "notify-test-" + b.String()
}

func refSuffix(ref string) string {
	if ref == "" {
		return ""
	}
	return " (" + ref + ")"
}
