package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// printList prints items as JSON (an empty list as [], never null) or as an
// aligned table with one row per item; empty is what a person reads when
// there is nothing.
func printList[T any](g *globals, items []T, asJSON bool, empty string, header []string, row func(T) []string) error {
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return writeJSON(g, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(g.stdout, empty)
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, it := range items {
		fmt.Fprintln(tw, strings.Join(row(it), "\t"))
	}
	return tw.Flush()
}
