// Package templates owns the text/template set that turns a notification into
// Slack, Jira and log content: the embedded defaults, a user directory that
// overrides them, and the functions templates may call. Every template is
// executed against sample events when the set loads, so a broken template
// fails `wabridge check`, not a 3 a.m. alert.
package templates

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/configfile"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/problem"
	"github.com/wabridge/wabridge/notifiers"
)

//go:embed default/*.tmpl
var embedded embed.FS

// Data is what every template sees as dot.
type Data struct {
	Event    event.Event
	Rule     notification.RuleRef
	Catalog  catalog.Entry
	Incident *notification.Incident // nil until the pipeline tracks incidents
	// Action is the notification's action: .Action.Notifier,
	// .Action.Target, .Action.Templates, and the notifier's settings
	// under their Go names (.Action.Channel, .Action.Project).
	Action ActionData

	specs []notifiers.Spec // names the incident's links; set by Templates
}

// ActionData is an action as templates see it.
type ActionData map[string]any

// actionData flattens an action for templates: the common fields, and the
// notifier's settings with their JSON names in Go's spelling (issue_type is
// .Action.IssueType), as they read when actions had them as fields.
func actionData(a notification.Action) ActionData {
	d := ActionData{"Notifier": a.Notifier, "Target": a.Target, "Templates": a.Templates, "EscalatePriority": a.EscalatePriority}
	var settings map[string]any
	if len(a.Settings) > 0 && json.Unmarshal(a.Settings, &settings) == nil {
		for k, v := range settings {
			d[goName(k)] = v
		}
	}
	return d
}

// goName spells a JSON name as a Go field: issue_type is IssueType.
func goName(k string) string {
	var b strings.Builder
	for _, part := range strings.Split(k, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// DataFor builds the template data of a notification. Its Links name no
// notifier's link: Templates.DataFor, and executing a template, do.
func DataFor(n *notification.Notification) Data {
	if n == nil {
		return Data{}
	}
	return Data{Event: n.Event, Rule: n.Rule, Catalog: n.Catalog, Incident: n.Incident, Action: actionData(n.Action)}
}

// DataFor builds the template data of a notification, knowing the
// notifiers' specs.
func (t *Templates) DataFor(n *notification.Notification) Data {
	d := DataFor(n)
	d.specs = t.specs
	return d
}

// Title says what happened in a few words: the catalogue's title, else the
// provider's, else the kind and status, so no alert goes out untitled.
func (d Data) Title() string {
	if d.Catalog.Title != "" {
		return d.Catalog.Title
	}
	if d.Event.Title != "" {
		return d.Event.Title
	}
	kind := strings.ReplaceAll(string(d.Event.Kind), "_", " ")
	status := strings.ReplaceAll(d.Event.Status, "_", " ")
	switch {
	case kind != "" && status != "":
		return "WhatsApp " + kind + ": " + status
	case kind != "":
		return "WhatsApp " + kind + " event"
	}
	return "WhatsApp event"
}

// Happened says what the provider told about this occurrence, one text per
// entry: the message unless it only repeats the title, then the details
// unless they repeat the message. A template rejection carries its reason
// in the message and Meta's recommendation in the details, and a status
// error its title in the message and the specifics in the details: showing
// only one of the two lost the rejection reason.
func (d Data) Happened() []string {
	var out []string
	msg := strings.TrimSpace(d.Event.Message)
	if msg != "" && !strings.EqualFold(msg, strings.TrimSpace(d.Event.Title)) && !strings.EqualFold(msg, d.Title()) {
		out = append(out, msg)
	}
	if det := strings.TrimSpace(d.Event.Details); det != "" && !strings.EqualFold(det, msg) {
		out = append(out, det)
	}
	return out
}

// Actions says what to do: the catalogue's actions, else the event's
// recommended action. Empty when nobody knows.
func (d Data) Actions() []string {
	if len(d.Catalog.Actions) > 0 {
		return d.Catalog.Actions
	}
	if a := strings.TrimSpace(d.Event.RecommendedAction); a != "" {
		return []string{a}
	}
	return nil
}

// Facts name the thing the event is about, each a short phrase a person
// can act on: the business number (a customer's is masked), the template
// and its reason, the gateway instance, the ban or disable date, the old
// and new limit or quality. Only what the event carries; never a blank.
func (d Data) Facts() []string {
	a := d.Event.Attributes
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	switch {
	case d.Event.DisplayPhoneNumber != "":
		add("on " + d.Event.DisplayPhoneNumber)
	case d.Event.PhoneNumberID != "":
		add("on number id " + d.Event.PhoneNumberID)
	case d.Event.WABAID != "":
		add("on WABA " + d.Event.WABAID)
	}
	if name := a["template_name"]; name != "" {
		t := "template " + name
		if lang := a["template_language"]; lang != "" {
			t += " (" + lang + ")"
		}
		if r := firstNonEmpty(a["reason"], a["rejection_reason"]); r != "" && !strings.EqualFold(r, "none") {
			t += ": " + r
		}
		add(t)
	} else if r := a["rejection_reason"]; r != "" && !strings.EqualFold(r, "none") {
		add("rejected: " + r)
	}
	add(prefixed("instance ", a["instance"]))
	if d.Severity() == event.SeverityRecipient && d.Event.Recipient() != "" {
		add("to " + event.MaskPhone(d.Event.Recipient()))
	}
	add(prefixed("ban date ", a["ban_date"]))
	add(prefixed("disable date ", a["disable_date"]))
	add(change("limit", a["old_limit"], a["current_limit"]))
	add(change("quality", a["previous_quality"], a["new_quality"]))
	add(change("category", a["previous_category"], a["new_category"]))
	return out
}

// Subject is the title with the code and the facts: what a Slack header
// and a Jira summary say.
func (d Data) Subject() string {
	s := d.Title()
	if d.Event.Code != 0 {
		s += " (" + strconv.Itoa(d.Event.Code) + ")"
	}
	for _, f := range d.Facts() {
		if strings.HasPrefix(f, "on ") {
			s += " " + f // "Business account locked (131031) on 15550783881"
			continue
		}
		s += " · " + f
	}
	return s
}

// Link is a named URL a person can open.
type Link struct {
	Name string
	URL  string
	// Notifier names the notifier that made what the link opens; ""
	// for the runbook and the provider's docs.
	Notifier string
}

// Links are the incident's Jira ticket and Slack message (once they
// exist), the provider's documentation of the code and the team's
// runbook, each only when known.
func (d Data) Links() []Link {
	var out []Link
	if d.Incident != nil {
		for _, sp := range d.specs {
			if u := d.Incident.Links[sp.Name]; u != "" {
				out = append(out, Link{Name: sp.Link(u), URL: u, Notifier: sp.Name})
			}
		}
	}
	if u := d.Catalog.RunbookURL; u != "" {
		out = append(out, Link{Name: "Runbook", URL: u})
	}
	if u := d.Catalog.DocsURL; u != "" {
		out = append(out, Link{Name: "Provider docs", URL: u})
	}
	return out
}

func firstNonEmpty(list ...string) string {
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

func prefixed(prefix, v string) string {
	if strings.TrimSpace(v) == "" {
		return ""
	}
	return prefix + v
}

// change says "what old → new", or only the side that is known.
func change(what, old, cur string) string {
	switch {
	case old != "" && cur != "":
		return what + " " + old + " → " + cur
	case cur != "":
		return what + " " + cur
	}
	return ""
}

// Severity is the event's severity, else the catalogue's, else info.
func (d Data) Severity() event.Severity {
	if d.Event.Severity != "" {
		return d.Event.Severity
	}
	if d.Catalog.Severity != "" {
		return d.Catalog.Severity
	}
	return event.SeverityInfo
}

// Option changes how a template set is loaded.
type Option func(*options)

type options struct {
	now   func() time.Time
	specs []notifiers.Spec
}

// WithSpecs tells the set which notifiers render with it: their roles'
// default templates must exist, and their links are named as they say.
func WithSpecs(specs ...notifiers.Spec) Option {
	return func(o *options) { o.specs = append(o.specs, specs...) }
}

// WithClock sets the clock the `since` function reads; tests pin it.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// maxInline bounds the cache of inline texts: they come from rules files, so
// a few hundred is plenty, and the bound keeps a pathological caller from
// growing memory without end.
const maxInline = 1024

// Templates is an immutable, loaded template set, safe for concurrent use.
type Templates struct {
	root  *template.Template // parsed and instrumented; executed only through executors
	names []string           // defined names, sorted
	files map[string]string  // defined name → file that defines it
	now   func() time.Time
	specs []notifiers.Spec

	pool sync.Pool // *executor
}

// executor is a clone of the set whose functions check its own budget;
// executions take one from the pool, so each has a budget of its own.
type executor struct {
	root   *template.Template
	b      budget
	inline map[string]*template.Template // inline text → its template, parsed in this clone
}

func (t *Templates) executor() (*executor, error) {
	if ex, ok := t.pool.Get().(*executor); ok {
		return ex, nil
	}
	c, err := t.root.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone templates: %w", err)
	}
	ex := &executor{root: c, inline: map[string]*template.Template{}}
	c.Funcs(boundFuncs(&ex.b, t.now))
	return ex, nil
}

// run executes tm within the budget into a capped buffer.
func (ex *executor) run(tm *template.Template, d Data) (string, error) {
	ex.b.reset(ExecTimeout)
	w := &cappedWriter{b: &ex.b}
	err := tm.Execute(w, d)
	return w.String(), err
}

// Default returns the embedded templates alone.
func Default() (*Templates, error) { return Load("") }

// Load reads the embedded defaults, then every *.tmpl file in dir (in name
// order); a user file that defines a name the defaults define wins. The
// error lists every problem, one per line, as FILE:LINE: message.
func Load(dir string, opts ...Option) (*Templates, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	root := template.New("").Funcs(funcMap(o.now)).Option("missingkey=zero")
	t := &Templates{root: root, files: map[string]string{}, now: o.now, specs: o.specs}

	defaults, err := fs.Glob(embedded, "default/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: list embedded defaults: %w", err)
	}
	sort.Strings(defaults)
	var errs problem.List
	for _, name := range defaults {
		b, err := embedded.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("templates: read embedded %s: %w", name, err)
		}
		errs = append(errs, t.parseFile("templates/"+name, string(b))...)
	}

	if dir != "" {
		st, err := os.Stat(dir)
		switch {
		case err != nil:
			return nil, fmt.Errorf("templates: dir %s: %w", dir, err)
		case !st.IsDir():
			return nil, fmt.Errorf("templates: dir %s is not a directory", dir)
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.tmpl"))
		if err != nil {
			return nil, fmt.Errorf("templates: list %s: %w", dir, err)
		}
		sort.Strings(files)
		userDefined := map[string]string{} // name → FILE:LINE of the user definition
		for _, path := range files {
			b, err := configfile.Read(path)
			if err != nil {
				errs.Add(path, 0, "read template file: %v", err)
				continue
			}
			text := string(b)
			if len(defines(text)) == 0 {
				// An emptied or half-written override would otherwise be
				// dropped in silence and the defaults used instead.
				what := "defines no template"
				if strings.TrimSpace(text) == "" {
					what = "is empty"
				}
				errs.Add(path, 0, `template file %s; an override file holds {{define "NAME"}}...{{end}} blocks`, what)
				continue
			}
			// Two user files defining one name is almost always a copy
			// left behind; saying so beats silently picking one.
			dup := false
			for _, d := range defines(text) {
				if prev, ok := userDefined[d.name]; ok {
					errs.Add(path, d.line, "template %q is already defined at %s", d.name, prev)
					dup = true
					continue
				}
				userDefined[d.name] = fmt.Sprintf("%s:%d", path, d.line)
			}
			if dup {
				continue
			}
			errs = append(errs, t.parseFile(path, text)...)
		}
	}

	for _, tm := range root.Templates() {
		instrument(tm.Tree)
		if tm.Name() == "" || tm.Tree == nil {
			continue
		}
		if _, ok := t.files[tm.Name()]; ok {
			t.names = append(t.names, tm.Name())
		}
	}
	sort.Strings(t.names)

	// A notifier whose role has no template would fail its first send.
	for _, sp := range t.specs {
		for _, r := range sp.Roles {
			if !t.Has(r.Default) {
				errs = append(errs, problem.At("", 0, "templates: notifier %s renders its %s with %q, which no file defines", sp.Name, r.Name, r.Default))
			}
		}
	}
	// Files that parsed are still executed when another did not, so one
	// run of `wabridge check` shows every problem.
	errs.Append(t.check())
	if len(errs) > 0 {
		return nil, errs
	}
	return t, nil
}

// parseFile adds one file's definitions to the set. Parse errors name the
// file and line, and the template being defined there.
func (t *Templates) parseFile(path, text string) problem.List {
	// The file's own top-level template is named after the path, so that
	// text/template's positions read FILE:LINE.
	if _, err := t.root.New(path).Parse(text); err != nil {
		return problem.List{positioned(err, text)}
	}
	for _, d := range defines(text) {
		t.files[d.name] = path
	}
	return nil
}

// check executes every template against every sample, with and without an
// incident and a catalogue entry, and reports each template's first failure.
func (t *Templates) check() error {
	ex, err := t.executor()
	if err != nil {
		return err
	}
	defer t.pool.Put(ex)
	var errs problem.List
	for _, name := range t.names {
		if p, failed := ex.checkOne(ex.root.Lookup(name)); failed {
			if p.File != t.files[name] {
				p = problem.At(t.files[name], 0, "template %q: %s", name, p)
			}
			errs = append(errs, p)
		}
	}
	return errs.Err()
}

// checkOne executes a template against every sample, each execution
// within the budget a notification's rendering has, so a template that
// would spin or grow fails here, at load, and the old set keeps running.
func (ex *executor) checkOne(tm *template.Template) (problem.Problem, bool) {
	for _, d := range sampleData() {
		if _, err := ex.run(tm, d); err != nil {
			p := execProblem(err)
			p.Message += fmt.Sprintf(", with sample event %q", d.Event.ID)
			return p, true
		}
	}
	return problem.Problem{}, false
}

// Has reports whether a template of that name is defined.
func (t *Templates) Has(name string) bool {
	_, ok := t.files[name]
	return ok
}

// Names lists the defined template names in order.
func (t *Templates) Names() []string { return append([]string(nil), t.names...) }

// Source returns the file that defines a template, for `wabridge check` and
// error messages.
func (t *Templates) Source(name string) string { return t.files[name] }

// Execute renders a named template.
func (t *Templates) Execute(name string, d Data) (string, error) {
	if !t.Has(name) {
		return "", fmt.Errorf("render template %q: no such template (defined: %s)", name, strings.Join(t.names, ", "))
	}
	ex, err := t.executor()
	if err != nil {
		return "", err
	}
	defer t.pool.Put(ex)
	d.specs = t.specs
	out, err := ex.run(ex.root.Lookup(name), d)
	if err != nil {
		return "", fmt.Errorf("render %s", cleanExecError(err))
	}
	return out, nil
}

// ExecuteText renders an inline template, such as a Jira field value; the
// text may call the named templates. Parsed texts are cached.
func (t *Templates) ExecuteText(text string, d Data) (string, error) {
	ex, err := t.executor()
	if err != nil {
		return "", err
	}
	defer t.pool.Put(ex)
	tm, err := ex.parseInline(text)
	if err != nil {
		return "", err
	}
	d.specs = t.specs
	out, err := ex.run(tm, d)
	if err != nil {
		return "", fmt.Errorf("render inline template %q: %s", Truncate(text, 80), cleanExecError(err))
	}
	return out, nil
}

// ValidateText parses an inline template and executes it against the
// samples, as Load does for files.
func (t *Templates) ValidateText(text string) error {
	ex, err := t.executor()
	if err != nil {
		return err
	}
	defer t.pool.Put(ex)
	tm, err := ex.parseInline(text)
	if err != nil {
		return err
	}
	if p, failed := ex.checkOne(tm); failed {
		return fmt.Errorf("inline template %q: %w", Truncate(text, 80), p)
	}
	return nil
}

func (ex *executor) parseInline(text string) (*template.Template, error) {
	if tm, ok := ex.inline[text]; ok {
		return tm, nil
	}
	// Parse into a clone so an inline text cannot redefine a named
	// template for everyone else.
	c, err := ex.root.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone templates: %w", err)
	}
	tm, err := c.New("inline").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("inline template %q: %s", Truncate(text, 80), strings.TrimPrefix(err.Error(), "template: "))
	}
	for _, x := range c.Templates() {
		instrument(x.Tree)
	}
	if len(ex.inline) < maxInline {
		ex.inline[text] = tm
	}
	return tm, nil
}

type definition struct {
	name string
	line int
}

var defineRE = regexp.MustCompile(`\{\{-?\s*(?:define|block)\s+"([^"]+)"`)

// defines finds the {{define "name"}} lines of a file, for error messages
// and for knowing which file owns which name.
func defines(text string) []definition {
	var out []definition
	for _, m := range defineRE.FindAllStringSubmatchIndex(text, -1) {
		out = append(out, definition{
			name: text[m[2]:m[3]],
			line: 1 + strings.Count(text[:m[0]], "\n"),
		})
	}
	return out
}

var parseErrRE = regexp.MustCompile(`^template: (.+?):(\d+):(?:\d+:)? ?(.*)$`)

// positioned turns text/template's "template: FILE:LINE: msg" into
// "FILE:LINE: template "NAME": msg", naming the define the line is in.
func positioned(err error, text string) problem.Problem {
	m := parseErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return problem.Problem{Message: err.Error()}
	}
	line, _ := strconv.Atoi(m[2])
	name := ""
	for _, d := range defines(text) {
		if d.line <= line {
			name = d.name
		}
	}
	if name == "" {
		return problem.At(m[1], line, "%s", m[3])
	}
	return problem.At(m[1], line, "template %q: %s", name, m[3])
}

var execErrRE = regexp.MustCompile(`^template: (.+?):(\d+):\d+: executing "([^"]*)" at <(.*?)>: (.*)$`)

// cleanExecError rewrites "template: FILE:LINE:COL: executing "x" at <.A.B>:
// msg" as "FILE:LINE: template "x": msg (at <.A.B>)", the shape parse
// errors have too.
func cleanExecError(err error) string { return execProblem(err).String() }

// execProblem is an execution error as a problem at its file and line,
// which text/template only tells in its message.
func execProblem(err error) problem.Problem {
	m := execErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return problem.Problem{Message: strings.TrimPrefix(err.Error(), "template: ")}
	}
	line, _ := strconv.Atoi(m[2])
	return problem.At(m[1], line, "template %q: %s (at <%s>)", m[3], m[5], m[4])
}
