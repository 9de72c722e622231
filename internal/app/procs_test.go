package app

import "testing"

func TestSetProcs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     string
		current int
		want    int
	}{
		{"twice the CPUs Go chose", "", 2, 4},
		{"one CPU", "", 1, 2},
		{"the operator's number stands", "3", 3, 3},
		{"the operator's one stands", "1", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			procs := tc.current
			set := func(n int) int {
				prev := procs
				if n > 0 {
					procs = n
				}
				return prev
			}
			if got := setProcs(tc.env, set); got != tc.want || procs != tc.want {
				t.Fatalf("setProcs(%q) with %d = %d, runtime left at %d; want %d", tc.env, tc.current, got, procs, tc.want)
			}
		})
	}
}

func TestSetGCPercent(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    int
		wantSet bool
	}{
		{"", ServeGCPercent, true},
		{"150", 150, false},
		{"off", -1, false},
		{"nonsense", 100, false},
	} {
		t.Run(tc.env, func(t *testing.T) {
			set := -2
			got := setGCPercent(tc.env, func(n int) int { set = n; return 100 })
			if got != tc.want {
				t.Errorf("setGCPercent(%q) = %d, want %d", tc.env, got, tc.want)
			}
			if tc.wantSet && set != tc.want {
				t.Errorf("setGCPercent(%q) set %d, want %d", tc.env, set, tc.want)
			}
			if !tc.wantSet && set != -2 {
				t.Errorf("setGCPercent(%q) set %d over the operator's number", tc.env, set)
			}
		})
	}
}
