package sources

import (
	"strings"

	"github.com/tidwall/gjson"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

// Inbound reads aggregator "incoming message" webhooks: the conversation-level
// shape (recent messages, summary, last user and system messages, labels,
// notes ...), Chatwoot's message_created and GoHighLevel's InboundMessage.
// Names are accepted liberally; docs/sources.md shows the canonical shape.
type Inbound struct {
	base
}

var _ Source = (*Inbound)(nil)

// Limits for the recent_messages attribute: enough context for a person on
// duty, short enough for a Slack line.
const (
	recentMessagesMax   = 5
	recentMessagesChars = 500
)

func (s *Inbound) Parse(d delivery.Delivery) ([]event.Event, error) {
	root, err := parseJSON(d.Body)
	if err != nil {
		return nil, err
	}
	items := []gjson.Result{root}
	switch {
	case root.IsArray():
		items = root.Array()
	case root.IsObject() && !s.recognised(root):
		// Batched or wrapped deliveries: {"data": [...]} or {"data": {...}}.
		if w := root.Get("data"); w.IsArray() || (w.IsObject() && s.recognised(w)) {
			items = itemsOf(w)
		}
	default:
		if !root.IsObject() {
			return nil, BadPayload(TypeInbound, "the body is %s, not an object", kindOfJSON(root))
		}
	}
	var out []event.Event
	read := 0
	for _, item := range items {
		if !item.IsObject() || !s.recognised(item) {
			out = append(out, s.unknown(d, "", []byte(item.Raw)))
			continue
		}
		read++
		out = append(out, s.item(d, item))
	}
	if read == 0 && len(items) > 0 {
		return nil, BadPayload(TypeInbound, "no phone_number, last_user_message or recent_messages, and not a Chatwoot event or a GoHighLevel InboundMessage")
	}
	return out, nil
}

// isChatwoot tells Chatwoot's webhook bodies apart: an event name and the
// objects Chatwoot puts beside it, or one of its event names. Chatwoot adds
// event kinds over time; every one of them must be read as Chatwoot's.
func isChatwoot(r gjson.Result) bool {
	ev := r.Get("event")
	if ev.Type != gjson.String {
		return false
	}
	for _, k := range []string{"conversation", "account", "inbox", "sender", "contact", "current_conversation", "contact_inbox"} {
		if r.Get(k).Exists() {
			return true
		}
	}
	name := strings.ToLower(ev.Str)
	for _, p := range []string{"message_", "conversation_", "contact_", "webwidget_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func (s *Inbound) recognised(r gjson.Result) bool {
	if isChatwoot(r) {
		return true
	}
	if strings.HasSuffix(str(r, "type"), "boundMessage") {
		return true // GoHighLevel
	}
	return str(r, inboundPhone...) != "" || str(r, "last_user_message", "lastUserMessage") != "" ||
		str(r, inboundUserID...) != "" ||
		r.Get("recent_messages").Exists() || r.Get("recentMessages").Exists()
}

// The spellings the inbound type reads for each field, snake_case and
// camelCase, as aggregators document them.
var (
	inboundPhone       = []string{"phone_number", "phoneNumber", "phone", "wa_id", "waId", "from", "whatsapp_number", "whatsappNumber", "contact.phone_number", "contact.phoneNumber"}
	inboundUserMessage = []string{"last_user_message", "lastUserMessage", "last_message", "lastMessage", "message", "text", "body"}
	inboundUserID      = []string{"business_scoped_user_id", "businessScopedUserId", "whatsapp_user_id", "whatsappUserId", "bsuid"}
)

func (s *Inbound) item(d delivery.Delivery, r gjson.Result) event.Event {
	switch {
	case isChatwoot(r):
		return s.chatwoot(d, r)
	case strings.HasSuffix(str(r, "type"), "boundMessage"):
		return s.highLevel(d, r)
	}
	e := s.newEvent(d, event.KindMessage, "received")
	e.MessageID = str(r, "message_id", "messageId", "last_message_id", "lastMessageId", "wamid")
	e.RecipientID = phoneDigits(str(r, inboundPhone...))
	e.RecipientUserID = str(r, inboundUserID...)
	e.Message = str(r, inboundUserMessage...)
	e.SetAttr("direction", "incoming")
	e.SetAttr("name", str(r, "name", "contact_name", "contactName", "customer_name", "customerName", "profile_name", "profileName", "contact.name"))
	e.SetAttr("username", str(r, "username", "user_name", "userName"))
	e.SetAttr("user_id", str(r, "user_id", "userId", "contact_id", "contactId", "external_id", "externalId", "customer_id", "customerId"))
	e.SetAttr("conversation_id", str(r, "conversation_id", "conversationId", "conversation.id"))
	e.SetAttr("summary", str(r, "summary", "conversation_summary", "conversationSummary"))
	e.SetAttr("last_user_message", e.Message)
	e.SetAttr("last_system_message", str(r, "last_system_message", "lastSystemMessage", "last_bot_message", "lastBotMessage", "last_agent_message", "lastAgentMessage"))
	e.SetAttr("message_type", strings.ToLower(str(r, "message_type", "messageType", "type")))
	e.SetAttr("media_url", str(r, "media_url", "mediaUrl", "mediaURL"))
	e.SetAttr("notes", str(r, "notes", "note", "custom_note", "customNote"))
	e.SetAttr("automation_notes", str(r, "automation_notes", "automationNotes", "automation_note", "automationNote"))
	e.SetAttr("labels", joinList(first2(r, "labels", "tags")))
	e.SetAttr("recent_messages", recentMessages(first2(r, "recent_messages", "recentMessages")))
	if t, ok := parseTime(first2(r, "last_system_message_at", "lastSystemMessageAt", "last_system_message_timestamp", "lastSystemMessageTimestamp")); ok {
		e.SetAttr("last_system_message_at", t.Format("2006-01-02T15:04:05Z07:00"))
	}
	setTime(&e, r, "last_user_message_at", "lastUserMessageAt", "last_user_message_timestamp", "lastUserMessageTimestamp",
		"timestamp", "created_at", "createdAt")
	e.ID = s.itemID(e.MessageID, r)
	return e
}

func (s *Inbound) itemID(messageID string, r gjson.Result) string {
	if messageID != "" {
		return s.id("message", messageID)
	}
	return s.id("item", canonical([]byte(r.Raw)))
}

// chatwoot reads Chatwoot's webhook body; message_created is a message,
// any other Chatwoot event is kept as unknown with its name as status.
func (s *Inbound) chatwoot(d delivery.Delivery, r gjson.Result) event.Event {
	name := strings.ToLower(str(r, "event"))
	if name != "message_created" {
		e := s.unknown(d, name, []byte(r.Raw))
		e.SetAttr("event", name)
		return e
	}
	direction := strings.ToLower(str(r, "message_type"))
	status := "received"
	if direction == "outgoing" || direction == "template" {
		status = "sent"
	}
	e := s.newEvent(d, event.KindMessage, status)
	e.MessageID = first(str(r, "source_id"), str(r, "id"))
	e.Message = str(r, "content")
	e.RecipientID = phoneDigits(str(r, "sender.phone_number", "conversation.meta.sender.phone_number", "contact.phone_number"))
	e.SetAttr("event", name)
	e.SetAttr("direction", direction)
	e.SetAttr("name", str(r, "sender.name", "conversation.meta.sender.name", "contact.name"))
	e.SetAttr("user_id", str(r, "sender.id", "contact.id"))
	e.SetAttr("conversation_id", str(r, "conversation.id"))
	e.SetAttr("conversation_status", str(r, "conversation.status"))
	e.SetAttr("labels", joinList(r.Get("conversation.labels")))
	e.SetAttr("recent_messages", recentMessages(r.Get("conversation.messages")))
	e.SetAttr("message_type", first(str(r, "attachments.0.file_type"), str(r, "content_type")))
	e.SetAttr("media_url", str(r, "attachments.0.data_url"))
	e.SetAttr("inbox", str(r, "inbox.name"))
	e.SetAttr("account", str(r, "account.name"))
	if status == "sent" {
		e.SetAttr("last_system_message", e.Message)
	} else {
		e.SetAttr("last_user_message", e.Message)
	}
	setTime(&e, r, "created_at")
	e.ID = s.itemID(str(r, "id"), r)
	return e
}

// highLevel reads GoHighLevel's InboundMessage (and OutboundMessage).
func (s *Inbound) highLevel(d delivery.Delivery, r gjson.Result) event.Event {
	status, direction := "received", "incoming"
	if str(r, "type") == "OutboundMessage" || strings.EqualFold(str(r, "direction"), "outbound") {
		status, direction = "sent", "outgoing"
	}
	e := s.newEvent(d, event.KindMessage, status)
	e.MessageID = str(r, "messageId")
	e.Message = str(r, "body")
	if direction == "incoming" {
		e.RecipientID, e.PhoneNumberID = phoneDigits(str(r, "from")), phoneDigits(str(r, "to"))
	} else {
		e.RecipientID, e.PhoneNumberID = phoneDigits(str(r, "to")), phoneDigits(str(r, "from"))
	}
	e.SetAttr("event", str(r, "type"))
	e.SetAttr("direction", direction)
	e.SetAttr("user_id", str(r, "contactId"))
	e.SetAttr("conversation_id", str(r, "conversationId"))
	e.SetAttr("message_type", strings.ToLower(str(r, "messageType")))
	e.SetAttr("media_url", str(r, "attachments.0"))
	e.SetAttr("location_id", str(r, "locationId"))
	e.SetAttr("provider_status", str(r, "status"))
	setTime(&e, r, "dateAdded")
	e.ID = s.itemID(e.MessageID, r)
	return e
}

// first2 returns the first path that exists.
func first2(r gjson.Result, paths ...string) gjson.Result {
	for _, p := range paths {
		if v := r.Get(p); v.Exists() && v.Type != gjson.Null {
			return v
		}
	}
	return gjson.Result{}
}

// joinList renders labels given as an array or as a comma list as
// "a,b,c"; Chatwoot-like arrays of objects give their names.
func joinList(r gjson.Result) string {
	if !r.Exists() || r.Type == gjson.Null {
		return ""
	}
	var parts []string
	if r.IsArray() {
		for _, v := range r.Array() {
			t := v.String()
			if v.IsObject() {
				t = str(v, "name", "title", "label")
			}
			if t = strings.TrimSpace(t); t != "" {
				parts = append(parts, t)
			}
		}
	} else {
		for _, p := range strings.Split(r.String(), ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
	}
	return strings.Join(parts, ",")
}

// recentMessages joins the last few messages as "role: text | role: text".
func recentMessages(r gjson.Result) string {
	if !r.IsArray() {
		if r.Type == gjson.String {
			return truncate(strings.TrimSpace(r.Str), recentMessagesChars)
		}
		return ""
	}
	all := r.Array()
	if len(all) > recentMessagesMax {
		all = all[len(all)-recentMessagesMax:]
	}
	var parts []string
	for _, m := range all {
		var role, text string
		if m.IsObject() {
			role = str(m, "role", "sender", "from", "author", "direction", "sender_type")
			text = str(m, "content", "text", "message", "body")
			if role == "" {
				// Chatwoot: message_type 0 incoming, 1 outgoing.
				switch str(m, "message_type") {
				case "0", "incoming":
					role = "user"
				case "1", "outgoing":
					role = "agent"
				}
			}
		} else {
			text = m.String()
		}
		text = strings.Join(strings.Fields(text), " ")
		if text == "" {
			continue
		}
		if role != "" {
			text = role + ": " + text
		}
		parts = append(parts, text)
	}
	return truncate(strings.Join(parts, " | "), recentMessagesChars)
}
