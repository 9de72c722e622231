package sources

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

// Twilio reads Twilio's form-encoded WhatsApp status callbacks (and its
// incoming-message webhooks, which share the form).
type Twilio struct {
	base
}

var _ Source = (*Twilio)(nil)

func (s *Twilio) Parse(d delivery.Delivery) ([]event.Event, error) {
	body := bytes.TrimSpace(d.Body)
	if len(body) == 0 || body[0] == '{' || body[0] == '[' {
		// JSON is readable but is not what Twilio posts.
		if len(body) > 0 && isJSON(body) {
			return nil, BadPayload(TypeTwilio, "the body is JSON; Twilio posts form fields (MessageSid, MessageStatus ...)")
		}
		return nil, ErrNotJSON
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrNotJSON
	}
	get := func(keys ...string) string {
		for _, k := range keys {
			if v := strings.TrimSpace(form.Get(k)); v != "" {
				return v
			}
		}
		return ""
	}
	sid := get("MessageSid", "SmsSid", "SmsMessageSid")
	rawStatus := get("MessageStatus", "SmsStatus")
	if sid == "" || rawStatus == "" {
		return nil, BadPayload(TypeTwilio, "missing MessageSid or MessageStatus (a Twilio status callback has both)")
	}
	status := strings.ToLower(rawStatus)
	code := 0
	if c := get("ErrorCode"); c != "" {
		if n, err := strconv.Atoi(c); err == nil && n >= 0 {
			code = n
		}
	}

	kind := event.KindStatus
	if status == "received" || status == "receiving" {
		kind = event.KindMessage
	}
	e := s.newEvent(d, kind, status)
	e.Code = code
	e.MessageID = sid
	from, to := phoneDigits(get("From")), phoneDigits(get("To"))
	if kind == event.KindMessage {
		// Incoming: the customer is From, our number is To.
		e.RecipientID, e.PhoneNumberID = from, to
		e.Message = get("Body")
		e.SetAttr("direction", "incoming")
		e.SetAttr("name", get("ProfileName"))
		e.SetAttr("wa_id", get("WaId"))
		e.SetAttr("media_url", get("MediaUrl0"))
		e.SetAttr("message_type", strings.ToLower(get("MessageType")))
	} else {
		e.RecipientID, e.PhoneNumberID = to, from
		e.Message = first(get("ChannelStatusMessage"), get("ErrorMessage"))
	}
	// The catalogue reads Twilio's codes (63016 ...) in its own namespace.
	e.SetAttr("provider", catalog.NamespaceTwilio)
	e.SetAttr("account_sid", get("AccountSid"))
	e.SetAttr("messaging_service_sid", get("MessagingServiceSid"))
	e.SetAttr("event_type", get("EventType"))
	e.SetAttr("channel_status_code", get("ChannelStatusCode"))
	e.SetAttr("api_version", get("ApiVersion"))
	e.ID = s.id(sid, status, strconv.Itoa(code))
	return []event.Event{e}, nil
}

func isJSON(b []byte) bool {
	_, err := parseJSON(b)
	return err == nil
}
