package incident

import (
	"slices"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s ...int) []time.Time {
	var out []time.Time
	for _, n := range s {
		out = append(out, t0.Add(time.Duration(n)*time.Second))
	}
	return out
}

func TestSlide(t *testing.T) {
	tests := []struct {
		name      string
		window    []time.Time
		now       int
		within    time.Duration
		count     int
		want      []time.Time
		restarted bool
	}{
		{"first event starts the window", nil, 0, time.Minute, 3, at(0), true},
		{"events within are kept", at(0, 10), 20, time.Minute, 3, at(0, 10, 20), false},
		{"events outside are dropped", at(0, 10), 65, time.Minute, 3, at(10, 65), false},
		{"exactly within is outside", at(0), 60, time.Minute, 3, at(60), true},
		{"all outside restarts", at(0, 10), 200, time.Minute, 3, at(200), true},
		{"at most count are kept", at(0, 10, 20), 30, time.Minute, 3, at(10, 20, 30), false},
		{"count one keeps only now", at(0), 5, time.Minute, 1, at(5), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, restarted := Slide(slices.Clone(tt.window), t0.Add(time.Duration(tt.now)*time.Second), tt.within, tt.count)
			if !slices.Equal(got, tt.want) || restarted != tt.restarted {
				t.Fatalf("Slide = %v, restarted %v; want %v, restarted %v", got, restarted, tt.want, tt.restarted)
			}
		})
	}
}

func TestWindowOver(t *testing.T) {
	tests := []struct {
		window []time.Time
		now    int
		want   bool
	}{
		{nil, 0, true},
		{at(0, 30), 89, false},
		{at(0, 30), 90, true},
	}
	for _, tt := range tests {
		inc := &Incident{Window: tt.window}
		if got := inc.WindowOver(t0.Add(time.Duration(tt.now)*time.Second), time.Minute); got != tt.want {
			t.Errorf("window %v at +%ds: WindowOver = %v, want %v", tt.window, tt.now, got, tt.want)
		}
	}
}

func TestMarkOpenAndResolved(t *testing.T) {
	inc := &Incident{Status: Pending, NewSince: 4, OpenAt: t0, Pending: map[string]string{"k": "id"},
		ResolvedAt: t0.Add(-time.Hour), Window: at(0)}
	now := t0.Add(time.Minute)
	inc.MarkOpen(now)
	if inc.Status != Open || !inc.OpenedAt.Equal(now) || !inc.LastRepeat.Equal(now) || !inc.SinceTime.Equal(now) ||
		inc.NewSince != 0 || !inc.OpenAt.IsZero() || inc.Pending != nil || !inc.ResolvedAt.IsZero() {
		t.Fatalf("after MarkOpen: %+v", inc)
	}

	later := now.Add(time.Hour)
	inc.Pending = map[string]string{"k": "id"}
	inc.MarkResolved(later, nil)
	if inc.Status != Resolved || !inc.ResolvedAt.Equal(later) || inc.Pending != nil || inc.Window != nil || inc.Recovered != nil {
		t.Fatalf("after MarkResolved without an event: %+v", inc)
	}

	by := &event.Event{Kind: "account_update", Status: "reinstated", Timestamp: t0.Add(30 * time.Minute)}
	inc.MarkResolved(later, by)
	if inc.Recovered == nil || !inc.Recovered.At.Equal(by.Timestamp) || inc.Recovered.What != "account_update reinstated" || inc.Recovered.Orphan {
		t.Fatalf("Recovered = %+v", inc.Recovered)
	}

	undated := &Incident{}
	undated.MarkResolved(later, &event.Event{Kind: "account_update"})
	if undated.Recovered != nil {
		t.Fatalf("an event without a timestamp recorded a recovery: %+v", undated.Recovered)
	}
}

func TestJoinAndResetSince(t *testing.T) {
	inc := &Incident{Count: 2, NewSince: 1, LastSeen: t0}
	inc.Join(t0.Add(-time.Minute)) // an older event does not move LastSeen back
	if inc.Count != 3 || inc.NewSince != 2 || !inc.LastSeen.Equal(t0) {
		t.Fatalf("after an older join: %+v", inc)
	}
	inc.Join(t0.Add(time.Minute))
	if inc.Count != 4 || inc.NewSince != 3 || !inc.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after a newer join: %+v", inc)
	}
	now := t0.Add(time.Hour)
	inc.ResetSince(now)
	if inc.NewSince != 0 || !inc.SinceTime.Equal(now) || !inc.LastRepeat.Equal(now) || inc.Count != 4 {
		t.Fatalf("after ResetSince: %+v", inc)
	}
}

func TestHoldAndEscalate(t *testing.T) {
	inc := &Incident{}
	inc.Hold(t0)
	inc.Hold(t0.Add(time.Minute))
	d := inc.Deferred
	if d == nil || d.Count != 2 || !d.From.Equal(t0) || !d.Last.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Deferred = %+v", d)
	}
	d.Escalate("quality GREEN to YELLOW")
	d.Escalate("quality YELLOW to RED")
	if want := "quality GREEN to YELLOW, then quality YELLOW to RED"; d.Escalated != want {
		t.Fatalf("Escalated = %q, want %q", d.Escalated, want)
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		d    *Deferred
		want string
	}{
		{"nil", nil, ""},
		{"nothing held", &Deferred{From: t0, Last: t0}, ""},
		{"one event", &Deferred{Count: 1, From: t0, Last: t0},
			"While the rule was muted (mute_time or outside active_time), 1 event arrived between 2026-03-01T12:00:00Z and 2026-03-01T12:00:00Z."},
		{"escalated and resolved, with a note", &Deferred{Count: 3, From: t0, Last: t0.Add(time.Hour), Escalated: "worse", Resolved: true, Note: "Already resolved."},
			"While the rule was muted (mute_time or outside active_time), 3 events arrived between 2026-03-01T12:00:00Z and 2026-03-01T13:00:00Z; it escalated: worse; it was resolved. Already resolved."},
		{"resolved without a start", &Deferred{Resolved: true},
			"While the rule was muted (mute_time or outside active_time), 0 events arrived; it was resolved."},
	}
	for _, tt := range tests {
		if got := tt.d.Summary(); got != tt.want {
			t.Errorf("%s: Summary =\n%q\nwant\n%q", tt.name, got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		ev   event.Event
		want string
	}{
		{event.Event{Kind: "message_status", Status: "failed", Code: 131026}, "message_status failed code 131026"},
		{event.Event{Kind: "account_update", Status: "disabled_update", Attributes: map[string]string{"state": "reinstate"}}, "account_update disabled_update (reinstate)"},
		{event.Event{Kind: "account_update", Status: "banned", Attributes: map[string]string{"state": "banned"}}, "account_update banned"},
		{event.Event{Kind: "template_status"}, "template_status"},
	}
	for _, tt := range tests {
		if got := Describe(&tt.ev); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.ev, got, tt.want)
		}
	}
}

func TestJoinSentences(t *testing.T) {
	for _, tt := range [][3]string{{"", "", ""}, {"A.", "", "A."}, {"", "B.", "B."}, {"A.", "B.", "A. B."}} {
		if got := JoinSentences(tt[0], tt[1]); got != tt[2] {
			t.Errorf("JoinSentences(%q, %q) = %q, want %q", tt[0], tt[1], got, tt[2])
		}
	}
}
