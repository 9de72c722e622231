package whatsapp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wabridge/wabridge/internal/event"
)

// Statuses are nearly all of what Meta sends, most of them one per
// delivery, so they have a reader of their own: it takes the members'
// tokens from the byte splitter (members) and writes every text an event
// keeps, ids included, into one string, where the decoding path made a
// string per member and another per id. It reads exactly what
// splitStatus and status read and gives up (the caller then takes that
// path) wherever it is not plainly the same: whatever splitStatus gives
// up on, a string with escapes it would have to unquote, more errors than
// it has room for, a status without an id. FuzzStatusFast holds it to the
// decoding path.

var (
	statusNames = []string{"id", "status", "timestamp", "recipient_id", "recipient_type",
		"recipient_participant_id", "biz_opaque_callback_data", "conversation", "pricing", "errors",
		"recipient_user_id", "recipient_parent_user_id"}
	conversationNames = []string{"id", "expiration_timestamp", "origin"}
	originNames       = []string{"type"}
	pricingNames      = []string{"billable", "pricing_model", "type", "category"}
	apiErrorNames     = []string{"code", "title", "message", "error_data", "href"}
	errorDataNames    = []string{"details"}
)

// maxFastErrors is how many errors one status may carry on the fast path;
// Meta sends one, rarely two.
const maxFastErrors = 4

// fastError is one errors[] item: its code and its texts, trimmed.
type fastError struct {
	code                          int64
	title, message, details, href []byte
}

// span is a part of the one string an event's texts are written to.
type span struct{ start, end int }

// textBuf gathers an event's texts; str is valid once every text is
// written (strings.Builder's String shares its bytes, so the texts cost
// one allocation).
type textBuf struct {
	sb strings.Builder
	s  string
}

func (t *textBuf) add(b []byte) span {
	start := t.sb.Len()
	t.sb.Write(b)
	return span{start, t.sb.Len()}
}

func (t *textBuf) done()             { t.s = t.sb.String() }
func (t *textBuf) str(s span) string { return t.s[s.start:s.end] }

// statusFast reads one statuses[] item as status does, or reports false
// having added nothing.
func (p *parser) statusFast(c *change, raw json.RawMessage) bool {
	var m [12]json.RawMessage
	if !p.ix.members(raw, statusNames, m[:]) {
		return false
	}
	var (
		f  [12][]byte
		ok = true
	)
	for k := range m {
		if k == 7 || k == 8 || k == 9 {
			continue // objects, below
		}
		f[k], ok = plainText(m[k])
		if !ok {
			return false
		}
	}
	participantRaw := f[5] // the id hashes it as sent
	for k := range f {
		f[k] = bytes.TrimSpace(f[k])
	}
	msgID, st, ts := f[0], f[1], f[2]
	if len(msgID) == 0 {
		return false // its id hashes the canonical item: the decoding path makes it
	}
	stLower, ok := lowerASCII(st)
	if !ok {
		return false
	}
	// conversation: id, expiration, origin type.
	var conv [3][]byte
	hasConv := m[7] != nil && !isNull(m[7])
	if hasConv {
		var cm [3]json.RawMessage
		if !members(m[7], conversationNames, cm[:]) {
			return false
		}
		if conv[0], ok = plainText(cm[0]); !ok {
			return false
		}
		if conv[1], ok = plainText(cm[1]); !ok {
			return false
		}
		if cm[2] != nil && !isNull(cm[2]) {
			var om [1]json.RawMessage
			if !members(cm[2], originNames, om[:]) {
				return false
			}
			if conv[2], ok = plainText(om[0]); !ok {
				return false
			}
		}
	}
	var pr [4][]byte
	hasPricing := m[8] != nil && !isNull(m[8])
	if hasPricing {
		var pm [4]json.RawMessage
		if !members(m[8], pricingNames, pm[:]) {
			return false
		}
		for k := range pm {
			if pr[k], ok = plainText(pm[k]); !ok {
				return false
			}
		}
	}
	var errs [maxFastErrors]fastError
	nerr := 0
	if m[9] != nil {
		var items [maxFastErrors]json.RawMessage
		n, ok := elementsInto(m[9], items[:])
		if !ok {
			return false
		}
		for k := range n {
			if !fastAPIError(items[k], &errs[k]) {
				return false
			}
		}
		nerr = n
	}

	var expires time.Time
	hasExpires := false
	if hasConv {
		expires, hasExpires = unixTimeBytes(bytes.TrimSpace(conv[1]))
	}
	// Every text, then the ids, into one string.
	idEvents := max(nerr, 1)
	size := len(msgID) + len(st) + len(f[3]) + len(f[4]) + len(f[5]) + len(f[6]) + len(f[10]) + len(f[11]) +
		idEvents*(len(prefixStatus)+32)
	for k := range conv[:] {
		conv[k] = bytes.TrimSpace(conv[k])
		size += len(conv[k])
	}
	if hasExpires {
		size += len(time.RFC3339) + 5
	}
	for k := range pr {
		pr[k] = bytes.TrimSpace(pr[k])
		size += len(pr[k])
	}
	for k := range nerr {
		er := &errs[k]
		size += len(er.title) + len(er.message) + len(er.details) + len(er.href)
	}
	var t textBuf
	t.sb.Grow(size)
	sMsgID := t.add(msgID)
	var sSt span
	if stLower {
		sSt = t.add(st)
	} else {
		start := t.sb.Len()
		for _, b := range st {
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			t.sb.WriteByte(b)
		}
		sSt = span{start, t.sb.Len()}
	}
	sRecipient, sRecipientType, sParticipant, sBiz := t.add(f[3]), t.add(f[4]), t.add(f[5]), t.add(f[6])
	sUser, sParentUser := t.add(f[10]), t.add(f[11])
	sConvID, sConvOrigin := t.add(conv[0]), t.add(conv[2])
	var sExpires span
	if hasExpires {
		var tmp [64]byte
		sExpires = t.add(expires.AppendFormat(tmp[:0], time.RFC3339))
	}
	var sPr [4]span
	for k := range pr {
		sPr[k] = t.add(pr[k])
	}
	var sErr [maxFastErrors][4]span
	for k := range nerr {
		er := &errs[k]
		sErr[k] = [4]span{t.add(er.title), t.add(er.message), t.add(er.details), t.add(er.href)}
	}
	// The lowercased status is in the buffer: hash it from there.
	var sID [maxFastErrors]span
	for k := range idEvents {
		code := int64(0)
		if nerr > 0 {
			code = errs[k].code
		}
		sID[k] = t.statusID(msgID, sSt, code, participantRaw)
	}
	t.done()

	st2 := t.str(sSt)
	e := event.Event{
		Source:             p.source,
		Kind:               event.KindStatus,
		Status:             st2,
		PhoneNumberID:      c.phoneNumberID,
		DisplayPhoneNumber: c.displayPhone,
		WABAID:             c.wabaID,
		MessageID:          t.str(sMsgID),
		RecipientID:        t.str(sRecipient),
		RecipientUserID:    t.str(sUser),
		Severity:           statusSeverity(st2),
	}
	if tm, ok := unixTimeBytes(ts); ok {
		e.Timestamp = tm
	} else {
		e.Timestamp = c.atEntry(p.receivedAt)
	}
	attrs := []struct {
		key string
		s   span
	}{
		{"parent_user_id", sParentUser},
		{"recipient_type", sRecipientType},
		{"recipient_participant_id", sParticipant},
		{"biz_opaque_callback_data", sBiz},
		{"conversation_id", sConvID},
		{"conversation_origin", sConvOrigin},
		{"conversation_expiration", sExpires},
		{"pricing_category", sPr[3]},
		{"pricing_model", sPr[1]},
		{"pricing_type", sPr[2]},
		{"billable", sPr[0]},
	}
	n := 0
	if c.field != "" {
		n++
	}
	for _, a := range attrs {
		if a.s.end > a.s.start {
			n++
		}
	}
	if n > 0 {
		e.Attributes = make(map[string]string, n+min(nerr, 1))
	}
	e.SetAttr(AttrField, c.field)
	for _, a := range attrs {
		e.SetAttr(a.key, t.str(a.s))
	}
	if nerr == 0 {
		e.ID = t.str(sID[0])
		p.out = append(p.out, e)
		return true
	}
	for k := range nerr {
		ev := e
		if k < nerr-1 || e.Attributes == nil {
			ev.Attributes = cloneAttrs(e.Attributes)
		}
		ev.Code = int(errs[k].code)
		ev.Title = t.str(sErr[k][0])
		ev.Message = t.str(sErr[k][1])
		ev.Details = t.str(sErr[k][2])
		ev.SetAttr("error_href", t.str(sErr[k][3]))
		ev.ID = t.str(sID[k])
		p.out = append(p.out, ev)
	}
	return true
}

// statusID writes the id status makes for a status with a message id:
// hashID(prefixStatus, id, status, code, participant), the status read
// back from the buffer it was written to.
func (t *textBuf) statusID(msgID []byte, st span, code int64, participant []byte) span {
	var stack [256]byte
	b := append(stack[:0], msgID...)
	b = append(b, 0)
	// The builder's bytes so far are readable through a string of them:
	// String shares them and later writes only append.
	b = append(b, t.sb.String()[st.start:st.end]...)
	b = append(b, 0)
	b = strconv.AppendInt(b, code, 10)
	b = append(b, 0)
	b = append(b, participant...)
	b = append(b, 0)
	sum := sha256.Sum256(b)
	var hx [32]byte
	hex.Encode(hx[:], sum[:16])
	start := t.sb.Len()
	t.sb.WriteString(prefixStatus)
	t.sb.Write(hx[:])
	return span{start, t.sb.Len()}
}

// fastAPIError reads one errors[] item as splitAPIError does, trimmed as
// applyError trims it.
func fastAPIError(data []byte, e *fastError) bool {
	if isNull(data) {
		return true
	}
	var m [5]json.RawMessage
	if !members(data, apiErrorNames, m[:]) {
		return false
	}
	code, ok := plainInt(m[0])
	if !ok {
		return false
	}
	e.code = code
	var txt [5][]byte
	for _, k := range []int{1, 2, 4} {
		if txt[k], ok = plainText(m[k]); !ok {
			return false
		}
	}
	if m[3] != nil && !isNull(m[3]) {
		var d [1]json.RawMessage
		if !members(m[3], errorDataNames, d[:]) {
			return false
		}
		if txt[3], ok = plainText(d[0]); !ok {
			return false
		}
	}
	e.title, e.message = bytes.TrimSpace(txt[1]), bytes.TrimSpace(txt[2])
	e.details, e.href = bytes.TrimSpace(txt[3]), bytes.TrimSpace(txt[4])
	return true
}

// plainText is FlexString's text of a present member (absent: none) as
// bytes of the token, for a token that needs no unquoting; false for a
// string with escapes and for what FlexString refuses.
func plainText(raw json.RawMessage) ([]byte, bool) {
	if raw == nil {
		return nil, true
	}
	switch raw[0] {
	case '"':
		if len(raw) < 2 || raw[len(raw)-1] != '"' || bytes.IndexByte(raw, '\\') >= 0 {
			return nil, false
		}
		return raw[1 : len(raw)-1], true
	case 'n':
		return nil, true
	case '{', '[':
		return nil, false
	}
	return raw, true // a number, true or false: the literal
}

// plainInt is FlexInt's value of a member written as digits, bare or
// quoted; false for anything else, which FlexInt then reads.
func plainInt(raw json.RawMessage) (int64, bool) {
	if raw == nil {
		return 0, true
	}
	if raw[0] == 'n' {
		return 0, true
	}
	digits := raw
	if raw[0] == '"' {
		if len(raw) < 2 {
			return 0, false
		}
		digits = raw[1 : len(raw)-1]
		if len(digits) == 0 {
			return 0, true
		}
	}
	return parseDigits(digits)
}

// parseDigits reads 1 to 18 decimal digits.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// unixTimeBytes is unixTime of text already trimmed, without making a
// string of the digits Meta sends.
func unixTimeBytes(b []byte) (time.Time, bool) {
	if n, ok := parseDigits(b); ok {
		return unixSeconds(n)
	}
	if len(b) == 0 {
		return time.Time{}, false
	}
	return unixTime(string(b))
}

// lowerASCII reports whether b is ASCII (ok), and whether it is already
// lowercase; strings.ToLower of ASCII is a byte mapping.
func lowerASCII(b []byte) (lower, ok bool) {
	lower = true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false, false
		}
		if 'A' <= c && c <= 'Z' {
			lower = false
		}
	}
	return lower, true
}

// elementsInto stores the elements of a JSON array (or none for null) in
// items, reporting how many; false when raw is not an array or has more
// elements than items holds.
func elementsInto(raw json.RawMessage, items []json.RawMessage) (int, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return 0, false
	}
	switch raw[i] {
	case 'n':
		return 0, isNull(raw)
	case '[':
	default:
		return 0, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return 0, skipSpace(raw, i+1) == len(raw)
	}
	n := 0
	for {
		end, ok := skipValue(raw, i)
		if !ok || n == len(items) {
			return 0, false
		}
		items[n] = raw[i:end:end]
		n++
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return 0, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return n, skipSpace(raw, i+1) == len(raw)
		default:
			return 0, false
		}
	}
}
