package log

import (
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

// Spec describes log actions to rules and templates. A log action takes no
// settings: the line goes where the config says.
func Spec() notifiers.Spec {
	return notifiers.Spec{
		Name:  Name,
		Title: "the log",
		Roles: []notifiers.Role{
			{Name: "summary", Default: "log.summary"},
			{Name: "body", Default: "log.body"},
		},
		Summary: "summary",
		Body:    map[notification.Op][]string{"": {"body"}},
		Updates: true,
	}
}
