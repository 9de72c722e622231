package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/server"
	"github.com/wabridge/wabridge/notifiers/slack"
)

// slackActions does what the incident buttons of Slack messages ask,
// through the operator service the CLI, the admin API and the console use.
type slackActions struct{ svc admin.Service }

var _ server.SlackActions = slackActions{}

func (s slackActions) SlackAction(ctx context.Context, a server.SlackAction) (string, error) {
	name := "@" + a.UserName
	if a.UserName == "" {
		name = "<@" + a.UserID + ">"
	}
	by := admin.Actor{Name: name + " (" + a.UserID + ")", Via: "Slack"}
	var err error
	switch a.ActionID {
	case slack.ActionAck:
		_, err = s.svc.AcknowledgeIncident(ctx, a.Value, by)
	case slack.ActionResolve:
		_, err = s.svc.ResolveIncident(ctx, a.Value, by)
	case slack.ActionSilence1h:
		_, err = s.svc.SilenceIncident(ctx, a.Value, time.Hour, by)
	case slack.ActionSilence24h:
		_, err = s.svc.SilenceIncident(ctx, a.Value, 24*time.Hour, by)
	case slack.ActionOpenJira:
		_, err = s.svc.OpenTicket(ctx, a.Value, by)
	default:
		return fmt.Sprintf("Unknown button %q: nothing was changed.", a.ActionID), nil
	}
	// A click that changes nothing (the incident resolved meanwhile or
	// swept, acknowledged by someone else, pending) is told to the person;
	// the message stays as it is.
	if errors.Is(err, admin.ErrNotFound) || errors.Is(err, admin.ErrConflict) || errors.Is(err, admin.ErrInvalid) {
		return "Nothing was changed: " + err.Error() + ".", nil
	}
	return "", err
}

// slackInteractions serves the buttons of Slack messages, when they are
// shown (notifiers.slack token and signing_secret).
func (s *Service) slackInteractions() *server.SlackInteractions {
	sc := s.cfg.Notifiers.Slack
	if !sc.Buttons() {
		return nil
	}
	in, err := slack.NewInteractivity(sc, s.logger, s.pipeline.Now)
	if err != nil {
		// Validate checked the same config: not reached.
		s.logger.Error("slack buttons are off", "error", err)
		return nil
	}
	return &server.SlackInteractions{SigningSecret: sc.SigningSecret, Allowed: in.Allowed, Respond: in.Respond,
		Actions: slackActions{svc: s.operator(true)}, Observe: s.metrics.observeSlackClick}
}
