package slacktest

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// ValidateBlocks checks a Block Kit array as Slack does for messages and
// returns Slack-style messages ("must be less than 3001 characters
// [json-pointer:/blocks/1/text/text]"); none when Slack would accept it.
func ValidateBlocks(raw []byte) []string {
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return []string{"invalid_blocks_format: " + err.Error()}
	}
	var errs []string
	add := func(ptr, msg string) { errs = append(errs, fmt.Sprintf("%s [json-pointer:%s]", msg, ptr)) }
	if len(blocks) > MaxBlocks {
		add("/blocks", fmt.Sprintf("no more than %d items allowed", MaxBlocks))
	}
	ids := map[string]bool{}
	for i, b := range blocks {
		p := fmt.Sprintf("/blocks/%d", i)
		if id, ok := b["block_id"].(string); ok {
			if utf8.RuneCountInString(id) > MaxBlockID {
				add(p+"/block_id", "must be less than 256 characters")
			}
			if ids[id] {
				add(p+"/block_id", "duplicate block_id")
			}
			ids[id] = true
		}
		switch t, _ := b["type"].(string); t {
		case "header":
			textObject(add, p+"/text", b["text"], MaxHeaderText, true)
		case "section":
			_, hasText := b["text"]
			fields, hasFields := b["fields"].([]any)
			if !hasText && !hasFields {
				add(p, "must provide either text or fields")
			}
			if hasText {
				textObject(add, p+"/text", b["text"], MaxSectionText, false)
			}
			if hasFields {
				if len(fields) == 0 {
					add(p+"/fields", "must have at least 1 item")
				}
				if len(fields) > MaxFields {
					add(p+"/fields", fmt.Sprintf("no more than %d items allowed", MaxFields))
				}
				for j, f := range fields {
					textObject(add, fmt.Sprintf("%s/fields/%d", p, j), f, MaxField, false)
				}
			}
		case "context":
			elems, _ := b["elements"].([]any)
			if len(elems) == 0 {
				add(p+"/elements", "must have at least 1 item")
			}
			if len(elems) > MaxContextElems {
				add(p+"/elements", fmt.Sprintf("no more than %d items allowed", MaxContextElems))
			}
			for j, e := range elems {
				ep := fmt.Sprintf("%s/elements/%d", p, j)
				if m, _ := e.(map[string]any); m["type"] == "image" {
					if m["image_url"] == nil || m["alt_text"] == nil {
						add(ep, "an image needs image_url and alt_text")
					}
					continue
				}
				textObject(add, ep, e, MaxSectionText, false)
			}
		case "divider":
		case "actions":
			elems, _ := b["elements"].([]any)
			if len(elems) == 0 || len(elems) > 25 {
				add(p+"/elements", "must have between 1 and 25 items")
			}
			actionIDs := map[string]bool{}
			for j, e := range elems {
				ep := fmt.Sprintf("%s/elements/%d", p, j)
				m, _ := e.(map[string]any)
				if m["type"] != "button" {
					continue
				}
				textObject(add, ep+"/text", m["text"], 75, true)
				id, _ := m["action_id"].(string)
				if utf8.RuneCountInString(id) > 255 {
					add(ep+"/action_id", "must be less than 256 characters")
				}
				if id != "" && actionIDs[id] {
					add(ep+"/action_id", "duplicate action_id")
				}
				actionIDs[id] = true
				if v, _ := m["value"].(string); utf8.RuneCountInString(v) > 2000 {
					add(ep+"/value", "must be less than 2001 characters")
				}
			}
		case "rich_text", "image", "markdown":
		case "":
			add(p+"/type", "missing required field: type")
		default:
			add(p+"/type", fmt.Sprintf("unknown block type %q", t))
		}
	}
	return errs
}

// textObject checks a composition text object.
func textObject(add func(ptr, msg string), p string, v any, max int, plainOnly bool) {
	m, ok := v.(map[string]any)
	if !ok {
		add(p, "must be a text object")
		return
	}
	t, _ := m["type"].(string)
	switch {
	case t != "plain_text" && t != "mrkdwn":
		add(p+"/type", `must be one of "plain_text", "mrkdwn"`)
	case plainOnly && t != "plain_text":
		add(p+"/type", `must be "plain_text"`)
	}
	text, _ := m["text"].(string)
	n := utf8.RuneCountInString(text)
	switch {
	case n == 0:
		add(p+"/text", "must be more than 0 characters")
	case n > max:
		add(p+"/text", fmt.Sprintf("must be less than %d characters", max+1))
	}
	if _, ok := m["verbatim"]; ok && t == "plain_text" {
		add(p+"/verbatim", "verbatim is only allowed on mrkdwn")
	}
}
