// Package catalog owns the error and reason catalogue: what each provider
// code means, why it happens, what to do about it and how urgent it is. The
// entries live as embedded YAML data; users add or override entries from
// their own files.
package catalog

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/event"
)

//go:embed data/*.yaml
var embedded embed.FS

// Namespaces keep codes of different providers apart: Meta's 131031 and a
// gateway's disconnect status 401 are not the same thing.
const (
	NamespaceMeta       = "meta"       // Meta Cloud API error codes
	NamespaceTwilio     = "twilio"     // Twilio error codes (63016 ...)
	NamespaceConnection = "connection" // gateway disconnect reasons (Baileys, whatsmeow)
	// NamespaceEvent explains events that carry no code (a ban, a template
	// rejection, a quality flag), keyed "kind/status" or, more specific,
	// "kind/status/state" where state is the event's "state" attribute.
	NamespaceEvent = "event"
)

// Entry is one catalogue entry. Code is the lowest code of a range; CodeTo is
// its highest (equal to Code for a single code).
type Entry struct {
	Namespace   string         `json:"namespace" yaml:"-"`
	Code        int            `json:"code" yaml:"-"`
	CodeTo      int            `json:"code_to,omitempty" yaml:"-"`
	Key         string         `json:"key,omitempty" yaml:"key"` // connection reasons: logged_out, banned ...
	Title       string         `json:"title" yaml:"title"`
	Description string         `json:"description" yaml:"description"`
	Reasons     []string       `json:"reasons" yaml:"reasons"`
	Actions     []string       `json:"actions" yaml:"actions"`
	Severity    event.Severity `json:"severity" yaml:"severity"`
	Retryable   bool           `json:"retryable" yaml:"retryable"`
	// MetaCodes lists the Meta codes a Twilio code corresponds to.
	MetaCodes []int `json:"meta_codes,omitempty" yaml:"meta_codes"`
}

// Range renders the code or the range as users write it: "131031", "200-299".
func (e Entry) Range() string {
	if e.CodeTo > e.Code {
		return fmt.Sprintf("%d-%d", e.Code, e.CodeTo)
	}
	return strconv.Itoa(e.Code)
}

// RecommendedAction joins the actions into one line for Event.RecommendedAction.
func (e Entry) RecommendedAction() string { return strings.Join(e.Actions, " ") }

// file is the YAML shape of a catalogue file:
//
//	namespace: meta
//	codes:
//	  "131031": {title: ..., severity: critical, ...}
//	  "200-299": {...}
type file struct {
	Namespace string               `yaml:"namespace"`
	Codes     map[string]yaml.Node `yaml:"codes"`
}

// Catalog is immutable once loaded and safe for concurrent use.
type Catalog struct {
	exact  map[string]map[int]*Entry    // namespace → code → entry
	ranges map[string][]*Entry          // namespace → range entries, narrowest first
	keys   map[string]map[string]*Entry // namespace → key → entry
}

// Load reads the embedded catalogue, then each extra file in order; an entry
// in a later file replaces the one with the same namespace and code.
func Load(extra ...string) (*Catalog, error) {
	c := &Catalog{
		exact:  map[string]map[int]*Entry{},
		ranges: map[string][]*Entry{},
		keys:   map[string]map[string]*Entry{},
	}
	names, err := fs.Glob(embedded, "data/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		b, err := embedded.ReadFile(name)
		if err != nil {
			return nil, err
		}
		errs = append(errs, c.add("catalog/"+name, b)...)
	}
	for _, path := range extra {
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: read catalogue: %w", path, err))
			continue
		}
		errs = append(errs, c.add(path, b)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for ns := range c.ranges {
		r := c.ranges[ns]
		sort.SliceStable(r, func(i, j int) bool { return r[i].CodeTo-r[i].Code < r[j].CodeTo-r[j].Code })
	}
	return c, nil
}

// MustDefault returns the embedded catalogue; it panics only if the embedded
// data is broken, which a test catches.
func MustDefault() *Catalog {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

func (c *Catalog) add(path string, b []byte) []error {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	if f.Namespace == "" {
		f.Namespace = NamespaceMeta
	}
	switch f.Namespace {
	case NamespaceMeta, NamespaceTwilio, NamespaceConnection, NamespaceEvent:
	default:
		return []error{fmt.Errorf("%s: unknown namespace %q (want meta, twilio, connection or event)", path, f.Namespace)}
	}
	var errs []error
	for codeText, node := range f.Codes {
		node := node
		at := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: code %s: %s", path, node.Line, codeText, fmt.Sprintf(format, a...))
		}
		var e Entry
		if err := node.Decode(&e); err != nil {
			errs = append(errs, at("%v", err))
			continue
		}
		if f.Namespace == NamespaceEvent {
			// Event entries have no code: the map key is the key.
			e.Namespace, e.Key = f.Namespace, codeText
			if e.Title == "" {
				errs = append(errs, at("title is required"))
				continue
			}
			if e.Severity == "" {
				e.Severity = event.SeverityInfo
			}
			if !event.ValidSeverity(e.Severity) {
				errs = append(errs, at("unknown severity %q", e.Severity))
				continue
			}
			ent := e
			if c.keys[f.Namespace] == nil {
				c.keys[f.Namespace] = map[string]*Entry{}
			}
			c.keys[f.Namespace][codeText] = &ent
			continue
		}
		lo, hi, err := ParseRange(codeText)
		if err != nil {
			errs = append(errs, at("%v", err))
			continue
		}
		e.Namespace, e.Code, e.CodeTo = f.Namespace, lo, hi
		if e.Title == "" {
			errs = append(errs, at("title is required"))
		}
		if e.Severity == "" {
			e.Severity = event.SeverityInfo
		}
		if !event.ValidSeverity(e.Severity) {
			errs = append(errs, at("unknown severity %q", e.Severity))
		}
		if len(errs) > 0 {
			continue
		}
		ent := e
		if hi > lo {
			c.ranges[f.Namespace] = append(c.ranges[f.Namespace], &ent)
		} else {
			if c.exact[f.Namespace] == nil {
				c.exact[f.Namespace] = map[int]*Entry{}
			}
			c.exact[f.Namespace][lo] = &ent
		}
		if ent.Key != "" {
			if c.keys[f.Namespace] == nil {
				c.keys[f.Namespace] = map[string]*Entry{}
			}
			c.keys[f.Namespace][ent.Key] = &ent
		}
	}
	return errs
}

// ParseRange reads "131031" or "200-299".
func ParseRange(s string) (lo, hi int, err error) {
	s = strings.TrimSpace(s)
	a, b, isRange := strings.Cut(s, "-")
	lo, err = strconv.Atoi(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a code or a range like 200-299", s)
	}
	hi = lo
	if isRange {
		hi, err = strconv.Atoi(strings.TrimSpace(b))
		if err != nil || hi < lo {
			return 0, 0, fmt.Errorf("%q is not a code or a range like 200-299", s)
		}
	}
	return lo, hi, nil
}

// Lookup finds a Meta code: an exact entry first, else the narrowest range.
func (c *Catalog) Lookup(code int) (Entry, bool) { return c.LookupIn(NamespaceMeta, code) }

// LookupIn finds a code in one namespace.
func (c *Catalog) LookupIn(ns string, code int) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	if e, ok := c.exact[ns][code]; ok {
		return *e, true
	}
	for _, e := range c.ranges[ns] {
		if code >= e.Code && code <= e.CodeTo {
			return *e, true
		}
	}
	return Entry{}, false
}

// LookupKey finds an entry by its key (connection reasons: "logged_out").
func (c *Catalog) LookupKey(ns, key string) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	if e, ok := c.keys[ns][key]; ok {
		return *e, true
	}
	return Entry{}, false
}

// Entries lists every entry of a namespace ordered by code (by key for
// the event namespace).
func (c *Catalog) Entries(ns string) []Entry {
	var out []Entry
	if ns == NamespaceEvent {
		for _, e := range c.keys[ns] {
			out = append(out, *e)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		return out
	}
	for _, e := range c.exact[ns] {
		out = append(out, *e)
	}
	for _, e := range c.ranges[ns] {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Code != out[j].Code {
			return out[i].Code < out[j].Code
		}
		return out[i].CodeTo < out[j].CodeTo
	})
	return out
}

// ForEvent finds the entry that explains an event: for connection events the
// disconnect reason (attribute "reason", else the code in the connection
// namespace); for events from Twilio (attribute "provider" = twilio) the
// Twilio namespace; otherwise Meta's codes.
func (c *Catalog) ForEvent(e *event.Event) (Entry, bool) {
	if e.Kind == event.KindConnection {
		if r := e.Attr("reason"); r != "" {
			if ent, ok := c.LookupKey(NamespaceConnection, r); ok {
				return ent, true
			}
		}
		if e.Code != 0 {
			if ent, ok := c.LookupIn(NamespaceConnection, e.Code); ok {
				return ent, true
			}
		}
		return c.forStatus(e)
	}
	if e.Code == 0 {
		return c.forStatus(e)
	}
	if e.Attr("provider") == NamespaceTwilio {
		if ent, ok := c.LookupIn(NamespaceTwilio, e.Code); ok {
			return ent, true
		}
	}
	return c.Lookup(e.Code)
}

// forStatus finds the NamespaceEvent entry for an event without a code.
func (c *Catalog) forStatus(e *event.Event) (Entry, bool) {
	base := string(e.Kind) + "/" + strings.ToLower(e.Status)
	if st := e.Attr("state"); st != "" {
		if ent, ok := c.LookupKey(NamespaceEvent, base+"/"+strings.ToLower(st)); ok {
			return ent, true
		}
	}
	return c.LookupKey(NamespaceEvent, base)
}

// Enrich fills an event's severity and recommended action from its entry.
// A severity the adapter already set is kept only when no entry exists: the
// catalogue is the one place that ranks codes.
func (c *Catalog) Enrich(e *event.Event) {
	ent, ok := c.ForEvent(e)
	if !ok {
		if e.Severity == "" {
			e.Severity = event.SeverityInfo
		}
		return
	}
	e.Severity = ent.Severity
	if e.RecommendedAction == "" {
		e.RecommendedAction = ent.RecommendedAction()
	}
	if e.Title == "" {
		e.Title = ent.Title
	}
}
