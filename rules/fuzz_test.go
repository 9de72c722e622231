package rules

import (
	"os"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/problem"
	"github.com/wabridge/wabridge/notifiers/builtin"
)

// FuzzParse: no rules file, however broken, may panic the loader, and every
// problem must point into the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(matchRules))
	f.Add([]byte(benchRules(5)))
	if b, err := os.ReadFile("../rules.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("rules:\n  - &a {name: x, actions: [*a]}\n"))
	f.Add([]byte("rules: [{name: x, match: {attributes: {*a: 1}}, actions: []}]"))
	f.Add([]byte("inhibit: [{source_match: {codes: [1]}, target_match: {kinds: [status]}, equal: []}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, warns, err := Parse("f.yaml", data, Options{Specs: builtin.Specs()})
		// YAML also breaks lines at a lone \r, NEL and the Unicode separators.
		lines := 1
		for _, sep := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
			lines += strings.Count(string(data), sep)
		}
		check := func(ps problem.List) {
			for _, p := range ps {
				if p.File != "f.yaml" || p.Line < 0 || p.Line > lines+1 || p.Message == "" {
					t.Errorf("problem %q out of the file (%d lines)", p, lines)
				}
			}
		}
		check(warns)
		if err != nil {
			check(err.(problem.List))
			return
		}
		for _, r := range s.Rules() {
			e := r.SampleEvent()
			s.Match(&e)
			_ = Fingerprint(r, &e)
			r.Active(e.Timestamp)
		}
		s.Match(&event.Event{Kind: "STATUS", Severity: "Critical", Code: 131031})
	})
}
