package slack

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

// Settings are a slack action's settings.
type Settings struct {
	// Channel is where the message goes; "" is the config's channel.
	Channel string `json:"channel,omitempty"`
}

// Target is the action's channel.
func (s *Settings) Target() string { return s.Channel }

// settingsOf reads an action's settings back.
func settingsOf(a notification.Action) (Settings, error) {
	var s Settings
	err := notifiers.DecodeSettings(Name, a, &s)
	return s, err
}

// Spec describes slack actions to rules and templates. Its roles are every
// template render reads.
func Spec() notifiers.Spec {
	return notifiers.Spec{
		Name:     Name,
		Title:    "Slack",
		Keys:     []string{"channel"},
		Defaults: []notifiers.Default{{Key: "slack_channel", Setting: "channel"}},
		Example:  `{channel: "#ops"}`,
		Parse:    parseSettings,
		Target:   "channel",
		Roles: []notifiers.Role{
			{Name: "title", Default: "slack.title"},
			{Name: "text", Default: "slack.text"},
			{Name: "actions", Default: "slack.actions"},
			{Name: "repeat", Default: "slack.repeat"},
			{Name: "resolved", Default: "slack.resolved"},
		},
		Summary: "title",
		Body: map[notification.Op][]string{
			"":                          {"text", "actions"},
			notification.OpRepeat:       {"repeat"},
			notification.OpEscalate:     {"repeat"},
			notification.OpResolve:      {"resolved"},
			notification.OpOpenResolved: {"resolved"},
		},
		Updates: true,
		Notes:   true,
		Links:   true,
		LinkName: func(string) string {
			return "Slack message"
		},
	}
}

func parseSettings(r notifiers.Reader, f map[string]*yaml.Node) notifiers.Settings {
	s := &Settings{}
	if v := f["channel"]; v != nil {
		s.Channel, _ = channel(r, v, r.Name("channel"))
	}
	return s
}

// channel reads a Slack channel. An unquoted "#ops" is a YAML comment and
// leaves the value empty, the most common mistake in rules files.
func channel(r notifiers.Reader, n *yaml.Node, what string) (string, bool) {
	s, ok := r.String(n, what)
	if ok && strings.TrimSpace(s) == "" {
		r.Errorf(n, `%s is empty; quote channel names ("#ops"): an unquoted # starts a YAML comment`, what)
		return "", false
	}
	return s, ok
}
