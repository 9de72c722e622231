// Package whatsapp reads Meta's WhatsApp Cloud API webhooks: it checks the
// X-Hub-Signature-256 signature and normalizes every webhook field into
// events, keeping whatever it cannot read as events of kind unknown.
package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

// ErrNotJSON is returned by Parse when the body is not JSON at all: the only
// case a webhook answers 400, because no redelivery can fix it.
var ErrNotJSON = errors.New("whatsapp: body is not JSON")

// Attribute keys shared by every event this package produces.
const (
	// AttrField is the webhook field the event came from.
	AttrField = "field"
	// AttrState qualifies Status for the catalogue's "kind/status/state"
	// lookup: the ban state of a DISABLED_UPDATE, a pause's title ...
	AttrState = "state"
	// AttrParseError says why an unknown event could not be read.
	AttrParseError = "parse_error"
)

// Parse turns a Meta webhook body into events. It fails only when the body
// is not JSON (ErrNotJSON); JSON of a shape it does not know becomes events
// of kind unknown whose Raw keeps the value, so nothing Meta sends is lost.
// Every event has a deterministic ID: a redelivery yields the same IDs.
func Parse(source string, body []byte, receivedAt time.Time) ([]event.Event, error) {
	return parse(source, body, receivedAt, false)
}

// parse is Parse; reference turns off the fast paths (parser.reference).
func parse(source string, body []byte, receivedAt time.Time, reference bool) ([]event.Event, error) {
	var ix ends
	if !reference && len(body) >= 2*indexedContainer {
		// At most eight entries fit the map without a table of its own.
		ix = make(ends, max(8, len(body)/(2*indexedContainer)))
	}
	if !validIndex(body, ix) {
		// Only to say why: encoding/json's message names the byte.
		var v json.RawMessage
		err := json.Unmarshal(body, &v)
		if err == nil { // unreachable: Valid and Unmarshal agree
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	p := &parser{source: source, receivedAt: receivedAt.UTC(), reference: reference, ix: ix}
	p.envelope(body)
	return p.out, nil
}

// parser collects the events of one delivery.
type parser struct {
	source     string
	receivedAt time.Time
	bucket     string // see occurrenceBucket
	out        []event.Event
	// reference turns off the decoders that read items without
	// encoding/json and the index, so tests can hold them to the path
	// they replace.
	reference bool
	ix        ends // of the body's large containers

}

// occurrenceBucket is the delivery's redelivery window, for ids of changes
// that carry no time at all (value-level errors, entries without time).
// Most deliveries never need it, so it is made on first use.
func (p *parser) occurrenceBucket() string {
	if p.bucket == "" {
		p.bucket = event.OccurrenceBucket(p.receivedAt)
	}
	return p.bucket
}

// change is what the events of one change share.
type change struct {
	wabaID        string
	entryTime     int64
	field         string
	phoneNumberID string
	displayPhone  string
	value         json.RawMessage
	// entry and index place the change in the body ("entry[0].changes[1]")
	// for unknown events; the text is made only for them.
	entry, index int
	canon        string  // canonical value, computed on first use
	p            *parser // for the delivery's occurrence bucket
}

// where names the change for an unknown event's path.
func (c *change) where() string {
	return fmt.Sprintf("entry[%d].changes[%d]", c.entry, c.index)
}

// item names an item of the value for an unknown event's path.
func (c *change) item(name string, i int) string {
	return fmt.Sprintf("entry[%d].changes[%d].value.%s[%d]", c.entry, c.index, name, i)
}

// canonical returns the value in a canonical form for content-hash ids.
func (c *change) canonical() string {
	if c.canon == "" {
		c.canon = canonicalJSON(c.value)
	}
	return c.canon
}

// contentID hashes what identifies a change without an id of its own; what
// tells apart several events of one change. The entry's time tells apart two
// occurrences of the same change; without one, the delivery's redelivery
// window does, so the same error reported again an hour later is a new event
// while a redelivery is still a duplicate.
func (c *change) contentID(what string) string {
	return hashID(prefixEvent, c.wabaID, c.field, c.canonical(), c.occurrence(), what)
}

// contentIDAt is contentID for an item with a time of its own (ts), which
// tells its occurrences apart better than any delivery window.
func (c *change) contentIDAt(what, ts string) string {
	if strings.TrimSpace(ts) == "" {
		return c.contentID(what)
	}
	return hashID(prefixEvent, c.wabaID, c.field, c.canonical(), strconv.FormatInt(c.entryTime, 10), what)
}

func (c *change) occurrence() string {
	if c.entryTime > 0 {
		return strconv.FormatInt(c.entryTime, 10)
	}
	if c.p == nil {
		return ""
	}
	return c.p.occurrenceBucket()
}

// at returns the event time: the item's own timestamp, else the entry's
// time, else when the delivery arrived.
func (c *change) at(ts string, receivedAt time.Time) time.Time {
	if t, ok := unixTime(ts); ok {
		return t
	}
	return c.atEntry(receivedAt)
}

// atEntry is the entry's time, else when the delivery arrived.
func (c *change) atEntry(receivedAt time.Time) time.Time {
	if t, ok := unixSeconds(c.entryTime); ok {
		return t
	}
	return receivedAt
}

func (p *parser) base(c *change, kind event.Kind, status string) event.Event {
	e := event.Event{
		Source:             p.source,
		Kind:               kind,
		Status:             status,
		PhoneNumberID:      c.phoneNumberID,
		DisplayPhoneNumber: c.displayPhone,
		WABAID:             c.wabaID,
		Timestamp:          c.at("", p.receivedAt),
	}
	e.SetAttr(AttrField, c.field)
	return e
}

// unknown keeps raw as an event of kind unknown; where says which part of
// the body it was ("entry[0].changes[1]") and why says what was wrong.
func (p *parser) unknown(c *change, raw json.RawMessage, where, why string) {
	e := p.base(c, event.KindUnknown, c.field)
	e.Severity = event.SeverityInfo
	if len(bytes.TrimSpace(raw)) > 0 {
		e.Raw = append(json.RawMessage(nil), raw...)
	}
	e.SetAttr("path", where)
	e.SetAttr(AttrParseError, why)
	e.ID = hashID(prefixUnknown, c.wabaID, c.field, canonicalJSON(raw), strconv.FormatInt(c.entryTime, 10), where)
	p.out = append(p.out, e)
}

func (p *parser) envelope(body []byte) {
	env, err := decodeIn(p.ix, body, splitEnvelopeIn)
	if err != nil {
		p.unknown(&change{}, body, "", "body is not a Meta webhook envelope: "+describe(err))
		return
	}
	if len(env.Entry) == 0 {
		p.unknown(&change{}, body, "", "body has no entry[]")
		return
	}
	for i, raw := range env.Entry {
		p.entry(i, raw)
	}
}

func (p *parser) entry(i int, raw json.RawMessage) {
	en, err := decodeIn(p.ix, raw, splitEntryIn)
	if err != nil {
		p.unknown(&change{}, raw, fmt.Sprintf("entry[%d]", i), "entry: "+describe(err))
		return
	}
	if len(en.Changes) == 0 {
		p.unknown(&change{wabaID: en.ID.String(), entryTime: int64(en.Time)}, raw, fmt.Sprintf("entry[%d]", i), "entry has no changes[]")
		return
	}
	for j, rc := range en.Changes {
		c := change{wabaID: en.ID.String(), entryTime: int64(en.Time), entry: i, index: j, p: p}
		ch, err := decodeIn(p.ix, rc, splitChangeIn)
		if err != nil {
			p.unknown(&c, rc, c.where(), "change: "+describe(err))
			continue
		}
		c.field = strings.TrimSpace(ch.Field.String())
		c.value = ch.Value
		if v := bytes.TrimSpace(ch.Value); len(v) == 0 || bytes.Equal(v, []byte("null")) {
			p.unknown(&c, rc, c.where(), "change has no value")
			continue
		}
		p.change(&c)
	}
}

func (p *parser) change(c *change) {
	n := len(p.out)
	known, err := p.field(c, strings.ToLower(c.field))
	switch {
	case !known:
		p.unknown(c, c.value, c.where(), fmt.Sprintf("no mapping for webhook field %q", c.field))
	case err != nil:
		p.out = p.out[:n]
		p.unknown(c, c.value, c.where(), fmt.Sprintf("%s value: %s", c.field, describe(err)))
	case len(p.out) == n:
		p.unknown(c, c.value, c.where(), fmt.Sprintf("%s value carries nothing this version reads", c.field))
	}
}

// field reads a change's value by its field (lowercased); known is false
// for a field without a mapping. err is not nil only when the value does
// not decode; items it cannot read it reports itself, so the rest of the
// value is kept. A switch of calls rather than a table of functions, so
// the change need not escape to the heap.
func (p *parser) field(c *change, field string) (known bool, err error) {
	switch field {
	case "messages":
		return true, p.messages(c)
	case "user_preferences":
		return true, p.userPreferences(c)
	case "account_update":
		return true, p.accountUpdate(c)
	case "account_alerts":
		return true, p.accountAlerts(c)
	case "account_review_update":
		return true, p.accountReview(c)
	case "security":
		return true, p.security(c)
	case "business_capability_update":
		return true, p.capabilityUpdate(c)
	case "phone_number_name_update":
		return true, p.nameUpdate(c)
	case "phone_number_quality_update":
		return true, p.qualityUpdate(c)
	case "message_template_status_update", "message_template_quality_update",
		"template_category_update", "message_template_components_update":
		return true, p.template(c)
	}
	return false, nil
}

// describe makes a decoding error readable without Go type names.
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s is a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
		}
		return fmt.Sprintf("got a JSON %s, want %s", te.Value, jsonKind(te.Type.Kind().String()))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	default:
		return "a number"
	}
}

// unixTime reads unix seconds (or milliseconds, which some relays send) from
// text, and RFC 3339 as a courtesy.
func unixTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if n, ok := parseInteger(s); ok {
		return unixSeconds(n)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// unixSeconds reads unix seconds, or milliseconds past 1e12.
func unixSeconds(n int64) (time.Time, bool) {
	if n <= 0 {
		return time.Time{}, false
	}
	if n > 1e12 {
		return time.UnixMilli(n).UTC(), true
	}
	return time.Unix(n, 0).UTC(), true
}

// lower normalizes a provider's enumeration value for Status and state.
func lower(s FlexString) string { return strings.ToLower(strings.TrimSpace(string(s))) }

func setAttr(e *event.Event, key string, v FlexString) { e.SetAttr(key, strings.TrimSpace(string(v))) }

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
