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
	if !valid(body) {
		// Only to say why: encoding/json's message names the byte.
		var v json.RawMessage
		err := json.Unmarshal(body, &v)
		if err == nil { // unreachable: Valid and Unmarshal agree
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("%w: %w", ErrNotJSON, err)
	}
	p := &parser{source: source, receivedAt: receivedAt.UTC(), bucket: event.OccurrenceBucket(receivedAt)}
	p.envelope(body)
	return p.out, nil
}

// parser collects the events of one delivery.
type parser struct {
	source     string
	receivedAt time.Time
	bucket     string
	out        []event.Event
}

// change is what the events of one change share.
type change struct {
	wabaID        string
	entryTime     int64
	field         string
	phoneNumberID string
	displayPhone  string
	value         json.RawMessage
	where         string // "entry[0].changes[1]", for unknown events
	canon         string // canonical value, computed on first use
	// bucket is the delivery's redelivery window, for ids of changes that
	// carry no time at all (value-level errors, entries without time).
	bucket string
}

// item names an item of the value for an unknown event's path.
func (c *change) item(name string, i int) string {
	return fmt.Sprintf("%s.value.%s[%d]", c.where, name, i)
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
	return c.bucket
}

// at returns the event time: the item's own timestamp, else the entry's
// time, else when the delivery arrived.
func (c *change) at(ts string, receivedAt time.Time) time.Time {
	if t, ok := unixTime(ts); ok {
		return t
	}
	if c.entryTime > 0 {
		if t, ok := unixTime(strconv.FormatInt(c.entryTime, 10)); ok {
			return t
		}
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
	env, err := decode(body, splitEnvelope)
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
	where := fmt.Sprintf("entry[%d]", i)
	en, err := decode(raw, splitEntry)
	if err != nil {
		p.unknown(&change{}, raw, where, "entry: "+describe(err))
		return
	}
	if len(en.Changes) == 0 {
		p.unknown(&change{wabaID: en.ID.String(), entryTime: int64(en.Time)}, raw, where, "entry has no changes[]")
		return
	}
	for j, rc := range en.Changes {
		c := &change{wabaID: en.ID.String(), entryTime: int64(en.Time), bucket: p.bucket}
		cw := fmt.Sprintf("%s.changes[%d]", where, j)
		c.where = cw
		ch, err := decode(rc, splitChange)
		if err != nil {
			p.unknown(c, rc, cw, "change: "+describe(err))
			continue
		}
		c.field = strings.TrimSpace(ch.Field.String())
		c.value = ch.Value
		if v := bytes.TrimSpace(ch.Value); len(v) == 0 || bytes.Equal(v, []byte("null")) {
			p.unknown(c, rc, cw, "change has no value")
			continue
		}
		p.change(c, cw)
	}
}

func (p *parser) change(c *change, where string) {
	parse := fieldParser(strings.ToLower(c.field))
	if parse == nil {
		p.unknown(c, c.value, where, fmt.Sprintf("no mapping for webhook field %q", c.field))
		return
	}
	n := len(p.out)
	if err := parse(p, c); err != nil {
		p.out = p.out[:n]
		p.unknown(c, c.value, where, fmt.Sprintf("%s value: %s", c.field, describe(err)))
		return
	}
	if len(p.out) == n {
		p.unknown(c, c.value, where, fmt.Sprintf("%s value carries nothing this version reads", c.field))
	}
}

// fieldParser returns the function that reads a field's value, nil for a
// field without a mapping. The function returns an error only when the value
// does not decode; items it cannot read it reports itself, so the rest of
// the value is kept.
func fieldParser(field string) func(p *parser, c *change) error {
	switch field {
	case "messages":
		return (*parser).messages
	case "user_preferences":
		return (*parser).userPreferences
	case "account_update":
		return (*parser).accountUpdate
	case "account_alerts":
		return (*parser).accountAlerts
	case "account_review_update":
		return (*parser).accountReview
	case "security":
		return (*parser).security
	case "business_capability_update":
		return (*parser).capabilityUpdate
	case "phone_number_name_update":
		return (*parser).nameUpdate
	case "phone_number_quality_update":
		return (*parser).qualityUpdate
	case "message_template_status_update", "message_template_quality_update",
		"template_category_update", "message_template_components_update":
		return (*parser).template
	}
	return nil
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
		if n <= 0 {
			return time.Time{}, false
		}
		if n > 1e12 {
			return time.UnixMilli(n).UTC(), true
		}
		return time.Unix(n, 0).UTC(), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// lower normalizes a provider's enumeration value for Status and state.
func lower(s FlexString) string { return strings.ToLower(strings.TrimSpace(string(s))) }

func setAttr(e *event.Event, key string, v FlexString) { e.SetAttr(key, strings.TrimSpace(string(v))) }

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }
