package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"unicode"
)

// printList prints items as JSON (an empty list as [], never null) or as an
// aligned table with one row per item; empty is what a person reads when
// there is nothing. Cells are printable: they hold text from providers,
// Slack, Jira and whoever added a silence, and a terminal escape in one
// must not clear or rewrite the operator's screen.
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
		cells := row(it)
		for i, c := range cells {
			cells[i] = printable(c, false)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printable makes s safe to write to a terminal: control characters (ESC
// and the rest of C0 and C1, DEL) and the bidirectional overrides that
// reorder what is shown are removed, and invalid UTF-8 is replaced. A table
// cell also loses tabs and line breaks (they would break its row: each
// becomes a space); a message keeps them when multiline is true.
func printable(s string, multiline bool) string {
	clean := true
	for _, r := range s {
		if unicode.IsControl(r) || isBidiControl(r) || r == unicode.ReplacementChar {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			if multiline && r != '\r' {
				b.WriteRune(r)
			} else {
				b.WriteByte(' ')
			}
		case unicode.IsControl(r) || isBidiControl(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isBidiControl reports the embedding, override and isolate characters
// that make a terminal show text in another order than it is stored.
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') || r == '\u200E' || r == '\u200F' || r == '\u061C'
}
