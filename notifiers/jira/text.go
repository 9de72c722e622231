package jira

import (
	"strings"
	"unicode/utf8"
)

// utf16Len counts s the way Jira measures its limits.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}

// truncate cuts s to at most max UTF-16 code units, marker included, on a
// rune boundary. It never fails: a long alert is still an alert.
func truncate(s string, max int, marker string) string {
	if utf16Len(s) <= max {
		return s
	}
	budget := max - utf16Len(marker)
	if budget < 0 {
		budget, marker = max, ""
	}
	n := 0
	for i, r := range s {
		w := runeWidth(r)
		if n+w > budget {
			return s[:i] + marker
		}
		n += w
	}
	return s
}

// sanitizeLabels makes labels Jira accepts: whitespace becomes "_" (Jira
// splits a label on spaces), at most maxLabel long, no empties and no
// duplicates, in their first order.
func sanitizeLabels(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, l := range in {
		l = sanitizeLabel(l)
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		out = append(out, l)
	}
	return out
}

func sanitizeLabel(l string) string {
	l = strings.Join(strings.Fields(l), "_")
	// No marker: a label is an identifier, and the fingerprint label must
	// come out the same on create and on search.
	return truncate(l, maxLabel, "")
}

// fingerprintLabel is the label that ties a ticket to its incident.
func fingerprintLabel(fp string) string { return sanitizeLabel(fingerprintPrefix + fp) }

// jqlEscape escapes a value for a double-quoted JQL string.
func jqlEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
