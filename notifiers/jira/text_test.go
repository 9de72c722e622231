package jira

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	cases := []struct {
		name, in string
		max      int
		marker   string
		want     string
	}{
		{"short stays", "abc", 5, "…", "abc"},
		{"exact stays", "abcde", 5, "…", "abcde"},
		{"cut with marker", "abcdef", 5, "…", "abcd…"},
		{"emoji counts twice", "ab🚨cd", 4, "…", "ab…"},
		{"emoji fits exactly before the marker", "a🚨🚨", 4, "…", "a🚨…"},
		{"no split inside emoji", "a🚨🚨", 3, "…", "a…"},
		{"marker longer than max", "abcdef", 2, "[cut]", "ab"},
		{"zero max", "abc", 0, "…", ""},
		{"invalid utf-8 does not panic", "ab\xffcdef", 4, "…", "ab\xff…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := truncate(tc.in, tc.max, tc.marker)
			if got != tc.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if utf16Len(got) > tc.max {
				t.Errorf("result is %d units, over %d", utf16Len(got), tc.max)
			}
			if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
				t.Errorf("result %q splits a rune", got)
			}
		})
	}
}

func TestSanitizeLabels(t *testing.T) {
	got := sanitizeLabels([]string{"whatsapp ops", " meta ", "meta", "", "\t", "a\tb\nc", "whatsapp_ops", strings.Repeat("x", 300)})
	want := []string{"whatsapp_ops", "meta", "a_b_c", strings.Repeat("x", maxLabel)}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sanitizeLabels = %q, want %q", got, want)
	}
	if l := fingerprintLabel("fp with space"); l != "wabridge-fp_with_space" {
		t.Errorf("fingerprintLabel = %q", l)
	}
}

func TestJQLEscape(t *testing.T) {
	if got := jqlEscape(`a"b\c`); got != `a\"b\\c` {
		t.Errorf("jqlEscape = %q", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tc := range cases {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
