package sources

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

// StatusGateway reads the generic status shape of gateways that report
// queue, delivery, error, not-found, expiry and logout events:
//
//	{"event": "error", "message_id": "...", "phone": "...", "recipient": "...",
//	 "timestamp": 1763770000, "error": {"code": 470, "message": "..."}, "instance": "..."}
//
// or an array of them. status_map renames a provider's own words first.
type StatusGateway struct {
	base
}

var _ Source = (*StatusGateway)(nil)

// gatewayStatuses are the statuses the status type understands; status_map
// targets must be one of them.
func gatewayStatuses() []string {
	return []string{"queued", "created", "pending", "sent", "delivered", "read", "played",
		"error", "failed", "undelivered", "not_found", "expired", "deleted",
		"open", "close", "connecting", "logout"}
}

func knownGatewayStatus(s string) bool {
	for _, v := range gatewayStatuses() {
		if v == s {
			return true
		}
	}
	return false
}

// normalizeGatewayStatus folds spelling variants ("Not Found", "not-found",
// "disconnected") onto the documented words.
func normalizeGatewayStatus(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer(" ", "_", "-", "_").Replace(s)
	switch s {
	case "notfound", "invalid_number", "no_account":
		return "not_found"
	case "disconnected", "closed":
		return "close"
	case "connected":
		return "open"
	case "logged_out", "loggedout":
		return "logout"
	}
	return s
}

func (s *StatusGateway) Parse(d delivery.Delivery) ([]event.Event, error) {
	root, err := parseJSON(d.Body)
	if err != nil {
		return nil, err
	}
	if !root.IsObject() && !root.IsArray() {
		return nil, BadPayload(TypeStatus, "the body is %s, not an object or an array of objects", kindOfJSON(root))
	}
	// Some gateways wrap their events: {"data": [...]} or {"events": [...]}.
	if root.IsObject() && !root.Get("event").Exists() && !root.Get("status").Exists() {
		for _, k := range []string{"data", "events"} {
			if w := root.Get(k); w.IsArray() || w.IsObject() {
				root = w
				break
			}
		}
	}
	items := itemsOf(root)
	out := make([]event.Event, 0, len(items))
	read := 0
	for _, item := range items {
		e, ok := s.item(d, item)
		if ok {
			read++
		}
		out = append(out, e)
	}
	if len(items) > 0 && read == 0 {
		return nil, BadPayload(TypeStatus, "no item has an \"event\" or \"status\" word (the status type reads {\"event\": \"delivered\", \"message_id\": ...})")
	}
	return out, nil
}

// item reads one status object; ok is false when it has no status word, in
// which case it becomes kind unknown with its raw value.
func (s *StatusGateway) item(d delivery.Delivery, item gjson.Result) (event.Event, bool) {
	raw := ""
	if item.IsObject() {
		raw = str(item, "event", "status")
	}
	if raw == "" {
		return s.unknown(d, "", []byte(item.Raw)), false
	}
	status, mapped := s.mapStatus(raw)
	if !mapped {
		status = normalizeGatewayStatus(raw)
	}
	kind := event.KindStatus
	switch status {
	case "open", "close", "logout", "connecting":
		kind = event.KindConnection
	}
	e := s.newEvent(d, kind, status)
	e.MessageID = str(item, "message_id", "messageId", "id", "message.id")
	e.PhoneNumberID = phoneDigits(str(item, "phone", "phone_number", "from", "sender", "number"))
	e.RecipientID = phoneDigits(str(item, "recipient", "to", "recipient_id", "chat_id", "chatId"))
	instance := str(item, "instance", "session", "instance_id", "instanceId")
	if e.PhoneNumberID == "" {
		e.PhoneNumberID = instance
	}
	e.SetAttr("instance", instance)
	if raw != status {
		e.SetAttr("provider_status", raw)
	}
	setTime(&e, item, "timestamp", "time", "date", "created_at", "momment")

	errv := item.Get("error")
	switch {
	case errv.IsObject():
		if c, ok := intValue(errv.Get("code")); ok {
			e.Code = c
		}
		e.Message = str(errv, "message", "title", "description")
		e.Details = str(errv, "details", "error_data.details", "description")
		if e.Details == e.Message {
			e.Details = ""
		}
	case errv.Type == gjson.String:
		e.Message = errv.Str
	}
	if e.Code == 0 {
		if c, ok := intValue(item.Get("code")); ok {
			e.Code = c
		} else if c, ok := intValue(item.Get("error_code")); ok {
			e.Code = c
		}
	}
	if e.Message == "" {
		e.Message = str(item, "message", "description", "reason")
	}
	if kind == event.KindConnection && status == "logout" {
		e.SetAttr("reason", "logged_out")
	}
	if e.MessageID != "" {
		e.ID = s.id(e.MessageID, status, strconv.Itoa(e.Code))
	} else if hasTime(item, "timestamp", "time", "date", "created_at", "momment") {
		e.ID = s.id(canonical([]byte(item.Raw)))
	} else {
		// Nothing in the item tells this logout from the next one.
		e.ID = s.id(canonical([]byte(item.Raw)), event.OccurrenceBucket(d.ReceivedAt))
	}
	return e, true
}
