package jira

import (
	"encoding/json"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

// Settings are a jira action's settings.
type Settings struct {
	// Project is where the ticket is opened; "" is the config's project.
	Project string `json:"project,omitempty"`
	// IssueType is the ticket's type; "" is the config's issue_type.
	IssueType  string   `json:"issue_type,omitempty"`
	Priority   string   `json:"priority,omitempty"`
	Labels     []string `json:"labels,omitempty"` // templates
	Components []string `json:"components,omitempty"`
	// Fields are any Jira fields by ID; string values are templates.
	Fields map[string]any `json:"fields,omitempty"`
	// Demand (on_demand): no ticket is created by itself; a person asks for it from
	// the incident (the Open Jira ticket button, wabridge incidents
	// ticket), and it follows the incident from then on.
	Demand bool `json:"on_demand,omitempty"`
}

// Target is the action's project.
func (s *Settings) Target() string { return s.Project }

// OnDemand reports whether the ticket is created only when asked for.
func (s *Settings) OnDemand() bool { return s.Demand }

// settingsOf reads an action's settings back.
func settingsOf(a notification.Action) (Settings, error) {
	var s Settings
	err := notifiers.DecodeSettings(name, a, &s)
	return s, err
}

// Spec describes jira actions to rules and templates. Its roles are every
// template the notifier reads.
func Spec() notifiers.Spec {
	return notifiers.Spec{
		Name:  name,
		Title: "Jira",
		Keys:  []string{"project", "issue_type", "priority", "labels", "components", "fields", "on_demand"},
		Defaults: []notifiers.Default{
			{Key: "jira_project", Setting: "project"},
			{Key: "jira_issue_type", Setting: "issue_type"},
		},
		Example: `{project: OPS}`,
		Parse:   parseSettings,
		Target:  "project",
		Roles: []notifiers.Role{
			{Name: templateSummary, Default: "jira.summary"},
			{Name: templateDesc, Default: "jira.description"},
			{Name: templateComment, Default: "jira.comment"},
			{Name: templateResolved, Default: "jira.resolved"},
		},
		Summary: templateSummary,
		Body: map[notification.Op][]string{
			"":                      {templateDesc},
			notification.OpRepeat:   {templateComment},
			notification.OpEscalate: {templateComment},
			notification.OpResolve:  {templateResolved},
		},
		// A ticket learns counts from repeat comments only: an edit per
		// event would flood its history and its watchers.
		Updates:          false,
		Links:            true,
		EscalatePriority: true,
		LinkName: func(u string) string {
			name := "Jira ticket"
			if i := strings.LastIndex(u, "/browse/"); i >= 0 {
				name += " " + u[i+len("/browse/"):]
			}
			return name
		},
	}
}

func parseSettings(r notifiers.Reader, f map[string]*yaml.Node) notifiers.Settings {
	s := &Settings{}
	if v := f["project"]; v != nil {
		s.Project, _ = r.NonEmpty(v, r.Name("project"))
	}
	if v := f["issue_type"]; v != nil {
		s.IssueType, _ = r.NonEmpty(v, r.Name("issue_type"))
	}
	if v := f["priority"]; v != nil {
		s.Priority, _ = r.NonEmpty(v, r.Name("priority"))
	}
	if v := f["labels"]; v != nil {
		for _, item := range r.List(v, "jira labels") {
			l, ok := r.NonEmpty(item, "jira label")
			if !ok {
				continue
			}
			if strings.ContainsAny(l, " \t") {
				r.Errorf(item, "jira label %q contains a space, which Jira labels cannot", l)
				continue
			}
			s.Labels = append(s.Labels, l)
		}
	}
	if v := f["components"]; v != nil {
		s.Components = r.Strings(v, "jira components")
	}
	if v := f["fields"]; v != nil {
		s.Fields = parseFields(r, v)
	}
	if v := f["on_demand"]; v != nil {
		if err := v.Decode(&s.Demand); err != nil || v.Kind != yaml.ScalarNode {
			r.Errorf(v, "%s must be true or false, not %s", r.Name("on_demand"), r.Describe(v))
		}
	}
	return s
}

func parseFields(r notifiers.Reader, n *yaml.Node) map[string]any {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		r.Errorf(n, "jira fields must be a mapping of field ID to value, not %s", r.Describe(n))
		return nil
	}
	out := map[string]any{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if strings.TrimSpace(k.Value) == "" {
			r.Errorf(k, "jira fields: field ID is empty")
			continue
		}
		if _, dup := out[k.Value]; dup {
			r.Errorf(k, "jira fields: %q appears twice", k.Value)
			continue
		}
		var val any
		if err := v.Decode(&val); err != nil {
			r.Errorf(v, "jira fields: %s: %v", k.Value, err)
			continue
		}
		// The action is stored as JSON: a value JSON cannot hold fails
		// here, at load, not when the first event is queued.
		if _, err := json.Marshal(val); err != nil {
			r.Errorf(v, "jira fields: %s: %v", k.Value, err)
			continue
		}
		out[k.Value] = val
	}
	return out
}
