package incident

import (
	"errors"
	"testing"
	"time"
)

func TestAcknowledge(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	alice := Ack{By: "@alice (U0ALICE)", At: t0, Via: "slack"}
	acked := Incident{Fingerprint: "fp", Status: Open, Ack: &alice}
	tests := []struct {
		name    string
		inc     Incident
		ack     Ack
		wantErr error
		wantBy  string // the acknowledgement the incident holds after
		changed bool
	}{
		{"open", Incident{Status: Open}, alice, nil, "@alice (U0ALICE)", true},
		{"pending", Incident{Status: Pending}, alice, ErrNotOpen, "", false},
		{"resolved", Incident{Status: Resolved}, alice, ErrResolved, "", false},
		{"no one", Incident{Status: Open}, Ack{By: "  ", At: t0}, ErrNoActor, "", false},
		{"same person again", acked, Ack{By: "@alice (U0ALICE)", At: t0.Add(time.Minute)}, nil, "@alice (U0ALICE)", false},
		{"someone else", acked, Ack{By: "bob", At: t0.Add(time.Minute)}, ErrAcknowledged, "@alice (U0ALICE)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.inc.Ack
			got := tt.inc
			changed, err := got.Acknowledge(tt.ack)
			if !errors.Is(err, tt.wantErr) || changed != tt.changed {
				t.Fatalf("changed %v, err = %v; want %v, %v", changed, err, tt.changed, tt.wantErr)
			}
			by := ""
			if got.Ack != nil {
				by = got.Ack.By
			}
			if by != tt.wantBy {
				t.Errorf("acknowledged by %q, want %q", by, tt.wantBy)
			}
			if !changed && got.Ack != before {
				t.Error("an acknowledgement that changed nothing replaced the incident's")
			}
		})
	}
	got := acked
	_, err := got.Acknowledge(Ack{By: "bob"})
	if got.Ack.At != t0 {
		t.Errorf("the first acknowledgement's time changed to %s", got.Ack.At)
	}
	if want := "incident is already acknowledged by @alice (U0ALICE) at 2026-03-02T10:00:00Z"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestUnacknowledge(t *testing.T) {
	a := &Ack{By: "alice", At: time.Unix(1, 0)}
	got := Incident{Status: Open, Ack: a}
	if prev := got.Unacknowledge(); got.Ack != nil || prev != a {
		t.Errorf("Unacknowledge = %+v, %v; want no ack and the previous one", got.Ack, prev)
	}
	none := Incident{Status: Open}
	if prev := none.Unacknowledge(); prev != nil {
		t.Errorf("Unacknowledge of an incident nobody acknowledged returned %+v", prev)
	}
}

func TestRepeatDue(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	open := Incident{Status: Open, LastRepeat: t0}
	ackd := open
	ackd.Ack = &Ack{By: "alice", At: t0}
	tests := []struct {
		name     string
		inc      Incident
		interval time.Duration
		after    time.Duration
		want     bool
	}{
		{"interval passed", open, time.Hour, time.Hour, true},
		{"interval not passed", open, time.Hour, 59 * time.Minute, false},
		{"rule never repeats", open, 0, 48 * time.Hour, false},
		{"acknowledged", ackd, time.Hour, 48 * time.Hour, false},
		{"resolved", Incident{Status: Resolved, LastRepeat: t0}, time.Hour, 2 * time.Hour, false},
	}
	for _, tt := range tests {
		if got := tt.inc.RepeatDue(tt.interval, t0.Add(tt.after)); got != tt.want {
			t.Errorf("%s: RepeatDue = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRequestOnDemand(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	bob := Ack{By: "@bob (U0BOB)", At: t0, Via: "Slack"}
	asked := Incident{Status: Open, OnDemand: map[string]Ack{"fp/jira/OPS": bob}}
	tests := []struct {
		name    string
		inc     Incident
		key     string
		ack     Ack
		wantErr error
	}{
		{"open", Incident{Status: Open}, "fp/jira/OPS", bob, nil},
		{"another action", asked, "fp/jira/SEC", Ack{By: "ana", At: t0}, nil},
		{"asked twice", asked, "fp/jira/OPS", Ack{By: "ana", At: t0}, ErrAlreadyRequested},
		{"pending", Incident{Status: Pending}, "fp/jira/OPS", bob, ErrNotOpen},
		{"resolved", Incident{Status: Resolved}, "fp/jira/OPS", bob, ErrResolved},
		{"no one", Incident{Status: Open}, "fp/jira/OPS", Ack{At: t0}, ErrNoActor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.inc.OnDemand)
			got := tt.inc
			err := got.RequestOnDemand(tt.key, tt.ack)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(tt.inc.OnDemand) != before {
				t.Error("RequestOnDemand changed the map of the incident it was copied from")
			}
			if err == nil && (!got.Requested(tt.key) || got.OnDemand[tt.key].By != tt.ack.By) {
				t.Errorf("after the request: %+v", got.OnDemand)
			}
			if err != nil && len(got.OnDemand) != before {
				t.Error("a refused request changed the incident")
			}
		})
	}
	err := asked.RequestOnDemand("fp/jira/OPS", Ack{By: "ana"})
	if want := "already asked for by @bob (U0BOB) at 2026-03-02T10:00:00Z"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}
