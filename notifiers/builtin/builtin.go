// Package builtin lists the notifiers this build knows. The composition
// root hands the list to rules and templates; a new notifier is its own
// package and one line here.
package builtin

import (
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/jira"
	"github.com/wabridge/wabridge/notifiers/log"
	"github.com/wabridge/wabridge/notifiers/slack"
)

// Specs returns every notifier's Spec, in the order messages list them.
func Specs() []notifiers.Spec {
	return []notifiers.Spec{slack.Spec(), jira.Spec(), log.Spec()}
}
