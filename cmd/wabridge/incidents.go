package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/app"
	"github.com/wabridge/wabridge/internal/pipeline"
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
			return operate(g, "incidents", func(op *operator) error {
				var list []pipeline.Incident
				var err error
				if op.api != nil {
					path := "/incidents"
					if all {
						path += "?all=true"
					}
					err = op.api.request(http.MethodGet, path, nil, &list)
				} else {
					list, err = op.svc.Pipeline().ListIncidents(all)
				}
				if err != nil {
					return err
				}
				for i := range list {
					list[i] = app.MaskIncident(list[i])
				}
				return printList(g, list, asJSON, "no incidents",
					[]string{"FINGERPRINT", "RULE", "STATUS", "COUNT", "FIRST SEEN", "LAST SEEN", "WHAT"},
					func(inc pipeline.Incident) []string {
						what := inc.Event.Title
						if inc.Event.Code != 0 {
							what = strconv.Itoa(inc.Event.Code) + " " + what
						}
						if inc.Event.PhoneNumberID != "" {
							what += " (" + inc.Event.PhoneNumberID + ")"
						}
						return []string{inc.Fingerprint, inc.Rule, inc.Status, strconv.Itoa(inc.Count),
							inc.FirstSeen.Local().Format(time.DateTime), inc.LastSeen.Local().Format(time.DateTime), oneLine(what, 60)}
					})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "include resolved incidents")
	return cmd
}
