package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/silence"
	"github.com/wabridge/wabridge/internal/store"
)

// Acknowledged is what acknowledging an incident answers. Notifications
// is 0 when the same person had acknowledged it already.
type Acknowledged struct {
	Status        string    `json:"status"`
	Fingerprint   string    `json:"fingerprint"`
	Rule          string    `json:"rule"`
	By            string    `json:"by"`
	At            time.Time `json:"at"`
	Notifications int       `json:"notifications"`
}

// TicketRequested is what asking for an incident's on-demand actions (its
// Jira ticket) answers.
type TicketRequested struct {
	Status        string `json:"status"`
	Fingerprint   string `json:"fingerprint"`
	Rule          string `json:"rule"`
	Notifications int    `json:"notifications"`
}

// IncidentSilence asks for a silence of one incident's group.
type IncidentSilence struct {
	// For is how long it lasts, in the duration grammar ("1h", "24h").
	For string `json:"for"`
	Actor
}

// from says where an action was done, for messages: " from Slack",
// " from the web console", "" at the CLI.
func (a Actor) from() string {
	switch a.Via {
	case "":
		return ""
	case "Slack", "slack":
		return " from Slack"
	}
	return " from the " + a.Via
}

// incidentErr maps the pipeline's refusals of an incident action to the
// operator's error kinds.
func incidentErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return NotFound(err)
	case errors.Is(err, pipeline.ErrAlreadyResolved), errors.Is(err, incident.ErrAcknowledged), errors.Is(err, incident.ErrNotOpen),
		errors.Is(err, incident.ErrAlreadyRequested), errors.Is(err, pipeline.ErrNothingOnDemand), errors.Is(err, pipeline.ErrRuleGone):
		return Conflict(err)
	case errors.Is(err, incident.ErrNoActor):
		return Invalid(err)
	case errors.Is(err, pipeline.ErrCommandExpired):
		return kind{err, ErrUnavailable}
	}
	return err
}

// AcknowledgeIncident records that by took an open incident on.
func (l *Local) AcknowledgeIncident(ctx context.Context, fp string, by Actor) (Acknowledged, error) {
	if strings.TrimSpace(by.Name) == "" {
		return Acknowledged{}, Invalid(errors.New("acknowledge: say who acknowledges (the name field; the CLI uses --by or the OS user)"))
	}
	inc, n, err := l.P.AcknowledgeIncident(fp, incident.Ack{By: by.Name, Via: by.Via})
	if err = incidentErr(err); err != nil {
		return Acknowledged{}, err
	}
	return Acknowledged{Status: "acknowledged", Fingerprint: inc.Fingerprint, Rule: inc.Rule,
		By: inc.Ack.By, At: inc.Ack.At, Notifications: n}, nil
}

// SilenceIncident silences one open incident's group for d: one matcher
// per group_by field of its rule, valued as its event, so it holds back
// this incident and nothing else the rule matches. The incident's Slack
// message shows it and its thread records who, until when and the id.
func (l *Local) SilenceIncident(ctx context.Context, fp string, d time.Duration, by Actor) (silence.Silence, error) {
	if strings.TrimSpace(by.Name) == "" {
		return silence.Silence{}, Invalid(errors.New("silence: say who silences (the name field)"))
	}
	if d <= 0 {
		return silence.Silence{}, Invalid(fmt.Errorf("silence: a duration above zero is needed, not %s", d))
	}
	comment := "incident " + strings.TrimSpace(fp) + by.from() + " by " + by.Name
	sil, err := l.P.IncidentSilence(fp, d, comment, by.Name)
	if err = incidentErr(err); err != nil {
		return silence.Silence{}, err
	}
	if sil, err = l.P.AddSilence(sil); err != nil {
		return silence.Silence{}, err
	}
	note := fmt.Sprintf("Silenced for %s by %s%s, until %s (silence %s).", duration.Format(d), by.Name, by.from(),
		sil.EndsAt.UTC().Format(time.RFC3339), sil.ID)
	if _, _, err := l.P.NoteIncident(fp, note); err != nil && !errors.Is(err, pipeline.ErrAlreadyResolved) {
		// The silence holds; only the message and thread miss it.
		return sil, fmt.Errorf("silence %s added, but the incident's messages could not be told: %w", sil.ID, err)
	}
	return sil, nil
}

// OpenTicket sends an open incident's actions that its rule sends only on
// demand (a jira action with on_demand: true), once.
func (l *Local) OpenTicket(ctx context.Context, fp string, by Actor) (TicketRequested, error) {
	if strings.TrimSpace(by.Name) == "" {
		return TicketRequested{}, Invalid(errors.New("ticket: say who asks for it (the name field; the CLI uses --by or the OS user)"))
	}
	inc, n, err := l.P.OpenOnDemand(fp, incident.Ack{By: by.Name, Via: by.Via})
	if err = incidentErr(err); err != nil {
		return TicketRequested{}, err
	}
	return TicketRequested{Status: "requested", Fingerprint: inc.Fingerprint, Rule: inc.Rule, Notifications: n}, nil
}

func (c *Client) OpenTicket(ctx context.Context, fp string, by Actor) (TicketRequested, error) {
	var res TicketRequested
	_, err := c.call(ctx, http.MethodPost, c.api()+"/incidents/"+url.PathEscape(fp)+"/ticket", by, &res)
	return res, err
}

func (c *Client) AcknowledgeIncident(ctx context.Context, fp string, by Actor) (Acknowledged, error) {
	var res Acknowledged
	_, err := c.call(ctx, http.MethodPost, c.api()+"/incidents/"+url.PathEscape(fp)+"/ack", by, &res)
	return res, err
}

func (c *Client) SilenceIncident(ctx context.Context, fp string, d time.Duration, by Actor) (silence.Silence, error) {
	var res silence.Silence
	_, err := c.call(ctx, http.MethodPost, c.api()+"/incidents/"+url.PathEscape(fp)+"/silence",
		IncidentSilence{For: duration.Format(d), Actor: by}, &res)
	return res, err
}
