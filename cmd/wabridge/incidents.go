package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/incident"
)

func newIncidentsCmd(g *globals) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "incidents",
		Short: "List open incidents: what is firing now, how often, since when",
		Long: `List the incidents wabridge is tracking, the most recently active first:
open ones (alerted), pending ones (below their threshold or within group_wait)
and, with --all, resolved ones not yet swept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "incidents", func(ctx context.Context, op *operator) error {
				list, err := op.svc.Incidents(ctx, admin.IncidentQuery{All: all})
				if err != nil {
					return err
				}
				return printList(g, list, asJSON, "no incidents",
					[]string{"FINGERPRINT", "RULE", "STATUS", "COUNT", "FIRST SEEN", "LAST SEEN", "ACKNOWLEDGED BY", "WHAT"},
					func(inc incident.Incident) []string {
						what := inc.Event.Title
						if inc.Event.Code != 0 {
							what = strconv.Itoa(inc.Event.Code) + " " + what
						}
						if inc.Event.PhoneNumberID != "" {
							what += " (" + inc.Event.PhoneNumberID + ")"
						}
						acked := "-"
						if inc.Ack != nil {
							acked = oneLine(inc.Ack.By, 30)
						}
						return []string{inc.Fingerprint, inc.Rule, inc.Status, strconv.Itoa(inc.Count),
							inc.FirstSeen.Local().Format(time.DateTime), inc.LastSeen.Local().Format(time.DateTime), acked, oneLine(what, 60)}
					})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "include resolved incidents")
	cmd.AddCommand(newIncidentResolveCmd(g), newIncidentAckCmd(g), newIncidentTicketCmd(g))
	return cmd
}

func newIncidentResolveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resolve FINGERPRINT",
		Short: "Resolve an incident by hand: its message and ticket say resolved, and the next event pages again",
		Long: `Resolve an open or pending incident now, as its rule would: the Slack
message is marked resolved, the Jira ticket takes resolve_transition, and the
next event of the kind opens a new incident and pages again. FINGERPRINT is
the first column of wabridge incidents. Through the running server's admin
API when one holds the store; otherwise on the store, and the notifications
are sent when the server starts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "incidents resolve", func(ctx context.Context, op *operator) error {
				res, err := op.svc.ResolveIncident(ctx, args[0], admin.Actor{})
				if err != nil {
					return err
				}
				when := ""
				if op.offline() {
					when = "; no server is running, so they are sent when it starts"
				}
				fmt.Fprintf(g.stdout, "resolved incident %s (rule %s): %d notification(s) queued%s\n", res.Fingerprint, res.Rule, res.Notifications, when)
				return nil
			})
		},
	}
}

func newIncidentAckCmd(g *globals) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "ack FINGERPRINT [--by NAME]",
		Short: "Acknowledge an incident: its repeats are held until it escalates or resolves",
		Long: `Record that you took an open incident on. Its Slack message shows who and
when, and its thread records it; its repeat summaries (thread replies, Jira
comments) are held until it escalates, which clears the acknowledgement and
notifies at once, or resolves. One already acknowledged by someone else, one
pending or resolved is refused, saying so (exit 1). Through the running
server's admin API when one holds the store; otherwise on the store, and the
message is edited when the server starts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "incidents ack", func(ctx context.Context, op *operator) error {
				res, err := op.svc.AcknowledgeIncident(ctx, args[0], admin.Actor{Name: by})
				if err != nil {
					return err
				}
				when := ""
				if op.offline() && res.Notifications > 0 {
					when = "; no server is running, so they are sent when it starts"
				}
				fmt.Fprintf(g.stdout, "incident %s (rule %s) acknowledged by %s at %s: repeats are held until it escalates or resolves; %d notification(s) queued%s\n",
					res.Fingerprint, res.Rule, res.By, res.At.Local().Format(time.DateTime), res.Notifications, when)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&by, "by", defaultAuthor(), "who acknowledges")
	return cmd
}

func newIncidentTicketCmd(g *globals) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "ticket FINGERPRINT [--by NAME]",
		Short: "Open an incident's Jira ticket, when its rule's jira action says on_demand: true",
		Long: `Send an open incident's actions that its rule sends only when a person asks
(a jira action with on_demand: true), as the Open Jira ticket button does: the
ticket is created once, its link follows in the Slack thread, and from then on
it follows the incident (repeat comments, escalation, resolve). Asked again,
or for a rule without such an action, it is refused saying so (exit 1).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return operate(g, "incidents ticket", func(ctx context.Context, op *operator) error {
				res, err := op.svc.OpenTicket(ctx, args[0], admin.Actor{Name: by})
				if err != nil {
					return err
				}
				when := ""
				if op.offline() {
					when = "; no server is running, so they are sent when it starts"
				}
				fmt.Fprintf(g.stdout, "incident %s (rule %s): ticket asked for, %d notification(s) queued%s\n", res.Fingerprint, res.Rule, res.Notifications, when)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&by, "by", defaultAuthor(), "who asks for it")
	return cmd
}
