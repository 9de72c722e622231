package pipeline

import (
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/rules"
)

// TestDue: the timer opens a write transaction only when tick has
// something to do; due is that decision, case by case.
func TestDue(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	on := &rules.Rule{Name: "r", Enabled: true}
	off := &rules.Rule{Name: "r"}
	threshold := &rules.Rule{Name: "r", Enabled: true, Threshold: &rules.Threshold{Count: 3, Within: time.Minute}}
	quiet := &rules.Rule{Name: "r", Enabled: true, ResolveAfter: time.Hour}
	held := &incident.Deferred{Count: 1}
	tests := []struct {
		name string
		inc  incident.Incident
		r    *rules.Rule
		want bool
	}{
		{"a pending incident of a removed rule goes", incident.Incident{Status: incident.Pending}, nil, true},
		{"a pending incident of a disabled rule goes", incident.Incident{Status: incident.Pending}, off, true},
		{"an open incident of a disabled rule waits", incident.Incident{Status: incident.Open}, off, false},
		{"what a removed rule's mute held back is dropped", incident.Incident{Status: incident.Open, Deferred: held}, nil, true},
		{"a resolved incident with nothing held waits", incident.Incident{Status: incident.Resolved}, on, false},
		{"a resolved incident tells what its mute held back", incident.Incident{Status: incident.Resolved, Deferred: held}, on, true},
		{"group_wait not over", incident.Incident{Status: incident.Pending, OpenAt: now.Add(time.Second)}, on, false},
		{"group_wait over", incident.Incident{Status: incident.Pending, OpenAt: now}, on, true},
		{"a threshold window still counting", incident.Incident{Status: incident.Pending, Window: []time.Time{now.Add(-30 * time.Second)}}, threshold, false},
		{"a threshold window emptied", incident.Incident{Status: incident.Pending, Window: []time.Time{now.Add(-time.Minute)}}, threshold, true},
		{"an open incident quiet for resolve_after", incident.Incident{Status: incident.Open, Touched: now.Add(-time.Hour)}, quiet, true},
		{"an open incident not quiet long enough", incident.Incident{Status: incident.Open, Touched: now.Add(-time.Minute)}, quiet, false},
		{"an open incident with nothing to do", incident.Incident{Status: incident.Open, Touched: now}, on, false},
		{"an open incident whose mute held something back", incident.Incident{Status: incident.Open, Touched: now, Deferred: held}, on, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := tt.inc
			if got := due(&inc, tt.r, now); got != tt.want {
				t.Fatalf("due = %v, want %v", got, tt.want)
			}
		})
	}
}
