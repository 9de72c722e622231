package slack

import (
	"errors"
	"time"

	"github.com/wabridge/wabridge/internal/secret"
)

// Config is the notifiers.slack block of the config file.
type Config struct {
	// Token is a bot token (xoxb-...): chat.postMessage, chat.update and threads.
	Token secret.Secret `mapstructure:"token" json:"token"`
	// WebhookURL is an incoming webhook; it can only post, never update or
	// thread. The URL itself is the credential.
	WebhookURL secret.Secret `mapstructure:"webhook_url" json:"webhook_url"`
	// APIURL points the client at another Web API base (a proxy, a test server).
	APIURL  string        `mapstructure:"api_url" json:"api_url"`
	Channel string        `mapstructure:"channel" json:"channel"`
	Timeout time.Duration `mapstructure:"timeout" json:"timeout"`
	// SigningSecret is the Slack app's signing secret: with it (and a
	// token, for chat.update) messages carry buttons, and POST
	// /slack/interactions takes their clicks, verifying Slack's signature.
	SigningSecret secret.Secret `mapstructure:"signing_secret" json:"signing_secret"`
	// AllowedUsers and AllowedGroups, when either is set, are whose
	// clicks count: these Slack user ids, and the members of these user
	// groups (ids S..., read with usergroups.users.list).
	AllowedUsers  []string `mapstructure:"allowed_users" json:"allowed_users"`
	AllowedGroups []string `mapstructure:"allowed_groups" json:"allowed_groups"`
}

// Buttons reports whether messages carry the incident buttons: clicks need
// the signing secret to be verified and a bot token for the message to be
// updated and the thread told.
func (c Config) Buttons() bool { return c.Token.IsSet() && c.SigningSecret.IsSet() }

// Configured reports whether Slack has credentials to send with.
func (c Config) Configured() bool { return c.Token.IsSet() || c.WebhookURL.IsSet() }

// Validate returns every problem of the block at once, each naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.Token.IsSet() && c.Channel == "" {
		errs = append(errs, errors.New("notifiers.slack.channel: required with a token (the channel for actions that name none)"))
	}
	return errors.Join(errs...)
}
