// Package rules owns the rules file: its schema, loading with FILE:LINE
// problems, and the compiled, immutable Set that decides which rules an event
// matches and what each rule asks the pipeline to do.
package rules

import (
	"encoding/hex"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

// Defaults that apply when neither the rule nor its file's defaults say.
const (
	DefaultRepeatInterval = 4 * time.Hour
	// DefaultResolveAfter resolves an incident after a day without events.
	// Most of what WhatsApp reports is one-shot (a failed send, a rate
	// limit, a quality change) and repeats with every attempt while it
	// lasts: a day of quiet covers a night and a weekend morning of low
	// traffic, and means the next occurrence pages afresh instead of
	// joining an incident nobody looks at any more. A state that lasts
	// without repeating (a ban) wants resolve_when, or resolve_after: never.
	DefaultResolveAfter = 24 * time.Hour
	// DefaultMaxOpenIncidents bounds the open (and pending) incidents of one
	// rule; past it, new groups join the rule's overflow incident.
	DefaultMaxOpenIncidents = 1000
)

// DefaultGroupBy is the group_by of a rule whose file sets none: one incident
// per account, phone number and error code. Every field that names the
// account or the number is listed, because providers carry different ones:
// a failed status has phone_number_id, a quality or name update only
// display_phone_number, a ban only waba_id. Fields an event lacks are empty,
// so they group nothing apart. A function, so callers cannot change it.
func DefaultGroupBy() []string {
	return []string{"waba_id", "phone_number_id", "display_phone_number", "code"}
}

// Options tells the loader about the rest of the configuration, so a rule
// that names something missing fails at load rather than at send time.
type Options struct {
	// Specs are the notifiers an action can name, in the order messages
	// list them. The composition root passes every one it builds.
	Specs []notifiers.Spec
	// Notifiers reports whether a notifier is configured. nil: all are.
	Notifiers func(name string) bool
	// TemplateExists reports whether a template name is defined. nil: every
	// name exists.
	TemplateExists func(name string) bool
	// Catalog turns codes it does not know into warnings. nil: no warnings.
	Catalog *catalog.Catalog
	// Logger receives runtime failures of `when` expressions (which then
	// count as "no match"). nil: they are discarded.
	Logger *slog.Logger
}

// Threshold opens an incident only once Count events arrived Within a window.
type Threshold struct {
	Count  int
	Within time.Duration
}

// Rule is one compiled rule. It is immutable once loaded: callers must not
// modify its slices (Actions, GroupBy).
type Rule struct {
	Name        string
	Description string
	// Enabled is false for a rule written with `enabled: false`; Set.Match
	// skips it, but it is still listed, so `check` and `notify-test` see it.
	Enabled  bool
	Continue bool
	// Actions are in file order, with the file's defaults applied. An empty
	// list is a rule that only stops evaluation.
	Actions        []notification.Action
	GroupBy        []string
	RepeatInterval time.Duration
	GroupWait      time.Duration
	// ResolveAfter resolves an incident quiet for that long; 0 is never
	// (resolve_after: never), so only resolve_when or a person ends it.
	ResolveAfter time.Duration
	// MaxOpen bounds the rule's open and pending incidents.
	MaxOpen   int
	Escalate  Escalation
	Threshold *Threshold // nil: every event counts
	File      string
	Line      int

	m       *matcher // match + when
	resolve *matcher // resolve_when; nil when absent
	active  []timeInterval
	mute    []timeInterval
}

// Ref is what a notification says about the rule that produced it.
func (r *Rule) Ref() notification.RuleRef {
	return notification.RuleRef{Name: r.Name, Description: r.Description}
}

// Matches reports whether the event satisfies the rule's match and when. It
// ignores Enabled: a disabled rule can still be tested by name.
func (r *Rule) Matches(e *event.Event) bool { return r.m.matches(e) }

// HasResolveWhen reports whether the rule says how its incidents resolve
// from an event.
func (r *Rule) HasResolveWhen() bool { return r.resolve != nil }

// ResolvedBy reports whether the event resolves the rule's open incidents
// (resolve_when). Without resolve_when nothing resolves them this way.
func (r *Rule) ResolvedBy(e *event.Event) bool {
	if r.resolve == nil {
		return false
	}
	return r.resolve.matches(e)
}

// Active reports whether the rule may notify at t: within one of its
// active_time intervals (none: always) and outside all of its mute_time
// intervals. Mute wins when both apply.
func (r *Rule) Active(t time.Time) bool {
	for i := range r.mute {
		if r.mute[i].contains(t) {
			return false
		}
	}
	if len(r.active) == 0 {
		return true
	}
	for i := range r.active {
		if r.active[i].contains(t) {
			return true
		}
	}
	return false
}

// Fingerprint identifies the incident an event belongs to under a rule: 16
// hex digits of FNV-1a 64 over the rule name and each group_by field with
// its value. It is stable across restarts and versions, since stored
// incidents are keyed by it.
func Fingerprint(r *Rule, e *event.Event) string {
	h := fnv.New64a()
	h.Write([]byte(r.Name))
	for _, f := range r.GroupBy {
		// Separators no field name or value contains keep ("a","bc") and
		// ("ab","c") apart.
		h.Write([]byte{0})
		h.Write([]byte(f))
		h.Write([]byte{'='})
		h.Write([]byte(e.Field(f)))
	}
	var sum [8]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// OverflowFingerprint is the fingerprint of the incident a rule's events
// join once it has MaxOpen incidents open: no group_by value can produce it,
// since group_by fields are hashed with a name and "=".
func OverflowFingerprint(r *Rule) string {
	h := fnv.New64a()
	h.Write([]byte(r.Name))
	h.Write([]byte{0})
	h.Write([]byte("max_open_incidents"))
	var sum [8]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// Inhibit suppresses target events while an incident matching the source is
// open and both agree on the Equal fields (Alertmanager's inhibit_rules).
type Inhibit struct {
	Equal []string
	File  string
	Line  int

	source *matcher
	target *matcher
}

// SourceMatches reports whether an event (of an open incident) can inhibit.
func (i *Inhibit) SourceMatches(e *event.Event) bool { return i.source.matches(e) }

// TargetMatches reports whether an event can be inhibited.
func (i *Inhibit) TargetMatches(e *event.Event) bool { return i.target.matches(e) }

// Suppresses reports whether source (the event of an open incident) inhibits
// target: both match their side and every Equal field has the same value.
// As in Alertmanager, the pipeline should not let an incident inhibit its
// own events.
func (i *Inhibit) Suppresses(source, target *event.Event) bool {
	if !i.source.matches(source) || !i.target.matches(target) {
		return false
	}
	for _, f := range i.Equal {
		if source.Field(f) != target.Field(f) {
			return false
		}
	}
	return true
}

// Set is the compiled rules of all files. It is immutable and safe for
// concurrent use.
type Set struct {
	rules    []*Rule
	byName   map[string]*Rule
	inhibits []*Inhibit
	idx      index
	// ms holds each rule's matcher by position, side by side in memory,
	// so walking candidates does not chase a pointer per rule.
	ms []matcher
	// specs are the notifiers the rules were loaded with.
	specs []notifiers.Spec
	// hash identifies the rule files' content (see Hash).
	hash string
}

// Spec returns the Spec of the notifier an action names, as the rules were
// loaded with it.
func (s *Set) Spec(notifier string) (notifiers.Spec, bool) {
	if s == nil {
		return notifiers.Spec{}, false
	}
	for _, sp := range s.specs {
		if sp.Name == notifier {
			return sp, true
		}
	}
	return notifiers.Spec{}, false
}

// Hash identifies the content of the rule files the set was loaded from,
// in load order: two processes whose sets hash alike run the same rules,
// wherever the files lie. "" for no set.
func (s *Set) Hash() string {
	if s == nil {
		return ""
	}
	return s.hash
}

// Rules lists every rule in evaluation order, disabled ones included.
func (s *Set) Rules() []*Rule {
	if s == nil {
		return nil
	}
	return s.rules
}

// Rule returns the rule with that name, or nil.
func (s *Set) Rule(name string) *Rule {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// Inhibits lists the inhibit rules in file order.
func (s *Set) Inhibits() []*Inhibit {
	if s == nil {
		return nil
	}
	return s.inhibits
}

// Len is the number of rules, disabled ones included.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}
