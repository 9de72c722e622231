package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/configfile"
	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/problem"
	"github.com/wabridge/wabridge/notifiers"
)

// Load reads the rule files in the order given; a pattern with glob
// characters expands to its matches in sorted order. A file named twice is
// read once. Every problem of every file is reported at once: the error is a
// problem.List. Warnings (codes the catalogue does not know) come back even
// when loading succeeds. No patterns give an empty, valid Set.
func Load(patterns []string, opts Options) (*Set, problem.List, error) {
	l := newLoader(opts)
	seen := map[string]bool{}
	for _, p := range patterns {
		files := []string{p}
		if strings.ContainsAny(p, "*?[") {
			m, err := filepath.Glob(p)
			if err != nil {
				l.fileProblem(p, fmt.Sprintf("bad glob pattern: %v", err))
				continue
			}
			if len(m) == 0 {
				l.fileProblem(p, "no file matches this pattern")
				continue
			}
			sort.Strings(m)
			files = m
		}
		for _, f := range files {
			key := filepath.Clean(f)
			if seen[key] {
				continue
			}
			seen[key] = true
			data, err := configfile.Read(f)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				l.fileProblem(f, "rules file not found")
				continue
			case err != nil:
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the path is already in the problem
				}
				l.fileProblem(f, fmt.Sprintf("cannot read rules file: %v", err))
				continue
			}
			l.parseFile(f, data)
		}
	}
	return l.finish()
}

// Parse compiles one in-memory rules file; name is what problems call it.
func Parse(name string, data []byte, opts Options) (*Set, problem.List, error) {
	l := newLoader(opts)
	l.parseFile(name, data)
	return l.finish()
}

// loader collects problems instead of stopping at the first, so a person
// fixing a rules file sees everything wrong with it in one pass.
type loader struct {
	opts     Options
	runner   *whenRunner
	errs     problem.List
	warns    problem.List
	rules    []*Rule
	inhibits []*Inhibit
	names    map[string]*Rule

	// hash digests the files' bytes in load order: replicas whose rules
	// hash alike run the same rules.
	hash hash.Hash

	file      string
	fileStart int    // index in errs where the current file's problems begin
	ctx       string // "rule "x": ", prefixed to messages about one rule
}

func newLoader(opts Options) *loader {
	return &loader{opts: opts, runner: newWhenRunner(opts.Logger), names: map[string]*Rule{}, hash: sha256.New()}
}

func (l *loader) finish() (*Set, problem.List, error) {
	if len(l.errs) > 0 {
		return nil, l.warns, l.errs
	}
	s := &Set{rules: l.rules, inhibits: l.inhibits, byName: l.names, specs: l.opts.Specs,
		hash: hex.EncodeToString(l.hash.Sum(nil))[:16]}
	s.idx = buildIndex(s.rules)
	s.ms = make([]matcher, len(s.rules))
	for i, r := range s.rules {
		s.ms[i] = *r.m
	}
	return s, l.warns, nil
}

func (l *loader) fileProblem(file, msg string) {
	l.errs = append(l.errs, problem.Problem{File: file, Message: msg})
}

func (l *loader) errorf(n *yaml.Node, format string, a ...any) {
	l.errs = append(l.errs, problem.Problem{File: l.file, Line: n.Line, Message: l.ctx + fmt.Sprintf(format, a...)})
}

func (l *loader) warnf(n *yaml.Node, format string, a ...any) {
	l.warns = append(l.warns, problem.Problem{File: l.file, Line: n.Line, Message: l.ctx + fmt.Sprintf(format, a...)})
}

// noRulesKey is the problem of a rules file without a rules: key: empty,
// truncated or half-written. Only an explicit `rules: []` means no rules.
const noRulesKey = "no rules: key; a file with no rules says rules: []"

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (l *loader) parseFile(name string, data []byte) {
	l.file, l.fileStart, l.ctx = name, len(l.errs), ""
	// Each file's length first, so moving bytes between files changes it.
	fmt.Fprintf(l.hash, "%d\n", len(data))
	l.hash.Write(data)
	defer l.sortFileProblems()

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			// An empty file is what `: > rules.yaml`, a truncated copy or
			// an editor's first write leaves; taking it as "no rules" would
			// silently stop all alerting.
			l.fileProblem(name, noRulesKey+" (the file is empty)")
			return
		}
		l.yamlError(err)
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errorf(&extra, "a rules file holds one YAML document; move the rules after this --- into the first")
	} else if err != io.EOF {
		l.yamlError(err)
	}
	if len(doc.Content) == 0 {
		l.fileProblem(name, noRulesKey+" (the file is empty)")
		return
	}
	root := resolve(doc.Content[0])
	f, ok := l.mapping(root, "rules file", nil, "defaults", "rules", "inhibit")
	if !ok {
		return
	}
	d := l.parseDefaults(f.get("defaults"))
	switch n := f.get("rules"); {
	case n == nil:
		l.errs = append(l.errs, problem.Problem{File: name, Line: root.Line, Message: noRulesKey})
	case isNull(n):
		l.errorf(n, "rules: holds nothing (a file cut short?); write rules: [] for a file with no rules")
	default:
		for i, item := range l.seq(n, "rules") {
			l.parseRule(item, i+1, d)
		}
	}
	if n := f.get("inhibit"); n != nil {
		for i, item := range l.seq(n, "inhibit") {
			l.parseInhibit(item, i+1)
		}
	}
}

func (l *loader) yamlError(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		l.errs = append(l.errs, problem.Problem{File: l.file, Line: line, Message: "yaml: " + m[2]})
		return
	}
	l.errs = append(l.errs, problem.Problem{File: l.file, Message: msg})
}

// sortFileProblems orders one file's problems by line, keeping files in
// the order they were given.
func (l *loader) sortFileProblems() {
	p := l.errs[l.fileStart:]
	sort.SliceStable(p, func(i, j int) bool { return p[i].Line < p[j].Line })
}

// ---- YAML node helpers ----

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// fields is a mapping's values by key.
type fields struct {
	vals map[string]*yaml.Node
}

func (f fields) get(k string) *yaml.Node { return f.vals[k] }
func (f fields) has(k string) bool       { _, ok := f.vals[k]; return ok }

// mapping reads a mapping, reporting unknown and repeated keys. unknown, if
// set, explains a key better than the list of known ones (a jira field on a
// slack action). A null node is an empty mapping.
func (l *loader) mapping(n *yaml.Node, what string, unknown func(key string) string, known ...string) (fields, bool) {
	f := fields{vals: map[string]*yaml.Node{}}
	n = resolve(n)
	if isNull(n) {
		return f, true
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping, not %s", what, describe(n))
		return f, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch {
		case k.Value == "<<":
			l.errorf(k, "merge keys (<<) are not supported in %s; write the keys out", what)
			continue
		case !contains(known, k.Value):
			msg := ""
			if unknown != nil {
				msg = unknown(k.Value)
			}
			if msg == "" {
				msg = fmt.Sprintf("unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
			}
			l.errorf(k, "%s", msg)
			continue
		case f.has(k.Value):
			l.errorf(k, "key %q appears twice in %s", k.Value, what)
			continue
		}
		f.vals[k.Value] = v
	}
	return f, true
}

// seq reads a list. A single scalar stands for a list of one, since
// `codes: 131031` is what people write for one code.
func (l *loader) seq(n *yaml.Node, what string) []*yaml.Node {
	n = resolve(n)
	switch {
	case isNull(n):
		return nil
	case n.Kind == yaml.SequenceNode:
		out := make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			out[i] = resolve(c)
		}
		return out
	case n.Kind == yaml.ScalarNode:
		return []*yaml.Node{n}
	}
	l.errorf(n, "%s must be a list, not %s", what, describe(n))
	return nil
}

// str reads a scalar as text; YAML numbers keep the digits as written, so
// a phone number ID typed without quotes is not mangled.
func (l *loader) str(n *yaml.Node, what string) (string, bool) {
	n = resolve(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		l.errorf(n, "%s must be a single value, not %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// nonEmpty reads a scalar that must have a value.
func (l *loader) nonEmpty(n *yaml.Node, what string) (string, bool) {
	s, ok := l.str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		l.errorf(n, "%s is empty", what)
		return "", false
	}
	return s, ok
}

func (l *loader) strList(n *yaml.Node, what string) []string {
	var out []string
	for _, item := range l.seq(n, what) {
		if s, ok := l.nonEmpty(item, what+" entry"); ok {
			out = append(out, s)
		}
	}
	return out
}

func (l *loader) boolean(n *yaml.Node, what string) (bool, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	l.errorf(n, "%s must be true or false, not %s", what, describe(n))
	return false, false
}

func (l *loader) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := l.str(n, what)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err != nil {
		l.errorf(n, "%s: %v", what, err)
		return 0, false
	}
	return d, true
}

// parseDuration reads wabridge's one duration grammar: 90s, 1h30m, 2d, 1w.
func parseDuration(s string) (time.Duration, error) {
	return duration.Parse(s)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ---- defaults ----

type fileDefaults struct {
	// settings are the defaults' values of notifiers' settings, by
	// notifier and setting: slack_channel is settings["slack"]["channel"].
	settings       map[string]map[string]*yaml.Node
	groupBy        []string
	groupByNode    *yaml.Node // where the file set group_by; nil: the built-in default
	repeatInterval time.Duration
	resolveAfter   time.Duration
	maxOpen        int
}

func (l *loader) parseDefaults(n *yaml.Node) *fileDefaults {
	d := &fileDefaults{groupBy: DefaultGroupBy(), repeatInterval: DefaultRepeatInterval,
		resolveAfter: DefaultResolveAfter, maxOpen: DefaultMaxOpenIncidents}
	if n == nil {
		return d
	}
	var known []string
	for _, sp := range l.opts.Specs {
		for _, def := range sp.Defaults {
			known = append(known, def.Key)
		}
	}
	known = append(known, "group_by", "repeat_interval", "resolve_after", "max_open_incidents")
	f, ok := l.mapping(n, "defaults", nil, known...)
	if !ok {
		return d
	}
	if v := f.get("resolve_after"); v != nil {
		if ra, ok := l.resolveAfter(v, "defaults.resolve_after"); ok {
			d.resolveAfter = ra
		}
	}
	if v := f.get("max_open_incidents"); v != nil {
		if m, ok := l.count(v, "defaults.max_open_incidents"); ok {
			d.maxOpen = m
		}
	}
	for _, sp := range l.opts.Specs {
		for _, def := range sp.Defaults {
			v := f.get(def.Key)
			if v == nil || sp.Parse == nil {
				continue
			}
			// The default is read as the setting it fills, and kept only
			// when it reads cleanly, so a bad one is reported once, at
			// its own line.
			errsBefore := len(l.errs)
			key := def.Key
			sp.Parse(settingsReader{l, func(string) string { return "defaults." + key }}, map[string]*yaml.Node{def.Setting: v})
			if len(l.errs) > errsBefore {
				continue
			}
			if d.settings == nil {
				d.settings = map[string]map[string]*yaml.Node{}
			}
			if d.settings[sp.Name] == nil {
				d.settings[sp.Name] = map[string]*yaml.Node{}
			}
			d.settings[sp.Name][def.Setting] = v
		}
	}
	if v := f.get("group_by"); v != nil {
		d.groupBy, d.groupByNode = l.fieldList(v, "defaults.group_by"), v
	}
	if v := f.get("repeat_interval"); v != nil {
		if iv, ok := l.positive(v, "defaults.repeat_interval"); ok {
			d.repeatInterval = iv
		}
	}
	return d
}

// settingsReader is how a notifier's Spec reads its settings: the loader's
// readers, with each setting named for where it was written.
type settingsReader struct {
	l    *loader
	name func(setting string) string
}

func (r settingsReader) Name(setting string) string { return r.name(setting) }

func (r settingsReader) Errorf(n *yaml.Node, format string, a ...any) { r.l.errorf(n, format, a...) }

func (r settingsReader) Describe(n *yaml.Node) string { return describe(resolve(n)) }

func (r settingsReader) String(n *yaml.Node, what string) (string, bool) { return r.l.str(n, what) }

func (r settingsReader) NonEmpty(n *yaml.Node, what string) (string, bool) {
	return r.l.nonEmpty(n, what)
}

func (r settingsReader) List(n *yaml.Node, what string) []*yaml.Node { return r.l.seq(n, what) }

func (r settingsReader) Strings(n *yaml.Node, what string) []string { return r.l.strList(n, what) }

// resolveAfter reads a resolve_after: a duration, or never.
func (l *loader) resolveAfter(n *yaml.Node, what string) (time.Duration, bool) {
	if s, ok := l.str(n, what); ok && strings.EqualFold(strings.TrimSpace(s), "never") {
		return 0, true
	}
	d, ok := l.duration(n, what)
	if ok && d == 0 {
		l.errorf(n, "%s must be longer than 0; write never to keep incidents open until resolve_when or a person resolves them", what)
		return 0, false
	}
	return d, ok
}

// count reads a whole number of at least 1.
func (l *loader) count(n *yaml.Node, what string) (int, bool) {
	n = resolve(n)
	c, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if n.Kind != yaml.ScalarNode || err != nil || c < 1 {
		l.errorf(n, "%s must be a whole number of at least 1, not %s", what, describe(n))
		return 0, false
	}
	return c, true
}

func (l *loader) positive(n *yaml.Node, what string) (time.Duration, bool) {
	d, ok := l.duration(n, what)
	if ok && d == 0 {
		l.errorf(n, "%s must be longer than 0", what)
		return 0, false
	}
	return d, ok
}

// fieldList reads group_by and equal: event field names or attributes.X.
func (l *loader) fieldList(n *yaml.Node, what string) []string {
	out := []string{} // an explicit empty list groups everything together
	for _, item := range l.seq(n, what) {
		s, ok := l.nonEmpty(item, what+" entry")
		if !ok {
			continue
		}
		if !event.KnownField(s) {
			l.errorf(item, "%s: unknown field %q (use one of %s, or attributes.NAME)", what, s, strings.Join(event.FieldNames(), ", "))
			continue
		}
		out = append(out, s)
	}
	return out
}

// ---- rules ----

var ruleKeys = []string{"name", "description", "enabled", "match", "when", "actions", "continue",
	"group_by", "repeat_interval", "group_wait", "threshold", "resolve_when", "resolve_after",
	"active_time", "mute_time", "escalate", "max_open_incidents"}

// parseRule compiles one rule; pos is its place in the file's list, naming
// it in problems until its name is known.
func (l *loader) parseRule(n *yaml.Node, pos int, d *fileDefaults) {
	l.ctx = fmt.Sprintf("rule #%d: ", pos)
	defer func() { l.ctx = "" }()
	r := &Rule{
		Enabled: true, File: l.file, Line: n.Line,
		GroupBy: d.groupBy, RepeatInterval: d.repeatInterval,
		ResolveAfter: d.resolveAfter, MaxOpen: d.maxOpen,
	}
	groupByNode := d.groupByNode
	// A bad name is reported, and the rule is still checked so every other
	// problem shows up in the same run; it just is not added.
	if nameNode := resolve(n); nameNode.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(nameNode.Content); i += 2 {
			if nameNode.Content[i].Value == "name" {
				if s, ok := l.str(nameNode.Content[i+1], "name"); ok && strings.TrimSpace(s) != "" {
					r.Name = s
					l.ctx = fmt.Sprintf("rule %q: ", s)
				}
			}
		}
	}
	f, ok := l.mapping(n, "rule", nil, ruleKeys...)
	if !ok {
		return
	}
	valid := true
	if v := f.get("name"); v == nil {
		l.errorf(n, "rule has no name; every rule needs a unique name")
		valid = false
	} else if r.Name == "" {
		l.errorf(v, "rule name is empty")
		valid = false
	} else if prev, dup := l.names[r.Name]; dup {
		l.errorf(v, "duplicate rule name %q (first defined at %s:%d)", r.Name, prev.File, prev.Line)
		valid = false
	}
	if v := f.get("description"); v != nil {
		r.Description, _ = l.str(v, "description")
	}
	if v := f.get("enabled"); v != nil {
		r.Enabled, _ = l.boolean(v, "enabled")
	}
	if v := f.get("continue"); v != nil {
		r.Continue, _ = l.boolean(v, "continue")
	}
	r.m = &matcher{}
	if v := f.get("match"); v != nil {
		r.m = l.parseMatch(v, "match", false)
	}
	var whenNode *yaml.Node
	if v := f.get("when"); v != nil {
		r.m.when, whenNode = l.parseWhen(v), v
	}
	if v := f.get("actions"); v != nil {
		r.Actions = l.parseActions(v, d)
		if r.Actions == nil {
			r.Actions = []notification.Action{}
		}
		if len(r.Actions) == 0 && r.Continue && len(resolve(v).Content) == 0 {
			l.errorf(v, "a rule with no actions and continue: true does nothing; add actions or remove continue")
		}
	} else {
		l.errorf(n, "rule has no actions; add actions, or write actions: [] for a rule that only stops evaluation")
	}
	if v := f.get("group_by"); v != nil {
		r.GroupBy, groupByNode = l.fieldList(v, "group_by"), v
	}
	if v := f.get("repeat_interval"); v != nil {
		r.RepeatInterval, _ = l.positive(v, "repeat_interval")
	}
	if v := f.get("group_wait"); v != nil {
		r.GroupWait, _ = l.duration(v, "group_wait")
	}
	if v := f.get("resolve_after"); v != nil {
		r.ResolveAfter, _ = l.resolveAfter(v, "resolve_after")
	}
	if v := f.get("max_open_incidents"); v != nil {
		r.MaxOpen, _ = l.count(v, "max_open_incidents")
	}
	if v := f.get("escalate"); v != nil {
		r.Escalate = l.parseEscalate(v)
	}
	if v := f.get("threshold"); v != nil {
		r.Threshold = l.parseThreshold(v)
	}
	if v := f.get("resolve_when"); v != nil {
		errsBefore := len(l.errs)
		m := l.parseMatch(v, "resolve_when", true)
		if m.empty() && len(l.errs) == errsBefore {
			l.errorf(v, "resolve_when is empty: it would resolve on every event")
		}
		r.resolve = m
	}
	if v := f.get("active_time"); v != nil {
		r.active = l.parseIntervals(v, "active_time")
	}
	if v := f.get("mute_time"); v != nil {
		r.mute = l.parseIntervals(v, "mute_time")
	}
	if r.Escalate.Priority != "" {
		l.escalatePriority(f.get("escalate"), r)
	}
	if groupByNode != nil && len(r.Actions) > 0 {
		l.checkGroupBy(groupByNode, r)
	}
	if r.m.when != nil {
		// Run at load what would run on the committer, so an expression
		// that hits a limit fails here and not on the first event.
		sample := r.SampleEvent()
		for _, e := range append([]event.Event{sample}, sampleWhenEvents()...) {
			if err := r.m.when.probe(&e); err != nil {
				l.errorf(whenNode, "when: fails on sample event %q: %v", e.ID, err)
				break
			}
		}
	}
	if valid {
		l.names[r.Name] = r
		l.rules = append(l.rules, r)
	}
}

// checkGroupBy warns about group_by fields that no event of the kinds the
// rule matches carries: they are empty for every event, so they group
// nothing apart (a quality update has no phone_number_id, and every
// number's downgrade would join one incident). The built-in default is not
// checked: it lists every identity field on purpose.
func (l *loader) checkGroupBy(n *yaml.Node, r *Rule) {
	kinds := r.m.kindList()
	if len(kinds) == 0 {
		return // any kind: some kind carries every field
	}
	for _, f := range r.GroupBy {
		carried := false
		for _, k := range kinds {
			if event.Carries(k, f) {
				carried = true
				break
			}
		}
		if !carried {
			names := make([]string, len(kinds))
			for i, k := range kinds {
				names[i] = string(k)
			}
			l.warnf(n, "group_by field %q is never set on %s events, so it tells no incidents apart; group by a field they carry (%s)",
				f, strings.Join(names, ", "), strings.Join(event.CarriedFields(kinds), ", "))
		}
	}
}

func (l *loader) parseEscalate(n *yaml.Node) Escalation {
	var e Escalation
	f, ok := l.mapping(n, "escalate", nil, "priority", "order")
	if !ok {
		return e
	}
	if v := f.get("priority"); v != nil {
		e.Priority, _ = l.nonEmpty(v, "escalate.priority")
	}
	if v := f.get("order"); v != nil {
		e.Order = []string{}
		for _, s := range l.strList(v, "escalate.order") {
			e.Order = append(e.Order, strings.ToLower(s))
		}
	}
	return e
}

func (l *loader) parseThreshold(n *yaml.Node) *Threshold {
	f, ok := l.mapping(n, "threshold", nil, "count", "within")
	if !ok {
		return nil
	}
	t := &Threshold{}
	if v := f.get("count"); v == nil {
		l.errorf(n, "threshold needs count (events) and within (a duration)")
	} else if c, err := strconv.Atoi(strings.TrimSpace(v.Value)); err != nil || v.Kind != yaml.ScalarNode || c < 1 {
		l.errorf(v, "threshold.count must be a whole number of at least 1, not %s", describe(v))
	} else {
		t.Count = c
	}
	if v := f.get("within"); v == nil {
		l.errorf(n, "threshold needs within, the window the count must arrive in (10m)")
	} else {
		t.Within, _ = l.positive(v, "threshold.within")
	}
	return t
}

// ---- match ----

// maxCode bounds codes: Meta's have at most 7 digits, Twilio's 5.
const maxCode = 999_999_999

var matchKeys = []string{"codes", "kinds", "statuses", "sources", "severities", "phone_number_ids", "waba_ids", "attributes"}

func (m *matcher) empty() bool {
	return !m.hasCode() && m.kinds == nil && m.statuses == nil && m.severities == nil &&
		m.sources == nil && m.phones == nil && m.wabas == nil && len(m.attrs) == 0 && m.when == nil
}

// parseMatch compiles a match block. withWhen allows a `when` inside, as
// resolve_when and inhibit matchers have no rule around them to hold one.
func (l *loader) parseMatch(n *yaml.Node, what string, withWhen bool) *matcher {
	m := &matcher{}
	keys := matchKeys
	if withWhen {
		keys = append(append([]string{}, matchKeys...), "when")
	}
	f, ok := l.mapping(n, what, nil, keys...)
	if !ok {
		return m
	}
	if v := f.get("codes"); v != nil {
		l.parseCodes(m, v, what+".codes")
	}
	if v := f.get("kinds"); v != nil {
		kinds := set{}
		for _, item := range l.seq(v, what+".kinds") {
			s, ok := l.nonEmpty(item, what+".kinds entry")
			if !ok {
				continue
			}
			k := strings.ToLower(s)
			if !event.ValidKind(event.Kind(k)) {
				l.errorf(item, "%s: unknown kind %q (known: %s)", what, s, event.KindList())
				continue
			}
			kinds[k] = struct{}{}
		}
		m.kinds = kinds.compile()
		m.kindMask = kindMask(m.kinds)
	}
	if v := f.get("severities"); v != nil {
		sevs := set{}
		for _, item := range l.seq(v, what+".severities") {
			s, ok := l.nonEmpty(item, what+".severities entry")
			if !ok {
				continue
			}
			sv := strings.ToLower(s)
			if !event.ValidSeverity(event.Severity(sv)) {
				l.errorf(item, "%s: unknown severity %q (known: %s)", what, s, event.SeverityList())
				continue
			}
			sevs[sv] = struct{}{}
		}
		m.severities = sevs.compile()
		m.sevMask = severityMask(m.severities)
	}
	if v := f.get("statuses"); v != nil {
		m.statuses = l.stringSet(v, what+".statuses", true)
	}
	if v := f.get("sources"); v != nil {
		m.sources = l.stringSet(v, what+".sources", false)
	}
	if v := f.get("phone_number_ids"); v != nil {
		m.phones = l.stringSet(v, what+".phone_number_ids", false)
	}
	if v := f.get("waba_ids"); v != nil {
		m.wabas = l.stringSet(v, what+".waba_ids", false)
	}
	if v := f.get("attributes"); v != nil {
		m.attrs = l.parseAttrs(v, what+".attributes")
	}
	if v := f.get("when"); v != nil {
		m.when = l.parseWhen(v)
	}
	return m
}

func kindMask(s *strSet) uint16 {
	var m uint16
	if s != nil {
		for _, v := range s.vals {
			m |= kindBit(event.Kind(v))
		}
	}
	return m
}

func severityMask(s *strSet) uint16 {
	var m uint16
	if s != nil {
		for _, v := range s.vals {
			m |= severityBit(event.Severity(v))
		}
	}
	return m
}

func (l *loader) stringSet(n *yaml.Node, what string, lower bool) *strSet {
	s := set{}
	for _, v := range l.strList(n, what) {
		if lower {
			v = strings.ToLower(v)
		}
		s[v] = struct{}{}
	}
	return s.compile()
}

func (l *loader) parseCodes(m *matcher, n *yaml.Node, what string) {
	for _, item := range l.seq(n, what) {
		if item.Kind != yaml.ScalarNode || isNull(item) {
			l.errorf(item, "%s: want a code like 131031 or a range like \"132000-132069\", not %s", what, describe(item))
			continue
		}
		lo, hi, err := catalog.ParseRange(item.Value)
		if err != nil {
			l.errorf(item, "%s: %v", what, err)
			continue
		}
		if hi > maxCode {
			// Also keeps the index's range arithmetic (hi+1) from overflowing.
			l.errorf(item, "%s: %q is larger than any provider code (at most %d)", what, item.Value, maxCode)
			continue
		}
		if lo == hi {
			if m.codes == nil {
				m.codes = map[int]struct{}{}
			}
			m.codes[lo] = struct{}{}
			m.codeList = append(m.codeList, lo)
		} else {
			m.ranges = append(m.ranges, codeRange{lo, hi})
		}
		l.checkCatalog(item, lo, hi)
	}
}

// checkCatalog warns about codes no catalogue namespace explains: likely a
// typo, but a provider may send codes nobody has catalogued yet, so it is
// not an error.
func (l *loader) checkCatalog(n *yaml.Node, lo, hi int) {
	c := l.opts.Catalog
	if c == nil {
		return
	}
	spaces := []string{catalog.NamespaceMeta, catalog.NamespaceTwilio, catalog.NamespaceConnection}
	if lo == hi {
		for _, ns := range spaces {
			if _, ok := c.LookupIn(ns, lo); ok {
				return
			}
		}
		l.warnf(n, "code %d is not in the error catalogue", lo)
		return
	}
	for _, ns := range spaces {
		for _, e := range c.Entries(ns) {
			to := max(e.CodeTo, e.Code)
			if e.Code <= hi && to >= lo {
				return
			}
		}
	}
	l.warnf(n, "no code in %d-%d is in the error catalogue", lo, hi)
}

func (l *loader) parseAttrs(n *yaml.Node, what string) []attrMatcher {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping of attribute name to value, not %s", what, describe(n))
		return nil
	}
	var out []attrMatcher
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if strings.TrimSpace(k.Value) == "" {
			l.errorf(k, "%s: attribute name is empty", what)
			continue
		}
		if seen[k.Value] {
			l.errorf(k, "%s: attribute %q appears twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		a := attrMatcher{key: k.Value}
		for _, item := range l.seq(v, what+"."+k.Value) {
			s, ok := l.str(item, what+"."+k.Value)
			if !ok {
				continue
			}
			src, isRe := strings.CutPrefix(s, "~")
			if !isRe {
				a.exact = append(a.exact, s)
				continue
			}
			// Anchored like Alertmanager's =~, so "~blocked" does not
			// quietly match "unblocked".
			re, err := regexp.Compile("^(?:" + src + ")$")
			if err != nil {
				l.errorf(item, "%s.%s: bad regular expression %q: %v", what, k.Value, src, regexpReason(err))
				continue
			}
			prefix, _ := re.LiteralPrefix()
			a.res = append(a.res, re)
			a.prefix = append(a.prefix, prefix)
			a.srcs = append(a.srcs, src)
		}
		if len(a.exact) == 0 && len(a.res) == 0 {
			continue // already reported
		}
		out = append(out, a)
	}
	return out
}

// regexpReason drops the pattern regexp echoes back (already in the message).
func regexpReason(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return string(se.Code)
	}
	return err.Error()
}

func (l *loader) parseWhen(n *yaml.Node) *compiledWhen {
	src, ok := l.nonEmpty(n, "when")
	if !ok {
		return nil
	}
	if err := checkWhenShape(src); err != nil {
		l.errorf(n, "when: %v", err)
		return nil
	}
	p, err := expr.Compile(src, whenOptions()...)
	if err != nil {
		// expr's message is "reason (line:col)" followed by a drawing of
		// the source; the first line is enough next to FILE:LINE.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		l.errorf(n, "when: %s", msg)
		return nil
	}
	return &compiledWhen{program: p, runner: l.runner, where: fmt.Sprintf("%s:%d", l.file, n.Line)}
}

// ---- actions ----

// spec returns the Spec of the notifier named, if the loader knows it.
func (l *loader) spec(name string) (notifiers.Spec, bool) {
	for _, sp := range l.opts.Specs {
		if sp.Name == name {
			return sp, true
		}
	}
	return notifiers.Spec{}, false
}

// escalatePriority gives the rule's escalate.priority to the actions whose
// notifier raises a priority; a rule with none of them is refused.
func (l *loader) escalatePriority(n *yaml.Node, r *Rule) {
	taken := false
	var titles, names []string
	for _, sp := range l.opts.Specs {
		if sp.EscalatePriority {
			titles, names = append(titles, sp.Title), append(names, sp.Name)
		}
	}
	for i := range r.Actions {
		if sp, _ := l.spec(r.Actions[i].Notifier); sp.EscalatePriority {
			r.Actions[i].EscalatePriority, taken = r.Escalate.Priority, true
		}
	}
	if !taken {
		l.errorf(n, "escalate.priority is a %s priority, and the rule has no %s action",
			strings.Join(titles, " or "), strings.Join(names, " or "))
	}
}

// actionKeys are the keys an action of sp takes: its settings, and
// templates when it renders any.
func actionKeys(sp notifiers.Spec) []string {
	keys := append([]string(nil), sp.Keys...)
	if len(sp.Roles) > 0 {
		keys = append(keys, "templates")
	}
	return keys
}

func (l *loader) parseActions(n *yaml.Node, d *fileDefaults) []notification.Action {
	var out []notification.Action
	for _, item := range l.seq(n, "actions") {
		if a, ok := l.parseAction(item, d); ok {
			out = append(out, a)
		}
	}
	return out
}

func (l *loader) parseAction(n *yaml.Node, d *fileDefaults) (notification.Action, bool) {
	var a notification.Action
	if n.Kind != yaml.MappingNode {
		example := ""
		for _, sp := range l.opts.Specs {
			if sp.Example != "" {
				example = " (- " + sp.Name + ": " + sp.Example + ")"
				break
			}
		}
		l.errorf(n, "an action is one notifier with its settings%s, not %s", example, describe(n))
		return a, false
	}
	if len(n.Content) != 2 {
		if len(n.Content) == 0 {
			var forms []string
			for _, sp := range l.opts.Specs {
				if len(sp.Keys) > 0 {
					forms = append(forms, "- "+sp.Name+": {...}")
				} else {
					forms = append(forms, "- "+sp.Name+": {}")
				}
			}
			l.errorf(n, "action is empty; write %s", orList(forms))
		} else {
			var names []string
			for i := 0; i < len(n.Content); i += 2 {
				names = append(names, n.Content[i].Value)
			}
			l.errorf(n, "action names %d notifiers (%s); write one per list item", len(names), strings.Join(names, ", "))
		}
		return a, false
	}
	key, body := n.Content[0], resolve(n.Content[1])
	name := key.Value
	sp, ok := l.spec(name)
	if !ok {
		known := make([]string, len(l.opts.Specs))
		for i, sp := range l.opts.Specs {
			known[i] = sp.Name
		}
		sort.Strings(known)
		l.errorf(key, "unknown notifier %q (known: %s)", name, strings.Join(known, ", "))
		return a, false
	}
	valid := true
	if l.opts.Notifiers != nil && !l.opts.Notifiers(name) {
		l.errorf(key, "notifier %q is not configured; add notifiers.%s to the config or remove this action", name, name)
		valid = false
	}
	a.Notifier = name
	what := name + " action"
	known := actionKeys(sp)
	f, ok := l.mapping(body, what, func(k string) string {
		for _, other := range l.opts.Specs {
			if other.Name != name && contains(other.Keys, k) {
				if len(known) == 0 {
					return fmt.Sprintf("%s does not use %q (a %s field); %s takes no settings", what, k, other.Name, name)
				}
				return fmt.Sprintf("%s does not use %q (a %s field; %s knows: %s)", what, k, other.Name, name, strings.Join(known, ", "))
			}
		}
		return ""
	}, known...)
	if !ok {
		return a, false
	}
	errsBefore := len(l.errs)
	if sp.Parse != nil {
		settings := map[string]*yaml.Node{}
		for _, k := range sp.Keys {
			if v := f.get(k); v != nil {
				settings[k] = v
			} else if v := d.settings[name][k]; v != nil {
				settings[k] = v
			}
		}
		parsed := sp.Parse(settingsReader{l, func(k string) string { return name + " " + k }}, settings)
		if parsed != nil {
			b, err := json.Marshal(parsed)
			if err != nil {
				l.errorf(key, "%s settings cannot be stored: %v", name, err)
			} else {
				a.Settings, a.Target = b, parsed.Target()
				if od, ok := parsed.(notifiers.OnDemander); ok {
					a.OnDemand = od.OnDemand()
				}
			}
		}
	}
	if v := f.get("templates"); v != nil {
		a.Templates = l.parseTemplates(v, sp)
	}
	return a, valid && len(l.errs) == errsBefore
}

// orList joins "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func (l *loader) parseTemplates(n *yaml.Node, sp notifiers.Spec) map[string]string {
	roles := sp.RoleNames()
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "templates must be a mapping of role to template name (title: my.title), not %s", describe(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(roles, k.Value) {
			l.errorf(k, "unknown template role %q for %s (known: %s)", k.Value, sp.Name, strings.Join(roles, ", "))
			continue
		}
		name, ok := l.nonEmpty(v, "template name")
		if !ok {
			continue
		}
		if l.opts.TemplateExists != nil && !l.opts.TemplateExists(name) {
			l.errorf(v, "template %q does not exist", name)
			continue
		}
		out[k.Value] = name
	}
	return out
}

// ---- inhibit ----

func (l *loader) parseInhibit(n *yaml.Node, pos int) {
	l.ctx = fmt.Sprintf("inhibit #%d: ", pos)
	defer func() { l.ctx = "" }()
	f, ok := l.mapping(n, "inhibit rule", nil, "source_match", "target_match", "equal")
	if !ok {
		return
	}
	in := &Inhibit{File: l.file, Line: n.Line, Equal: []string{}}
	before := len(l.errs)
	for _, side := range []string{"source_match", "target_match"} {
		v := f.get(side)
		if v == nil {
			l.errorf(n, "inhibit rule needs %s", side)
			continue
		}
		errsBefore := len(l.errs)
		m := l.parseMatch(v, side, true)
		if m.empty() && len(l.errs) == errsBefore {
			l.errorf(v, "%s is empty: it would match every event", side)
		}
		if side == "source_match" {
			in.source = m
		} else {
			in.target = m
		}
	}
	if v := f.get("equal"); v != nil {
		in.Equal = l.fieldList(v, "equal")
	}
	if len(l.errs) == before {
		l.inhibits = append(l.inhibits, in)
	}
}
