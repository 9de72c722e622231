package rules

import (
	"strings"
	"testing"

	"github.com/wabridge/wabridge/notifiers/builtin"
)

// TestOnDemandAction: a jira action's on_demand: true marks the action,
// a value that is not a boolean is refused at its line, and a notifier
// that has no such setting refuses the key.
func TestOnDemandAction(t *testing.T) {
	set, _, err := Parse("r.yaml", []byte(`
rules:
  - name: r
    match: {codes: [131048]}
    actions:
      - slack: {channel: "#ops"}
      - jira: {project: OPS, on_demand: true}
      - jira: {project: SEC}
`), Options{Specs: builtin.Specs()})
	if err != nil {
		t.Fatal(err)
	}
	a := set.Rule("r").Actions
	if a[0].OnDemand || !a[1].OnDemand || a[2].OnDemand {
		t.Errorf("on_demand = %v %v %v, want only the first jira action", a[0].OnDemand, a[1].OnDemand, a[2].OnDemand)
	}
	for _, tt := range []struct{ action, want string }{
		{`jira: {project: OPS, on_demand: maybe}`, `r.yaml:6: rule "r": jira on_demand must be true or false`},
		{`jira: {project: OPS, on_demand: [true]}`, `r.yaml:6: rule "r": jira on_demand must be true or false`},
		{`slack: {channel: "#ops", on_demand: true}`, `on_demand`},
	} {
		_, _, err := Parse("r.yaml", []byte(`
rules:
  - name: r
    match: {codes: [131048]}
    actions:
      - `+tt.action+`
`), Options{Specs: builtin.Specs()})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.action, err, tt.want)
		}
	}
}
