package notifiers

import (
	"encoding/json"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/notification"
)

// Spec is what the rest of wabridge knows about a notifier without sending
// with it: how a rules file writes its actions, which templates it renders,
// and which of an incident's operations it is told. Each notifier package
// declares its own; the composition root hands the list to rules and
// templates, so a new notifier touches its own package and that list.
type Spec struct {
	// Name is the notifier's key in a rules file's actions and in the
	// config's notifiers block: "slack".
	Name string
	// Title names it for people: "Slack".
	Title string
	// Keys are the settings an action takes besides templates, in the
	// order messages list them.
	Keys []string
	// Defaults are the keys of a rules file's defaults block that fill a
	// setting an action leaves out.
	Defaults []Default
	// Example is an action's settings as written, for messages:
	// {channel: "#ops"}. Empty for a notifier that takes no settings.
	Example string
	// Parse reads an action's settings, keyed as written (defaults
	// already filled in), into the notifier's typed value, reporting each
	// problem through r at its line. nil for a notifier without settings.
	Parse func(r Reader, settings map[string]*yaml.Node) Settings
	// Target describes an action's target for people: "channel",
	// "project". Empty when its actions have none.
	Target string

	// Roles are the templates an action may replace by role, each with
	// the default it replaces.
	Roles []Role
	// Summary is the role whose output is the one-line summary (Slack's
	// title, Jira's summary).
	Summary string
	// Body lists, by op, the roles whose outputs joined by a blank line
	// make the body; the "" entry is for every op not listed.
	Body map[notification.Op][]string

	// Updates says the notifier is told each event that joins an open
	// incident (OpUpdate), not only the repeat summaries.
	Updates bool
	// Notes says it is told what a person did to an open incident: a
	// silence (OpNote), an acknowledgement (OpAck).
	Notes bool
	// Links says it shows where the incident's other messages and tickets
	// are (OpLink), and that what it makes is shown on theirs.
	Links bool
	// LinkName names, for people, a link to what it made: "Jira ticket
	// WAOPS-7". nil: the title.
	LinkName func(url string) string
	// EscalatePriority says a rule's escalate.priority applies to its
	// actions (the ticket's priority is raised).
	EscalatePriority bool
}

// Role is a template role: what an action's templates map replaces, and
// the template used when it does not.
type Role struct {
	Name    string
	Default string
}

// Default is a key of a rules file's defaults block that fills an action's
// setting: slack_channel fills a slack action's channel.
type Default struct {
	Key     string
	Setting string
}

// Settings are an action's settings as the notifier's typed value. They
// are stored with the action as JSON and read back by the notifier.
type Settings interface {
	// Target is where the action sends (a channel, a project), computed
	// once when rules load; "" leaves it to the notifier's configuration.
	Target() string
}

// OnDemander is Settings that may say the action is sent only when a
// person asks for it for an incident (a jira action with on_demand: true,
// asked for with the Open Jira ticket button).
type OnDemander interface {
	OnDemand() bool
}

// Reader is how a Spec's Parse reads YAML values and reports problems at
// the line a person edits. The rules loader implements it.
type Reader interface {
	// Name names a setting in messages: "slack channel", or
	// "defaults.slack_channel" when the value is the file's default.
	Name(setting string) string
	Errorf(n *yaml.Node, format string, a ...any)
	// Describe says what a node is, for messages: "a list", "\"x\"".
	Describe(n *yaml.Node) string
	// String reads a single value; "" for a null.
	String(n *yaml.Node, what string) (string, bool)
	// NonEmpty reads a single value that must not be empty.
	NonEmpty(n *yaml.Node, what string) (string, bool)
	// List reads a list; a single value is a list of one.
	List(n *yaml.Node, what string) []*yaml.Node
	// Strings reads a list of non-empty values.
	Strings(n *yaml.Node, what string) []string
}

// Role returns the template name an action uses for a role: its own
// choice, else the role's default; "" for a role the spec does not
// declare.
func (s Spec) Role(a notification.Action, role string) string {
	i := slices.IndexFunc(s.Roles, func(r Role) bool { return r.Name == role })
	if i < 0 {
		return ""
	}
	if name := a.Templates[role]; name != "" {
		return name
	}
	return s.Roles[i].Default
}

// RoleNames lists the roles' names in order.
func (s Spec) RoleNames() []string {
	out := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		out[i] = r.Name
	}
	return out
}

// Templates returns the templates a notification of op renders: one for
// the summary and those that make the body.
func (s Spec) Templates(op notification.Op, a notification.Action) (summary string, body []string) {
	roles, ok := s.Body[op]
	if !ok {
		roles = s.Body[""]
	}
	body = make([]string, len(roles))
	for i, r := range roles {
		body[i] = s.Role(a, r)
	}
	return s.Role(a, s.Summary), body
}

// Describe says an action's target for people: "channel #ops"; the
// target alone when the spec does not say what it is.
func (s Spec) Describe(target string) string {
	if s.Target == "" || target == "" {
		return target
	}
	return s.Target + " " + target
}

// Link names a link to what the notifier made.
func (s Spec) Link(url string) string {
	if s.LinkName != nil {
		return s.LinkName(url)
	}
	return s.Title
}

// DecodeSettings reads an action's stored settings into v, the notifier's
// typed value; no settings leave v as it is.
func DecodeSettings(notifier string, a notification.Action, v Settings) error {
	if len(a.Settings) == 0 {
		return nil
	}
	if err := json.Unmarshal(a.Settings, v); err != nil {
		return fmt.Errorf("%s: read action settings: %w", notifier, err)
	}
	return nil
}
