package jiratest

import (
	"errors"
	"fmt"
	"strings"
)

// The nodes of the Atlassian Document Format the fake accepts, with the
// children each may hold. Jira's own schema is larger; these are the ones a
// notifier has a reason to send.
var (
	adfBlocks = map[string]bool{
		"paragraph": true, "heading": true, "bulletList": true, "orderedList": true,
		"codeBlock": true, "blockquote": true, "rule": true, "table": true, "panel": true,
	}
	adfInline = map[string]bool{"text": true, "hardBreak": true, "mention": true, "emoji": true, "inlineCard": true}
	adfMarks  = map[string]bool{"strong": true, "em": true, "code": true, "strike": true, "underline": true, "link": true, "subsup": true, "textColor": true}
	adfKeys   = map[string]bool{"type": true, "content": true, "attrs": true, "marks": true, "text": true}
)

// ValidateADF reports why v is not an ADF document Jira would accept.
func ValidateADF(v any) error {
	doc, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want an ADF document object, got %T", v)
	}
	if doc["type"] != "doc" {
		return errors.New(`the top node's type must be "doc"`)
	}
	if fmt.Sprint(doc["version"]) != "1" {
		return errors.New("the document's version must be 1")
	}
	for k := range doc {
		if k != "type" && k != "version" && k != "content" {
			return fmt.Errorf("unknown key %q on the doc node", k)
		}
	}
	content, ok := doc["content"].([]any)
	if !ok {
		return errors.New("the doc node needs a content array")
	}
	return children("doc", content, func(t string) bool { return adfBlocks[t] })
}

func children(parent string, content []any, allowed func(string) bool) error {
	for i, c := range content {
		n, ok := c.(map[string]any)
		if !ok {
			return fmt.Errorf("%s.content[%d] is not a node", parent, i)
		}
		t, _ := n["type"].(string)
		if !allowed(t) {
			return fmt.Errorf("a %q node cannot be inside %s", t, parent)
		}
		if err := node(t, n); err != nil {
			return fmt.Errorf("%s.content[%d]: %w", parent, i, err)
		}
	}
	return nil
}

func node(t string, n map[string]any) error {
	for k := range n {
		if !adfKeys[k] {
			return fmt.Errorf("unknown key %q on a %s node", k, t)
		}
	}
	content, hasContent := n["content"].([]any)
	if _, present := n["content"]; present && !hasContent {
		return fmt.Errorf("%s.content must be an array", t)
	}
	inline := func(x string) bool { return adfInline[x] }
	switch t {
	case "text":
		s, _ := n["text"].(string)
		if s == "" {
			return errors.New("a text node needs non-empty text")
		}
		marks, _ := n["marks"].([]any)
		for _, m := range marks {
			mm, _ := m.(map[string]any)
			mt, _ := mm["type"].(string)
			if !adfMarks[mt] {
				return fmt.Errorf("unknown mark %q", mt)
			}
			if mt == "link" {
				attrs, _ := mm["attrs"].(map[string]any)
				if href, _ := attrs["href"].(string); href == "" {
					return errors.New("a link mark needs attrs.href")
				}
			}
		}
		return nil
	case "hardBreak", "rule", "mention", "emoji":
		return nil
	case "inlineCard":
		attrs, _ := n["attrs"].(map[string]any)
		if u, _ := attrs["url"].(string); u == "" {
			return errors.New("an inlineCard needs attrs.url")
		}
		return nil
	case "paragraph":
		return children(t, content, inline)
	case "heading":
		attrs, _ := n["attrs"].(map[string]any)
		switch fmt.Sprint(attrs["level"]) {
		case "1", "2", "3", "4", "5", "6":
		default:
			return errors.New("a heading needs attrs.level 1 to 6")
		}
		return children(t, content, inline)
	case "codeBlock":
		return children(t, content, func(x string) bool { return x == "text" })
	case "bulletList", "orderedList":
		if len(content) == 0 {
			return fmt.Errorf("a %s needs at least one listItem", t)
		}
		return children(t, content, func(x string) bool { return x == "listItem" })
	case "listItem":
		return children(t, content, func(x string) bool {
			return x == "paragraph" || x == "bulletList" || x == "orderedList" || x == "codeBlock"
		})
	case "blockquote", "panel":
		return children(t, content, func(x string) bool { return x == "paragraph" || x == "bulletList" || x == "orderedList" })
	case "table":
		return children(t, content, func(x string) bool { return x == "tableRow" })
	case "tableRow":
		return children(t, content, func(x string) bool { return x == "tableHeader" || x == "tableCell" })
	case "tableHeader", "tableCell":
		return children(t, content, func(x string) bool { return adfBlocks[x] && x != "table" })
	}
	return fmt.Errorf("unknown node type %q", t)
}

// ADFText flattens an ADF document to plain text: blocks on their own
// lines, link targets in parentheses after their text.
func ADFText(v any) string {
	var b strings.Builder
	flatten(&b, v)
	return strings.TrimSpace(b.String())
}

func flatten(b *strings.Builder, v any) {
	n, ok := v.(map[string]any)
	if !ok {
		return
	}
	t, _ := n["type"].(string)
	if t == "text" {
		s, _ := n["text"].(string)
		b.WriteString(s)
		marks, _ := n["marks"].([]any)
		for _, m := range marks {
			mm, _ := m.(map[string]any)
			if mm["type"] == "link" {
				attrs, _ := mm["attrs"].(map[string]any)
				if href, _ := attrs["href"].(string); href != "" && href != s {
					b.WriteString(" (" + href + ")")
				}
			}
		}
		return
	}
	if t == "hardBreak" {
		b.WriteString("\n")
		return
	}
	if t == "inlineCard" {
		attrs, _ := n["attrs"].(map[string]any)
		u, _ := attrs["url"].(string)
		b.WriteString(u)
		return
	}
	content, _ := n["content"].([]any)
	for i, c := range content {
		if t == "tableRow" {
			// A row reads "a | b" on one line.
			if i > 0 {
				b.WriteString(" | ")
			}
			var cell strings.Builder
			flatten(&cell, c)
			b.WriteString(strings.TrimSpace(cell.String()))
			continue
		}
		flatten(b, c)
	}
	switch t {
	case "paragraph", "heading", "codeBlock", "tableRow", "rule":
		b.WriteString("\n")
	}
}
