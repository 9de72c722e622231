package rules

import (
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/wabridge/wabridge/internal/event"
)

// matcher is a compiled match block (plus the rule's when). Within one list
// any value matches; across lists all must. Every set is precompiled so
// matching allocates nothing.
type matcher struct {
	codes      map[int]struct{}
	ranges     []codeRange
	kinds      *strSet // lowercase; nil: any
	statuses   *strSet // lowercase
	severities *strSet // lowercase
	sources    *strSet // exact
	phones     *strSet // exact
	wabas      *strSet // exact
	attrs      []attrMatcher
	when       *compiledWhen

	// Kinds and severities are closed enums, so the hot path compares bits
	// computed once per event instead of strings once per rule. 0: any.
	kindMask uint16
	sevMask  uint16

	// Kept in file order for SampleEvent, which wants the first value a
	// person wrote rather than a random map key.
	codeList []int
}

type codeRange struct{ lo, hi int }

// set collects values while loading; strSet is its compiled form.
type set map[string]struct{}

// strSet is a set of strings tuned for the few values a matcher usually
// lists: comparing a handful of strings is cheaper than hashing, so a map is
// only built for long lists.
type strSet struct {
	vals []string // sorted
	m    map[string]struct{}
}

const smallSet = 8

// compile returns nil for an empty set: an empty list ("kinds: []") means
// "any", as if the key were absent, not a matcher nothing satisfies.
func (s set) compile() *strSet {
	if len(s) == 0 {
		return nil
	}
	c := &strSet{vals: make([]string, 0, len(s))}
	for v := range s {
		c.vals = append(c.vals, v)
	}
	sort.Strings(c.vals)
	if len(s) > smallSet {
		c.m = map[string]struct{}(s)
	}
	return c
}

// hasCode reports whether the matcher restricts codes at all.
// kindList is the kinds the matcher accepts, nil for any.
func (m *matcher) kindList() []event.Kind {
	if m.kinds == nil {
		return nil
	}
	out := make([]event.Kind, len(m.kinds.vals))
	for i, v := range m.kinds.vals {
		out[i] = event.Kind(v)
	}
	return out
}

func (m *matcher) hasCode() bool { return len(m.codes) > 0 || len(m.ranges) > 0 }

func (m *matcher) matchCode(code int) bool {
	if !m.hasCode() {
		return true
	}
	if _, ok := m.codes[code]; ok {
		return true
	}
	for _, r := range m.ranges {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

func (m *matcher) matches(e *event.Event) bool {
	return m.matchCode(e.Code) && m.matchRest(e, kindBit(e.Kind), severityBit(e.Severity))
}

// matchRest checks everything but the code, which the Set's index already
// settled. Cheap checks go first.
func (m *matcher) matchRest(e *event.Event, kind, sev uint16) bool {
	if m.kindMask != 0 && m.kindMask&kind == 0 {
		return false
	}
	if m.sevMask != 0 && m.sevMask&sev == 0 {
		return false
	}
	if m.statuses != nil && !m.statuses.hasFold(e.Status) {
		return false
	}
	if m.sources != nil && !m.sources.has(e.Source) {
		return false
	}
	if m.phones != nil && !m.phones.has(e.PhoneNumberID) {
		return false
	}
	if m.wabas != nil && !m.wabas.has(e.WABAID) {
		return false
	}
	for i := range m.attrs {
		if !m.attrs[i].match(e.Attributes[m.attrs[i].key]) {
			return false
		}
	}
	if m.when != nil && !m.when.eval(e) {
		return false
	}
	return true
}

func (s *strSet) has(v string) bool {
	if s.m != nil {
		_, ok := s.m[v]
		return ok
	}
	for _, x := range s.vals {
		if x == v {
			return true
		}
	}
	return false
}

// hasFold looks v up in a lowercase set. The contract says kinds, statuses
// and severities are lowercase, so lowering (which allocates) only happens
// for a provider that broke it.
func (s *strSet) hasFold(v string) bool {
	if s.has(v) {
		return true
	}
	return hasUpper(v) && s.has(strings.ToLower(v))
}

// kindBit is the event's kind as a bit of a kind mask; 0 for a kind no
// rule can name.
func kindBit(k event.Kind) uint16 {
	if i := event.KindIndex(k); i >= 0 {
		return 1 << uint(i)
	}
	if hasUpper(string(k)) {
		return kindBit(event.Kind(strings.ToLower(string(k))))
	}
	return 0
}

func severityBit(s event.Severity) uint16 {
	if i := event.SeverityIndex(s); i >= 0 {
		return 1 << uint(i)
	}
	if hasUpper(string(s)) {
		return severityBit(event.Severity(strings.ToLower(string(s))))
	}
	return 0
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return true
		}
	}
	return false
}

// attrMatcher matches one attribute against any of exact values or anchored
// regular expressions (written "~regex").
type attrMatcher struct {
	key    string
	exact  []string
	res    []*regexp.Regexp
	prefix []string // literal prefix of each regexp, a cheap reject before running it
	srcs   []string // the regexps as written, for SampleEvent
}

func (a *attrMatcher) match(v string) bool {
	for _, x := range a.exact {
		if v == x {
			return true
		}
	}
	for i, re := range a.res {
		if !strings.HasPrefix(v, a.prefix[i]) {
			continue
		}
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

// exprEnv is what a `when` expression sees: the event under its JSON names.
type exprEnv struct {
	ID                 string            `expr:"id"`
	Code               int               `expr:"code"`
	Kind               string            `expr:"kind"`
	Status             string            `expr:"status"`
	Source             string            `expr:"source"`
	Severity           string            `expr:"severity"`
	Title              string            `expr:"title"`
	Message            string            `expr:"message"`
	Details            string            `expr:"details"`
	RecommendedAction  string            `expr:"recommended_action"`
	PhoneNumberID      string            `expr:"phone_number_id"`
	DisplayPhoneNumber string            `expr:"display_phone_number"`
	WABAID             string            `expr:"waba_id"`
	RecipientID        string            `expr:"recipient_id"`
	RecipientUserID    string            `expr:"recipient_user_id"`
	MessageID          string            `expr:"message_id"`
	Attributes         map[string]string `expr:"attributes"`
	Timestamp          time.Time         `expr:"timestamp"`
}

func (x *exprEnv) fill(e *event.Event) {
	*x = exprEnv{
		ID: e.ID, Code: e.Code, Kind: string(e.Kind), Status: e.Status, Source: e.Source,
		Severity: string(e.Severity), Title: e.Title, Message: e.Message, Details: e.Details,
		RecommendedAction: e.RecommendedAction, PhoneNumberID: e.PhoneNumberID,
		DisplayPhoneNumber: e.DisplayPhoneNumber, WABAID: e.WABAID, RecipientID: e.RecipientID,
		RecipientUserID: e.RecipientUserID, MessageID: e.MessageID, Attributes: e.Attributes, Timestamp: e.Timestamp,
	}
}

// whenRunner pools expr VMs and environments: a VM is not safe for
// concurrent use, and a fresh one per evaluation would allocate.
type whenRunner struct {
	pool   sync.Pool
	logger *slog.Logger
}

type whenState struct {
	vm  vm.VM
	env exprEnv
}

func newWhenRunner(logger *slog.Logger) *whenRunner {
	w := &whenRunner{logger: logger}
	w.pool.New = func() any { return new(whenState) }
	return w
}

type compiledWhen struct {
	program *vm.Program
	runner  *whenRunner
	where   string // FILE:LINE, for the log line of a runtime failure
}

func (c *compiledWhen) eval(e *event.Event) bool {
	st := c.runner.pool.Get().(*whenState)
	st.env.fill(e)
	st.vm.MemoryBudget = whenMemoryBudget
	out, err := st.vm.Run(c.program, &st.env)
	// Drop the event's references so the pool does not keep them alive.
	st.env = exprEnv{}
	c.runner.pool.Put(st)
	if err != nil {
		// A runtime failure (a nil map index, a type mismatch the compiler
		// could not see) is "no match": one odd event must not fire or
		// stop every rule after it.
		if c.runner.logger != nil {
			c.runner.logger.Warn("rule when expression failed", "at", c.where,
				"event_id", e.ID, "err", err)
		}
		return false
	}
	b, _ := out.(bool)
	return b
}

// index finds the candidate rules for an event without scanning them all:
// rules with codes by exact code and by range, rules without codes but with
// kinds by kind, and the rest always. Every list holds rule positions in
// ascending order so candidates merge back into file order.
type index struct {
	exact  map[int][]int32
	segs   []segment // disjoint, ascending; each lists the range rules covering it
	byKind map[string][]int32
	always []int32
}

type segment struct {
	lo, hi int
	rules  []int32
}

func buildIndex(rules []*Rule) index {
	idx := index{exact: map[int][]int32{}, byKind: map[string][]int32{}}
	type span struct {
		lo, hi int
		rule   int32
	}
	var spans []span
	for i, r := range rules {
		if !r.Enabled {
			continue
		}
		pos := int32(i)
		m := r.m
		switch {
		case m.hasCode():
			for c := range m.codes {
				idx.exact[c] = append(idx.exact[c], pos)
			}
			for _, cr := range m.ranges {
				spans = append(spans, span{cr.lo, cr.hi, pos})
			}
		case m.kinds != nil:
			for _, k := range m.kinds.vals {
				idx.byKind[k] = append(idx.byKind[k], pos)
			}
		default:
			idx.always = append(idx.always, pos)
		}
	}
	// Elementary segments: split the code line at every range boundary, so
	// one binary search finds every range rule covering a code.
	var bounds []int
	for _, s := range spans {
		bounds = append(bounds, s.lo, s.hi+1)
	}
	sort.Ints(bounds)
	bounds = uniqInts(bounds)
	for b := 0; b+1 < len(bounds); b++ {
		lo, hi := bounds[b], bounds[b+1]-1
		var in []int32
		for _, s := range spans {
			if s.lo <= lo && hi <= s.hi {
				in = append(in, s.rule)
			}
		}
		if len(in) == 0 {
			continue
		}
		idx.segs = append(idx.segs, segment{lo: lo, hi: hi, rules: sortUniq32(in)})
	}
	for c, l := range idx.exact {
		idx.exact[c] = sortUniq32(l)
	}
	return idx
}

func (x *index) rangeRules(code int) []int32 {
	lo, hi := 0, len(x.segs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if x.segs[mid].hi < code {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(x.segs) && x.segs[lo].lo <= code {
		return x.segs[lo].rules
	}
	return nil
}

func (x *index) kindRules(k event.Kind) []int32 {
	if l, ok := x.byKind[string(k)]; ok {
		return l
	}
	if hasUpper(string(k)) {
		return x.byKind[strings.ToLower(string(k))]
	}
	return nil
}

// Match returns the enabled rules the event matches, in file order: the
// first match ends evaluation unless it says `continue: true`. The returned
// slice belongs to the Set and must not be modified (a single match, the
// common case, is returned without allocating).
func (s *Set) Match(e *event.Event) []*Rule {
	return s.match(e, nil, false)
}

// MatchAppend is Match appending to dst, for a caller that reuses a buffer.
func (s *Set) MatchAppend(dst []*Rule, e *event.Event) []*Rule {
	return s.match(e, dst, true)
}

func (s *Set) match(e *event.Event, dst []*Rule, appending bool) []*Rule {
	if s == nil || len(s.rules) == 0 {
		return dst
	}
	kb, sb := kindBit(e.Kind), severityBit(e.Severity)
	lists := [4][]int32{s.idx.exact[e.Code], s.idx.rangeRules(e.Code), s.idx.kindRules(e.Kind), s.idx.always}
	// Drop empty lists so the merge below usually has one or two to
	// compare, and often none: then a list is walked directly.
	n := 0
	for _, l := range lists {
		if len(l) > 0 {
			lists[n] = l
			n++
		}
	}
	out := dst
	last := int32(-1)
	for n > 0 {
		from := 0
		for i := 1; i < n; i++ {
			if lists[i][0] < lists[from][0] {
				from = i
			}
		}
		pos := lists[from][0]
		if lists[from] = lists[from][1:]; len(lists[from]) == 0 {
			// The order of the lists does not matter to the merge, so
			// the last one fills the gap.
			n--
			lists[from] = lists[n]
		}
		if pos == last {
			continue // a rule whose exact code also falls in one of its ranges
		}
		last = pos
		if !s.ms[pos].matchRest(e, kb, sb) {
			continue
		}
		r := s.rules[pos]
		if !appending && out == nil && !r.Continue {
			return s.rules[pos : pos+1 : pos+1]
		}
		out = append(out, r)
		if !r.Continue {
			return out
		}
	}
	return out
}

func uniqInts(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func sortUniq32(s []int32) []int32 {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
