package templates

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/event"
)

// TruncationMarker ends a text that Truncate shortened, so a reader knows
// something is missing.
const TruncationMarker = "… (truncated)"

// Truncate shortens s to at most max bytes, cutting on a rune boundary and
// ending with TruncationMarker. When max is too small for the marker, the
// text is cut without it.
func Truncate(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if len(s) <= max {
		return s
	}
	if max < len(TruncationMarker) {
		return cutRunes(s, max)
	}
	return strings.TrimRightFunc(cutRunes(s, max-len(TruncationMarker)), unicode.IsSpace) + TruncationMarker
}

// cutRunes returns the longest prefix of s of at most n bytes that does not
// split a rune.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// funcMap is the functions every template may call. Argument order follows
// sprig's, so a value can be piped in last: {{ .Event.Message | truncate 80 }}.
func funcMap(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"truncate":         func(n int, s string) string { return Truncate(s, n) },
		"join":             join,
		"upper":            strings.ToUpper,
		"lower":            strings.ToLower,
		"title":            titleCase,
		"default":          defaultValue,
		"mask":             event.MaskPhone,
		"formatTime":       formatTime,
		"since":            func(t time.Time) time.Duration { return since(now, t) },
		"between":          between,
		"humanizeDuration": humanizeDuration,
		"toJSON":           toJSON,
		"replace":          func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"contains":         func(sub, s string) bool { return strings.Contains(s, sub) },
		"hasPrefix":        func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"slackEscape":      SlackEscape,
		"jiraEscape":       JiraEscape,
	}
}

// join accepts the lists templates meet: []string (reasons, actions, labels)
// and []any (from toJSON round trips or user data).
func join(sep string, list any) (string, error) {
	switch l := list.(type) {
	case nil:
		return "", nil
	case []string:
		return strings.Join(l, sep), nil
	case string:
		return l, nil
	}
	v := reflect.ValueOf(list)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return "", fmt.Errorf("join: want a list, got %T", list)
	}
	parts := make([]string, v.Len())
	for i := range parts {
		parts[i] = fmt.Sprint(v.Index(i).Interface())
	}
	return strings.Join(parts, sep), nil
}

// titleCase upper-cases the first letter of each word; strings.Title is
// deprecated and a full Unicode casing library is more than labels need.
func titleCase(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) || prev == '_' || prev == '-' {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

// defaultValue returns value unless it is empty (zero, "", an empty list),
// in which case def.
func defaultValue(def, value any) any {
	if value == nil {
		return def
	}
	v := reflect.ValueOf(value)
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.Array, reflect.String:
		if v.Len() == 0 {
			return def
		}
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return def
		}
	default:
		if v.IsZero() {
			return def
		}
	}
	return value
}

var layouts = map[string]string{
	"RFC3339":  time.RFC3339,
	"RFC1123":  time.RFC1123,
	"Kitchen":  time.Kitchen,
	"DateTime": time.DateTime,
	"DateOnly": time.DateOnly,
	"TimeOnly": time.TimeOnly,
}

// formatTime formats t in UTC, so a channel read across time zones sees one
// clock; a zero time is "" so templates need no IsZero guard to print it.
func formatTime(layout string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if l, ok := layouts[layout]; ok {
		layout = l
	}
	return t.UTC().Format(layout)
}

func since(now func() time.Time, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return now().Sub(t)
}

func between(from, to time.Time) time.Duration {
	if from.IsZero() || to.IsZero() {
		return 0
	}
	return to.Sub(from)
}

// humanizeDuration writes the two largest units: "3d 4h", "2h 5m", "45s".
// It takes a time.Duration or a number of seconds.
func humanizeDuration(v any) (string, error) {
	var d time.Duration
	switch x := v.(type) {
	case time.Duration:
		d = x
	case int:
		d = time.Duration(x) * time.Second
	case int64:
		d = time.Duration(x) * time.Second
	case float64:
		d = time.Duration(x * float64(time.Second))
	case string:
		p, err := duration.Parse(x)
		if err != nil {
			return "", fmt.Errorf("humanizeDuration: %q is not a duration like 90s or 2h", x)
		}
		d = p
	default:
		return "", fmt.Errorf("humanizeDuration: want a duration or seconds, got %T", v)
	}
	neg := d < 0
	if neg {
		d = -d
	}
	units := []struct {
		name string
		size time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}}
	var parts []string
	for _, u := range units {
		if d >= u.size {
			parts = append(parts, strconv.FormatInt(int64(d/u.size), 10)+u.name)
			d %= u.size
		}
		if len(parts) == 2 {
			break
		}
	}
	if len(parts) == 0 {
		return "0s", nil
	}
	out := strings.Join(parts, " ")
	if neg {
		out = "-" + out
	}
	return out, nil
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toJSON: %w", err)
	}
	return string(b), nil
}

// SlackEscape escapes the three characters Slack's mrkdwn gives meaning to.
// Provider text goes through it so a message body cannot ping <!channel>
// or forge a link.
func SlackEscape(s string) string { return slackEscaper.Replace(s) }

// The replacers are built once: building one costs far more than using it,
// and a Replacer is immutable and safe for concurrent use.
var (
	slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	jiraEscaper  = strings.NewReplacer(`\`, `\\`, "|", `\|`, "{", `\{`, "}", `\}`, "[", `\[`, "]", `\]`)
)

// JiraEscape escapes the wiki-markup characters that would break a table
// cell or start a macro when provider text lands in a Jira description.
func JiraEscape(s string) string { return jiraEscaper.Replace(s) }
