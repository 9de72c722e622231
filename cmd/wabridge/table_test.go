package main

import (
	"os"
	"path/filepath"
	"strings"
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

func TestPrintable(t *testing.T) {
	tests := []struct {
		in, want, multi string
	}{
		{"plain text", "plain text", "plain text"},
		{"\x1b[2Jcleared", "[2Jcleared", "[2Jcleared"},
		{"bell\a and \u009b31m C1", "bell and 31m C1", "bell and 31m C1"},
		{"two\nlines\ttab", "two lines tab", "two\nlines\ttab"},
		{"rtl \u202Eevil\u202C done", "rtl evil done", "rtl evil done"},
		{"bad \xff utf8", "bad \uFFFD utf8", "bad \uFFFD utf8"},
		{"não é 🚀", "não é 🚀", "não é 🚀"},
	}
	for _, tt := range tests {
		if got := printable(tt.in, false); got != tt.want {
			t.Errorf("printable(%q, false) = %q, want %q", tt.in, got, tt.want)
		}
		if got := printable(tt.in, true); got != tt.multi {
			t.Errorf("printable(%q, true) = %q, want %q", tt.in, got, tt.multi)
		}
	}
}

// A silence comment is whatever someone typed (or sent to the admin API):
// `silence list` prints it without the terminal escapes in it.
func TestSilenceListStripsTerminalEscapes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	body := "storage: {dir: " + filepath.Join(dir, "data") + "}\nsources: [{name: meta, type: meta, app_secret: s}]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	comment := "\x1b[2J\x1b[Hall clear\x07\x1b]0;owned\x07"
	if code, _, errOut := cli(t, "silence", "add", "--config", cfg, "--match", "code=131048", "--for", "2h", "--comment", comment); code != 0 {
		t.Fatalf("silence add: exit %d %s", code, errOut)
	}
	code, out, errOut := cli(t, "silence", "list", "--config", cfg)
	if code != 0 {
		t.Fatalf("silence list: exit %d %s", code, errOut)
	}
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, "all clear") {
		t.Fatalf("silence list printed control characters or lost the text:\n%q", out)
	}
	// --json keeps the comment as it was stored (escaped by JSON).
	_, out, _ = cli(t, "silence", "list", "--json", "--config", cfg)
	if !strings.Contains(out, `\u001b[2J`) {
		t.Fatalf("silence list --json: %s", out)
	}
}
