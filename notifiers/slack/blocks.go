package slack

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
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
func buildBlocks(nt *notification.Notification, c content, f form) []goslack.Block {
	d := templates.DataFor(nt)
	header := severityEmoji(d.Severity()) + " " + c.title
	if f == formResolved {
		header = ":white_check_mark: Resolved: " + c.title
	}
	blocks := []goslack.Block{goslack.NewHeaderBlock(plain(templates.Truncate(header, maxHeader)))}
	if (f == formRepeat || f == formResolved) && c.extra != "" {
		blocks = append(blocks, section(c.extra))
	} else if note := noteOf(nt); note != "" && nt.Op != notification.OpAck {
		// An acknowledgement shows as its own line below; its note is
		// for the thread.
		blocks = append(blocks, section(":pushpin: "+templates.SlackEscape(note)))
	}
	if inc := nt.Incident; inc != nil && inc.AckedBy != "" && f != formRepeat {
		blocks = append(blocks, section(":eyes: *Acknowledged* by "+templates.SlackEscape(inc.AckedBy)+" at "+slackDate(inc.AckedAt)))
	}
	if f != formRepeat {
		if c.text != "" {
			blocks = append(blocks, section(c.text))
		}
		if fs := fields(nt, f); len(fs) > 0 {
			blocks = append(blocks, goslack.NewSectionBlock(nil, fs, nil))
		}
		if f != formResolved && c.actions != "" {
			blocks = append(blocks, section(c.actions))
		}
	}
	if l := linksLine(c.links); l != "" && f != formRepeat {
		blocks = append(blocks, goslack.NewContextBlock("", mrkdwn(templates.Truncate(l, maxSection))))
	}
	blocks = append(blocks, goslack.NewContextBlock("", mrkdwn(templates.Truncate(contextLine(nt), maxSection))))
	return limitBlocks(blocks)
}

func fields(nt *notification.Notification, f form) []*goslack.TextBlockObject {
	e := nt.Event
	d := templates.DataFor(nt)
	phone := templates.SlackEscape(e.DisplayPhoneNumber)
	if e.PhoneNumberID != "" && e.PhoneNumberID != e.DisplayPhoneNumber {
		if e.DisplayPhoneNumber == "" {
			phone = "id " + templates.SlackEscape(e.PhoneNumberID)
		} else {
			phone += " (id " + templates.SlackEscape(e.PhoneNumberID) + ")"
		}
	}
	code := ""
	if e.Code != 0 {
		code = "`" + strconv.Itoa(e.Code) + "`"
	}
	a := e.Attributes
	tmpl := templates.SlackEscape(a["template_name"])
	if tmpl != "" && a["template_language"] != "" {
		tmpl += " (" + templates.SlackEscape(a["template_language"]) + ")"
	}
	// Only what the event carries: an empty field ("Code —") says
	// nothing and pushes the facts that matter out of view.
	pairs := [][2]string{
		{"Severity", string(d.Severity())},
		{"Code", code},
		{"Phone number", phone},
		{"WABA", templates.SlackEscape(e.WABAID)},
		{"Instance", templates.SlackEscape(a["instance"])},
		{"Template", tmpl},
		{"Reason", templates.SlackEscape(firstNonEmpty(a["reason"], a["rejection_reason"]))},
		{"Ban date", templates.SlackEscape(a["ban_date"])},
		{"Messaging limit", templates.SlackEscape(arrow(a["old_limit"], a["current_limit"]))},
		{"Quality", templates.SlackEscape(arrow(a["previous_quality"], a["new_quality"]))},
		// A support channel is wide: never the customer's full number.
		{"Recipient", event.MaskPhone(e.Recipient())},
		{"Time", slackDate(e.Timestamp)},
	}
	if inc := nt.Incident; inc != nil && (f == formUpdate || f == formResolved) {
		pairs = append(pairs,
			[2]string{"Occurrences", strconv.Itoa(inc.Count)},
			[2]string{"Last seen", slackDate(inc.LastSeen)})
	}
	out := make([]*goslack.TextBlockObject, 0, maxFields)
	for _, p := range pairs {
		if p[1] == "" || strings.EqualFold(p[1], "none") || len(out) == maxFields {
			continue
		}
		out = append(out, mrkdwn(templates.Truncate("*"+p[0]+"*\n"+p[1], maxField)))
	}
	return out
}

func firstNonEmpty(list ...string) string {
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// arrow says "old → new", or the side that is known.
func arrow(old, cur string) string {
	switch {
	case old != "" && cur != "":
		return old + " → " + cur
	case cur != "":
		return cur
	}
	return ""
}

// linksLine shows the incident's links (its Jira ticket, the provider's
// docs, the runbook) as Slack links; empty when there are none.
func linksLine(links []templates.Link) string {
	if len(links) == 0 {
		return ""
	}
	parts := make([]string, 0, len(links))
	for _, l := range links {
		if l.Notifier == Name {
			continue // this is the Slack message
		}
		parts = append(parts, slackLink(l.URL, l.Name))
	}
	if len(parts) == 0 {
		return ""
	}
	return ":link: " + strings.Join(parts, " · ")
}

// slackLink writes <url|text> with the characters that would end the link
// early encoded.
func slackLink(u, text string) string {
	u = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20").Replace(u)
	return "<" + u + "|" + templates.SlackEscape(text) + ">"
}

func contextLine(nt *notification.Notification) string {
	parts := []string{}
	if nt.Test {
		parts = append(parts, "*Test notification* from `wabridge notify-test`: not a real incident")
	}
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
		return ""
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04:05 UTC"))
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
