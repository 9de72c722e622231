package rules

import (
	"fmt"
	"slices"

	"github.com/wabridge/wabridge/internal/event"
)

// Escalation says what an incident does when an event that joins it is
// worse than the one it shows: a higher severity, or a state further along
// the rule's (or the built-in) order. It always notifies at once; Priority,
// when set, is the Jira priority the ticket is raised to.
type Escalation struct {
	Priority string
	// Order lists states (a status or the state attribute), least severe
	// first; nil means the built-in order for the event's kind.
	Order []string
}

// builtinOrder ranks the states that Meta reports as steps of one problem,
// least severe first: a scheduled ban becomes a ban, a quality flag a
// downgrade of the messaging limit, a paused template a disabled one.
var builtinOrder = map[event.Kind][]string{
	event.KindAccountUpdate: {"schedule_for_disable", "disable"},
	event.KindQuality:       {"flagged", "downgrade"},
	event.KindTemplate:      {"flagged", "paused", "disabled"},
}

// stateRank is the place of e's status or state attribute in order, 1-based;
// 0 when neither is listed.
func stateRank(order []string, e *event.Event) (int, string) {
	rank, name := 0, ""
	for _, v := range []string{e.Status, e.Attr("state")} {
		if i := slices.Index(order, v); i >= 0 && i+1 > rank {
			rank, name = i+1, v
		}
	}
	return rank, name
}

// severityRank is higher for more urgent severities; 0 for none.
func severityRank(s event.Severity) int {
	if i := event.SeverityIndex(s); i >= 0 {
		return event.SeverityCount() - i
	}
	return 0
}

// Escalates reports whether next, joining an incident that shows prev, is
// worse, and says how ("severity warning → critical", "schedule_for_disable
// → disable").
func (r *Rule) Escalates(prev, next *event.Event) (bool, string) {
	order := r.Escalate.Order
	if order == nil {
		if prev.Kind != next.Kind {
			return r.severityUp(prev, next)
		}
		order = builtinOrder[next.Kind]
	}
	if pr, pn := stateRank(order, prev); pr > 0 {
		if nr, nn := stateRank(order, next); nr > pr {
			return true, fmt.Sprintf("%s → %s", pn, nn)
		}
	}
	return r.severityUp(prev, next)
}

func (r *Rule) severityUp(prev, next *event.Event) (bool, string) {
	if severityRank(next.Severity) > severityRank(prev.Severity) && prev.Severity != "" {
		return true, fmt.Sprintf("severity %s → %s", prev.Severity, next.Severity)
	}
	return false, ""
}
