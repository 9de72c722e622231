package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/store"
)

func newAuditCmd(g *globals) *cobra.Command {
	var since, code, source, limit string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "The audit trail: deliveries received (rejected ones too), their events, rule decisions and notification results, newest first",
		Long: `audit lists what wabridge received within storage.retention, newest first:
when, from which source, the HTTP status it answered, the events, their codes,
what each rule decided and what came of each notification. --json prints the
full records, payloads included.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := app.ParseAuditQuery(since, code, source, limit, time.Now())
			if err != nil {
				return fail(1, "wabridge audit: %v", err)
			}
			q.Body = asJSON
			return operate(g, "audit", func(op *operator) error {
				var recs []store.AuditRecord
				if op.api != nil {
					v := url.Values{}
					for k, s := range map[string]string{"since": since, "code": code, "source": source, "limit": limit} {
						if s != "" {
							v.Set(k, s)
						}
					}
					err = op.api.do(http.MethodGet, "/audit?"+v.Encode(), &recs)
				} else {
					recs, err = op.svc.Pipeline().Audit(q)
				}
				if err != nil {
					return err
				}
				return printList(g, recs, asJSON, "no deliveries recorded",
					[]string{"TIME", "SOURCE", "STATUS", "EVENTS", "CODES", "DECISIONS", "NOTIFICATIONS"}, auditRow)
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only deliveries received within this long (30m, 1h, 7d) or since an RFC 3339 time")
	cmd.Flags().StringVar(&code, "code", "", "only deliveries with an event of this error code (131031)")
	cmd.Flags().StringVar(&source, "source", "", "only deliveries to this source")
	cmd.Flags().StringVar(&limit, "limit", "", "at most this many deliveries")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the full records as JSON, payloads included")
	return cmd
}

func auditRow(r store.AuditRecord) []string {
	var codes, decisions, notes []string
	events := strconv.Itoa(len(r.Events))
	dropped, dups := 0, 0
	for _, e := range r.Events {
		if e.Code != 0 {
			codes = appendOnce(codes, strconv.Itoa(e.Code))
		}
		switch e.Outcome {
		case store.EventDropped:
			dropped++
		case store.EventDuplicate:
			dups++
		}
		for _, d := range e.Decisions {
			decisions = appendOnce(decisions, d.Rule+":"+d.Outcome)
		}
	}
	if dropped > 0 {
		events += fmt.Sprintf(" (%d dropped)", dropped)
	}
	if dups > 0 {
		events += fmt.Sprintf(" (%d duplicate)", dups)
	}
	for _, n := range r.Notifications {
		s := n.Notifier + ":" + n.Result
		switch {
		case n.Ref != "":
			s += " " + n.Ref
		case n.Reason != "" && n.Result != store.NoteSent:
			s += " (" + n.Reason + ")"
		}
		notes = append(notes, s)
	}
	status := strconv.Itoa(r.HTTPStatus)
	if r.Signature == store.SignatureInvalid {
		status += " bad signature"
	} else if r.Reason != "" {
		status += " " + oneLine(r.Reason, 40)
	}
	return []string{r.ReceivedAt.Local().Format(time.DateTime), r.Source, status,
		events, dash(codes), dash(decisions), dash(notes)}
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func dash(list []string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, ", ")
}
