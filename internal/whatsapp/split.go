package whatsapp

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The containers of a delivery (envelope, entry, change, messages value) are
// decoded level by level into json.RawMessage so one bad item costs only
// itself. With json.Unmarshal at every level, encoding/json validates and
// scans the same bytes once per level: a status inside a 1000-status batch
// is scanned about ten times. The functions below read those containers
// with a plain byte splitter instead, so the leaves are the only values
// encoding/json decodes.
//
// The splitter never decides anything encoding/json would decide
// differently: whenever a container is not plainly what encoding/json would
// read the same way (an escaped or non-ASCII key, a key matching a field
// only case-insensitively, a duplicate key, a value of the wrong type, an
// Unmarshaler error), it gives up and the caller decodes that container with
// json.Unmarshal as before. Giving up costs speed, never output.
// TestSplitMatchesUnmarshal and FuzzSplit hold it to that.
//
// The input must be valid JSON (Parse validated the body, and each raw value
// is an exact part of it); the raw values returned share its bytes.

// decode is json.Unmarshal(data, &v), through split when split can vouch
// for the result.
func decode[T any](data []byte, split func([]byte) (T, bool)) (T, error) {
	if v, ok := split(data); ok {
		return v, nil
	}
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

// decodeIn is decode through a splitter that skips the containers ix
// knows the ends of.
func decodeIn[T any](ix ends, data []byte, split func(ends, []byte) (T, bool)) (T, error) {
	if v, ok := split(ix, data); ok {
		return v, nil
	}
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

func splitEnvelope(data []byte) (Envelope, bool) { return splitEnvelopeIn(nil, data) }

func splitEnvelopeIn(ix ends, data []byte) (env Envelope, ok bool) {
	var m [2]json.RawMessage
	ok = ix.members(data, []string{"object", "entry"}, m[:]) &&
		flexString(m[0], &env.Object) &&
		ix.elements(m[1], &env.Entry)
	return env, ok
}

func splitEntry(data []byte) (Entry, bool) { return splitEntryIn(nil, data) }

func splitEntryIn(ix ends, data []byte) (en Entry, ok bool) {
	var m [3]json.RawMessage
	ok = ix.members(data, []string{"id", "time", "changes"}, m[:]) &&
		flexString(m[0], &en.ID) &&
		flexInt(m[1], &en.Time) &&
		ix.elements(m[2], &en.Changes)
	return en, ok
}

func splitChange(data []byte) (Change, bool) { return splitChangeIn(nil, data) }

func splitChangeIn(ix ends, data []byte) (ch Change, ok bool) {
	var m [2]json.RawMessage
	ok = ix.members(data, []string{"field", "value"}, m[:]) &&
		flexString(m[0], &ch.Field)
	ch.Value = m[1]
	return ch, ok
}

// splitMessagesValue reads the value of a messages field. Its metadata is
// decoded for every delivery, most of which carry one status: with
// encoding/json it cost as much as the status itself.
func splitMessagesValue(data []byte) (messagesValue, bool) { return splitMessagesValueIn(nil, data) }

func splitMessagesValueIn(ix ends, data []byte) (v messagesValue, ok bool) {
	var m [6]json.RawMessage
	ok = ix.members(data, []string{"metadata", "contacts", "messages", "statuses", "errors", "user_preferences"}, m[:]) &&
		splitMetadata(m[0], &v.Metadata) &&
		splitContacts(m[1], &v.Contacts) &&
		ix.elements(m[2], &v.Messages) &&
		ix.elements(m[3], &v.Statuses) &&
		ix.elements(m[4], &v.Errors) &&
		ix.elements(m[5], &v.UserPreferences)
	return v, ok
}

// splitMetadata decodes a present metadata member into md; null leaves it
// zero, as encoding/json does for a struct.
func splitMetadata(raw json.RawMessage, md *metadata) bool {
	if raw == nil || isNull(raw) {
		return true
	}
	var m [2]json.RawMessage
	return members(raw, []string{"display_phone_number", "phone_number_id"}, m[:]) &&
		flexString(m[0], &md.DisplayPhoneNumber) && flexString(m[1], &md.PhoneNumberID)
}

// splitContacts decodes a present contacts member the way encoding/json
// fills a []contact: null is nil, a null element a zero contact.
func splitContacts(raw json.RawMessage, out *[]contact) bool {
	if raw == nil {
		return true
	}
	var raws []json.RawMessage
	if !elements(raw, &raws) {
		return false
	}
	if raws == nil {
		*out = nil
		return true
	}
	cs := make([]contact, len(raws))
	for i, r := range raws {
		if isNull(r) {
			continue
		}
		c := &cs[i]
		var m [5]json.RawMessage
		if !members(r, []string{"profile", "wa_id", "user_id", "parent_user_id", "username"}, m[:]) ||
			!flexString(m[1], &c.WaID) || !flexString(m[2], &c.UserID) ||
			!flexString(m[3], &c.ParentUserID) || !flexString(m[4], &c.Username) {
			return false
		}
		if m[0] != nil && !isNull(m[0]) {
			var p [2]json.RawMessage
			if !members(m[0], []string{"name", "username"}, p[:]) ||
				!flexString(p[0], &c.Profile.Name) || !flexString(p[1], &c.Profile.Username) {
				return false
			}
		}
	}
	*out = cs
	return true
}

// flexString decodes raw into s the way encoding/json does for a member
// that is present (it hands the literal, null included, to UnmarshalJSON);
// absent leaves s alone.
func flexString(raw json.RawMessage, s *FlexString) bool {
	return raw == nil || s.UnmarshalJSON(raw) == nil
}

func flexInt(raw json.RawMessage, n *FlexInt) bool {
	return raw == nil || n.UnmarshalJSON(raw) == nil
}

// members stores in vals[k] the raw value of the object member named
// names[k], nil when absent. names must list every JSON name of the target
// struct: a key it does not list is one encoding/json ignores. It reports
// false when encoding/json could read the object differently.
func members(data []byte, names []string, vals []json.RawMessage) bool {
	return ends(nil).members(data, names, vals)
}

// members is members, skipping the containers ix knows.
func (ix ends) members(data []byte, names []string, vals []json.RawMessage) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false // a type error or null: encoding/json decides
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		end, ok := skipString(data, i)
		if !ok {
			return false
		}
		key := data[i+1 : end-1]
		if !plainKey(key) {
			return false // escapes and Unicode folding: encoding/json decides
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		vend, ok := ix.skip(data, i)
		if !ok {
			return false
		}
		matched := false
		for k, name := range names {
			if string(key) == name {
				if vals[k] != nil {
					return false // a duplicate: encoding/json merges or overwrites
				}
				vals[k] = data[i:vend:vend]
				matched = true
				break
			}
		}
		if !matched {
			for _, name := range names {
				if strings.EqualFold(string(key), name) {
					return false // encoding/json matches keys case-insensitively
				}
			}
		}
		i = skipSpace(data, vend)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// elements decodes a JSON array into raw elements the way encoding/json
// fills a []json.RawMessage: null is nil, [] is empty but not nil, absent
// (raw nil) leaves out alone.
func elements(raw json.RawMessage, out *[]json.RawMessage) bool {
	return ends(nil).elements(raw, out)
}

// elements is elements, skipping the containers ix knows.
func (ix ends) elements(raw json.RawMessage, out *[]json.RawMessage) bool {
	if raw == nil {
		return true
	}
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return false
	}
	switch raw[i] {
	case 'n':
		if string(bytes.TrimRight(raw[i:], " \t\n\r")) != "null" {
			return false
		}
		*out = nil
		return true
	case '[':
	default:
		return false
	}
	items := []json.RawMessage{}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		*out = items
		return skipSpace(raw, i+1) == len(raw)
	}
	for {
		end, ok := ix.skip(raw, i)
		if !ok {
			return false
		}
		items = append(items, raw[i:end:end])
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			*out = items
			return skipSpace(raw, i+1) == len(raw)
		default:
			return false
		}
	}
}

// plainKey: printable ASCII without escapes, so the key's bytes are its
// name and encoding/json's case folding is ASCII case folding.
func plainKey(key []byte) bool {
	for _, c := range key {
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at data[i].
// Strings are most of a payload's bytes and most of them are short, so a
// loop over the bytes beats a search call per string; in valid JSON a
// backslash always escapes the byte after it.
func skipString(data []byte, i int) (int, bool) {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '"':
			return i + 1, true
		case '\\':
			i++
		}
	}
	return 0, false
}

// ends holds where the large containers of a body end, found by the one
// pass that validates it: the levels of a delivery (envelope, entry,
// change, value, statuses) are each inside the one before, and skipping
// each by scanning it read most of the body once per level. Keyed by the
// address of the container's first byte, so it serves any part of the
// body; the value is the container's length. A nil ends knows nothing.
type ends map[*byte]int

// indexedContainer is the shortest container ends records: shorter ones
// are cheaper to scan again than to record.
const indexedContainer = 128

// skip is skipValue, looking the end of a large container up.
func (ix ends) skip(data []byte, i int) (int, bool) {
	if ix != nil && i < len(data) && (data[i] == '{' || data[i] == '[') {
		if n, ok := ix[&data[i]]; ok && i+n <= len(data) {
			return i + n, true
		}
	}
	return skipValue(data, i)
}

// skipValue returns the index just past the value starting at data[i]. It
// counts brackets outside strings and does not validate: the data is valid.
func skipValue(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				end, ok := skipString(data, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	default: // a number, true, false or null runs to the next delimiter
		start := i
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i, i > start
			}
			i++
		}
		return i, i > start
	}
}

// isNull reports whether raw is the literal null.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// splitStatus reads one statuses[] item: the bulk of what Meta sends, so
// the one leaf decoded without reflection.
func splitStatus(data []byte) (s status, ok bool) {
	var m [12]json.RawMessage
	ok = members(data, []string{"id", "status", "timestamp", "recipient_id", "recipient_type",
		"recipient_participant_id", "biz_opaque_callback_data", "conversation", "pricing", "errors",
		"recipient_user_id", "recipient_parent_user_id"}, m[:]) &&
		flexString(m[0], &s.ID) && flexString(m[1], &s.Status) && flexString(m[2], &s.Timestamp) &&
		flexString(m[3], &s.RecipientID) && flexString(m[4], &s.RecipientType) &&
		flexString(m[5], &s.RecipientParticipantID) && flexString(m[6], &s.BizOpaqueCallbackData) &&
		flexString(m[10], &s.RecipientUserID) && flexString(m[11], &s.RecipientParentUserID)
	if !ok {
		return s, false
	}
	if m[7] != nil && !isNull(m[7]) {
		var c [3]json.RawMessage
		cv := &conversation{}
		if !members(m[7], []string{"id", "expiration_timestamp", "origin"}, c[:]) ||
			!flexString(c[0], &cv.ID) || !flexString(c[1], &cv.ExpirationTimestamp) {
			return s, false
		}
		if c[2] != nil && !isNull(c[2]) {
			var o [1]json.RawMessage
			if !members(c[2], []string{"type"}, o[:]) || !flexString(o[0], &cv.Origin.Type) {
				return s, false
			}
		}
		s.Conversation = cv
	}
	if m[8] != nil && !isNull(m[8]) {
		var p [4]json.RawMessage
		pr := &pricing{}
		if !members(m[8], []string{"billable", "pricing_model", "type", "category"}, p[:]) ||
			!flexString(p[0], &pr.Billable) || !flexString(p[1], &pr.PricingModel) ||
			!flexString(p[2], &pr.Type) || !flexString(p[3], &pr.Category) {
			return s, false
		}
		s.Pricing = pr
	}
	return s, splitAPIErrors(m[9], &s.Errors)
}

func splitAPIError(data []byte, e *apiError) bool {
	if isNull(data) {
		return true // encoding/json leaves the element zero
	}
	var m [5]json.RawMessage
	if !members(data, []string{"code", "title", "message", "error_data", "href"}, m[:]) ||
		!flexInt(m[0], &e.Code) || !flexString(m[1], &e.Title) || !flexString(m[2], &e.Message) ||
		!flexString(m[4], &e.Href) {
		return false
	}
	if m[3] != nil && !isNull(m[3]) {
		var d [1]json.RawMessage
		if !members(m[3], []string{"details"}, d[:]) || !flexString(d[0], &e.ErrorData.Details) {
			return false
		}
	}
	return true
}

// splitAPIErrors decodes a present errors member the way encoding/json
// fills a []apiError: null is nil, a null element a zero error.
func splitAPIErrors(raw json.RawMessage, out *[]apiError) bool {
	if raw == nil {
		return true
	}
	var raws []json.RawMessage
	if !elements(raw, &raws) {
		return false
	}
	if raws == nil {
		*out = nil
		return true
	}
	errs := make([]apiError, len(raws))
	for i, r := range raws {
		if !splitAPIError(r, &errs[i]) {
			return false
		}
	}
	*out = errs
	return true
}

var messageNames = []string{"from", "from_user_id", "from_parent_user_id", "id", "timestamp", "type",
	"context", "referral", "text", "button", "interactive", "reaction",
	"image", "video", "audio", "document", "sticker", "system", "unsupported", "errors"}

// splitMessage reads one messages[] item, a customer's message: with
// encoding/json its nested pointers cost more than the rest of the
// delivery.
func splitMessage(data []byte) (m message, ok bool) {
	var v [20]json.RawMessage
	if !members(data, messageNames, v[:]) ||
		!flexString(v[0], &m.From) || !flexString(v[1], &m.FromUserID) || !flexString(v[2], &m.FromParentUserID) ||
		!flexString(v[3], &m.ID) || !flexString(v[4], &m.Timestamp) || !flexString(v[5], &m.Type) {
		return m, false
	}
	ok = object(v[6], &m.Context, []string{"from", "from_user_id", "id", "forwarded"}, func(c *messageContext, f []json.RawMessage) bool {
		return flexString(f[0], &c.From) && flexString(f[1], &c.FromUserID) && flexString(f[2], &c.ID) && flexString(f[3], &c.Forwarded)
	}) && object(v[7], &m.Referral, []string{"source_type", "source_id"}, func(r *messageReferral, f []json.RawMessage) bool {
		return flexString(f[0], &r.SourceType) && flexString(f[1], &r.SourceID)
	}) && object(v[8], &m.Text, []string{"body"}, func(t *messageText, f []json.RawMessage) bool {
		return flexString(f[0], &t.Body)
	}) && object(v[9], &m.Button, []string{"text", "payload"}, func(b *messageButton, f []json.RawMessage) bool {
		return flexString(f[0], &b.Text) && flexString(f[1], &b.Payload)
	}) && object(v[10], &m.Interactive, []string{"type", "button_reply", "list_reply"}, func(in *messageInteractive, f []json.RawMessage) bool {
		return flexString(f[0], &in.Type) && reply(f[1], &in.ButtonReply) && reply(f[2], &in.ListReply)
	}) && object(v[11], &m.Reaction, []string{"message_id", "emoji"}, func(r *messageReaction, f []json.RawMessage) bool {
		return flexString(f[0], &r.MessageID) && flexString(f[1], &r.Emoji)
	}) && splitMedia(v[12], &m.Image) && splitMedia(v[13], &m.Video) && splitMedia(v[14], &m.Audio) &&
		splitMedia(v[15], &m.Document) && splitMedia(v[16], &m.Sticker) &&
		object(v[17], &m.System, []string{"body", "wa_id", "user_id", "new_wa_id", "type", "customer"}, func(s *messageSystem, f []json.RawMessage) bool {
			return flexString(f[0], &s.Body) && flexString(f[1], &s.WaID) && flexString(f[2], &s.UserID) &&
				flexString(f[3], &s.NewWaID) && flexString(f[4], &s.Type) && flexString(f[5], &s.Customer)
		}) && object(v[18], &m.Unsupported, []string{"type"}, func(u *messageUnsupported, f []json.RawMessage) bool {
		return flexString(f[0], &u.Type)
	}) && splitAPIErrors(v[19], &m.Errors)
	return m, ok
}

func reply(raw json.RawMessage, dst **replyIDTitle) bool {
	return object(raw, dst, []string{"id", "title"}, func(r *replyIDTitle, f []json.RawMessage) bool {
		return flexString(f[0], &r.ID) && flexString(f[1], &r.Title)
	})
}

func splitMedia(raw json.RawMessage, dst **media) bool {
	return object(raw, dst, []string{"mime_type", "caption"}, func(md *media, f []json.RawMessage) bool {
		return flexString(f[0], &md.MimeType) && flexString(f[1], &md.Caption)
	})
}

// object decodes a present member into a new *T the way encoding/json
// fills a pointer to a struct: absent and null leave *dst nil, an object
// is read by fill from the values of names (at most eight).
func object[T any](raw json.RawMessage, dst **T, names []string, fill func(v *T, vals []json.RawMessage) bool) bool {
	if raw == nil || isNull(raw) {
		return true
	}
	var buf [8]json.RawMessage
	vals := buf[:len(names)]
	if !members(raw, names, vals) {
		return false
	}
	v := new(T)
	if !fill(v, vals) {
		return false
	}
	*dst = v
	return true
}
