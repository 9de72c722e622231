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
