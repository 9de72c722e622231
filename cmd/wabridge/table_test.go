package main

import (
	"testing"
	"unicode/utf8"
)

func TestOneLine(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"two\nlines  here", 40, "two lines here"},
		{"abcdefghij", 5, "abcd…"},
		{"não é possível entregar", 5, "não …"},
		{"ééééé", 3, "éé…"},
	}
	for _, tt := range tests {
		got := oneLine(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("oneLine(%q, %d) = %q is not valid UTF-8", tt.in, tt.max, got)
		}
	}
}
