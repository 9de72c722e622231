package templates

import (
	"strings"

	"github.com/wabridge/wabridge/internal/notification"
)

// NamesFor returns the templates a notifier renders for an operation: one
// for the summary (Slack title, Jira summary) and those whose outputs, joined
// by a blank line, make the body. The action may replace any of them by
// role. A notifier without templates of its own (the log, or one this
// version does not know) uses log.*.
func NamesFor(notifier string, op notification.Op, a notification.Action) (summary string, body []string) {
	switch notifier {
	case "slack":
		summary = Role(a, "title", "slack.title")
		switch op {
		case notification.OpRepeat, notification.OpEscalate:
			return summary, []string{Role(a, "repeat", "slack.repeat")}
		case notification.OpResolve, notification.OpOpenResolved:
			return summary, []string{Role(a, "resolved", "slack.resolved")}
		}
		return summary, []string{Role(a, "text", "slack.text"), Role(a, "actions", "slack.actions")}
	case "jira":
		summary = Role(a, "summary", "jira.summary")
		switch op {
		case notification.OpRepeat, notification.OpEscalate:
			return summary, []string{Role(a, "comment", "jira.comment")}
		case notification.OpResolve:
			return summary, []string{Role(a, "resolved", "jira.resolved")}
		}
		return summary, []string{Role(a, "description", "jira.description")}
	}
	return Role(a, "summary", "log.summary"), []string{Role(a, "body", "log.body")}
}

// Render renders a notification's summary and body as the named notifier
// would, trimmed of the blank lines templates leave behind.
func (t *Templates) Render(notifier string, n *notification.Notification) (summary, body string, err error) {
	sumName, bodyNames := NamesFor(notifier, n.Op, n.Action)
	d := DataFor(n)
	summary, err = t.Execute(sumName, d)
	if err != nil {
		return "", "", err
	}
	parts := make([]string, 0, len(bodyNames)+1)
	if n.Incident != nil && strings.TrimSpace(n.Incident.Note) != "" {
		parts = append(parts, strings.TrimSpace(n.Incident.Note))
	}
	for _, name := range bodyNames {
		s, err := t.Execute(name, d)
		if err != nil {
			return "", "", err
		}
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return oneLine(summary), strings.Join(parts, "\n\n"), nil
}

// oneLine folds a summary onto one line: Slack headers and Jira summaries
// reject or mangle newlines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
