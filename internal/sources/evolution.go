package sources

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

// Evolution reads Evolution API (Baileys) webhooks: the envelope
// {event, instance, data, date_time, ...} with one event per request.
type Evolution struct {
	base
}

var _ Source = (*Evolution)(nil)

func (s *Evolution) Parse(d delivery.Delivery) ([]event.Event, error) {
	root, err := parseJSON(d.Body)
	if err != nil {
		return nil, err
	}
	if !root.IsObject() {
		return nil, BadPayload(TypeEvolution, "the body is %s, not an object with \"event\" and \"data\"", kindOfJSON(root))
	}
	name := root.Get("event").String()
	data := root.Get("data")
	if name == "" || !data.Exists() {
		return nil, BadPayload(TypeEvolution, "missing \"event\" or \"data\" (an Evolution API envelope has event, instance and data)")
	}
	// Config names are upper snake (MESSAGES_UPSERT), bodies lowercase dotted.
	ev := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", ".")
	instance := first(str(root, "instance"), str(data, "instance", "instanceName"))

	c := evoCtx{s: s, d: d, root: root, ev: ev, instance: instance}
	switch ev {
	case "connection.update":
		return []event.Event{c.connection(data)}, nil
	case "status.instance":
		return []event.Event{c.statusInstance(data)}, nil
	case "logout.instance":
		e := c.newConn("logout", data)
		e.SetAttr("reason", "logged_out")
		e.ID = s.id(ev, instance, c.when(data))
		return []event.Event{e}, nil
	case "messages.update", "send.message.update":
		return c.messageUpdates(data)
	case "messages.upsert", "send.message":
		return c.messages(data)
	}
	e := s.unknown(d, ev, []byte(root.Raw))
	e.PhoneNumberID = instance
	e.SetAttr("instance", instance)
	e.SetAttr("event", ev)
	setTime(&e, root, "date_time")
	return []event.Event{e}, nil
}

type evoCtx struct {
	s        *Evolution
	d        delivery.Delivery
	root     gjson.Result
	ev       string
	instance string
}

// when identifies one occurrence of a code-less event: the envelope's
// date_time, which a redelivery repeats, else the data itself.
func (c evoCtx) when(data gjson.Result) string {
	return first(c.root.Get("date_time").String(), canonical([]byte(data.Raw)))
}

func (c evoCtx) newEvent(kind event.Kind, status string) event.Event {
	e := c.s.newEvent(c.d, kind, status)
	// The gateway's "number" is the instance: it is what an operator knows
	// the connected phone by.
	e.PhoneNumberID = c.instance
	e.SetAttr("instance", c.instance)
	e.SetAttr("event", c.ev)
	setTime(&e, c.root, "date_time")
	return e
}

func (c evoCtx) newConn(status string, data gjson.Result) event.Event {
	e := c.newEvent(event.KindConnection, status)
	if wuid := str(data, "wuid"); wuid != "" {
		e.DisplayPhoneNumber = jidNumber(wuid)
	}
	e.SetAttr("profile_name", str(data, "profileName"))
	return e
}

// closed fills a close event from a disconnect code: 401 (logged out) is a
// logout, everything else a close; the reason names the catalogue entry.
func (c evoCtx) closed(data gjson.Result, code int, hasCode bool) event.Event {
	status := "close"
	if code == 401 {
		status = "logout"
	}
	e := c.newConn(status, data)
	if hasCode {
		e.Code = code
	}
	e.SetAttr("reason", connectionReason(code))
	return e
}

func (c evoCtx) connection(data gjson.Result) event.Event {
	state := strings.ToLower(str(data, "state", "connection"))
	code, hasCode := intValue(data.Get("statusReason"))
	var e event.Event
	switch state {
	case "close", "refused":
		e = c.closed(data, code, hasCode)
		e.SetAttr("state", state)
	case "":
		e = c.newConn("unknown", data)
	default: // open, connecting
		e = c.newConn(state, data)
		if hasCode && state != "open" {
			e.Code = code
		}
	}
	e.ID = c.s.id(c.ev, c.instance, state, strconv.Itoa(code), c.when(data))
	return e
}

func (c evoCtx) statusInstance(data gjson.Result) event.Event {
	status := strings.ToLower(str(data, "status", "state"))
	code, hasCode := intValue(data.Get("disconnectionReasonCode"))
	var e event.Event
	if status == "closed" || status == "close" {
		e = c.closed(data, code, hasCode)
		if t, ok := parseTime(data.Get("disconnectionAt")); ok {
			e.Timestamp = t
		}
	} else {
		e = c.newConn(first(status, "unknown"), data)
	}
	e.ID = c.s.id(c.ev, c.instance, status, strconv.Itoa(code), c.when(data))
	return e
}

// evolutionStatus maps Evolution's renderStatus values (names or the
// numbers behind them) onto our statuses.
func evolutionStatus(r gjson.Result) string {
	s := strings.ToUpper(strings.TrimSpace(r.String()))
	switch s {
	case "0", "ERROR":
		return "failed"
	case "1", "PENDING":
		return "pending"
	case "2", "SERVER_ACK":
		return "sent"
	case "3", "DELIVERY_ACK":
		return "delivered"
	case "4", "READ":
		return "read"
	case "5", "PLAYED":
		return "played"
	case "DELETED":
		return "deleted"
	}
	return strings.ToLower(s)
}

func (c evoCtx) messageUpdates(data gjson.Result) ([]event.Event, error) {
	var out []event.Event
	for _, item := range itemsOf(data) {
		// Current shape: data.status; the older one: data.update.status.
		st := item.Get("status")
		if !st.Exists() {
			st = item.Get("update.status")
		}
		if !st.Exists() || st.String() == "" {
			return nil, BadPayload(TypeEvolution, "%s without data.status or data.update.status", c.ev)
		}
		status := evolutionStatus(st)
		e := c.newEvent(event.KindStatus, status)
		e.MessageID = str(item, "keyId", "key.id", "messageId")
		remote := str(item, "remoteJid", "key.remoteJid")
		e.RecipientID = jidNumber(remote)
		e.SetAttr("from_me", first(boolText(item.Get("fromMe")), boolText(item.Get("key.fromMe"))))
		e.SetAttr("participant", jidNumber(str(item, "participant", "key.participant")))
		setTime(&e, item, "dateTime", "messageTimestamp")
		if e.MessageID != "" {
			e.ID = c.s.id(c.ev, e.MessageID, status)
		} else {
			e.ID = c.s.id(c.ev, canonical([]byte(item.Raw)))
		}
		out = append(out, e)
	}
	return out, nil
}

func (c evoCtx) messages(data gjson.Result) ([]event.Event, error) {
	items := itemsOf(data)
	if msgs := data.Get("messages"); msgs.IsArray() {
		items = msgs.Array()
	}
	var out []event.Event
	for _, item := range items {
		id := str(item, "key.id")
		if id == "" {
			return nil, BadPayload(TypeEvolution, "%s without data.key.id", c.ev)
		}
		fromMe := item.Get("key.fromMe").Bool()
		status, direction := "received", "incoming"
		if fromMe {
			status, direction = "sent", "outgoing"
		}
		e := c.newEvent(event.KindMessage, status)
		e.MessageID = id
		e.RecipientID = jidNumber(str(item, "key.remoteJid"))
		msg := item.Get("message")
		e.Message = str(msg, "conversation", "extendedTextMessage.text", "imageMessage.caption",
			"videoMessage.caption", "documentMessage.caption", "documentMessage.fileName", "buttonsResponseMessage.selectedDisplayText",
			"listResponseMessage.title", "reactionMessage.text")
		e.SetAttr("direction", direction)
		e.SetAttr("name", str(item, "pushName"))
		e.SetAttr("message_type", evolutionTypeName(first(str(item, "messageType"), evolutionMessageType(msg))))
		e.SetAttr("media_url", str(msg, "mediaUrl", "imageMessage.url", "videoMessage.url", "audioMessage.url", "documentMessage.url"))
		e.SetAttr("participant", jidNumber(str(item, "key.participant", "participant")))
		setTime(&e, item, "messageTimestamp")
		e.ID = c.s.id("message", id, e.RecipientID)
		out = append(out, e)
	}
	return out, nil
}

// evolutionMessageType names the first Baileys message object present
// ("imageMessage" → "image") when messageType is absent.
func evolutionMessageType(msg gjson.Result) string {
	t := ""
	msg.ForEach(func(k, _ gjson.Result) bool {
		if strings.HasSuffix(k.Str, "Message") || k.Str == "conversation" {
			t = k.Str
			return false
		}
		return true
	})
	return t
}

// evolutionTypeName turns Baileys' names into the words other sources use:
// conversation and extendedTextMessage are text, imageMessage is image.
func evolutionTypeName(t string) string {
	switch t {
	case "conversation", "extendedTextMessage":
		return "text"
	}
	return strings.TrimSuffix(t, "Message")
}
