package slack

import (
	"slices"

	goslack "github.com/slack-go/slack"
	"github.com/wabridge/wabridge/internal/notification"
)

// The action_id of each incident button; its value is the incident's
// fingerprint. POST /slack/interactions acts on them.
const (
	ActionAck        = "ack"
	ActionResolve    = "resolve"
	ActionSilence1h  = "silence_1h"
	ActionSilence24h = "silence_24h"
	// ActionOpenJira asks for the incident's Jira ticket, when its rule
	// has a jira action with on_demand: true that nobody asked for yet.
	ActionOpenJira = "open_jira"
)

// ButtonsBlockID names the actions block, so a click can be told from
// other blocks' elements.
const ButtonsBlockID = "wabridge_incident"

// maxButtonValue is Slack's limit on a button's value.
const maxButtonValue = 2000

// withButtons adds the incident buttons before the context line, when
// clicks can be taken (Config.Buttons) and the notification is of an open
// incident. The message stays within Slack's 50 blocks.
func (n *Notifier) withButtons(nt *notification.Notification, blocks []goslack.Block) []goslack.Block {
	inc := nt.Incident
	if !n.cfg.Buttons() || inc == nil || inc.Fingerprint == "" || len(inc.Fingerprint) > maxButtonValue ||
		inc.Status == "resolved" || len(blocks) == 0 {
		return blocks
	}
	fp := inc.Fingerprint
	var buttons []goslack.BlockElement
	if inc.AckedBy == "" {
		ack := goslack.NewButtonBlockElement(ActionAck, fp, plain("Acknowledge"))
		ack.Style = goslack.StylePrimary
		buttons = append(buttons, ack)
	}
	resolve := goslack.NewButtonBlockElement(ActionResolve, fp, plain("Resolve"))
	resolve.Confirm = goslack.NewConfirmationBlockObject(plain("Resolve this incident?"),
		plain("The message is marked resolved, and the next event of its kind opens a new incident."),
		plain("Resolve"), plain("Cancel"))
	buttons = append(buttons,
		goslack.NewButtonBlockElement(ActionSilence1h, fp, plain("Silence 1h")),
		goslack.NewButtonBlockElement(ActionSilence24h, fp, plain("Silence 24h")),
		resolve,
	)
	if slices.Contains(inc.OnDemand, "jira") {
		buttons = append(buttons, goslack.NewButtonBlockElement(ActionOpenJira, fp, plain("Open Jira ticket")))
	}
	actions := goslack.NewActionBlock(ButtonsBlockID, buttons...)
	if len(blocks) >= maxBlocks {
		// Make room by dropping the block before the last, which is
		// content; the last is the context line or the truncation note.
		blocks = append(blocks[:maxBlocks-2:maxBlocks-2], blocks[len(blocks)-1])
	}
	last := blocks[len(blocks)-1]
	out := make([]goslack.Block, 0, len(blocks)+1)
	out = append(out, blocks[:len(blocks)-1]...)
	return append(out, actions, last)
}
