package sources

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/configfile"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/problem"
)

// Mapped turns any JSON into events with gjson paths from a mapping (inline
// `mapping:` or `mapping_file:`). An item where no path finds anything
// becomes kind unknown with attribute unmapped=true and its raw value.
type Mapped struct {
	base
	m *compiledMapping
}

var _ Source = (*Mapped)(nil)

// mappingFields are the event fields a mapping can fill, besides
// attributes.X: the event's mappable fields and the provider's timestamp.
func mappingFields() []string {
	return append(event.MappableFields(), "timestamp")
}

func knownMappingField(f string) bool {
	if _, ok := event.AttrName(f); ok {
		return true
	}
	for _, k := range mappingFields() {
		if k == f {
			return true
		}
	}
	return false
}

type fieldPath struct {
	field string // event field, or "attributes.X"
	attr  string // X for attributes
	path  string
	alts  []string // the path's alternatives ("a || b"), first found wins
	lit   string   // a literal value ("=twilio"), when the path is one
	isLit bool
}

// splitAlternatives reads a field's path: "a || b" tries a, then b; "=text"
// is the literal text (a preset's provider name).
func splitAlternatives(p string) (alts []string, lit string, isLit bool) {
	if strings.HasPrefix(p, "=") {
		return nil, p[1:], true
	}
	for _, a := range strings.Split(p, "||") {
		alts = append(alts, strings.TrimSpace(a))
	}
	return alts, "", false
}

// validPaths checks each alternative of a field's path.
func validPaths(p string) error {
	alts, _, isLit := splitAlternatives(p)
	if isLit {
		return nil
	}
	for _, a := range alts {
		if strings.HasPrefix(a, "=") {
			continue
		}
		if err := validPath(a); err != nil {
			return err
		}
	}
	return nil
}

type compiledMapping struct {
	preset  string
	require []string
	items   string
	kind    event.Kind
	fields  []fieldPath
	values  map[string]map[string]string // field → lowercased provider value → ours
}

func compileSourceMapping(cfg Config) (*compiledMapping, []error) {
	inline := cfg.Mapping.Items != "" || cfg.Mapping.Kind != "" || len(cfg.Mapping.Fields) > 0 || len(cfg.Mapping.Values) > 0 || len(cfg.Mapping.Require) > 0
	var user Mapping
	at := configPlace("mapping.")
	switch {
	case inline && cfg.MappingFile != "":
		return nil, []error{errors.New("mapping and mapping_file are both set: keep one")}
	case cfg.MappingFile != "":
		m, lines, err := readMapping(cfg.MappingFile)
		if err != nil {
			return nil, append(splitJoined(err), checkRead(m, lines, cfg.MappingFile)...)
		}
		user = m
		at = filePlace(cfg.MappingFile, lines, configPlace("mapping_file "+cfg.MappingFile+": "))
	case inline:
		user = cfg.Mapping
	case cfg.Preset == "":
		return nil, []error{fmt.Errorf("mapping: type mapped needs preset: NAME (%s), mapping: {fields: {...}} or mapping_file: FILE", strings.Join(Presets(), ", "))}
	}
	if cfg.Preset == "" {
		return compileMapping(user, at)
	}
	p, err := presetMapping(cfg.Preset)
	if err != nil {
		return nil, []error{err}
	}
	// What the user wrote keeps its place; the rest is the preset's.
	if cfg.MappingFile == "" {
		at = configPlace("preset " + cfg.Preset + ": mapping.")
	}
	cm, errs := compileMapping(overlay(p, user), at)
	if cm != nil {
		cm.preset = strings.ToLower(strings.TrimSpace(cfg.Preset))
	}
	return cm, errs
}

// place turns a problem with one key of a mapping into an error that says
// where the key was written: a config key (mapping.fields.status) or a
// file and line.
type place func(key, msg string) error

func configPlace(prefix string) place {
	return func(key, msg string) error { return fmt.Errorf("%s%s: %s", prefix, key, msg) }
}

// filePlace reports a key at its line in the file; a key the file does
// not have (a preset's) goes to other.
func filePlace(file string, lines map[string]int, other place) place {
	return func(key, msg string) error {
		if line, ok := lines[key]; ok {
			return problem.At(file, line, "%s: %s", key, msg)
		}
		return other(key, msg)
	}
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// compileMapping checks a mapping and readies it for Parse: the one place
// a mapping is checked, whether it was written inline, in a file or in a
// preset. at says where each key was written.
func compileMapping(m Mapping, at place) (*compiledMapping, []error) {
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, at(key, fmt.Sprintf(format, a...)))
	}
	cm := &compiledMapping{items: m.Items, values: map[string]map[string]string{}}
	if m.Items != "" {
		if err := validPath(m.Items); err != nil {
			add("items", "%v", err)
		}
	}
	if m.Kind != "" {
		if err := checkKind(m.Kind); err != nil {
			add("kind", "%v", err)
		}
		cm.kind = event.Kind(strings.ToLower(m.Kind))
	}
	if len(m.Fields) == 0 {
		add("fields", "no fields: map at least one of %s or attributes.X to a path", strings.Join(mappingFields(), ", "))
	}
	names := make([]string, 0, len(m.Fields))
	for f := range m.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if err := checkField(f); err != nil {
			add("fields."+f, "%v", err)
			continue
		}
		path := m.Fields[f]
		if err := validPaths(path); err != nil {
			add("fields."+f, "%v", err)
			continue
		}
		fp := fieldPath{field: strings.ToLower(f), path: path}
		fp.alts, fp.lit, fp.isLit = splitAlternatives(path)
		if a, ok := event.AttrName(f); ok {
			fp.field, fp.attr = event.AttrPrefix+a, a
		}
		cm.fields = append(cm.fields, fp)
	}
	for f, vals := range m.Values {
		if err := checkField(f); err != nil {
			add("values."+f, "%v", err)
			continue
		}
		key := strings.ToLower(f)
		if a, ok := event.AttrName(f); ok {
			key = event.AttrPrefix + a
		}
		cm.values[key] = map[string]string{}
		for from, to := range vals {
			if err := checkValue(f, to); err != nil {
				add("values."+f+"."+from, "%v", err)
				continue
			}
			cm.values[key][strings.ToLower(from)] = to
		}
	}
	for i, r := range m.Require {
		if err := validPath(r); err != nil {
			add(fmt.Sprintf("require[%d]", i), "%v", err)
		}
	}
	cm.require = m.Require
	if len(errs) > 0 {
		return nil, errs
	}
	return cm, nil
}

func checkField(f string) error {
	if !knownMappingField(strings.ToLower(f)) {
		return fmt.Errorf("unknown field %q (want %s or attributes.X)", f, strings.Join(mappingFields(), ", "))
	}
	return nil
}

func checkKind(k string) error {
	if !event.ValidKind(event.Kind(strings.ToLower(k))) {
		return fmt.Errorf("unknown kind %q (want %s)", k, event.KindList())
	}
	return nil
}

func checkValue(field, to string) error {
	switch strings.ToLower(field) {
	case "kind":
		return checkKind(to)
	case "code":
		if _, err := strconv.Atoi(to); err != nil {
			return fmt.Errorf("%q is not a number", to)
		}
	case "severity":
		if !event.ValidSeverity(event.Severity(strings.ToLower(to))) {
			return fmt.Errorf("unknown severity %q", to)
		}
	case "status":
		if !statusWord.MatchString(strings.ToLower(to)) {
			return fmt.Errorf("%q must be a lowercase word", to)
		}
	}
	return nil
}

// knownModifiers are gjson's built-in @modifiers.
func knownModifier(name string) bool {
	switch name {
	case "reverse", "ugly", "pretty", "this", "valid", "flatten", "join", "keys", "values",
		"tostr", "fromstr", "group", "dig":
		return true
	}
	return false
}

// validPath checks a gjson path's syntax: gjson itself never reports a bad
// path, it just finds nothing, which would turn every delivery into an
// unknown event without a word of warning.
func validPath(p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("empty gjson path")
	}
	var stack []byte
	inString, escaped := false, false
	prev := byte(0) // previous significant byte; '.' and '|' mark a component start
	atStart := func(i int) bool { return i == 0 || prev == '.' || prev == '|' }
	for i := 0; i < len(p); i++ {
		c := p[i]
		if escaped {
			escaped, prev = false, 'a'
			continue
		}
		if c == '\\' {
			if i == len(p)-1 {
				return fmt.Errorf("invalid gjson path %q: ends with a lone backslash", p)
			}
			escaped = true
			continue
		}
		if inString {
			if c == '"' {
				inString = false
			}
			continue
		}
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("invalid gjson path %q: control character at offset %d", p, i)
		}
		switch c {
		case '"':
			if len(stack) == 0 {
				return fmt.Errorf("invalid gjson path %q: quote outside a query at offset %d", p, i)
			}
			inString = true
		case '(', '[', '{':
			stack = append(stack, c)
		case ')', ']', '}':
			open := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("invalid gjson path %q: unbalanced %q at offset %d", p, c, i)
			}
			stack = stack[:len(stack)-1]
		case '.', '|':
			if len(stack) == 0 {
				if atStart(i) {
					return fmt.Errorf("invalid gjson path %q: empty component at offset %d", p, i)
				}
				if i == len(p)-1 {
					return fmt.Errorf("invalid gjson path %q: ends with %q", p, c)
				}
			}
		case '@':
			if len(stack) == 0 && atStart(i) {
				j := i + 1
				for j < len(p) && (p[j] >= 'a' && p[j] <= 'z' || p[j] >= 'A' && p[j] <= 'Z') {
					j++
				}
				if name := p[i+1 : j]; !knownModifier(name) {
					return fmt.Errorf("invalid gjson path %q: unknown modifier @%s", p, name)
				}
			}
		}
		prev = c
	}
	switch {
	case inString:
		return fmt.Errorf("invalid gjson path %q: unterminated string", p)
	case len(stack) > 0:
		return fmt.Errorf("invalid gjson path %q: unclosed %q", p, stack[len(stack)-1])
	}
	return nil
}

// LoadMapping reads and checks a mapping file (the value of `mapping:` on
// its own, or wrapped in a top-level `mapping:` key). Every problem is
// reported as FILE:LINE: message, so `wabridge check` points at the line to
// fix.
func LoadMapping(path string) (Mapping, error) {
	m, lines, err := readMapping(path)
	if err != nil {
		return m, errors.Join(append(splitJoined(err), checkRead(m, lines, path)...)...)
	}
	if _, errs := compileMapping(m, filePlace(path, lines, configPlace("mapping_file "+path+": "))); len(errs) > 0 {
		return m, errors.Join(errs...)
	}
	return m, nil
}

// checkRead checks what could be read of a file that has problems of
// shape too, so `wabridge check` reports every problem at once. A file
// whose fields could not be read is not told it has none.
func checkRead(m Mapping, lines map[string]int, path string) []error {
	if lines == nil || len(m.Fields) == 0 {
		return nil
	}
	_, errs := compileMapping(m, filePlace(path, lines, configPlace("mapping_file "+path+": ")))
	return errs
}

// readMapping reads a mapping file's YAML, with the line of each key for
// compileMapping's problems.
func readMapping(path string) (Mapping, map[string]int, error) {
	b, err := configfile.Read(path)
	if err != nil {
		return Mapping{}, nil, fmt.Errorf("mapping_file: read %s: %w", path, err)
	}
	return parseMapping(path, b)
}

// parseMapping decodes the YAML of a mapping file or an embedded preset:
// its shape only (maps, lists and text where they belong, no unknown key).
// What the values mean is compileMapping's to check, once for every kind
// of mapping; lines says where each key was, by compileMapping's names
// for them (fields.status, values.kind.a, require[0]).
func parseMapping(path string, b []byte) (Mapping, map[string]int, error) {
	var m Mapping
	lines := map[string]int{}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return m, nil, problem.At(path, yamlErrLine(err), "invalid YAML: %s", yamlErrText(err))
	}
	if len(doc.Content) == 0 {
		return m, nil, problem.At(path, 1, "empty mapping file: it needs at least fields: {...}")
	}
	root := doc.Content[0]
	var errs []error
	at := func(n *yaml.Node, format string, a ...any) {
		errs = append(errs, problem.At(path, n.Line, format, a...))
	}
	if root.Kind != yaml.MappingNode {
		at(root, "a mapping file is a map with items, kind, fields and values")
		return m, nil, errors.Join(errs...)
	}
	if len(root.Content) == 2 && root.Content[0].Value == "mapping" {
		root = root.Content[1]
		if root.Kind != yaml.MappingNode {
			at(root, "mapping: must be a map with items, kind, fields and values")
			return m, nil, errors.Join(errs...)
		}
	}
	lines["fields"] = root.Line
	scalar := func(n *yaml.Node, key string) (string, bool) {
		if n.Kind != yaml.ScalarNode {
			at(n, "%s: must be a text value", key)
			return "", false
		}
		lines[key] = n.Line
		return n.Value, true
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "items":
			if s, ok := scalar(v, "items"); ok {
				m.Items = s
			}
		case "kind":
			if s, ok := scalar(v, "kind"); ok {
				m.Kind = s
			}
		case "fields":
			if v.Kind != yaml.MappingNode {
				at(v, "fields: must be a map of event field to gjson path")
				continue
			}
			m.Fields = map[string]string{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				fk, fv := v.Content[j], v.Content[j+1]
				if s, ok := scalar(fv, "fields."+fk.Value); ok {
					m.Fields[fk.Value] = s
				}
			}
		case "values":
			if v.Kind != yaml.MappingNode {
				at(v, "values: must be a map such as {status: {desconnectedMobile: logout}}")
				continue
			}
			m.Values = map[string]map[string]string{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				fk, fv := v.Content[j], v.Content[j+1]
				lines["values."+fk.Value] = fk.Line
				if fv.Kind != yaml.MappingNode {
					at(fv, "values.%s: must be a map of provider value to ours", fk.Value)
					continue
				}
				vals := map[string]string{}
				for x := 0; x+1 < len(fv.Content); x += 2 {
					from, to := fv.Content[x], fv.Content[x+1]
					if s, ok := scalar(to, "values."+fk.Value+"."+from.Value); ok {
						vals[from.Value] = s
					}
				}
				m.Values[fk.Value] = vals
			}
		case "require":
			if v.Kind != yaml.SequenceNode {
				at(v, "require: must be a list of gjson paths")
				continue
			}
			for _, n := range v.Content {
				if s, ok := scalar(n, fmt.Sprintf("require[%d]", len(m.Require))); ok {
					m.Require = append(m.Require, s)
				}
			}
		default:
			at(k, "unknown key %q (want items, kind, fields, values, require)", k.Value)
		}
	}
	return m, lines, errors.Join(errs...)
}

// yamlErrLine digs the line out of a yaml.v3 error ("yaml: line 3: ...").
func yamlErrLine(err error) int {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, "line "); ok {
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end > 0 {
			if n, err := strconv.Atoi(rest[:end]); err == nil {
				return n
			}
		}
	}
	return 1
}

func yamlErrText(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		return rest
	}
	return msg
}

func (s *Mapped) Parse(d delivery.Delivery) ([]event.Event, error) {
	root, err := parseJSON(d.Body)
	if err != nil {
		return nil, err
	}
	if s.m == nil {
		return nil, BadPayload(TypeMapped, "source has no mapping")
	}
	items := []gjson.Result{root}
	if s.m.items != "" {
		r := root.Get(s.m.items)
		if !r.Exists() || r.Type == gjson.Null {
			if len(s.m.require) > 0 {
				return nil, s.notOurs()
			}
			e := s.unknown(d, "", []byte(root.Raw))
			e.SetAttr("unmapped", "true")
			return []event.Event{e}, nil
		}
		items = itemsOf(r)
	}
	if len(s.m.require) > 0 && !s.anyRequired(items) {
		return nil, s.notOurs()
	}
	out := make([]event.Event, 0, len(items))
	for _, item := range items {
		out = append(out, s.item(d, item))
	}
	return out, nil
}

// anyRequired reports whether some item has every required path.
func (s *Mapped) anyRequired(items []gjson.Result) bool {
	for _, it := range items {
		ok := true
		for _, p := range s.m.require {
			if !it.Get(p).Exists() {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// notOurs is the 400 for another provider's body on a preset source.
func (s *Mapped) notOurs() error {
	what := "this mapping"
	if s.m.preset != "" {
		what = "preset " + s.m.preset
	}
	return fmt.Errorf("source %s: %w %s: the body lacks %s, which every %s payload has (is this another provider's webhook?)",
		s.name, ErrBadPayload, TypeMapped, strings.Join(s.m.require, ", "), what)
}

// value reads one mapped field: objects and arrays as compact JSON, other
// values as text, after the mapping's values renames.
func (s *Mapped) value(item gjson.Result, fp fieldPath) (string, bool) {
	if fp.isLit {
		return fp.lit, fp.lit != ""
	}
	r := s.get(item, fp)
	if !r.Exists() || r.Type == gjson.Null {
		return "", false
	}
	v := r.String()
	if r.IsObject() || r.IsArray() {
		v = string(compact([]byte(r.Raw)))
	}
	if to, ok := s.m.values[fp.field][strings.ToLower(v)]; ok {
		return to, true
	}
	return v, true
}

// get returns the first alternative of a field's path that finds a value;
// an alternative "=text" is that text.
func (s *Mapped) get(item gjson.Result, fp fieldPath) gjson.Result {
	for _, a := range fp.alts {
		if strings.HasPrefix(a, "=") {
			// A literal as the last resort: "status || =seen".
			return gjson.Parse(strconv.Quote(a[1:]))
		}
		if r := item.Get(a); r.Exists() && r.Type != gjson.Null && !(r.Type == gjson.String && strings.TrimSpace(r.Str) == "") {
			return r
		}
	}
	return gjson.Result{}
}

func (s *Mapped) item(d delivery.Delivery, item gjson.Result) event.Event {
	e := s.newEvent(d, s.m.kind, "")
	found := false
	kindFound := false
	timeFound := false
	var idValue string
	for _, fp := range s.m.fields {
		v, ok := s.value(item, fp)
		if !ok {
			continue
		}
		found = true
		if fp.attr != "" {
			e.SetAttr(fp.attr, v)
			continue
		}
		switch fp.field {
		case "id":
			idValue = v
		case "kind":
			k := event.Kind(strings.ToLower(v))
			kindFound = true
			if event.ValidKind(k) {
				e.Kind = k
			} else {
				// A kind the mapping does not rename is not guessed at.
				e.Kind = event.KindUnknown
				e.SetAttr("unmapped_kind", v)
			}
		case "status":
			if _, renamed := s.m.values["status"][strings.ToLower(v)]; !renamed {
				if to, ok := s.mapStatus(v); ok {
					v = to
				}
			}
			e.Status = strings.ToLower(v)
		case "code":
			if n, ok := intValue(gjson.Parse(strconv.Quote(v))); ok {
				e.Code = n
			} else {
				e.SetAttr("code_text", v)
			}
		case "severity":
			// The provider's own word; the catalogue keeps it when stricter.
			e.SetAttr("provider_severity", v)
			_ = e.SetField("severity", v) // a word that is none of ours stays an attribute only
		case "recipient_id":
			e.RecipientID = phoneDigits(v)
		case "timestamp":
			if t, ok := parseTime(s.get(item, fp)); ok {
				e.Timestamp = t
				timeFound = true
			}
		default:
			// Every other mappable field takes the text as it is; the
			// mapping's fields were checked against the same list at load.
			_ = e.SetField(fp.field, v)
		}
	}
	if !found {
		u := s.unknown(d, "", []byte(item.Raw))
		u.SetAttr("unmapped", "true")
		return u
	}
	if e.Kind == "" && !kindFound {
		// No kind given: session words are connections, the rest statuses.
		switch e.Status {
		case "open", "close", "logout", "connecting":
			e.Kind = event.KindConnection
		case "":
			e.Kind = event.KindUnknown
		default:
			e.Kind = event.KindStatus
		}
	}
	if e.Kind == "" {
		e.Kind = event.KindUnknown
	}
	if e.Kind == event.KindMessage && e.Status != "received" {
		// An incoming message is received, from every provider; the word
		// the provider put there is the message's type.
		if e.Attr("message_type") == "" {
			e.SetAttr("message_type", strings.ToLower(e.Status))
		}
		e.Status = "received"
	}
	if e.Kind == event.KindUnknown {
		e.Raw = compact([]byte(item.Raw))
	}
	if e.Kind == event.KindConnection && e.Status == "logout" && e.Attr("reason") == "" {
		e.SetAttr("reason", "logged_out")
	}
	e.ID = s.itemID(d, item, e, idValue, timeFound)
	return e
}

// itemID derives a mapped event's id. The id path may name something shared
// by many events (a session): status and code keep an open and the logout
// after it apart, and the provider's time (else the delivery's redelivery
// window) keeps the second logout after a reconnect from being taken for a
// redelivery of the first. Without an id path the whole item identifies the
// event, again with the window when the item has no time of its own.
func (s *Mapped) itemID(d delivery.Delivery, item gjson.Result, e event.Event, idValue string, timeFound bool) string {
	when := event.OccurrenceBucket(d.ReceivedAt)
	if timeFound {
		when = e.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	if idValue != "" {
		return s.id("id", idValue, e.Status, strconv.Itoa(e.Code), when)
	}
	if timeFound {
		return s.id("item", canonical([]byte(item.Raw)))
	}
	return s.id("item", canonical([]byte(item.Raw)), when)
}
