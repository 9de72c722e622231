package slack

import (
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
}

// Configured reports whether Slack has credentials to send with.
func (c Config) Configured() bool { return c.Token.IsSet() || c.WebhookURL.IsSet() }
