package slack

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/templates"
)

// form is which shape of the incident message to build.
type form int

const (
	formOpen     form = iota // the first message
	formUpdate               // the same, with occurrence count and last seen
	formRepeat               // a short follow-up, where there is no thread to reply in
	formResolved             // the message edited to say the incident ended
)

func plain(s string) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.MarkdownType, s, false, false)
}

func section(text string) goslack.Block {
	return goslack.NewSectionBlock(mrkdwn(templates.Truncate(text, maxSection)), nil, nil)
}

// buildBlocks lays out an incident message: header, what happened, the
// facts as fields, what to do, and where it came from.
func buildBlocks(nt *notifiers.Notification, c content, f form) []goslack.Block {
	d := templates.DataFor(nt)
	header := severityEmoji(d.Severity()) + " " + c.title
	if f == formResolved {
		header = ":white_check_mark: Resolved: " + c.title
	}
	blocks := []goslack.Block{goslack.NewHeaderBlock(plain(templates.Truncate(header, maxHeader)))}
	if (f == formRepeat || f == formResolved) && c.extra != "" {
		blocks = append(blocks, section(c.extra))
	} else if note := noteOf(nt); note != "" {
		blocks = append(blocks, section(":pushpin: "+templates.SlackEscape(note)))
	}
	if f != formRepeat {
		if c.text != "" {
			blocks = append(blocks, section(c.text))
		}
		blocks = append(blocks, goslack.NewSectionBlock(nil, fields(nt, f), nil))
		if f != formResolved && c.actions != "" {
			blocks = append(blocks, section(c.actions))
		}
	}
	blocks = append(blocks, goslack.NewContextBlock("", mrkdwn(templates.Truncate(contextLine(nt), maxSection))))
	return limitBlocks(blocks)
}

func fields(nt *notifiers.Notification, f form) []*goslack.TextBlockObject {
	e := nt.Event
	d := templates.DataFor(nt)
	code := "—"
	if e.Code != 0 {
		code = "`" + strconv.Itoa(e.Code) + "`"
	}
	phone := orDash(templates.SlackEscape(e.DisplayPhoneNumber))
	if e.PhoneNumberID != "" && e.PhoneNumberID != e.DisplayPhoneNumber {
		if e.DisplayPhoneNumber == "" {
			phone = "id " + templates.SlackEscape(e.PhoneNumberID)
		} else {
			phone += " (id " + templates.SlackEscape(e.PhoneNumberID) + ")"
		}
	}
	pairs := [][2]string{
		{"Code", code},
		{"Phone number", phone},
		{"WABA", orDash(templates.SlackEscape(e.WABAID))},
		// A support channel is wide: never the customer's full number.
		{"Recipient", orDash(event.MaskPhone(e.Recipient()))},
		{"Time", slackDate(e.Timestamp)},
		{"Severity", string(d.Severity())},
	}
	if inc := nt.Incident; inc != nil && (f == formUpdate || f == formResolved) {
		pairs = append(pairs,
			[2]string{"Occurrences", strconv.Itoa(inc.Count)},
			[2]string{"Last seen", slackDate(inc.LastSeen)})
	}
	out := make([]*goslack.TextBlockObject, 0, maxFields)
	for _, p := range pairs[:min(len(pairs), maxFields)] {
		out = append(out, mrkdwn(templates.Truncate("*"+p[0]+"*\n"+p[1], maxField)))
	}
	return out
}

func contextLine(nt *notifiers.Notification) string {
	parts := []string{}
	if nt.Rule.Name != "" {
		parts = append(parts, "Rule *"+templates.SlackEscape(nt.Rule.Name)+"*")
	}
	if nt.Event.ID != "" {
		parts = append(parts, "Event `"+templates.SlackEscape(nt.Event.ID)+"`")
	}
	if nt.Incident != nil && nt.Incident.Fingerprint != "" {
		parts = append(parts, "Fingerprint `"+templates.SlackEscape(nt.Incident.Fingerprint)+"`")
	}
	if len(parts) == 0 {
		return "wabridge"
	}
	return strings.Join(parts, " · ")
}

// slackDate shows a time in each reader's own time zone, with UTC as the
// fallback for clients that cannot.
func slackDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04:05 UTC"))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// limitBlocks keeps a message within Slack's 50 blocks, saying how many were
// left out rather than having Slack reject the whole message.
func limitBlocks(blocks []goslack.Block) []goslack.Block {
	if len(blocks) <= maxBlocks {
		return blocks
	}
	dropped := len(blocks) - (maxBlocks - 1)
	out := append(blocks[:maxBlocks-1:maxBlocks-1],
		goslack.NewContextBlock("", mrkdwn(fmt.Sprintf("%s: %d more blocks not shown", templates.TruncationMarker, dropped))))
	return out
}
