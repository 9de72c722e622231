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
			if setProcs(tc.env, set); procs != tc.want {
				t.Fatalf("setProcs(%q) with %d left the runtime at %d; want %d", tc.env, tc.current, procs, tc.want)
			}
		})
	}
}

func TestSetGCPercent(t *testing.T) {
	for _, tc := range []struct {
		env     string
		wantSet bool
	}{
		{"", true},
		{"150", false},
		{"off", false},
		{"nonsense", false},
	} {
		t.Run(tc.env, func(t *testing.T) {
			set := -2
			setGCPercent(tc.env, func(n int) int { set = n; return 100 })
			if tc.wantSet && set != ServeGCPercent {
				t.Errorf("setGCPercent(%q) set %d, want %d", tc.env, set, ServeGCPercent)
			}
			if !tc.wantSet && set != -2 {
				t.Errorf("setGCPercent(%q) set %d over the operator's number", tc.env, set)
			}
		})
	}
}
