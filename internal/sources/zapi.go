package sources

import (
	"strings"

	"github.com/tidwall/gjson"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

// ZAPI reads Z-API webhooks, told apart by their "type" field
// (DisconnectedCallback, MessageStatusCallback, ReceivedCallback ...).
type ZAPI struct {
	base
}

var _ Source = (*ZAPI)(nil)

func (s *ZAPI) Parse(d delivery.Delivery) ([]event.Event, error) {
	root, err := parseJSON(d.Body)
	if err != nil {
		return nil, err
	}
	if !root.IsObject() {
		return nil, BadPayload(TypeZAPI, "the body is %s, not an object with \"type\"", kindOfJSON(root))
	}
	typ := str(root, "type")
	if typ == "" {
		return nil, BadPayload(TypeZAPI, "missing \"type\" (Z-API callbacks say DisconnectedCallback, MessageStatusCallback, ReceivedCallback ...)")
	}
	instance := str(root, "instanceId")
	newEvent := func(kind event.Kind, status string) event.Event {
		e := s.newEvent(d, kind, status)
		e.PhoneNumberID = instance
		e.DisplayPhoneNumber = phoneDigits(str(root, "connectedPhone"))
		e.SetAttr("instance", instance)
		e.SetAttr("event", typ)
		// "momment" (sic) is milliseconds in most callbacks and seconds in
		// the disconnect sample: parseTime tells them apart.
		setTime(&e, root, "momment", "moment", "timestamp")
		return e
	}
	switch typ {
	case "DisconnectedCallback":
		e := newEvent(event.KindConnection, "logout")
		e.Message = str(root, "error")
		e.SetAttr("reason", "logged_out")
		e.ID = s.id(typ, instance, str(root, "momment"), e.Message)
		return []event.Event{e}, nil
	case "ConnectedCallback":
		e := newEvent(event.KindConnection, "open")
		e.DisplayPhoneNumber = phoneDigits(first(str(root, "phone"), str(root, "connectedPhone")))
		e.ID = s.id(typ, instance, str(root, "momment"))
		return []event.Event{e}, nil
	case "MessageStatusCallback":
		ids := root.Get("ids")
		if !ids.IsArray() && !root.Get("id").Exists() {
			return nil, BadPayload(TypeZAPI, "MessageStatusCallback without \"ids\"")
		}
		raw := str(root, "status")
		if raw == "" {
			return nil, BadPayload(TypeZAPI, "MessageStatusCallback without \"status\"")
		}
		status := zapiStatus(raw)
		var list []gjson.Result
		if ids.IsArray() {
			list = ids.Array()
		} else {
			list = []gjson.Result{root.Get("id")}
		}
		out := make([]event.Event, 0, len(list))
		for _, id := range list {
			e := newEvent(event.KindStatus, status)
			e.MessageID = id.String()
			e.RecipientID = phoneDigits(str(root, "phone"))
			e.SetAttr("is_group", boolText(root.Get("isGroup")))
			e.ID = s.id("status", e.MessageID, status)
			out = append(out, e)
		}
		return out, nil
	case "DeliveryCallback":
		status := "sent"
		errText := str(root, "error")
		if errText != "" {
			status = "failed"
		}
		e := newEvent(event.KindStatus, status)
		e.Message = errText
		e.MessageID = str(root, "messageId", "zaapId")
		e.RecipientID = phoneDigits(str(root, "phone"))
		e.SetAttr("zaap_id", str(root, "zaapId"))
		e.SetAttr("custom_id", str(root, "customId"))
		e.ID = s.id("status", first(e.MessageID, canonical([]byte(root.Raw))), status)
		return []event.Event{e}, nil
	case "ReceivedCallback":
		id := str(root, "messageId")
		fromMe := root.Get("fromMe").Bool()
		status, direction := "received", "incoming"
		if fromMe {
			status, direction = "sent", "outgoing"
		}
		e := newEvent(event.KindMessage, status)
		e.MessageID = id
		e.RecipientID = phoneDigits(str(root, "phone"))
		msgType, text, media := zapiContent(root)
		e.Message = text
		e.SetAttr("direction", direction)
		e.SetAttr("message_type", msgType)
		e.SetAttr("media_url", media)
		e.SetAttr("name", str(root, "senderName", "chatName"))
		e.SetAttr("chat_name", str(root, "chatName"))
		e.SetAttr("is_group", boolText(root.Get("isGroup")))
		e.SetAttr("provider_status", strings.ToLower(str(root, "status")))
		e.ID = s.id("message", first(id, canonical([]byte(root.Raw))))
		return []event.Event{e}, nil
	}
	e := s.unknown(d, strings.ToLower(typ), []byte(root.Raw))
	e.PhoneNumberID = instance
	e.SetAttr("instance", instance)
	e.SetAttr("event", typ)
	setTime(&e, root, "momment", "moment")
	return []event.Event{e}, nil
}

// zapiStatus maps Z-API's words: RECEIVED means delivered to the phone;
// READ_BY_ME is our side reading the customer's message.
func zapiStatus(s string) string {
	switch strings.ToUpper(s) {
	case "SENT":
		return "sent"
	case "RECEIVED":
		return "delivered"
	case "READ":
		return "read"
	case "READ_BY_ME":
		return "read_by_me"
	case "PLAYED":
		return "played"
	case "PENDING":
		return "pending"
	}
	return strings.ToLower(s)
}

// zapiContent finds the message object present: its type, a text and a
// media URL (Z-API media URLs expire after 30 days).
func zapiContent(root gjson.Result) (msgType, text, media string) {
	switch {
	case root.Get("text").Exists():
		return "text", str(root, "text.message"), ""
	case root.Get("image").Exists():
		return "image", str(root, "image.caption"), str(root, "image.imageUrl")
	case root.Get("audio").Exists():
		return "audio", "", str(root, "audio.audioUrl")
	case root.Get("video").Exists():
		return "video", str(root, "video.caption"), str(root, "video.videoUrl")
	case root.Get("document").Exists():
		return "document", str(root, "document.title", "document.fileName"), str(root, "document.documentUrl")
	case root.Get("location").Exists():
		return "location", str(root, "location.name", "location.address"), ""
	case root.Get("reaction").Exists():
		return "reaction", str(root, "reaction.value"), ""
	case root.Get("sticker").Exists():
		return "sticker", "", str(root, "sticker.stickerUrl")
	}
	return "", "", ""
}
