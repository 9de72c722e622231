package whatsapp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

// messages reads the "messages" field: incoming messages, statuses of what
// the business sent, and value-level errors.
func (p *parser) messages(c *change) error {
	v, err := decodeIn(p.ix, c.value, splitMessagesValueIn)
	if err != nil {
		return err
	}
	c.phoneNumberID = strings.TrimSpace(v.Metadata.PhoneNumberID.String())
	c.displayPhone = strings.TrimSpace(v.Metadata.DisplayPhoneNumber.String())
	names := contactIndex(v.Contacts)
	// A value carries up to 1000 items: grow the output once rather than
	// copying every event each time it doubles.
	p.out = slices.Grow(p.out, len(v.Messages)+len(v.Statuses)+len(v.Errors))
	for i, raw := range v.Messages {
		p.incoming(c, i, raw, names)
	}
	for i, raw := range v.Statuses {
		p.status(c, i, raw)
	}
	for i, raw := range v.Errors {
		p.valueError(c, i, raw)
	}
	return nil
}

// contactInfo is what contacts[] says about one customer.
type contactInfo struct {
	name, username, waID, userID, parentUserID string
}

// contacts indexes contacts[] by wa_id and by user id: a username user may
// come with either.
type contacts struct {
	byID map[string]*contactInfo
	all  []*contactInfo
}

func contactIndex(cs []contact) *contacts {
	if len(cs) == 0 {
		return nil
	}
	idx := &contacts{byID: make(map[string]*contactInfo, 2*len(cs))}
	for _, ct := range cs {
		ci := &contactInfo{
			name:         strings.TrimSpace(ct.Profile.Name.String()),
			username:     strings.TrimSpace(first(ct.Profile.Username.String(), ct.Username.String())),
			waID:         strings.TrimSpace(ct.WaID.String()),
			userID:       strings.TrimSpace(ct.UserID.String()),
			parentUserID: strings.TrimSpace(ct.ParentUserID.String()),
		}
		idx.all = append(idx.all, ci)
		for _, id := range []string{ci.waID, ci.userID} {
			if id != "" {
				idx.byID[id] = ci
			}
		}
	}
	return idx
}

// find returns the contact of a sender, by phone or user id; a lone contact
// naming neither is taken to be the sender.
func (idx *contacts) find(waID, userID string) *contactInfo {
	if idx == nil {
		return nil
	}
	for _, id := range []string{waID, userID} {
		if ci, ok := idx.byID[id]; ok && id != "" {
			return ci
		}
	}
	if len(idx.all) == 1 && idx.all[0].waID == "" && idx.all[0].userID == "" {
		return idx.all[0]
	}
	return nil
}

// applyContact fills the sender's names and ids the message itself left out.
func applyContact(e *event.Event, ci *contactInfo) {
	if ci == nil {
		return
	}
	if e.RecipientID == "" {
		e.RecipientID = ci.waID
	}
	if e.RecipientUserID == "" {
		e.RecipientUserID = ci.userID
	}
	e.SetAttr("contact_name", ci.name)
	e.SetAttr("username", ci.username)
	if e.Attr("parent_user_id") == "" {
		e.SetAttr("parent_user_id", ci.parentUserID)
	}
}

func first(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// status reads one statuses[] item: one event, or one per error when the
// status carries errors (a failed status can report several).
func (p *parser) status(c *change, i int, raw json.RawMessage) {
	if !p.reference && p.statusFast(c, raw) {
		return
	}
	s, err := decode(raw, splitStatus)
	if err != nil {
		p.unknown(c, raw, c.item("statuses", i), "status: "+describe(err))
		return
	}
	st := lower(s.Status)
	e := p.base(c, event.KindStatus, st)
	e.MessageID = strings.TrimSpace(s.ID.String())
	e.RecipientID = strings.TrimSpace(s.RecipientID.String())
	e.RecipientUserID = strings.TrimSpace(s.RecipientUserID.String())
	setAttr(&e, "parent_user_id", s.RecipientParentUserID)
	e.Timestamp = c.at(s.Timestamp.String(), p.receivedAt)
	e.Severity = statusSeverity(st)
	setAttr(&e, "recipient_type", s.RecipientType)
	setAttr(&e, "recipient_participant_id", s.RecipientParticipantID)
	setAttr(&e, "biz_opaque_callback_data", s.BizOpaqueCallbackData)
	if cv := s.Conversation; cv != nil {
		setAttr(&e, "conversation_id", cv.ID)
		setAttr(&e, "conversation_origin", cv.Origin.Type)
		if t, ok := unixTime(cv.ExpirationTimestamp.String()); ok {
			e.SetAttr("conversation_expiration", t.Format(time.RFC3339))
		}
	}
	if pr := s.Pricing; pr != nil {
		setAttr(&e, "pricing_category", pr.Category)
		setAttr(&e, "pricing_model", pr.PricingModel)
		setAttr(&e, "pricing_type", pr.Type)
		setAttr(&e, "billable", pr.Billable)
	}
	// A group status names its participant; without it, statuses of
	// several participants of one message would share an id.
	id := func(code int) string {
		if e.MessageID == "" {
			return hashID(prefixStatus, c.wabaID, canonicalJSON(raw), strconv.Itoa(code))
		}
		return hashID(prefixStatus, e.MessageID, st, strconv.Itoa(code), s.RecipientParticipantID.String())
	}
	if len(s.Errors) == 0 {
		e.ID = id(0)
		p.out = append(p.out, e)
		return
	}
	for k, apiErr := range s.Errors {
		ev := e
		// Each error's event gets its own attributes; the last can take e's,
		// since e is not used after it (a status usually has one error).
		if k < len(s.Errors)-1 || e.Attributes == nil {
			ev.Attributes = cloneAttrs(e.Attributes)
		}
		applyError(&ev, apiErr)
		ev.ID = id(ev.Code)
		p.out = append(p.out, ev)
	}
}

// incoming reads one messages[] item. Unsupported messages carry their
// 131051/131060 error as the event's code.
func (p *parser) incoming(c *change, i int, raw json.RawMessage, names *contacts) {
	m, err := decode(raw, splitMessage)
	if err != nil {
		p.unknown(c, raw, c.item("messages", i), "message: "+describe(err))
		return
	}
	// Every provider reports an incoming message as received; what kind of
	// message it is goes in message_type.
	typ := lower(m.Type)
	e := p.base(c, event.KindMessage, "received")
	e.MessageID = strings.TrimSpace(m.ID.String())
	e.RecipientID = strings.TrimSpace(m.From.String())
	e.RecipientUserID = strings.TrimSpace(m.FromUserID.String())
	setAttr(&e, "parent_user_id", m.FromParentUserID)
	e.Timestamp = c.at(m.Timestamp.String(), p.receivedAt)
	e.Severity = event.SeverityInfo
	e.SetAttr("message_type", typ)
	e.SetAttr("direction", "incoming")
	applyContact(&e, names.find(e.RecipientID, e.RecipientUserID))
	if ctx := m.Context; ctx != nil {
		setAttr(&e, "context_message_id", ctx.ID)
		setAttr(&e, "context_from", ctx.From)
		setAttr(&e, "context_from_user_id", ctx.FromUserID)
		setAttr(&e, "forwarded", ctx.Forwarded)
	}
	if ref := m.Referral; ref != nil {
		setAttr(&e, "referral_source_type", ref.SourceType)
		setAttr(&e, "referral_source_id", ref.SourceID)
	}
	switch {
	case m.Text != nil:
		e.Message = m.Text.Body.String()
	case m.Button != nil:
		e.Message = m.Button.Text.String()
		setAttr(&e, "button_payload", m.Button.Payload)
	case m.Interactive != nil:
		setAttr(&e, "interactive_type", m.Interactive.Type)
		if r := m.Interactive.ButtonReply; r != nil {
			e.Message = r.Title.String()
			setAttr(&e, "reply_id", r.ID)
		}
		if r := m.Interactive.ListReply; r != nil {
			e.Message = r.Title.String()
			setAttr(&e, "reply_id", r.ID)
		}
	case m.Reaction != nil:
		e.Message = m.Reaction.Emoji.String()
		setAttr(&e, "reaction_message_id", m.Reaction.MessageID)
	case m.System != nil:
		e.Message = m.System.Body.String()
		setAttr(&e, "system_type", m.System.Type)
		e.SetAttr(AttrState, lower(m.System.Type))
		newID := m.System.WaID
		if newID == "" {
			newID = m.System.NewWaID
		}
		setAttr(&e, "new_wa_id", newID)
		setAttr(&e, "new_user_id", m.System.UserID)
	case m.Unsupported != nil:
		setAttr(&e, "unsupported_type", m.Unsupported.Type)
	case m.media() != nil:
		md := m.media()
		e.Message = md.Caption.String()
		setAttr(&e, "mime_type", md.MimeType)
	}
	if len(m.Errors) > 0 {
		applyError(&e, m.Errors[0])
		if len(m.Errors) > 1 {
			codes := make([]string, len(m.Errors))
			for k, er := range m.Errors {
				codes[k] = strconv.FormatInt(int64(er.Code), 10)
			}
			e.SetAttr("error_codes", strings.Join(codes, ","))
		}
	}
	if e.MessageID != "" {
		e.ID = hashID(prefixMessage, e.MessageID)
	} else {
		e.ID = c.contentIDAt(fmt.Sprintf("messages[%d]", i), m.Timestamp.String())
	}
	p.out = append(p.out, e)
}

// valueError reads one value-level errors[] item: a system, app or account
// error not tied to one message.
func (p *parser) valueError(c *change, i int, raw json.RawMessage) {
	var apiErr apiError
	if err := json.Unmarshal(raw, &apiErr); err != nil {
		p.unknown(c, raw, c.item("errors", i), "error: "+describe(err))
		return
	}
	e := p.base(c, event.KindError, "error")
	applyError(&e, apiErr)
	// The catalogue ranks known codes; an unknown one still deserves a look.
	e.Severity = event.SeverityWarning
	e.ID = c.contentID(fmt.Sprintf("errors[%d]", i))
	p.out = append(p.out, e)
}

// userPreferences reads the "user_preferences" field: one event per
// preference (a user stopped or resumed marketing messages).
func (p *parser) userPreferences(c *change) error {
	v, err := decodeIn(p.ix, c.value, splitMessagesValueIn)
	if err != nil {
		return err
	}
	c.phoneNumberID = strings.TrimSpace(v.Metadata.PhoneNumberID.String())
	c.displayPhone = strings.TrimSpace(v.Metadata.DisplayPhoneNumber.String())
	names := contactIndex(v.Contacts)
	for i, raw := range v.UserPreferences {
		var up userPreference
		if err := json.Unmarshal(raw, &up); err != nil {
			p.unknown(c, raw, c.item("user_preferences", i), "user preference: "+describe(err))
			continue
		}
		e := p.base(c, event.KindAccountAlert, lower(up.Value))
		e.RecipientID = strings.TrimSpace(up.WaID.String())
		e.RecipientUserID = strings.TrimSpace(up.UserID.String())
		e.Timestamp = c.at(up.Timestamp.String(), p.receivedAt)
		e.Message = up.Detail.String()
		e.Severity = event.SeverityInfo
		setAttr(&e, "category", up.Category)
		e.SetAttr(AttrState, lower(up.Category))
		applyContact(&e, names.find(e.RecipientID, e.RecipientUserID))
		e.ID = c.contentIDAt(fmt.Sprintf("user_preferences[%d]", i), up.Timestamp.String())
		p.out = append(p.out, e)
	}
	return nil
}

// applyError copies a Meta error object onto an event.
func applyError(e *event.Event, apiErr apiError) {
	e.Code = int(apiErr.Code)
	e.Title = strings.TrimSpace(apiErr.Title.String())
	e.Message = strings.TrimSpace(apiErr.Message.String())
	e.Details = strings.TrimSpace(apiErr.ErrorData.Details.String())
	setAttr(e, "error_href", apiErr.Href)
}

func cloneAttrs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// statusSeverity is the default before the catalogue ranks the error code:
// a failure whose code nobody knows still deserves a look.
func statusSeverity(st string) event.Severity {
	if st == "failed" {
		return event.SeverityWarning
	}
	return event.SeverityInfo
}
