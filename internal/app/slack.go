package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/server"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers/slack"
)

// slackActions does what the incident buttons of Slack messages ask, with
// the operator functions the CLI and the admin API use.
type slackActions struct{ p *pipeline.Pipeline }

var _ server.SlackActions = slackActions{}

func (s slackActions) SlackAction(_ context.Context, a server.SlackAction) (string, error) {
	who := "@" + a.UserName
	if a.UserName == "" {
		who = "<@" + a.UserID + ">"
	}
	author := who + " (" + a.UserID + ")"
	switch a.ActionID {
	case slack.ActionAck:
		_, _, err := s.p.AcknowledgeIncident(a.Value, incident.Ack{By: author, Via: "slack"})
		if msg, ok := clickRefused(a.Value, err); ok {
			return msg, nil
		}
		return "", err
	case slack.ActionResolve:
		_, _, err := s.p.ResolveIncidentBy(a.Value, "Resolved from Slack by "+who+".", "resolved from Slack by "+author)
		if msg, ok := clickRefused(a.Value, err); ok {
			return msg, nil
		}
		return "", err
	case slack.ActionSilence1h, slack.ActionSilence24h:
		d, label := time.Hour, "1h"
		if a.ActionID == slack.ActionSilence24h {
			d, label = 24*time.Hour, "24h"
		}
		sil, err := s.p.IncidentSilence(a.Value, d, "from Slack by "+who, author)
		if msg, ok := clickRefused(a.Value, err); ok {
			return msg, nil
		}
		if err != nil {
			return "", err
		}
		if sil, err = s.p.AddSilence(sil); err != nil {
			return "", err
		}
		note := fmt.Sprintf("Silenced for %s by %s from Slack, until %s (silence %s).", label, who,
			sil.EndsAt.UTC().Format(time.RFC3339), sil.ID)
		if _, _, err := s.p.NoteIncident(a.Value, note); err != nil && !errors.Is(err, pipeline.ErrAlreadyResolved) {
			// The silence holds; only the message and thread miss it.
			return "", fmt.Errorf("silence %s added, but the Slack message could not be told: %w", sil.ID, err)
		}
		return "", nil
	}
	return fmt.Sprintf("Unknown button %q: nothing was changed.", a.ActionID), nil
}

// clickRefused is the answer to a click that changes nothing: on an
// incident that is over, unknown, pending, or acknowledged by someone
// else. The person is told why; the message stays as it is.
func clickRefused(fp string, err error) (string, bool) {
	switch {
	case errors.Is(err, pipeline.ErrAlreadyResolved):
		return "Nothing was changed: " + err.Error() + ".", true
	case errors.Is(err, store.ErrNotFound):
		return fmt.Sprintf("Nothing was changed: no incident %s is kept (it may have been resolved and swept).", fp), true
	case errors.Is(err, incident.ErrAcknowledged), errors.Is(err, incident.ErrNotOpen):
		return "Nothing was changed: " + err.Error() + ".", true
	}
	return "", false
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
		Actions: slackActions{p: s.pipeline}}
}
