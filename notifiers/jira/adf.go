package jira

import (
	"strings"
)

// adf is a node of the Atlassian Document Format, which REST API v3 wants
// for descriptions and comments.
type adf = map[string]any

// wikiToADF turns the wiki markup the templates write (headings h1.–h6.,
// "# " and "* " lists, ||header|| and |cell| tables, *bold*, [text|url]
// links, blank lines between paragraphs, \-escapes) into an ADF document,
// so one set of templates serves REST API v2 and v3. Anything else is kept
// as text.
func wikiToADF(s string) adf {
	var blocks []any
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var para []string
	flush := func() {
		if len(para) == 0 {
			return
		}
		var content []any
		for i, l := range para {
			if i > 0 {
				content = append(content, adf{"type": "hardBreak"})
			}
			content = append(content, inlineADF(l)...)
		}
		if len(content) > 0 {
			blocks = append(blocks, adf{"type": "paragraph", "content": content})
		}
		para = nil
	}
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case headingLevel(l) > 0:
			flush()
			level := headingLevel(l)
			blocks = append(blocks, adf{"type": "heading", "attrs": adf{"level": level},
				"content": inlineADF(strings.TrimSpace(l[3:]))})
		case listKind(l) != "":
			flush()
			kind := listKind(l)
			var items []any
			for ; i < len(lines) && listKind(strings.TrimRight(lines[i], " \t")) == kind; i++ {
				text := strings.TrimSpace(strings.TrimRight(lines[i], " \t")[2:])
				items = append(items, adf{"type": "listItem", "content": []any{paragraphADF(text)}})
			}
			i--
			blocks = append(blocks, adf{"type": kind, "content": items})
		case strings.HasPrefix(l, "|"):
			flush()
			var rows []any
			for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
				rows = append(rows, tableRowADF(strings.TrimSpace(lines[i])))
			}
			i--
			blocks = append(blocks, adf{"type": "table", "content": rows})
		default:
			para = append(para, l)
		}
	}
	flush()
	if len(blocks) == 0 {
		// Jira refuses an empty document as a comment body.
		blocks = append(blocks, paragraphADF("-"))
	}
	return adf{"type": "doc", "version": 1, "content": blocks}
}

func headingLevel(l string) int {
	if len(l) >= 3 && l[0] == 'h' && l[1] >= '1' && l[1] <= '6' && l[2] == '.' {
		return int(l[1] - '0')
	}
	return 0
}

func listKind(l string) string {
	switch {
	case strings.HasPrefix(l, "# "):
		return "orderedList"
	case strings.HasPrefix(l, "* "):
		return "bulletList"
	}
	return ""
}

func paragraphADF(text string) adf {
	content := inlineADF(text)
	if len(content) == 0 {
		content = []any{textADF("-", nil)}
	}
	return adf{"type": "paragraph", "content": content}
}

// tableRowADF reads "||a||b||" (a header row) or "|a|b|".
func tableRowADF(l string) adf {
	cellType, sep := "tableCell", "|"
	if strings.HasPrefix(l, "||") {
		cellType, sep = "tableHeader", "||"
	}
	cells := splitUnescaped(strings.TrimSuffix(strings.TrimPrefix(l, sep), sep), sep)
	row := make([]any, 0, len(cells))
	for _, c := range cells {
		row = append(row, adf{"type": cellType, "content": []any{paragraphADF(strings.TrimSpace(c))}})
	}
	return adf{"type": "tableRow", "content": row}
}

// splitUnescaped splits s on sep where sep is not preceded by a backslash.
func splitUnescaped(s, sep string) []string {
	var out []string
	start := 0
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i:i+len(sep)] == sep {
			out = append(out, s[start:i])
			i += len(sep) - 1
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func textADF(s string, marks []any) adf {
	n := adf{"type": "text", "text": s}
	if len(marks) > 0 {
		n["marks"] = marks
	}
	return n
}

// inlineADF reads *bold* and [text|url] and unescapes the rest.
func inlineADF(s string) []any {
	var out []any
	var buf strings.Builder
	emit := func(marks []any) {
		if buf.Len() > 0 {
			out = append(out, textADF(buf.String(), marks))
			buf.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			buf.WriteByte(s[i])
		case c == '*' && (i == 0 || s[i-1] == ' ' || s[i-1] == '('):
			end := closing(s, i+1, '*')
			if end < 0 || end == i+1 {
				buf.WriteByte(c)
				continue
			}
			emit(nil)
			buf.WriteString(unescape(s[i+1 : end]))
			emit([]any{adf{"type": "strong"}})
			i = end
		case c == '[':
			end := closing(s, i+1, ']')
			if end < 0 {
				buf.WriteByte(c)
				continue
			}
			text, href, ok := strings.Cut(s[i+1:end], "|")
			if !ok {
				text, href = href, text
			}
			if !isURL(href) {
				buf.WriteString(unescape(s[i : end+1]))
				i = end
				continue
			}
			if text == "" {
				text = href
			}
			emit(nil)
			buf.WriteString(unescape(text))
			emit([]any{adf{"type": "link", "attrs": adf{"href": href}}})
			i = end
		default:
			buf.WriteByte(c)
		}
	}
	emit(nil)
	return out
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "mailto:")
}

// closing finds the unescaped byte c from i on, -1 when there is none.
func closing(s string, i int, c byte) int {
	for ; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == c {
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
