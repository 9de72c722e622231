package templates

import (
	"strings"

	"github.com/wabridge/wabridge/internal/notification"
)

// NamesFor returns the templates a notifier renders for an operation, as
// its spec says: one for the summary (Slack title, Jira summary) and those
// whose outputs, joined by a blank line, make the body. The action may
// replace any of them by role. A notifier the set has no spec of (one this
// version does not know) uses log.*.
func (t *Templates) NamesFor(notifier string, op notification.Op, a notification.Action) (summary string, body []string) {
	for _, sp := range t.specs {
		if sp.Name == notifier {
			return sp.Templates(op, a)
		}
	}
	return "log.summary", []string{"log.body"}
}

// Render renders a notification's summary and body as the named notifier
// would, trimmed of the blank lines templates leave behind.
func (t *Templates) Render(notifier string, n *notification.Notification) (summary, body string, err error) {
	sumName, bodyNames := t.NamesFor(notifier, n.Op, n.Action)
	d := t.DataFor(n)
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
