package jira

import (
	"time"

	"github.com/wabridge/wabridge/internal/secret"
)

// Config is the notifiers.jira block of the config file.
type Config struct {
	URL string `mapstructure:"url" json:"url"`
	// User is the account email for Jira Cloud basic auth; empty with a Data
	// Center personal access token, which is sent as a Bearer token.
	User      string        `mapstructure:"user" json:"user"`
	Token     secret.Secret `mapstructure:"token" json:"token"`
	Project   string        `mapstructure:"project" json:"project"`
	IssueType string        `mapstructure:"issue_type" json:"issue_type"`
	// APIType is auto, cloud or datacenter; auto means *.atlassian.net is cloud.
	APIType string        `mapstructure:"api_type" json:"api_type"`
	Timeout time.Duration `mapstructure:"timeout" json:"timeout"`

	// Lifecycle of incident tickets.
	ReopenTransition  string        `mapstructure:"reopen_transition" json:"reopen_transition"`
	ReopenWindow      time.Duration `mapstructure:"reopen_window" json:"reopen_window"`
	WontFixResolution string        `mapstructure:"wont_fix_resolution" json:"wont_fix_resolution"`
	ResolveTransition string        `mapstructure:"resolve_transition" json:"resolve_transition"`
}

// Configured reports whether Jira has credentials to send with.
func (c Config) Configured() bool { return c.URL != "" && c.Token.IsSet() }
