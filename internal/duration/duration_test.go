package duration

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"90s", 90 * time.Second},
		{"15m", 15 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"7d", 7 * 24 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"1w2d", 9 * 24 * time.Hour},
		{"1y", 365 * 24 * time.Hour},
		{"500ms", 500 * time.Millisecond},
		{"1m500ms", time.Minute + 500*time.Millisecond},
		{"1.5h", 90 * time.Minute}, // Go's form, still read
		{"2h45m10s", 2*time.Hour + 45*time.Minute + 10*time.Second},
		{" 4h ", 4 * time.Hour},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "7days", "d", "1d1w", "1h1h", "-1h", "h1", "10", "1.5d", "2 h", "99999999999999999w"} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q): want an error", in)
			continue
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q): %v does not wrap ErrSyntax", in, err)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 90 * time.Second, 90 * time.Minute, 7 * 24 * time.Hour,
		9 * 24 * time.Hour, 90 * 24 * time.Hour, 1500 * time.Millisecond} {
		s := Format(d)
		got, err := Parse(s)
		if err != nil || got != d {
			t.Errorf("Format(%v) = %q, which parses as %v, %v", d, s, got, err)
		}
	}
	if got := Format(7 * 24 * time.Hour); got != "1w" {
		t.Errorf("Format(7d) = %q, want 1w", got)
	}
	if got := Format(90 * time.Minute); got != "1h30m" {
		t.Errorf("Format(90m) = %q, want 1h30m", got)
	}
}

func TestValueFlag(t *testing.T) {
	var d time.Duration
	v := NewValue(&d, time.Hour)
	if v.String() != "1h" {
		t.Errorf("default prints %q", v.String())
	}
	if err := v.Set("2d"); err != nil || d != 48*time.Hour {
		t.Errorf("Set(2d) = %v, d = %v", err, d)
	}
	if err := v.Set("2 days"); err == nil {
		t.Error("Set(2 days): want an error")
	}
}
