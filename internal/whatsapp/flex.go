package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// Meta's documentation and its payloads disagree on types: timestamps are
// strings in messages but integers elsewhere, template ids are numbers that
// overflow a float64, error codes sometimes arrive quoted through relays.
// These types accept either spelling so one odd field does not cost a whole
// delivery.

// FlexString decodes a JSON string, number or boolean as text (numbers keep
// their literal digits, so large ids lose no precision) and null as "".
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *FlexString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty JSON value")
	}
	switch b[0] {
	case '"':
		v, err := unquote(b)
		if err != nil {
			return err
		}
		*s = FlexString(v)
	case 'n':
		*s = ""
	case '{':
		return errors.New("want a string or a number, got an object")
	case '[':
		return errors.New("want a string or a number, got an array")
	default: // number, true, false: the literal is the text
		*s = FlexString(b)
	}
	return nil
}

// String returns the text.
func (s FlexString) String() string { return string(s) }

// FlexInt decodes a JSON number or a numeric string ("131026", " 42 ") as an
// integer, and null or "" as 0.
type FlexInt int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *FlexInt) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return errors.New("empty JSON value")
	}
	text := string(b)
	switch b[0] {
	case 'n':
		*n = 0
		return nil
	case '"':
		v, err := unquote(b)
		if err != nil {
			return err
		}
		text = strings.TrimSpace(v)
		if text == "" {
			*n = 0
			return nil
		}
	case '{', '[', 't', 'f':
		return errors.New("want an integer or a numeric string")
	}
	v, ok := parseInteger(text)
	if !ok {
		return errors.New("want an integer or a numeric string")
	}
	*n = FlexInt(v)
	return nil
}

// parseInteger reads "42", and also "42.0" or "4.2e1" that some encoders
// write for whole numbers.
func parseInteger(s string) (int64, bool) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
		return 0, false
	}
	return int64(f), true
}

// FlexList decodes a string, a number or an array of them; Meta documents
// some enumerations (waba_ban_state) as a string and shows them as an array.
type FlexList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *FlexList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var items []FlexString
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			if it != "" {
				out = append(out, string(it))
			}
		}
		*l = out
		return nil
	}
	var one FlexString
	if err := one.UnmarshalJSON(b); err != nil {
		return err
	}
	*l = nil
	if one != "" {
		*l = FlexList{string(one)}
	}
	return nil
}

// Join returns the items separated by commas.
func (l FlexList) Join() string { return strings.Join(l, ",") }

// unquote reads a JSON string token. The decoder has already validated it,
// so one without escapes is its bytes between the quotes; json.Unmarshal
// would validate it a second time, which a 1000-status batch feels.
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		// The words every delivery carries cost no allocation.
		switch text := b[1 : len(b)-1]; string(text) {
		case "whatsapp_business_account":
			return "whatsapp_business_account", nil
		case "messages":
			return "messages", nil
		case "whatsapp":
			return "whatsapp", nil
		default:
			return string(text), nil
		}
	}
	var v string
	err := json.Unmarshal(b, &v)
	return v, err
}
