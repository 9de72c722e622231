package event

import (
	"fmt"
	"strconv"
	"strings"
)

// AttrPrefix names an attribute where a field name is expected:
// attributes.template_name.
const AttrPrefix = "attributes."

// field is one named field of the event contract: its JSON name, how it
// reads as text (group_by, silences, inhibit's equal, templates' samples)
// and how it is set from text (a mapped source's paths). It is the one list
// of fields; everything that names fields by text reads it.
type field struct {
	name string
	get  func(*Event) string
	// set stores text in the field; an error says why the text is not a
	// value of it (a code that is not a number, a kind that is none).
	set func(*Event, string) error
	// identity fields say which account, number or message an event is
	// about; some kinds never carry some of them (Carries).
	identity bool
	// mappable fields can be filled by a mapped source's paths; source is
	// the source's own name, recommended_action the catalogue's.
	mappable bool
}

// fields is in the contract's order (DESIGN.md), which error messages and
// `--help` texts list them in. It is never written.
var fields = [...]field{
	{name: "id", get: func(e *Event) string { return e.ID }, set: func(e *Event, v string) error { e.ID = v; return nil }, mappable: true},
	{name: "source", get: func(e *Event) string { return e.Source }, set: func(e *Event, v string) error { e.Source = v; return nil }},
	{name: "kind", get: func(e *Event) string { return string(e.Kind) }, set: setKind, mappable: true},
	{name: "status", get: func(e *Event) string { return e.Status }, set: func(e *Event, v string) error { e.Status = v; return nil }, mappable: true},
	{name: "code", get: getCode, set: setCode, identity: true, mappable: true},
	{name: "title", get: func(e *Event) string { return e.Title }, set: func(e *Event, v string) error { e.Title = v; return nil }, mappable: true},
	{name: "message", get: func(e *Event) string { return e.Message }, set: func(e *Event, v string) error { e.Message = v; return nil }, mappable: true},
	{name: "details", get: func(e *Event) string { return e.Details }, set: func(e *Event, v string) error { e.Details = v; return nil }, mappable: true},
	{name: "severity", get: func(e *Event) string { return string(e.Severity) }, set: setSeverity, mappable: true},
	{name: "recommended_action", get: func(e *Event) string { return e.RecommendedAction }, set: func(e *Event, v string) error { e.RecommendedAction = v; return nil }},
	{name: "phone_number_id", get: func(e *Event) string { return e.PhoneNumberID }, set: func(e *Event, v string) error { e.PhoneNumberID = v; return nil }, identity: true, mappable: true},
	{name: "display_phone_number", get: func(e *Event) string { return e.DisplayPhoneNumber }, set: func(e *Event, v string) error { e.DisplayPhoneNumber = v; return nil }, identity: true, mappable: true},
	{name: "waba_id", get: func(e *Event) string { return e.WABAID }, set: func(e *Event, v string) error { e.WABAID = v; return nil }, identity: true, mappable: true},
	{name: "recipient_id", get: func(e *Event) string { return e.RecipientID }, set: func(e *Event, v string) error { e.RecipientID = v; return nil }, identity: true, mappable: true},
	{name: "recipient_user_id", get: func(e *Event) string { return e.RecipientUserID }, set: func(e *Event, v string) error { e.RecipientUserID = v; return nil }, identity: true, mappable: true},
	{name: "message_id", get: func(e *Event) string { return e.MessageID }, set: func(e *Event, v string) error { e.MessageID = v; return nil }, identity: true, mappable: true},
}

func getCode(e *Event) string {
	if e.Code == 0 {
		return ""
	}
	return strconv.Itoa(e.Code)
}

func setCode(e *Event, v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("code %q is not a number", v)
	}
	e.Code = n
	return nil
}

func setKind(e *Event, v string) error {
	k := Kind(strings.ToLower(v))
	if !ValidKind(k) {
		return fmt.Errorf("kind %q is not one of %s", v, KindList())
	}
	e.Kind = k
	return nil
}

func setSeverity(e *Event, v string) error {
	s := Severity(strings.ToLower(v))
	if !ValidSeverity(s) {
		return fmt.Errorf("severity %q is not one of %s", v, SeverityList())
	}
	e.Severity = s
	return nil
}

// KindList is every kind, comma-separated, for messages that list them.
func KindList() string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return strings.Join(out, ", ")
}

// SeverityList is every severity, most urgent first, comma-separated.
func SeverityList() string {
	out := make([]string, len(severities))
	for i, s := range severities {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

func lookup(name string) (*field, bool) {
	for i := range fields {
		if fields[i].name == name {
			return &fields[i], true
		}
	}
	return nil, false
}

// Field returns the value of a named field as a string, for group_by,
// silences and matchers: the JSON names of the contract, or "attributes.X"
// (also plain "X" when no field has that name) for an attribute.
func (e *Event) Field(name string) string {
	if f, ok := lookup(name); ok {
		return f.get(e)
	}
	if attr, ok := AttrName(name); ok {
		return e.Attributes[attr]
	}
	return e.Attributes[name]
}

// SetField sets a named field (as Field names it, attributes.X included)
// from text. Kind and severity must be one of theirs, code a number; the
// error says which and why, and the event is left as it was.
func (e *Event) SetField(name, value string) error {
	if f, ok := lookup(name); ok {
		return f.set(e, value)
	}
	if attr, ok := AttrName(name); ok {
		e.SetAttr(attr, value)
		return nil
	}
	return fmt.Errorf("%q is not an event field (fields: %s; attributes as attributes.NAME)", name, strings.Join(FieldNames(), ", "))
}

// AttrName returns X for "attributes.X" (the prefix in any case, as
// mappings write it).
func AttrName(name string) (string, bool) {
	if len(name) > len(AttrPrefix) && strings.EqualFold(name[:len(AttrPrefix)], AttrPrefix) {
		return name[len(AttrPrefix):], true
	}
	return "", false
}

// FieldNames returns the names Field understands besides attributes, in
// the contract's order; the slice is the caller's.
func FieldNames() []string {
	out := make([]string, len(fields))
	for i := range fields {
		out[i] = fields[i].name
	}
	return out
}

// IsField reports whether name is a field of the contract (not an
// attribute).
func IsField(name string) bool {
	_, ok := lookup(name)
	return ok
}

// KnownField reports whether name is a field of the contract or names an
// attribute as attributes.NAME: what group_by, equal and silences accept,
// so a typo (phone_number=...) is refused rather than never matching.
func KnownField(name string) bool {
	if strings.HasPrefix(name, AttrPrefix) {
		return len(name) > len(AttrPrefix)
	}
	return IsField(name)
}

// MappableFields returns the fields a mapped source may fill from its
// paths, in the contract's order; the slice is the caller's. Timestamp is
// not among them: it is read from the provider's own time formats, not
// from text.
func MappableFields() []string {
	var out []string
	for i := range fields {
		if fields[i].mappable {
			out = append(out, fields[i].name)
		}
	}
	return out
}

// identityFields are the fields that some kinds never carry; every other
// field (id, source, status, severity, texts, attributes) may be set on any.
func identityFields() []string {
	var out []string
	for i := range fields {
		if fields[i].identity {
			out = append(out, fields[i].name)
		}
	}
	return out
}
