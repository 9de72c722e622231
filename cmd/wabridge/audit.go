package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
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
			q, err := app.ParseAuditQuery(since, code, source, limit, time.Now())
			if err != nil {
				return fail(1, "wabridge audit: %v", err)
			}
			q.Body = asJSON
			return operate(g, "audit", func(op *operator) error {
				var recs []audit.Record
				if op.api != nil {
					v := url.Values{}
					for k, s := range map[string]string{"since": since, "code": code, "source": source} {
						if s != "" {
							v.Set(k, s)
						}
					}
					if asJSON {
						v.Set("payload", "true")
						return streamAuditJSON(g, op.api, v, q.Limit)
					}
					err = op.api.auditPages(v, q.Limit, func(r audit.Record) error {
						recs = append(recs, r)
						return nil
					})
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

// streamAuditJSON prints the running server's audit records as one JSON
// list, each record written as its page arrives: with payloads, the trail
// can be far larger than memory should hold.
func streamAuditJSON(g *globals, api *adminClient, v url.Values, limit int) error {
	fmt.Fprint(g.stdout, "[")
	n := 0
	err := api.auditPages(v, limit, func(r audit.Record) error {
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

// auditPages walks GET /api/v1/audit page by page (following the Link
// rel="next" cursor), decoding each record as it is read, until the last
// page or limit records (0 = all).
func (c *adminClient) auditPages(v url.Values, limit int, each func(audit.Record) error) error {
	path := "/audit?" + v.Encode()
	seen := 0
	for path != "" {
		req, err := http.NewRequest(http.MethodGet, c.base+path, http.NoBody)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
		if err != nil {
			return fmt.Errorf("admin API of the running server at %s: %w", c.base, err)
		}
		if resp.StatusCode != http.StatusOK {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(data, &e) == nil && e.Error != "" {
				return errors.New(e.Error)
			}
			return fmt.Errorf("admin API answered %s", resp.Status)
		}
		path = nextPage(resp.Header.Get("Link"), c.base)
		dec := json.NewDecoder(resp.Body)
		err = func() error {
			defer resp.Body.Close()
			if _, err := dec.Token(); err != nil {
				return fmt.Errorf("audit page: %w", err)
			}
			for dec.More() {
				var r audit.Record
				if err := dec.Decode(&r); err != nil {
					return fmt.Errorf("audit page: %w", err)
				}
				if err := each(r); err != nil {
					return err
				}
				if seen++; limit > 0 && seen >= limit {
					path = ""
					return nil
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// nextPage reads the path after base of a Link header's rel="next" target.
func nextPage(link, base string) string {
	for _, part := range strings.Split(link, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(params, `rel="next"`) {
			continue
		}
		target = strings.Trim(strings.TrimSpace(target), "<>")
		u, err := url.Parse(base)
		if err != nil {
			return ""
		}
		rel, ok := strings.CutPrefix(target, u.Path)
		if !ok {
			return ""
		}
		return rel
	}
	return ""
}
