// Package event defines the normalized Event that every source produces and
// every rule, template and notifier consumes.
package event

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind says what an event reports. Values are lowercase on the wire.
type Kind string

const (
	KindStatus        Kind = "status"         // outgoing message status: sent, delivered, read, failed ...
	KindError         Kind = "error"          // value-level (system, app, account) errors
	KindMessage       Kind = "message"        // incoming customer message
	KindAccountUpdate Kind = "account_update" // WABA ban, violation, restriction, partner changes ...
	KindAccountAlert  Kind = "account_alert"  // account_alerts, review decisions, security, capability changes
	KindQuality       Kind = "quality_update" // phone number quality / messaging limit changes
	KindTemplate      Kind = "template_status"
	KindConnection    Kind = "connection" // gateway session: open, close, logout
	KindUnknown       Kind = "unknown"    // a shape nobody knows; Raw keeps the value
)

// kinds lists every kind, for validation and documentation.
var kinds = [...]Kind{KindStatus, KindError, KindMessage, KindAccountUpdate, KindAccountAlert,
	KindQuality, KindTemplate, KindConnection, KindUnknown}

// Kinds returns every kind, in documentation order; the slice is the
// caller's.
func Kinds() []Kind { return append([]Kind(nil), kinds[:]...) }

// ValidKind reports whether k is one of Kinds.
func ValidKind(k Kind) bool {
	for _, v := range kinds {
		if v == k {
			return true
		}
	}
	return false
}

// Severity ranks how urgently a person must act. Most catalogue entries use
// one of critical, throttle, recipient, template, transient and info; warning
// is for what deserves attention without being an outage: code-less events
// (a quality flag, a PIN change) and the request errors (100, 131008, 131009,
// 131053, 135000) that mean the sending integration has a bug to fix.
type Severity string

const (
	SeverityCritical  Severity = "critical"  // the account or number cannot send: act now
	SeverityThrottle  Severity = "throttle"  // rate or spam limits: slow down
	SeverityRecipient Severity = "recipient" // one recipient cannot be reached
	SeverityTemplate  Severity = "template"  // a template problem
	SeverityTransient Severity = "transient" // Meta-side or temporary: a retry may help
	SeverityWarning   Severity = "warning"
	SeverityInfo      Severity = "info"
)

// severities lists every severity, most urgent first.
var severities = [...]Severity{SeverityCritical, SeverityThrottle, SeverityRecipient,
	SeverityTemplate, SeverityTransient, SeverityWarning, SeverityInfo}

// Severities returns every severity, most urgent first; the slice is the
// caller's.
func Severities() []Severity { return append([]Severity(nil), severities[:]...) }

// ValidSeverity reports whether s is one of Severities.
func ValidSeverity(s Severity) bool {
	for _, v := range severities {
		if v == s {
			return true
		}
	}
	return false
}

// Rank orders severities by urgency: 0 is critical, higher is less urgent;
// an unknown severity ranks after info.
func Rank(s Severity) int {
	for i, v := range severities {
		if v == s {
			return i
		}
	}
	return len(severities)
}

// Stricter returns the more urgent of two severities; an empty or unknown
// one never wins.
func Stricter(a, b Severity) Severity {
	if Rank(b) < Rank(a) {
		return b
	}
	return a
}

// failureStatuses are the status words that mean an outgoing message did not
// arrive, across providers (Meta failed, Twilio undelivered, gateways error
// and not_found).
var failureStatuses = map[string]bool{
	"failed": true, "error": true, "undelivered": true, "not_found": true,
	"rejected": true, "expired": true, "no_account": true, "invalid_number": true,
}

// IsFailure reports whether the event says something failed: a value-level
// error, or a status whose word is a failure. A failure is never info.
func (e *Event) IsFailure() bool {
	switch e.Kind {
	case KindError:
		return true
	case KindStatus:
		return failureStatuses[strings.ToLower(e.Status)]
	}
	return false
}

// Recipient names who the event is about for a person: the phone number,
// else the WhatsApp user id. (A value method, so templates can call it.)
func (e Event) Recipient() string {
	if e.RecipientID != "" {
		return e.RecipientID
	}
	return e.RecipientUserID
}

// Event is one thing a provider told us. Every field is in the JSON contract
// (DESIGN.md); Attributes carries what is particular to one kind (template
// name, ban state, violation type, limits ...). RecipientUserID is the
// customer's WhatsApp user id (Meta's business-scoped user id,
// "US.13491208655302741918"), kept apart from the phone number in
// RecipientID: a customer with a username may come with either or both.
type Event struct {
	ID                 string            `json:"id"`
	Source             string            `json:"source"`
	Kind               Kind              `json:"kind"`
	Status             string            `json:"status"`
	Code               int               `json:"code"`
	Title              string            `json:"title"`
	Message            string            `json:"message"`
	Details            string            `json:"details"`
	Severity           Severity          `json:"severity"`
	RecommendedAction  string            `json:"recommended_action"`
	PhoneNumberID      string            `json:"phone_number_id"`
	DisplayPhoneNumber string            `json:"display_phone_number"`
	WABAID             string            `json:"waba_id"`
	RecipientID        string            `json:"recipient_id"`
	RecipientUserID    string            `json:"recipient_user_id"`
	MessageID          string            `json:"message_id"`
	Timestamp          time.Time         `json:"timestamp"`
	Attributes         map[string]string `json:"attributes"`
	// Raw is the provider's value, kept for kind unknown (and wherever an
	// adapter could not make sense of a payload) so nothing is lost.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// SetAttr sets an attribute, skipping empty values so events stay compact.
func (e *Event) SetAttr(key, value string) {
	if value == "" {
		return
	}
	if e.Attributes == nil {
		e.Attributes = make(map[string]string)
	}
	e.Attributes[key] = value
}

// Attr returns an attribute or "".
func (e *Event) Attr(key string) string { return e.Attributes[key] }

// AttributeKeys returns the attribute keys in sorted order.
func (e *Event) AttributeKeys() []string {
	keys := make([]string, 0, len(e.Attributes))
	for k := range e.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MarshalJSON writes attributes as {} rather than null, so consumers can index
// into it without a nil check.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	if e.Attributes == nil {
		e.Attributes = map[string]string{}
	}
	return json.Marshal(plain(e))
}

// MaskPhone hides all but the last four digits of a phone number or WhatsApp
// ID ("16505551234" → "*******1234"), for logs and wide channels. Values of
// four characters or fewer are masked whole.
func MaskPhone(s string) string {
	if s == "" {
		return ""
	}
	r := []rune(s)
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	keep := 4
	return strings.Repeat("*", len(r)-keep) + string(r[len(r)-keep:])
}

// RedeliveryWindow is how far apart two deliveries of an event that carries
// neither a provider id nor a time of its own may arrive and still be taken
// for one occurrence. Providers redeliver within minutes (Meta retries at
// once, and sends the same notification to every subscribed app); the same
// error reported again later is a new occurrence and must not be dropped as a
// duplicate.
const RedeliveryWindow = 15 * time.Minute

// OccurrenceBucket names the redelivery window a delivery received at t falls
// in, for the ids of events without a provider id or timestamp. Two
// deliveries on either side of a window's edge get different ids, so the cost
// of a boundary is at worst one duplicate, never a lost event.
func OccurrenceBucket(t time.Time) string {
	return "w" + strconv.FormatInt(t.UTC().Truncate(RedeliveryWindow).Unix(), 10)
}

// Describe says in one line what the event is, for people: kind, status,
// code and title, the business number's id, and the recipient masked.
func (e Event) Describe() string {
	parts := []string{string(e.Kind)}
	if e.Status != "" {
		parts = append(parts, e.Status)
	}
	if e.Code != 0 {
		parts = append(parts, fmt.Sprintf("code %d", e.Code))
	}
	if e.Title != "" {
		parts = append(parts, "("+e.Title+")")
	}
	s := strings.Join(parts, " ")
	if e.PhoneNumberID != "" {
		s += ", phone_number_id " + e.PhoneNumberID
	}
	if e.RecipientID != "" {
		s += ", recipient " + MaskPhone(e.RecipientID)
	}
	return s
}

// Masked returns the event with the recipient's number masked (MaskPhone),
// for what is shown to people: lists, JSON output of the operator
// commands and the admin API. The business's own numbers stay whole.
func (e Event) Masked() Event {
	e.RecipientID = MaskPhone(e.RecipientID)
	return e
}

// carried lists, per kind, the identity fields the built-in sources set.
// A quality or name update names its number only by display_phone_number;
// a ban or a template names the account alone. Kind unknown may carry
// anything, and so may a mapped source that maps the field.
var carried = map[Kind][]string{
	KindStatus:        identityFields(),
	KindMessage:       identityFields(),
	KindError:         {"code", "phone_number_id", "display_phone_number", "waba_id"},
	KindAccountUpdate: {"display_phone_number", "waba_id"},
	KindAccountAlert:  {"phone_number_id", "display_phone_number", "waba_id"},
	KindQuality:       {"display_phone_number", "waba_id"},
	KindTemplate:      {"waba_id"},
	KindConnection:    {"code", "phone_number_id", "display_phone_number"},
	KindUnknown:       identityFields(),
}

// Carries reports whether events of kind k can have field (as Field names
// it) set by a built-in source.
func Carries(k Kind, field string) bool {
	if f, ok := lookup(field); !ok || !f.identity {
		return true
	}
	c, ok := carried[k]
	return !ok || contains(c, field)
}

// CarriedFields lists the identity fields that events of any of kinds can
// carry, in identityFields order.
func CarriedFields(kinds []Kind) []string {
	var out []string
	for _, f := range identityFields() {
		for _, k := range kinds {
			if Carries(k, f) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// KindIndex is k's position in Kinds, or -1: what a kind bit mask is
// built on, without a copy of the list per event.
func KindIndex(k Kind) int {
	for i, v := range kinds {
		if v == k {
			return i
		}
	}
	return -1
}

// SeverityIndex is s's position in Severities (0 is the most urgent), or
// -1 for none of them.
func SeverityIndex(s Severity) int {
	for i, v := range severities {
		if v == s {
			return i
		}
	}
	return -1
}

// SeverityCount is how many severities there are.
func SeverityCount() int { return len(severities) }
