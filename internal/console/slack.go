package console

import (
	"encoding/json"
	"html"
	"html/template"
	"net/url"
	"regexp"
	"strings"

	"github.com/wabridge/wabridge/internal/admin"
)

// slackMessage is a chat.postMessage (or webhook) request as Slack shows
// it: the blocks in order, or the text when there are none.
type slackMessage struct {
	Channel     string
	Text        template.HTML
	Blocks      []slackBlock
	Attachments []slackAttachment
	Thread      bool
}

type slackBlock struct {
	Type     string // header, section, context, divider, actions, image
	Text     template.HTML
	Fields   []template.HTML
	Elements []template.HTML
	Buttons  []slackButton
	Image    string
}

type slackButton struct {
	Text, Style string
}

type slackAttachment struct {
	Color  string
	Blocks []slackBlock
	Text   template.HTML
}

// slackFromRequest reads a rendered Slack request: chat.postMessage's form
// (blocks, attachments and text as fields) or a webhook's JSON.
func slackFromRequest(rq admin.Request) *slackMessage {
	var blocks, atts, text, channel string
	thread := false
	if strings.HasPrefix(rq.ContentType, "application/x-www-form-urlencoded") {
		q, err := url.ParseQuery(rq.Body)
		if err != nil {
			return nil
		}
		blocks, atts, text, channel = q.Get("blocks"), q.Get("attachments"), q.Get("text"), q.Get("channel")
		thread = q.Get("thread_ts") != ""
	} else {
		var body struct {
			Text        string          `json:"text"`
			Channel     string          `json:"channel"`
			ThreadTS    string          `json:"thread_ts"`
			Blocks      json.RawMessage `json:"blocks"`
			Attachments json.RawMessage `json:"attachments"`
		}
		if json.Unmarshal([]byte(rq.Body), &body) != nil {
			return nil
		}
		blocks, atts, text, channel = string(body.Blocks), string(body.Attachments), body.Text, body.Channel
		thread = body.ThreadTS != ""
	}
	m := &slackMessage{Channel: channel, Thread: thread, Blocks: parseBlocks(blocks)}
	if len(m.Blocks) == 0 {
		m.Text = mrkdwn(text)
	}
	var raw []struct {
		Color  string          `json:"color"`
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if atts != "" && json.Unmarshal([]byte(atts), &raw) == nil {
		for _, a := range raw {
			color := a.Color
			if !hexColor.MatchString(color) {
				color = "#dddddd"
			}
			m.Attachments = append(m.Attachments, slackAttachment{Color: color, Blocks: parseBlocks(string(a.Blocks)), Text: mrkdwn(a.Text)})
		}
	}
	return m
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{3,8}$`)

type rawText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (t rawText) html() template.HTML {
	if t.Type == "plain_text" {
		return template.HTML(emoji(html.EscapeString(t.Text)))
	}
	return mrkdwn(t.Text)
}

func parseBlocks(s string) []slackBlock {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var raw []struct {
		Type      string    `json:"type"`
		Text      *rawText  `json:"text"`
		Fields    []rawText `json:"fields"`
		ImageURL  string    `json:"image_url"`
		AltText   string    `json:"alt_text"`
		Accessory *struct {
			Type  string  `json:"type"`
			Text  rawText `json:"text"`
			Style string  `json:"style"`
		} `json:"accessory"`
		Elements []struct {
			Type     string  `json:"type"`
			Text     any     `json:"text"`
			Style    string  `json:"style"`
			AltText  string  `json:"alt_text"`
			ImageURL string  `json:"image_url"`
			URL      *string `json:"url"`
		} `json:"elements"`
	}
	if json.Unmarshal([]byte(s), &raw) != nil {
		return nil
	}
	var out []slackBlock
	for _, b := range raw {
		blk := slackBlock{Type: b.Type}
		if b.Text != nil {
			blk.Text = b.Text.html()
		}
		for _, f := range b.Fields {
			blk.Fields = append(blk.Fields, f.html())
		}
		if b.Accessory != nil && b.Accessory.Type == "button" {
			blk.Buttons = append(blk.Buttons, slackButton{Text: b.Accessory.Text.Text, Style: b.Accessory.Style})
		}
		for _, e := range b.Elements {
			switch e.Type {
			case "button":
				var t rawText
				if m, ok := e.Text.(map[string]any); ok {
					t.Text, _ = m["text"].(string)
				}
				blk.Buttons = append(blk.Buttons, slackButton{Text: t.Text, Style: e.Style})
			case "image":
				// No image is fetched: the console loads nothing from
				// outside. Its alt text stands in.
				blk.Elements = append(blk.Elements, template.HTML("[image: "+html.EscapeString(e.AltText)+"]"))
			default:
				if t, ok := e.Text.(string); ok {
					blk.Elements = append(blk.Elements, rawText{Type: e.Type, Text: t}.html())
				}
			}
		}
		if b.Type == "image" {
			blk.Image = b.AltText
		}
		out = append(out, blk)
	}
	return out
}

// slackToken is one of Slack's angle-bracket forms in mrkdwn: a link, a
// mention, a channel, a date, a special mention.
var slackToken = regexp.MustCompile(`<([^<>]+)>`)

var (
	preRe    = regexp.MustCompile("(?s)```(.*?)```")
	codeRe   = regexp.MustCompile("`([^`\n]+)`")
	boldRe   = regexp.MustCompile(`(^|[\s(>])\*([^*\n]+)\*`)
	italicRe = regexp.MustCompile(`(^|[\s(>])_([^_\n]+)_`)
	strikeRe = regexp.MustCompile(`(^|[\s(>])~([^~\n]+)~`)
	emojiRe  = regexp.MustCompile(`:([a-z0-9_+\-]+):`)
)

// mrkdwn renders Slack's mrkdwn as HTML, near enough to judge a message
// by: bold, italic, strike, code, preformatted, quotes, links, mentions and
// dates (shown as their fallback). Every piece of text is escaped first;
// only the markup this builds is HTML.
func mrkdwn(s string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range slackToken.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(inline(s[last:m[0]]))
		b.WriteString(token(s[m[2]:m[3]]))
		last = m[1]
	}
	b.WriteString(inline(s[last:]))
	out := b.String()
	// Quotes: lines starting with "&gt; " (the escaped "> ").
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, "&gt; "); ok {
			lines[i] = "<blockquote>" + rest + "</blockquote>"
		} else if i < len(lines)-1 {
			lines[i] = l + "<br>"
		}
	}
	return template.HTML(strings.Join(lines, ""))
}

// inline renders text outside Slack's angle-bracket tokens.
func inline(s string) string {
	// Slack sends &, < and > escaped; show them as they are meant.
	s = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
	s = html.EscapeString(s)
	var pres []string
	s = preRe.ReplaceAllStringFunc(s, func(m string) string {
		pres = append(pres, "<pre>"+strings.Trim(m[3:len(m)-3], "\n")+"</pre>")
		return "\x00" + string(rune('a'+len(pres)-1)) + "\x00"
	})
	s = codeRe.ReplaceAllString(s, "<code>$1</code>")
	s = boldRe.ReplaceAllString(s, "$1<b>$2</b>")
	s = italicRe.ReplaceAllString(s, "$1<i>$2</i>")
	s = strikeRe.ReplaceAllString(s, "$1<s>$2</s>")
	s = emoji(s)
	for i, p := range pres {
		s = strings.Replace(s, "\x00"+string(rune('a'+i))+"\x00", p, 1)
	}
	return s
}

// token renders one <...> form.
func token(t string) string {
	target, label, hasLabel := strings.Cut(t, "|")
	esc := html.EscapeString
	switch {
	case strings.HasPrefix(target, "@"):
		return `<span class="mention">@` + esc(firstOf(label, target[1:])) + `</span>`
	case strings.HasPrefix(target, "#"):
		return `<span class="mention">#` + esc(firstOf(label, target[1:])) + `</span>`
	case strings.HasPrefix(target, "!date^"):
		return esc(label)
	case strings.HasPrefix(target, "!"):
		return `<span class="mention">@` + esc(strings.TrimPrefix(target, "!")) + `</span>`
	case strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:"):
		if !hasLabel {
			label = target
		}
		return `<a href="` + esc(target) + `" rel="noreferrer noopener" target="_blank">` + esc(label) + `</a>`
	}
	return esc("<" + t + ">")
}

// emojis are the ones wabridge's templates use, as the glyph Slack shows.
var emojis = map[string]string{
	"rotating_light": "🚨", "warning": "⚠️", "white_check_mark": "✅", "link": "🔗", "bell": "🔔",
	"no_bell": "🔕", "eyes": "👀", "fire": "🔥", "information_source": "ℹ️", "x": "❌",
	"heavy_check_mark": "✔️", "memo": "📝", "ticket": "🎫", "hourglass": "⌛", "mute": "🔇",
	"repeat": "🔁", "large_green_circle": "🟢", "red_circle": "🔴", "large_yellow_circle": "🟡",
}

func emoji(s string) string {
	return emojiRe.ReplaceAllStringFunc(s, func(m string) string {
		if g, ok := emojis[m[1:len(m)-1]]; ok {
			return g
		}
		return m
	})
}
