package templates

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

// TestHostileTemplatesFailAtLoad: templates that would spin a core, grow
// memory without end or recurse without end are load errors, found within
// the execution budget, and say which limit they hit.
func TestHostileTemplatesFailAtLoad(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"range over a huge int", `{{ define "slack.text" }}{{ range 1000000000000 }}{{ end }}{{ end }}`, "more than 100000 loop iterations"},
		{"nested ranges", `{{ define "slack.text" }}{{ range 1000 }}{{ range 1000 }}{{ end }}{{ end }}{{ end }}`, "more than 100000 loop iterations"},
		{"printf doubling", `{{ define "slack.text" }}{{ $s := "doubling" }}{{ range 64 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ len $s }}{{ end }}`, "printf would be"},
		{"print doubling", `{{ define "slack.text" }}{{ $s := "doubling" }}{{ range 64 }}{{ $s = print $s $s }}{{ end }}{{ end }}`, "print would be"},
		{"replace blow-up", `{{ define "slack.text" }}{{ $s := "abcdefgh" }}{{ range 64 }}{{ $s = replace "" $s $s }}{{ end }}{{ end }}`, "replace would be"},
		{"escape loop", `{{ define "slack.text" }}{{ $s := "\\\\" }}{{ range 64 }}{{ $s = jiraEscape $s }}{{ end }}{{ end }}`, "template limit"},
		{"huge printf width", `{{ define "slack.text" }}{{ printf "%9000000d" 1 }}{{ end }}`, "printf would be"},
		{"repeated argument index", `{{ define "slack.text" }}{{ $s := "12345678" }}{{ range 30 }}{{ $s = printf "%[1]s%[1]s%[1]s" $s }}{{ end }}{{ end }}`, "printf would be"},
		{"width from an argument", `{{ define "slack.text" }}{{ printf "%*d" 900000000 1 }}{{ end }}`, "widths from arguments"},
		{"branching recursion", `{{ define "slack.text" }}{{ template "a" 0 }}{{ end }}{{ define "a" }}{{ template "a" . }}{{ template "a" . }}{{ end }}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"hostile.tmpl": tt.body})
			start := time.Now()
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load accepted the template")
			}
			// On a loaded machine the clock may stop it before the
			// limit the case is about; either way it is bounded.
			if !strings.Contains(err.Error(), filepath.Join(dir, "hostile.tmpl")) ||
				!strings.Contains(err.Error(), tt.want) && !strings.Contains(err.Error(), "template limit: ran longer than") {
				t.Errorf("error = %v\nwant the file and %q", err, tt.want)
			}
			// Generous: the bound is ExecTimeout per execution, and the
			// first failing sample stops the check.
			if d := time.Since(start); d > 10*ExecTimeout {
				t.Errorf("Load took %v", d)
			}
		})
	}
}

// TestExecutionStopsAtItsDeadline: a template that stays within the
// iteration limit but does heavy work in each iteration is stopped by the
// clock.
func TestExecutionStopsAtItsDeadline(t *testing.T) {
	dir := writeFiles(t, map[string]string{"slow.tmpl": `{{ define "slow" }}{{ $s := "x" }}{{ range 20 }}{{ $s = print $s $s }}{{ end }}{{ range 90000 }}{{ $t := printf "%s%s" $s $s }}{{ end }}{{ end }}`})
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "ran longer than") {
		t.Fatalf("Load = %v, want the time limit", err)
	}
}

// TestOutputIsCapped: what a template writes past MaxOutputBytes is
// dropped and the text says it was cut.
func TestOutputIsCapped(t *testing.T) {
	tm, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", MaxOutputBytes+10)
	out, err := tm.ExecuteText(`{{ .Event.Message }}{{ .Event.Message }}`, Data{Event: event.Event{Message: big}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > MaxOutputBytes || !strings.HasSuffix(out, TruncationMarker) {
		t.Errorf("output %d bytes, suffix %q", len(out), out[len(out)-20:])
	}
	// A normal execution afterwards, on a pooled executor, is unaffected.
	out, err = tm.ExecuteText(`{{ range 3 }}a{{ end }}`, Data{})
	if err != nil || out != "aaa" {
		t.Errorf("after a capped render: %q, %v", out, err)
	}
}

// TestOverrideFileMustBeRegular: a template file that is a symlink to
// /dev/zero or a FIFO is refused at once, naming the file, instead of
// reading forever or waiting for a writer.
func TestOverrideFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.tmpl")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.tmpl"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Load(dir); done <- err }()
	select {
	case err := <-done:
		for _, want := range []string{"zero.tmpl", "a character device", "fifo.tmpl", "a FIFO"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load = %v, want it to mention %q", err, want)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Load hangs on a FIFO")
	}
}

func TestRangeLimitKeepsNormalRanges(t *testing.T) {
	tm, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	d := Data{Event: event.Event{Attributes: map[string]string{"a": "1", "b": "2"}}}
	out, err := tm.ExecuteText(`{{ range $k, $v := .Event.Attributes }}{{ $k }}={{ $v }};{{ else }}none{{ end }}|{{ range $i, $x := .Catalog.Actions }}{{ $i }}{{ end }}|{{ range $i := 3 }}{{ $i }}{{ end }}`, d)
	if err != nil || out != "a=1;b=2;||012" {
		t.Errorf("got %q, %v", out, err)
	}
}
