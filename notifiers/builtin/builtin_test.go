package builtin

import (
	"slices"
	"testing"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/templates"
)

// TestSpecsRenderWithDefaultTemplates: every role a notifier renders has
// a default template, and what its spec lays out for each op names only
// its roles.
func TestSpecsRenderWithDefaultTemplates(t *testing.T) {
	tm, err := templates.Load("", templates.WithSpecs(Specs()...))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, sp := range Specs() {
		if sp.Name == "" || sp.Title == "" || names[sp.Name] {
			t.Errorf("spec %+v: want a unique name and a title", sp)
		}
		names[sp.Name] = true
		if len(sp.Roles) == 0 {
			t.Errorf("%s renders no template", sp.Name)
		}
		for _, r := range sp.Roles {
			if !tm.Has(r.Default) {
				t.Errorf("%s role %s: default template %q is not defined", sp.Name, r.Name, r.Default)
			}
		}
		roles := sp.RoleNames()
		if !slices.Contains(roles, sp.Summary) {
			t.Errorf("%s: summary role %q is not among its roles %v", sp.Name, sp.Summary, roles)
		}
		for op, body := range sp.Body {
			for _, r := range body {
				if !slices.Contains(roles, r) {
					t.Errorf("%s op %q: body role %q is not among its roles %v", sp.Name, op, r, roles)
				}
			}
		}
		if _, ok := sp.Body[""]; !ok {
			t.Errorf("%s: no body for ops it does not list", sp.Name)
		}
		for _, d := range sp.Defaults {
			if !slices.Contains(sp.Keys, d.Setting) {
				t.Errorf("%s: default %s fills %q, which is not a setting (%v)", sp.Name, d.Key, d.Setting, sp.Keys)
			}
		}
		for _, op := range []notification.Op{notification.OpOpen, notification.OpRepeat, notification.OpResolve} {
			n := &notification.Notification{Op: op, Action: notification.Action{Notifier: sp.Name}}
			if _, _, err := tm.Render(sp.Name, n); err != nil {
				t.Errorf("%s %s: %v", sp.Name, op, err)
			}
		}
	}
}
