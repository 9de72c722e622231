package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/audit"
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
full records, payloads included. Through a running server's admin API the
records are read a page at a time and printed as they arrive.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := admin.ParseAuditQuery(since, code, source, limit, time.Now())
			if err != nil {
				return fail(1, "wabridge audit: %v", err)
			}
			q.Body = asJSON
			return operate(g, "audit", func(ctx context.Context, op *operator) error {
				if asJSON {
					return streamAuditJSON(ctx, g, op.svc, q)
				}
				var recs []audit.Record
				err := auditPages(ctx, op.svc, q, func(r audit.Record) error {
					recs = append(recs, r)
					return nil
				})
				if err != nil {
					return err
				}
				return printList(g, recs, false, "no deliveries recorded",
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

func auditRow(r audit.Record) []string {
	var codes, decisions, notes []string
	events := strconv.Itoa(len(r.Events))
	dropped, dups := 0, 0
	for _, e := range r.Events {
		if e.Code != 0 {
			codes = appendOnce(codes, strconv.Itoa(e.Code))
		}
		switch e.Outcome {
		case audit.EventDropped:
			dropped++
		case audit.EventDuplicate:
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
		case n.Reason != "" && n.Result != audit.NoteSent:
			s += " (" + n.Reason + ")"
		}
		notes = append(notes, s)
	}
	status := strconv.Itoa(r.HTTPStatus)
	if r.Signature == audit.SignatureInvalid {
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

// streamAuditJSON prints the audit records as one JSON list, each page
// written as it arrives: with payloads, the trail can be far larger than
// memory should hold.
func streamAuditJSON(ctx context.Context, g *globals, svc admin.Service, q audit.Query) error {
	fmt.Fprint(g.stdout, "[")
	n := 0
	err := auditPages(ctx, svc, q, func(r audit.Record) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sep := ",\n  "
		if n == 0 {
			sep = "\n  "
		}
		n++
		_, err = fmt.Fprint(g.stdout, sep+string(b))
		return err
	})
	if n > 0 {
		fmt.Fprint(g.stdout, "\n")
	}
	fmt.Fprintln(g.stdout, "]")
	return err
}

// auditPages walks the audit trail page by page until the last page or
// q.Limit records (0 = all).
func auditPages(ctx context.Context, svc admin.Service, q audit.Query, each func(audit.Record) error) error {
	limit, seen := q.Limit, 0
	for {
		if limit > 0 {
			q.Limit = limit - seen
		}
		page, err := svc.Audit(ctx, admin.AuditQuery{Query: q})
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			if err := each(r); err != nil {
				return err
			}
			if seen++; limit > 0 && seen >= limit {
				return nil
			}
		}
		if page.Next == "" || len(page.Records) == 0 {
			return nil
		}
		q.Before = page.Next
	}
}
