package incident

import (
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

// The transitions below change an incident record and nothing else: no
// store, no outbox, no clock of their own. The pipeline decides when each
// applies and what it sends.

// MarkOpen makes inc open at now: its first message is told now, so the
// counts since the last summary start again and nothing waits.
func (inc *Incident) MarkOpen(now time.Time) {
	inc.Status, inc.OpenedAt, inc.LastRepeat = Open, now, now
	inc.NewSince, inc.SinceTime, inc.OpenAt, inc.Pending, inc.ResolvedAt = 0, now, time.Time{}, nil, time.Time{}
}

// MarkResolved ends inc at now. by is the provider's event that resolved
// it, nil when quiet or a person did.
func (inc *Incident) MarkResolved(now time.Time, by *event.Event) {
	inc.Status, inc.ResolvedAt, inc.Pending, inc.Window, inc.OpenAt = Resolved, now, nil, nil, time.Time{}
	if by != nil && !by.Timestamp.IsZero() {
		inc.Recovered = &Recovery{At: by.Timestamp, What: Describe(by)}
	}
}

// Join counts one more event, seen at seen, into an open incident.
func (inc *Incident) Join(seen time.Time) {
	inc.Count++
	inc.NewSince++
	if seen.After(inc.LastSeen) {
		inc.LastSeen = seen
	}
}

// ResetSince starts the count of new events again at now: a summary (a
// repeat, an escalation, what a mute held back) has just told them.
func (inc *Incident) ResetSince(now time.Time) {
	inc.NewSince, inc.SinceTime, inc.LastRepeat = 0, now, now
}

// Hold records that a muted rule held back an event of inc at now.
func (inc *Incident) Hold(now time.Time) {
	if inc.Deferred == nil {
		inc.Deferred = &Deferred{From: now}
	}
	inc.Deferred.Count++
	inc.Deferred.Last = now
}

// Slide moves a threshold's sliding window to now: the arrival times
// within of now are kept, now is added, and at most count are kept. The
// threshold is met when count times remain. restarted reports that no
// earlier time was within the window, so the incident starts over with
// this event. w's backing array is reused.
func Slide(w []time.Time, now time.Time, within time.Duration, count int) (out []time.Time, restarted bool) {
	out = w[:0]
	for _, at := range w {
		if now.Sub(at) < within {
			out = append(out, at)
		}
	}
	restarted = len(out) == 0
	out = append(out, now)
	if len(out) > count {
		out = out[len(out)-count:]
	}
	return out, restarted
}

// Escalate adds how the incident got worse while its rule was muted.
func (d *Deferred) Escalate(how string) {
	if d.Escalated == "" {
		d.Escalated = how
		return
	}
	d.Escalated += ", then " + how
}

// Summary says what a mute held back, "" when it held back nothing.
func (d *Deferred) Summary() string {
	if d == nil || d.Count == 0 && d.Escalated == "" && !d.Resolved {
		return ""
	}
	s := fmt.Sprintf("While the rule was muted (mute_time or outside active_time), %d event%s arrived", d.Count, plural(d.Count))
	if !d.From.IsZero() {
		s += fmt.Sprintf(" between %s and %s", d.From.UTC().Format(time.RFC3339), d.Last.UTC().Format(time.RFC3339))
	}
	if d.Escalated != "" {
		s += "; it escalated: " + d.Escalated
	}
	if d.Resolved {
		s += "; it was resolved"
	}
	return JoinSentences(s+".", d.Note)
}

// Describe names an event in a few words for notes: "account_update
// disabled_update (reinstate)".
func Describe(ev *event.Event) string {
	s := string(ev.Kind)
	if ev.Status != "" {
		s += " " + ev.Status
	}
	if st := ev.Attr("state"); st != "" && st != ev.Status {
		s += " (" + st + ")"
	}
	if ev.Code != 0 {
		s += fmt.Sprintf(" code %d", ev.Code)
	}
	return s
}

// JoinSentences joins two notes, either of which may be empty.
func JoinSentences(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WindowOver reports whether a pending incident's threshold window has
// emptied at now: no event arrived within of it.
func (inc *Incident) WindowOver(now time.Time, within time.Duration) bool {
	return len(inc.Window) == 0 || now.Sub(inc.Window[len(inc.Window)-1]) >= within
}
