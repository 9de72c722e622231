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
	"io"
	"io/fs"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/configfile"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/problem"
)

//go:embed data/*.yaml
var embedded embed.FS

// Namespaces keep codes of different providers apart: Meta's 131031 and a
// gateway's disconnect status 401 are not the same thing.
const (
	NamespaceMeta       = "meta"       // Meta Cloud API error codes
	NamespaceTwilio     = "twilio"     // Twilio error codes (63016 ...)
	NamespaceGupshup    = "gupshup"    // Gupshup's own failure codes (1002 ...)
	NamespaceConnection = "connection" // gateway disconnect reasons (Baileys, whatsmeow)
	// NamespaceEvent explains events that carry no code (a ban, a template
	// rejection, a quality flag), keyed "kind/status" or, more specific,
	// "kind/status/state" where state is the event's "state" attribute.
	NamespaceEvent = "event"
)

// Entry is one catalogue entry. Code is the lowest code of a range; CodeTo is
// its highest (equal to Code for a single code). Entries handed out share
// their slices with the catalogue: treat them as read-only.
type Entry struct {
	Namespace string `json:"namespace" yaml:"-"`
	Code      int    `json:"code" yaml:"-"`
	CodeTo    int    `json:"code_to,omitempty" yaml:"-"`
	Key       string `json:"key,omitempty" yaml:"key"` // connection reasons: logged_out, banned ...
	// Aliases are further keys for the same entry: the names other libraries
	// give the same reason (Baileys' timedOut and connectionLost are both 408).
	Aliases     []string       `json:"aliases,omitempty" yaml:"aliases"`
	Title       string         `json:"title" yaml:"title"`
	Description string         `json:"description" yaml:"description"`
	Reasons     []string       `json:"reasons" yaml:"reasons"`
	Actions     []string       `json:"actions" yaml:"actions"`
	Severity    event.Severity `json:"severity" yaml:"severity"`
	Retryable   bool           `json:"retryable" yaml:"retryable"`
	// MetaCodes lists the Meta codes a Twilio code corresponds to.
	MetaCodes []int `json:"meta_codes,omitempty" yaml:"meta_codes"`
	// DocsURL is the provider's documentation of the code; RunbookURL is
	// the team's own page on what to do. Both optional, shown as links.
	DocsURL    string `json:"docs_url,omitempty" yaml:"docs_url"`
	RunbookURL string `json:"runbook_url,omitempty" yaml:"runbook_url"`
}

// Range renders the code or the range as users write it: "131031", "200-299".
func (e Entry) Range() string {
	if e.CodeTo > e.Code {
		return fmt.Sprintf("%d-%d", e.Code, e.CodeTo)
	}
	return strconv.Itoa(e.Code)
}

// HasCode reports whether the entry stands for a code (or range) rather than
// only a key: Meta and Twilio entries always do, event entries never, and
// connection entries when a code was given (code 0 is not a disconnect reason).
func (e Entry) HasCode() bool {
	switch e.Namespace {
	case NamespaceEvent:
		return false
	case NamespaceConnection:
		return e.Code != 0
	}
	return true
}

// ID names the entry as a user looks it up: its code or range, else its key.
func (e Entry) ID() string {
	if e.HasCode() {
		return e.Range()
	}
	return e.Key
}

// RecommendedAction joins the actions into one line for Event.RecommendedAction.
func (e Entry) RecommendedAction() string { return strings.Join(e.Actions, " ") }

// file is the YAML shape of a catalogue file:
//
//	namespace: meta
//	codes:
//	  "131031": {title: ..., severity: critical, ...}
//	  "200-299": {...}
//	keys:                      # entries without a code (connection reasons)
//	  main_device_gone: {...}
//
// In the event namespace the names under codes are keys too. The maps are
// kept as nodes so entries are read in file order and every problem carries
// its line.
type file struct {
	Namespace string `yaml:"namespace"`
	// DocsURL is the docs_url of every entry of the file that has none;
	// "{code}" in it becomes the entry's code.
	DocsURL string    `yaml:"docs_url"`
	Codes   yaml.Node `yaml:"codes"`
	Keys    yaml.Node `yaml:"keys"`
}

// Catalog is immutable once loaded and safe for concurrent use.
type Catalog struct {
	exact  map[string]map[int]*Entry    // namespace → code → entry
	ranges map[string][]*Entry          // namespace → range entries, narrowest first
	keys   map[string]map[string]*Entry // namespace → key or alias → entry
}

// Load reads the embedded catalogue, then each extra file in order; an entry
// in a later file replaces the one with the same namespace and code (or key).
// Every problem is reported, each as FILE:LINE: message where a line is known.
func Load(extra ...string) (*Catalog, error) {
	c := &Catalog{
		exact:  map[string]map[int]*Entry{},
		ranges: map[string][]*Entry{},
		keys:   map[string]map[string]*Entry{},
	}
	names, err := fs.Glob(embedded, "data/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("catalog: list embedded data: %w", err)
	}
	sort.Strings(names)
	var errs problem.List
	for _, name := range names {
		b, err := embedded.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("catalog: read embedded %s: %w", name, err)
		}
		errs = append(errs, c.add("catalog/"+name, b)...)
	}
	for _, path := range extra {
		b, err := configfile.Read(path)
		if err != nil {
			errs.Add(path, 0, "read catalogue: %v", err)
			continue
		}
		errs = append(errs, c.add(path, b)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for ns := range c.ranges {
		r := c.ranges[ns]
		sort.SliceStable(r, func(i, j int) bool { return r[i].CodeTo-r[i].Code < r[j].CodeTo-r[j].Code })
	}
	return c, nil
}

// yamlLine matches the line number yaml.v3 puts in its messages
// ("yaml: line 7: ..." for syntax errors, "line 7: ..." in a TypeError).
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErrors rewrites yaml.v3's errors as FILE:LINE: message, the form
// `wabridge check` prints and editors jump to.
func yamlErrors(path string, err error) problem.List {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make(problem.List, 0, len(msgs))
	for _, m := range msgs {
		// The Go type name means nothing to someone editing the file.
		m = strings.Replace(m, " not found in type catalog.file", " is not a catalogue section (want namespace, codes, keys)", 1)
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			n, _ := strconv.Atoi(sm[1])
			out = append(out, problem.At(path, n, "%s", sm[2]))
			continue
		}
		out = append(out, problem.At(path, 0, "%s", strings.TrimPrefix(m, "yaml: ")))
	}
	return out
}

// entryFields are the fields an entry may have; anything else is a typo
// that would otherwise vanish silently (yaml.Node.Decode has no KnownFields).
func entryField(name string) bool {
	switch name {
	case "key", "aliases", "title", "description", "reasons", "actions", "severity", "retryable", "meta_codes", "docs_url", "runbook_url":
		return true
	}
	return false
}

// validKey reports whether s can be a key: lowercase, because events are
// matched on lowercased status, state and reason values.
func validKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '/', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

func (c *Catalog) add(path string, b []byte) problem.List {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return problem.List{problem.At(path, 0, "catalogue file is empty")}
		}
		return yamlErrors(path, err)
	}
	if f.Namespace == "" {
		f.Namespace = NamespaceMeta
	}
	switch f.Namespace {
	case NamespaceMeta, NamespaceTwilio, NamespaceGupshup, NamespaceConnection, NamespaceEvent:
	default:
		return problem.List{problem.At(path, 0, "unknown namespace %q (want meta, twilio, gupshup, connection or event)", f.Namespace)}
	}
	if (f.Codes.Kind == 0 || f.Codes.Tag == "!!null") && (f.Keys.Kind == 0 || f.Keys.Tag == "!!null") {
		// A truncated or half-written file must not pass as "no entries".
		return problem.List{problem.At(path, 0, "catalogue file has no entries (no codes: or keys: section)")}
	}
	if f.DocsURL != "" && !httpURL(strings.ReplaceAll(f.DocsURL, "{code}", "0")) {
		return problem.List{problem.At(path, 0, "docs_url %q must be an absolute http or https URL", f.DocsURL)}
	}
	var errs problem.List
	for _, sec := range []struct {
		node  *yaml.Node
		name  string
		keyed bool // names are keys, not codes
	}{
		{&f.Codes, "codes", f.Namespace == NamespaceEvent},
		{&f.Keys, "keys", true},
	} {
		if sec.node.Kind == 0 || sec.node.Tag == "!!null" {
			continue
		}
		if sec.node.Kind != yaml.MappingNode {
			errs.Add(path, sec.node.Line, "%s must be a mapping of entries", sec.name)
			continue
		}
		if sec.name == "keys" && (f.Namespace == NamespaceMeta || f.Namespace == NamespaceTwilio || f.Namespace == NamespaceGupshup) {
			errs.Add(path, sec.node.Line, "keys: namespace %s has codes only", f.Namespace)
			continue
		}
		errs = append(errs, c.addSection(path, f.Namespace, f.DocsURL, sec.node, sec.keyed)...)
	}
	return errs
}

// addSection reads one codes: or keys: mapping.
func (c *Catalog) addSection(path, ns, docsURL string, m *yaml.Node, keyed bool) problem.List {
	var errs problem.List
	seenName := map[string]int{} // name → line, to catch duplicates in one file
	seenKey := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		name, node := m.Content[i].Value, m.Content[i+1]
		at := func(format string, a ...any) problem.Problem {
			return problem.At(path, node.Line, "%s %s: %s", what(keyed), name, fmt.Sprintf(format, a...))
		}
		if first, dup := seenName[name]; dup {
			errs = append(errs, at("defined twice in this file (first at line %d)", first))
			continue
		}
		seenName[name] = m.Content[i].Line
		e, problems := decodeEntry(node)
		for _, p := range problems {
			errs.Add(path, p.line, "%s %s: %s", what(keyed), name, p.msg)
		}
		if len(problems) > 0 {
			continue
		}
		e.Namespace = ns
		if keyed {
			if fieldNode(node, "key") != nil && e.Key != name {
				errs = append(errs, at("key %q differs from the entry's name", e.Key))
				continue
			}
			e.Key = name
		} else {
			lo, hi, err := ParseRange(name)
			if err != nil {
				errs = append(errs, at("%v", err))
				continue
			}
			e.Code, e.CodeTo = lo, hi
		}
		if e.DocsURL == "" && docsURL != "" {
			e.DocsURL = strings.ReplaceAll(docsURL, "{code}", name)
		}
		bad := false
		for _, k := range append([]string{e.Key}, e.Aliases...) {
			if k == "" && !keyed {
				continue
			}
			if !validKey(k) {
				errs = append(errs, at("key %q must be lowercase letters, digits and _ / - .", k))
				bad = true
				continue
			}
			if first, dup := seenKey[k]; dup {
				errs = append(errs, at("key %q already used at line %d", k, first))
				bad = true
				continue
			}
			seenKey[k] = node.Line
		}
		if bad {
			continue
		}
		ent := e
		c.put(&ent, keyed)
	}
	return errs
}

func what(keyed bool) string {
	if keyed {
		return "key"
	}
	return "code"
}

// flaw is one thing wrong with an entry, at a line of its file.
type flaw struct {
	line int
	msg  string
}

// decodeEntry reads one entry and lists everything wrong with it.
func decodeEntry(node *yaml.Node) (Entry, []flaw) {
	var e Entry
	if node.Kind != yaml.MappingNode {
		return e, []flaw{{node.Line, "must be a mapping with title, description, reasons, actions, severity"}}
	}
	var problems []flaw
	add := func(line int, format string, a ...any) {
		problems = append(problems, flaw{line, fmt.Sprintf(format, a...)})
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if k := node.Content[i]; !entryField(k.Value) {
			add(k.Line, "unknown field %q (want key, aliases, title, description, reasons, actions, severity, retryable, meta_codes, docs_url, runbook_url)", k.Value)
		}
	}
	if err := node.Decode(&e); err != nil {
		var te *yaml.TypeError
		msgs := []string{err.Error()}
		if errors.As(err, &te) {
			msgs = te.Errors
		}
		for _, m := range msgs {
			if sm := yamlLine.FindStringSubmatch(m); sm != nil {
				n, _ := strconv.Atoi(sm[1])
				add(n, "%s", sm[2])
				continue
			}
			add(node.Line, "%s", m)
		}
		return e, problems
	}
	if strings.TrimSpace(e.Title) == "" {
		add(node.Line, "title is required")
	}
	if e.Severity == "" {
		e.Severity = event.SeverityInfo
	}
	if !event.ValidSeverity(e.Severity) {
		line := node.Line
		if n := fieldNode(node, "severity"); n != nil {
			line = n.Line
		}
		add(line, "unknown severity %q (want one of %s)", e.Severity, event.SeverityList())
	}
	if len(e.Actions) == 0 {
		add(node.Line, "at least one action is required: say what the person on duty should do")
	}
	for _, f := range []struct{ name, url string }{{"docs_url", e.DocsURL}, {"runbook_url", e.RunbookURL}} {
		if f.url != "" && !httpURL(f.url) {
			line := node.Line
			if n := fieldNode(node, f.name); n != nil {
				line = n.Line
			}
			add(line, "%s %q must be an absolute http or https URL", f.name, f.url)
		}
	}
	for _, list := range [][]string{e.Reasons, e.Actions} {
		for _, s := range list {
			if strings.TrimSpace(s) == "" {
				add(node.Line, "reasons and actions must not contain empty items")
				break
			}
		}
	}
	return e, problems
}

// httpURL reports whether s is an absolute http(s) URL: what a link in
// Slack or Jira can open.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// fieldNode returns the value node of a field of a mapping node, or nil.
func fieldNode(m *yaml.Node, name string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i+1]
		}
	}
	return nil
}

// put stores an entry, replacing the one with the same code or key. An
// override of a coded entry that leaves out key keeps the replaced entry's
// key and aliases, so adapters that look reasons up by key still find it.
func (c *Catalog) put(e *Entry, keyed bool) {
	ns := e.Namespace
	if c.keys[ns] == nil {
		c.keys[ns] = map[string]*Entry{}
	}
	// A key-only entry simply takes its key (and aliases) over: a coded
	// entry that had the same key keeps its code and its other aliases.
	var old *Entry
	switch {
	case keyed:
	case e.CodeTo > e.Code:
		r := c.ranges[ns]
		for i, x := range r {
			if x.Code == e.Code && x.CodeTo == e.CodeTo {
				old = x
				r[i] = e
				break
			}
		}
		if old == nil {
			c.ranges[ns] = append(r, e)
		}
	default:
		if c.exact[ns] == nil {
			c.exact[ns] = map[int]*Entry{}
		}
		old = c.exact[ns][e.Code]
		c.exact[ns][e.Code] = e
	}
	if old != nil {
		if e.Key == "" {
			e.Key, e.Aliases = old.Key, old.Aliases
		}
		for k, v := range c.keys[ns] {
			if v == old {
				delete(c.keys[ns], k)
			}
		}
	}
	for _, k := range append([]string{e.Key}, e.Aliases...) {
		if k != "" {
			c.keys[ns][k] = e
		}
	}
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
	key = strings.TrimSpace(key)
	if e, ok := c.keys[ns][strings.ToLower(key)]; ok {
		return *e, true
	}
	if e, ok := c.keys[ns][snake(key)]; ok {
		return *e, true
	}
	return Entry{}, false
}

// snake turns the camelCase names gateways use (Baileys' loggedOut,
// Green-API's sleepMode) into the catalogue's keys (logged_out, sleep_mode).
// A value in one case only ("DISABLE", "banned") is just lowercased.
func snake(s string) string {
	var hasLower, hasUpper bool
	for _, r := range s {
		hasLower = hasLower || unicode.IsLower(r)
		hasUpper = hasUpper || unicode.IsUpper(r)
	}
	if !hasLower || !hasUpper {
		return strings.ToLower(s)
	}
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Find looks up what a user typed: a code ("131031", also a code inside a
// range) or a key ("logged_out", "account_update/disabled_update").
func (c *Catalog) Find(ns, text string) (Entry, bool) {
	if code, err := strconv.Atoi(strings.TrimSpace(text)); err == nil && ns != NamespaceEvent {
		return c.LookupIn(ns, code)
	}
	return c.LookupKey(ns, text)
}

// Namespaces lists the namespaces in the order `wabridge codes` shows them.
func Namespaces() []string {
	return []string{NamespaceMeta, NamespaceTwilio, NamespaceConnection, NamespaceGupshup, NamespaceEvent}
}

// Entries lists every entry of a namespace once: entries with a code ordered
// by code (a single code before a range starting at it), then entries with
// only a key ordered by key.
func (c *Catalog) Entries(ns string) []Entry {
	if c == nil {
		return nil
	}
	seen := map[*Entry]bool{}
	var out []Entry
	take := func(e *Entry) {
		if !seen[e] {
			seen[e] = true
			out = append(out, *e)
		}
	}
	for _, e := range c.exact[ns] {
		take(e)
	}
	for _, e := range c.ranges[ns] {
		take(e)
	}
	for _, e := range c.keys[ns] {
		take(e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.HasCode() != b.HasCode() {
			return a.HasCode()
		}
		if !a.HasCode() {
			return a.Key < b.Key
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return a.CodeTo < b.CodeTo
	})
	return out
}

// Validate checks what no single entry can: that the Meta codes a Twilio
// entry maps to exist, and that no two ranges of the same width overlap
// (which of them explains a code would be arbitrary). It returns every
// problem at once; nil when the catalogue is consistent.
func (c *Catalog) Validate() error {
	var errs []error
	for _, e := range c.Entries(NamespaceTwilio) {
		for _, m := range e.MetaCodes {
			if _, ok := c.Lookup(m); !ok {
				errs = append(errs, fmt.Errorf("catalog: twilio %s maps to meta code %d, which has no entry", e.Range(), m))
			}
		}
	}
	for _, ns := range Namespaces() {
		r := c.ranges[ns]
		for i := range r {
			for j := i + 1; j < len(r); j++ {
				a, b := r[i], r[j]
				if a.CodeTo-a.Code == b.CodeTo-b.Code && a.Code <= b.CodeTo && b.Code <= a.CodeTo {
					errs = append(errs, fmt.Errorf("catalog: %s ranges %s and %s overlap with the same width", ns, a.Range(), b.Range()))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Format renders one entry as text for `wabridge codes 131031`: a heading
// with the code and title, the severity and whether a retry can help, the
// description, then reasons and actions as bullets.
func Format(e Entry) string {
	var b strings.Builder
	head := e.ID()
	if e.Namespace != "" && e.Namespace != NamespaceMeta {
		head = e.Namespace + " " + head
	}
	fmt.Fprintf(&b, "%s  %s\n", head, e.Title)
	retry := "no"
	if e.Retryable {
		retry = "yes"
	}
	fmt.Fprintf(&b, "Severity: %s    Retry can help: %s\n", e.Severity, retry)
	if e.HasCode() && e.Key != "" {
		keys := append([]string{e.Key}, e.Aliases...)
		fmt.Fprintf(&b, "Key: %s\n", strings.Join(keys, ", "))
	} else if len(e.Aliases) > 0 {
		fmt.Fprintf(&b, "Also: %s\n", strings.Join(e.Aliases, ", "))
	}
	if len(e.MetaCodes) > 0 {
		codes := make([]string, len(e.MetaCodes))
		for i, m := range e.MetaCodes {
			codes[i] = strconv.Itoa(m)
		}
		fmt.Fprintf(&b, "Meta codes: %s\n", strings.Join(codes, ", "))
	}
	if d := strings.TrimSpace(e.Description); d != "" {
		fmt.Fprintf(&b, "\n%s\n", d)
	}
	if len(e.Reasons) > 0 {
		b.WriteString("\nCommon reasons:\n")
		for _, r := range e.Reasons {
			fmt.Fprintf(&b, "  - %s\n", strings.TrimSpace(r))
		}
	}
	if len(e.Actions) > 0 {
		b.WriteString("\nRecommended actions:\n")
		for _, a := range e.Actions {
			fmt.Fprintf(&b, "  - %s\n", strings.TrimSpace(a))
		}
	}
	return b.String()
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
	switch e.Attr("provider") {
	case NamespaceTwilio:
		if ent, ok := c.LookupIn(NamespaceTwilio, e.Code); ok {
			return ent, true
		}
	case NamespaceGupshup:
		// Gupshup's codes are its own (1002 ...), not Meta's.
		return c.LookupIn(NamespaceGupshup, e.Code)
	case "infobip":
		// Infobip's error ids (7004 ...) are its own too; a Meta entry of
		// the same number would explain the wrong thing.
		return Entry{}, false
	}
	return c.Lookup(e.Code)
}

// forStatus finds the NamespaceEvent entry for an event without a code, most
// specific first: "kind/status/state" (state is e.g. a ban state), then
// "field/status" when the adapter recorded the provider's webhook field in
// attribute "field" (Meta sends REJECTED both for account reviews and for
// display names), then "kind/status".
func (c *Catalog) forStatus(e *event.Event) (Entry, bool) {
	status := strings.ToLower(e.Status)
	base := string(e.Kind) + "/" + status
	if st := e.Attr("state"); st != "" {
		if ent, ok := c.LookupKey(NamespaceEvent, base+"/"+strings.ToLower(st)); ok {
			return ent, true
		}
	}
	if f := e.Attr("field"); f != "" {
		if ent, ok := c.LookupKey(NamespaceEvent, strings.ToLower(f)+"/"+status); ok {
			return ent, true
		}
	}
	return c.LookupKey(NamespaceEvent, base)
}

// Enrich fills an event's severity and recommended action from its entry.
// A severity the adapter already set is kept only when no entry exists: the
// catalogue is the one place that ranks codes. Two rules stand above the
// entries: a failure is never info (a failure whose code nobody knows gets
// warning and an action saying where to look the code up), and a severity
// the provider itself stated (attribute alert_severity, as Meta's account
// alerts carry, or provider_severity) wins when it is stricter.
func (c *Catalog) Enrich(e *event.Event) {
	ent, ok := c.ForEvent(e)
	switch {
	case ok:
		e.Severity = ent.Severity
		if e.RecommendedAction == "" {
			e.RecommendedAction = ent.RecommendedAction()
		}
		if e.Title == "" {
			e.Title = ent.Title
		}
	case e.Severity == "":
		e.Severity = event.SeverityInfo
	}
	if e.IsFailure() {
		if event.Rank(e.Severity) >= event.Rank(event.SeverityInfo) {
			e.Severity = event.SeverityWarning
		}
		if e.RecommendedAction == "" {
			e.RecommendedAction = unknownFailureAction(e)
		}
	}
	e.Severity = event.Stricter(e.Severity, ProviderSeverity(e))
}

// ProviderSeverity reads the severity a provider stated for an event, ""
// when it stated none: Meta's alert_severity (CRITICAL, WARNING,
// INFORMATIONAL) or a provider_severity attribute a mapping filled.
func ProviderSeverity(e *event.Event) event.Severity {
	v := e.Attr("provider_severity")
	if v == "" {
		v = e.Attr("alert_severity")
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "critical", "fatal", "high", "urgent", "emergency":
		return event.SeverityCritical
	case "warning", "warn", "medium", "error":
		return event.SeverityWarning
	}
	if sev := event.Severity(strings.ToLower(strings.TrimSpace(v))); event.ValidSeverity(sev) {
		return sev
	}
	return ""
}

// unknownFailureAction is the action of a failure the catalogue cannot
// explain: it names the code and where to look it up.
func unknownFailureAction(e *event.Event) string {
	if e.Code == 0 {
		return fmt.Sprintf("The provider reported %q without an error code: read the event's message and details, and look the message up in the provider's console or logs.", e.Status)
	}
	where := "the provider's error-code documentation"
	switch {
	case e.Attr("provider") == NamespaceTwilio:
		where = fmt.Sprintf("Twilio's error reference (twilio.com/docs/api/errors/%d)", e.Code)
	case e.Attr("provider") == "" || e.Attr("provider") == NamespaceMeta:
		where = "Meta's error-code reference (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes) or the provider's own"
	}
	return fmt.Sprintf("Code %d is not in wabridge's catalogue: look it up in %s, read the event's details, and add it to a catalogue file (`wabridge codes %d` shows what is known).", e.Code, where, e.Code)
}
