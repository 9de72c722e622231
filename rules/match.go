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
	kinds      set // lowercase
	statuses   set // lowercase
	severities set // lowercase
	sources    set // exact
	phones     set // exact
	wabas      set // exact
	attrs      []attrMatcher
	when       *compiledWhen

	// Kept in file order for SampleEvent, which wants the first value a
	// person wrote rather than a random map key.
	codeList []int
}

type codeRange struct{ lo, hi int }

type set map[string]struct{}

// hasCode reports whether the matcher restricts codes at all.
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
	return m.matchCode(e.Code) && m.matchRest(e)
}

// matchRest checks everything but the code, which the Set's index already
// settled. Cheap checks go first.
func (m *matcher) matchRest(e *event.Event) bool {
	if m.kinds != nil && !m.kinds.hasFold(string(e.Kind)) {
		return false
	}
	if m.statuses != nil && !m.statuses.hasFold(e.Status) {
		return false
	}
	if m.severities != nil && !m.severities.hasFold(string(e.Severity)) {
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

func (s set) has(v string) bool {
	_, ok := s[v]
	return ok
}

// hasFold looks v up in a lowercase set. The contract says kinds, statuses
// and severities are lowercase, so lowering (which allocates) only happens
// for a provider that broke it.
func (s set) hasFold(v string) bool {
	if _, ok := s[v]; ok {
		return true
	}
	if !hasUpper(v) {
		return false
	}
	_, ok := s[strings.ToLower(v)]
	return ok
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
		MessageID: e.MessageID, Attributes: e.Attributes, Timestamp: e.Timestamp,
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
	src     string
	program *vm.Program
	runner  *whenRunner
	where   string // FILE:LINE, for the log line of a runtime failure
}

func (c *compiledWhen) eval(e *event.Event) bool {
	st := c.runner.pool.Get().(*whenState)
	st.env.fill(e)
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
			for k := range m.kinds {
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
	const none = int32(1<<31 - 1)
	lists := [4][]int32{s.idx.exact[e.Code], s.idx.rangeRules(e.Code), s.idx.kindRules(e.Kind), s.idx.always}
	out := dst
	last := int32(-1)
	for {
		// Merge: take the lowest head of the four ascending lists.
		best, from := none, -1
		for i := range lists {
			if len(lists[i]) > 0 && lists[i][0] < best {
				best, from = lists[i][0], i
			}
		}
		if from < 0 {
			return out
		}
		lists[from] = lists[from][1:]
		if best == last {
			continue // a rule whose exact code also falls in one of its ranges
		}
		last = best
		r := s.rules[best]
		if !r.m.matchRest(e) {
			continue
		}
		if !appending && out == nil && !r.Continue {
			return s.rules[best : best+1 : best+1]
		}
		out = append(out, r)
		if !r.Continue {
			return out
		}
	}
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
