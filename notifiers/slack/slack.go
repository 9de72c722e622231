// Package slack posts incidents to Slack as Block Kit messages: one message
// per incident, edited in place as counters change, with repeats and the
// resolution in its thread. A bot token does all of that; an incoming
// webhook can only post.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/templates"
)

// Name is the notifier's name in rules and results.
const Name = "slack"

// DefaultTimeout bounds one call to Slack when the config sets none.
const DefaultTimeout = 10 * time.Second

// Slack's documented limits, in characters. Truncate counts bytes, which are
// never fewer than characters, so cutting by bytes stays within them.
const (
	maxHeader  = 150
	maxSection = 3000
	maxField   = 2000
	maxText    = 40000
	maxBlocks  = 50
	maxFields  = 10
)

var _ notifiers.Notifier = (*Notifier)(nil)

// Notifier sends to Slack. It is safe for concurrent use.
type Notifier struct {
	cfg     Config
	spec    notifiers.Spec // the roles it renders
	tmpl    *templates.Templates
	logger  *slog.Logger
	api     *goslack.Client // nil in incoming-webhook mode
	http    *http.Client
	webhook string // the incoming webhook URL; a credential, never logged
	// channels maps the channel names posted to onto their IDs, which
	// conversations.history wants.
	channels sync.Map
}

// New builds a Slack notifier. With a bot token it uses the Web API (at
// cfg.APIURL when set); with only a webhook URL it posts to the webhook. A
// nil tmpl means the default templates.
func New(cfg Config, tmpl *templates.Templates, logger *slog.Logger) (*Notifier, error) {
	if !cfg.Configured() {
		return nil, errors.New("slack: neither notifiers.slack.token nor notifiers.slack.webhook_url is set")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("slack: timeout %s is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if tmpl == nil {
		t, err := templates.Load("", templates.WithSpecs(Spec()))
		if err != nil {
			return nil, fmt.Errorf("slack: load default templates: %w", err)
		}
		tmpl = t
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		cfg:    cfg,
		spec:   Spec(),
		tmpl:   tmpl,
		logger: logger.With("notifier", Name),
		http:   &http.Client{Timeout: cfg.Timeout},
	}
	if cfg.Token.IsSet() {
		opts := []goslack.Option{goslack.OptionHTTPClient(n.http)}
		if cfg.APIURL != "" {
			if err := checkURL(cfg.APIURL); err != nil {
				return nil, fmt.Errorf("slack: api_url: %w", err)
			}
			// slack-go appends the method name ("chat.postMessage") to the
			// endpoint as is, so the base must end in exactly one slash.
			opts = append(opts, goslack.OptionAPIURL(strings.TrimRight(cfg.APIURL, "/")+"/"))
		}
		n.api = goslack.New(cfg.Token.Value(), opts...)
		if cfg.WebhookURL.IsSet() {
			n.logger.Debug("slack: both token and webhook_url are set; using the token, which can update messages and reply in threads")
		}
		return n, nil
	}
	if err := checkURL(cfg.WebhookURL.Value()); err != nil {
		// The URL is the credential: the error says what is wrong, not what it is.
		return nil, fmt.Errorf("slack: webhook_url: %w", err)
	}
	n.webhook = cfg.WebhookURL.Value()
	return n, nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an absolute http(s) URL")
	}
	return nil
}

// content is a notification rendered through the Slack templates.
type content struct {
	channel string
	title   string // one line, plain text
	text    string // mrkdwn
	actions string // mrkdwn
	extra   string // the repeat or resolved line, for those ops
	links   []templates.Link
}

func (n *Notifier) render(nt *notification.Notification) (content, error) {
	d := n.tmpl.DataFor(nt)
	a := nt.Action
	c := content{channel: n.channel(nt), links: d.Links()}
	exec := func(role string) (string, error) {
		s, err := n.tmpl.Execute(n.spec.Role(a, role), d)
		return strings.TrimSpace(s), err
	}
	var err error
	if c.title, err = exec("title"); err != nil {
		return c, err
	}
	c.title = strings.Join(strings.Fields(c.title), " ")
	if c.title == "" {
		c.title = d.Title()
	}
	if nt.Test {
		c.title = notification.TestMarker + c.title
	}
	if c.text, err = exec("text"); err != nil {
		return c, err
	}
	if c.actions, err = exec("actions"); err != nil {
		return c, err
	}
	switch nt.Op {
	case notification.OpRepeat:
		c.extra, err = exec("repeat")
	case notification.OpResolve, notification.OpOpenResolved:
		c.extra, err = exec("resolved")
	}
	if note := noteOf(nt); note != "" && err == nil {
		switch nt.Op {
		case notification.OpRepeat, notification.OpResolve, notification.OpOpenResolved:
			c.extra = joinNonEmpty("\n", c.extra, templates.SlackEscape(note))
		case notification.OpEscalate:
			c.extra = ":arrow_double_up: " + templates.SlackEscape(note)
		case notification.OpNote, notification.OpAck:
			c.extra = templates.SlackEscape(note)
		}
	}
	return c, err
}

// noteOf is what the pipeline has to say beyond the event (an escalation,
// a mute's story, an incident already resolved), or "".
func noteOf(nt *notification.Notification) string {
	if nt.Incident == nil {
		return ""
	}
	return strings.TrimSpace(nt.Incident.Note)
}

// Render renders the notification as Slack would show it, without sending.
func (n *Notifier) Render(nt *notification.Notification) (notification.Message, error) {
	if nt == nil {
		return notification.Message{}, errors.New("slack: nil notification")
	}
	c, err := n.render(nt)
	if err != nil {
		return notification.Message{}, fmt.Errorf("slack: rule %s: %w", nt.Rule.Name, err)
	}
	body := joinNonEmpty("\n\n", c.text, c.actions)
	if c.extra != "" {
		body = c.extra
	}
	return notification.Message{Notifier: Name, Target: n.target(c.channel), Summary: c.title, Body: body}, nil
}

// channel is where nt goes: the action's channel (its Target), else the
// config's.
func (n *Notifier) channel(nt *notification.Notification) string {
	if nt.Action.Target != "" {
		return nt.Action.Target
	}
	return n.cfg.Channel
}

func (n *Notifier) target(channel string) string {
	if n.api == nil && channel == "" {
		return "incoming webhook"
	}
	return channel
}

// Notify sends the notification. Failures come back as *notifiers.Error.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (notification.Result, error) {
	if nt == nil {
		return notification.Result{}, n.fail(notifiers.ReasonPermanent, errors.New("nil notification"))
	}
	c, err := n.render(nt)
	if err != nil {
		// The set passed its load-time check; a template failing on this
		// event will fail the same way on a retry.
		return notification.Result{}, n.fail(notifiers.ReasonPermanent, fmt.Errorf("rule %s: %w", nt.Rule.Name, err))
	}
	switch nt.Op {
	case "", notification.OpOpen, notification.OpUpdate, notification.OpRepeat, notification.OpResolve,
		notification.OpEscalate, notification.OpOpenResolved, notification.OpNote, notification.OpAck, notification.OpLink:
	default:
		return notification.Result{}, n.fail(notifiers.ReasonPermanent, fmt.Errorf("rule %s: unknown op %q", nt.Rule.Name, nt.Op))
	}
	if nt.Op == notification.OpLink {
		return n.link(ctx, nt)
	}
	if n.api == nil {
		return n.notifyWebhook(ctx, nt, c)
	}
	fresh := nt.Op == "" || nt.Op == notification.OpOpen || nt.Op == notification.OpOpenResolved
	if c.channel == "" && fresh {
		return notification.Result{}, n.fail(notifiers.ReasonPermanent,
			fmt.Errorf("rule %s: no channel: set channel on the rule's slack action or notifiers.slack.channel", nt.Rule.Name))
	}

	if nt.Op == "" || nt.Op == notification.OpOpen {
		return n.post(ctx, nt, c.channel, c.title, n.withButtons(nt, buildBlocks(nt, c, formOpen)))
	}
	if nt.Op == notification.OpOpenResolved {
		// Over before it could be told: one new message, already resolved.
		return n.post(ctx, nt, c.channel, "Resolved: "+c.title, buildBlocks(nt, c, formResolved))
	}
	channel, ts, ok := refOf(nt.Incident)
	if !ok {
		// The pipeline lost the message (or it was posted by a webhook or
		// the log): a new message is better than nothing.
		n.logger.Debug("slack: no message to "+string(nt.Op)+"; posting a new one",
			"rule", nt.Rule.Name, "channel", c.channel)
		if c.channel == "" {
			return notification.Result{}, n.fail(notifiers.ReasonPermanent,
				fmt.Errorf("rule %s: no channel: set channel on the rule's slack action or notifiers.slack.channel", nt.Rule.Name))
		}
		form := formOpen
		switch nt.Op {
		case notification.OpUpdate, notification.OpEscalate, notification.OpNote, notification.OpAck:
			form = formUpdate
		case notification.OpResolve:
			form = formResolved
		case notification.OpRepeat:
			form = formRepeat
		}
		blocks := buildBlocks(nt, c, form)
		if form != formResolved {
			blocks = n.withButtons(nt, blocks)
		}
		return n.post(ctx, nt, c.channel, c.title, blocks)
	}
	ref := notification.Result{Ref: nt.Incident.Ref, Link: nt.Incident.Link}
	switch nt.Op {
	case notification.OpUpdate:
		if err := n.update(ctx, nt, channel, ts, c.title, n.withButtons(nt, buildBlocks(nt, c, formUpdate))); err != nil {
			return notification.Result{}, err
		}
	case notification.OpNote, notification.OpAck:
		// The message shows what was done; the thread records who did it.
		if err := n.update(ctx, nt, channel, ts, c.title, n.withButtons(nt, buildBlocks(nt, c, formUpdate))); err != nil {
			return notification.Result{}, err
		}
		if err := n.reply(ctx, nt, channel, ts, c.extra); err != nil {
			return notification.Result{}, err
		}
	case notification.OpRepeat:
		if err := n.reply(ctx, nt, channel, ts, c.extra); err != nil {
			return notification.Result{}, err
		}
	case notification.OpEscalate:
		// The message shows the worse state; the thread says what changed,
		// which notifies the thread's followers. Update first, as resolve.
		if err := n.update(ctx, nt, channel, ts, c.title, n.withButtons(nt, buildBlocks(nt, c, formUpdate))); err != nil {
			return notification.Result{}, err
		}
		if err := n.reply(ctx, nt, channel, ts, c.extra); err != nil {
			return notification.Result{}, err
		}
	case notification.OpResolve:
		// Update first: if the reply then fails, the retry repeats an
		// idempotent edit rather than a second resolved message.
		if err := n.update(ctx, nt, channel, ts, "Resolved: "+c.title, buildBlocks(nt, c, formResolved)); err != nil {
			return notification.Result{}, err
		}
		if err := n.reply(ctx, nt, channel, ts, c.extra); err != nil {
			return notification.Result{}, err
		}
	}
	return ref, nil
}

// refOf splits an incident's "CHANNEL/TS" ref.
func refOf(inc *notification.Incident) (channel, ts string, ok bool) {
	if inc == nil {
		return "", "", false
	}
	channel, ts, ok = strings.Cut(inc.Ref, "/")
	if !ok || channel == "" || ts == "" {
		return "", "", false
	}
	return channel, ts, true
}

func (n *Notifier) post(ctx context.Context, nt *notification.Notification, channel, fallback string, blocks []goslack.Block) (notification.Result, error) {
	ch, ts, err := n.api.PostMessageContext(ctx, channel,
		goslack.MsgOptionText(fallbackText(fallback), false),
		goslack.MsgOptionBlocks(blocks...),
		goslack.MsgOptionMetadata(metadata(nt)))
	if err != nil {
		return notification.Result{}, n.classified(nt, "post to "+channel, channel, err)
	}
	if ch == "" {
		ch = channel
	}
	// The permalink goes on the incident's Jira ticket. The message is
	// posted: a failure here must not fail the send, or the retry would
	// post it twice.
	link, err := n.api.GetPermalinkContext(ctx, &goslack.PermalinkParameters{Channel: ch, Ts: ts})
	if err != nil {
		n.logger.Warn("slack: no permalink for the new message; the Jira ticket will not link to it",
			"rule", nt.Rule.Name, "channel", ch, "ts", ts, "err", err)
		link = ""
	}
	n.channels.Store(channel, ch)
	return notification.Result{Ref: ch + "/" + ts, Link: link}, nil
}

// link replies in the incident's thread with its Jira ticket, once the
// ticket exists (or when a new one replaced it). Without a message there
// is no thread: a link is not worth a message of its own.
func (n *Notifier) link(ctx context.Context, nt *notification.Notification) (notification.Result, error) {
	channel, ts, ok := refOf(nt.Incident)
	if !ok || n.api == nil || nt.Incident.Links["jira"] == "" {
		return notification.Result{Ref: refString(nt.Incident)}, nil
	}
	u := nt.Incident.Links["jira"]
	key := u
	if i := strings.LastIndex(u, "/browse/"); i >= 0 {
		key = u[i+len("/browse/"):]
	}
	text := "Jira ticket " + slackLink(u, key) + " tracks this incident."
	if err := n.reply(ctx, nt, channel, ts, text); err != nil {
		return notification.Result{}, err
	}
	return notification.Result{Ref: nt.Incident.Ref, Link: nt.Incident.Link}, nil
}

func refString(inc *notification.Incident) string {
	if inc == nil {
		return ""
	}
	return inc.Ref
}

func (n *Notifier) update(ctx context.Context, nt *notification.Notification, channel, ts, fallback string, blocks []goslack.Block) error {
	_, _, _, err := n.api.UpdateMessageContext(ctx, channel, ts,
		goslack.MsgOptionText(fallbackText(fallback), false),
		goslack.MsgOptionBlocks(blocks...))
	if err != nil {
		return n.classified(nt, "update message "+ts+" in "+channel, channel, err)
	}
	return nil
}

func (n *Notifier) reply(ctx context.Context, nt *notification.Notification, channel, ts, text string) error {
	if text == "" {
		return nil
	}
	_, _, err := n.api.PostMessageContext(ctx, channel,
		goslack.MsgOptionText(templates.Truncate(text, maxText), false),
		goslack.MsgOptionTS(ts))
	if err != nil {
		return n.classified(nt, "reply in thread "+ts+" of "+channel, channel, err)
	}
	return nil
}

// notifyWebhook posts to an incoming webhook, which can neither edit nor
// thread: an update is dropped (the original stays as it was), a repeat or
// a resolution is a new message.
func (n *Notifier) notifyWebhook(ctx context.Context, nt *notification.Notification, c content) (notification.Result, error) {
	form := formOpen
	fallback := c.title
	switch nt.Op {
	case notification.OpUpdate, notification.OpNote, notification.OpAck:
		n.logger.Debug("slack: incoming webhooks cannot edit messages; update skipped", "rule", nt.Rule.Name)
		return notification.Result{}, nil
	case notification.OpRepeat:
		form = formRepeat
	case notification.OpEscalate:
		form = formUpdate // it cannot edit, and an escalation must be seen
	case notification.OpResolve, notification.OpOpenResolved:
		form, fallback = formResolved, "Resolved: "+c.title
	}
	msg := &goslack.WebhookMessage{
		Text:   fallbackText(fallback),
		Blocks: &goslack.Blocks{BlockSet: buildBlocks(nt, c, form)},
	}
	if err := goslack.PostWebhookCustomHTTPContext(ctx, n.webhook, n.http, msg); err != nil {
		return notification.Result{}, n.classified(nt, "post to incoming webhook", n.target(c.channel), err)
	}
	return notification.Result{}, nil
}

func fallbackText(title string) string {
	// The text field is mrkdwn: escape it, so a provider's title cannot
	// ping <!channel> in the push notification.
	return templates.Truncate(templates.SlackEscape(title), maxText)
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// severityEmoji marks the header so the channel can be scanned at a glance.
func severityEmoji(s event.Severity) string {
	switch s {
	case event.SeverityCritical:
		return ":rotating_light:"
	case event.SeverityThrottle:
		return ":snail:"
	case event.SeverityRecipient:
		return ":bust_in_silhouette:"
	case event.SeverityTemplate:
		return ":page_facing_up:"
	case event.SeverityTransient:
		return ":hourglass_flowing_sand:"
	case event.SeverityWarning:
		return ":warning:"
	}
	return ":information_source:"
}
