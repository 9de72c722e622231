package slack

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

// Slack API error codes that mean the credentials or their scopes are wrong:
// a person must fix the config, retrying cannot help.
var authErrors = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true,
	"token_revoked": true, "token_expired": true, "missing_scope": true,
	"no_permission": true, "not_allowed_token_type": true, "ekm_access_denied": true,
}

// Slack API error codes that say Slack itself had a problem.
var transientErrors = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true,
}

// hints say what to do about the errors people meet most.
var hints = map[string]string{
	"channel_not_found": "the channel does not exist or the bot cannot see it; check the channel name or invite the bot",
	"not_in_channel":    "invite the bot to the channel (/invite @your-bot)",
	"is_archived":       "the channel is archived; unarchive it or send elsewhere",
	"msg_too_long":      "the message is over Slack's limit; shorten the template",
	"invalid_blocks":    "Slack rejected the Block Kit layout; check custom templates for broken mrkdwn",
	"missing_scope":     "add the chat:write scope to the Slack app and reinstall it",
	"invalid_auth":      "the bot token is wrong; check notifiers.slack.token",
	"not_authed":        "no bot token was sent; check notifiers.slack.token",
	"token_revoked":     "the bot token was revoked; issue a new one",
	"account_inactive":  "the bot's account is deactivated",
}

// classify reads a slack-go or transport error.
func classify(err error) (notifiers.Reason, time.Duration) {
	var rl *goslack.RateLimitedError
	if errors.As(err, &rl) {
		return notifiers.ReasonRateLimited, rl.RetryAfter
	}
	var sc goslack.StatusCodeError
	if errors.As(err, &sc) {
		return classifyStatus(sc.Code), 0
	}
	var api goslack.SlackErrorResponse
	if errors.As(err, &api) {
		switch {
		case api.Err == "ratelimited" || api.Err == "rate_limited":
			return notifiers.ReasonRateLimited, 0
		case authErrors[api.Err]:
			return notifiers.ReasonAuth, 0
		case transientErrors[api.Err]:
			return notifiers.ReasonTransient, 0
		}
		return notifiers.ReasonPermanent, 0
	}
	// Timeouts, refused connections, resets, cancelled contexts, an HTML
	// page from a proxy: the network or Slack may be back in a moment, and
	// the pipeline bounds the retries.
	return notifiers.ReasonTransient, 0
}

// classifyStatus maps an HTTP status: the Web API answers 200 with ok:false
// for its own errors, so a bare status is the transport's or a webhook's.
func classifyStatus(code int) notifiers.Reason {
	switch {
	case code == http.StatusTooManyRequests:
		return notifiers.ReasonRateLimited
	case code >= 500, code == http.StatusRequestTimeout:
		return notifiers.ReasonTransient
	case code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusNotFound:
		// For an incoming webhook, 403 and 404 mean the URL was revoked
		// or never valid: the credential needs fixing.
		return notifiers.ReasonAuth
	}
	return notifiers.ReasonPermanent
}

// classified turns a failed call into a *notifiers.Error whose text names
// what failed and never holds the token or the webhook URL; failures a
// retry cannot fix are logged here, naming the channel.
func (n *Notifier) classified(nt *notification.Notification, what, channel string, err error) *notifiers.Error {
	reason, after := classify(err)
	suffix := ""
	var api goslack.SlackErrorResponse
	if errors.As(err, &api) {
		if api.Needed != "" {
			suffix += " (needs " + api.Needed + ")"
		}
		if h := hints[api.Err]; h != "" {
			suffix += ": " + h
		}
	}
	wrapped := fmt.Errorf("%s: %w%s", what, err, suffix)
	if red := n.redact(err.Error()); red != err.Error() {
		// Drop the chain: an unwrapped *url.Error would print the URL again.
		wrapped = errors.New(what + ": " + red + suffix)
	}
	ne := &notifiers.Error{Notifier: Name, Reason: reason, RetryAfter: after, Err: wrapped}
	if !ne.Retryable() {
		n.logger.Error("slack notification failed; retrying cannot help",
			"reason", reason, "channel", channel, "rule", nt.Rule.Name, "op", nt.Op, "error", ne.Err)
	}
	return ne
}

// fail builds a *notifiers.Error for a problem found before calling Slack.
func (n *Notifier) fail(reason notifiers.Reason, err error) *notifiers.Error {
	ne := &notifiers.Error{Notifier: Name, Reason: reason, Err: errors.New(n.redact(err.Error()))}
	if !ne.Retryable() {
		n.logger.Error("slack notification failed; retrying cannot help", "reason", reason, "error", ne.Err)
	}
	return ne
}

// redact removes the credentials from an error text: net/http puts the
// request URL (for a webhook, the credential itself) into its errors.
func (n *Notifier) redact(s string) string {
	if n.webhook != "" {
		s = strings.ReplaceAll(s, n.webhook, "<webhook url>")
		// The path is the secret part; it may appear without the host.
		if u, err := url.Parse(n.webhook); err == nil && len(u.Path) > 1 {
			s = strings.ReplaceAll(s, u.Path, "/<redacted>")
		}
	}
	if tok := n.cfg.Token.Value(); tok != "" {
		s = strings.ReplaceAll(s, tok, "<token>")
	}
	return s
}
