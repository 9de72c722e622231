package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/config"
)

func newCodesCmd(g *globals) *cobra.Command {
	var asJSON bool
	var namespace string
	cmd := &cobra.Command{
		Use:   "codes [CODE]",
		Short: "The error catalogue: list every code, or show one with its reasons and recommended actions",
		Long: `List the catalogue, or show one entry: a Meta error code (131031), a Twilio
code (63016) or a gateway disconnect reason (logged_out). Extra catalogue files
from the config (catalog.files) are included when --config names a file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := loadCatalog(g, cmd.Flags().Changed("config"))
			if err != nil {
				return fail(1, "wabridge codes: %v", err)
			}
			if len(args) == 0 {
				return listCodes(g, cat, namespace, asJSON)
			}
			entry, ok := findEntry(cat, args[0], namespace)
			if !ok {
				return fail(1, "wabridge codes: %s is not in the catalogue (try `wabridge codes` for the list)", args[0])
			}
			if asJSON {
				return writeJSON(g, entry)
			}
			fmt.Fprint(g.stdout, catalog.Format(entry))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&namespace, "namespace", "", "meta, twilio, connection, gupshup or event (default: the first four, Meta first; a lookup also tries event)")
	return cmd
}

func loadCatalog(g *globals, fromConfig bool) (*catalog.Catalog, error) {
	if !fromConfig {
		return catalog.Load()
	}
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range cfg.Catalog.Files {
		files = append(files, cfg.Resolve(f))
	}
	return catalog.Load(files...)
}

var namespaces = []string{catalog.NamespaceMeta, catalog.NamespaceTwilio, catalog.NamespaceConnection, catalog.NamespaceGupshup, catalog.NamespaceEvent}

func findEntry(cat *catalog.Catalog, arg, ns string) (catalog.Entry, bool) {
	search := namespaces
	if ns != "" {
		search = []string{ns}
	}
	code, err := strconv.Atoi(strings.TrimSpace(arg))
	for _, n := range search {
		if err == nil {
			if e, ok := cat.LookupIn(n, code); ok {
				return e, true
			}
		} else if e, ok := cat.LookupKey(n, arg); ok {
			return e, true
		}
	}
	return catalog.Entry{}, false
}

func listCodes(g *globals, cat *catalog.Catalog, ns string, asJSON bool) error {
	// The listing is of codes; the guidance for code-less events (keyed
	// kind/status) is there with --namespace event.
	search := namespaces[:4]
	if ns != "" {
		search = []string{ns}
	}
	var all []catalog.Entry
	for _, n := range search {
		all = append(all, cat.Entries(n)...)
	}
	if asJSON {
		return writeJSON(g, all)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tCODE\tSEVERITY\tTITLE")
	for _, e := range all {
		id := e.Range()
		if e.Namespace == catalog.NamespaceEvent || (e.Key != "" && e.Code == 0) {
			id = e.Key
		}
		// Entries can come from the operator's catalogue files.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printable(e.Namespace, false), printable(id, false), printable(string(e.Severity), false), printable(e.Title, false))
	}
	return tw.Flush()
}

func writeJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
