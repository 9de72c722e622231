package jira

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
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
	// SearchDelay is how long a new issue may take to show in a search
	// (Jira Cloud's index is eventually consistent): an open interrupted
	// by a crash or a timeout is looked for that long before it is sent
	// again.
	SearchDelay time.Duration `mapstructure:"search_delay" json:"search_delay"`

	// Lifecycle of incident tickets.
	ReopenTransition  string        `mapstructure:"reopen_transition" json:"reopen_transition"`
	ReopenWindow      time.Duration `mapstructure:"reopen_window" json:"reopen_window"`
	WontFixResolution string        `mapstructure:"wont_fix_resolution" json:"wont_fix_resolution"`
	ResolveTransition string        `mapstructure:"resolve_transition" json:"resolve_transition"`
}

// Configured reports whether Jira has credentials to send with.
func (c Config) Configured() bool { return c.URL != "" && c.Token.IsSet() }

// API types accepted in api_type.
const (
	APIAuto       = "auto"
	APICloud      = "cloud"
	APIDataCenter = "datacenter"
)

// Defaults applied by New to settings left empty.
const (
	DefaultTimeout           = 15 * time.Second
	DefaultSearchDelay       = 30 * time.Second
	DefaultIssueType         = "Task"
	DefaultWontFixResolution = "Won't Fix"
	// DefaultReopenWindow only matters once ReopenTransition is set: without
	// a transition name wabridge never reopens, it opens a new ticket.
	DefaultReopenWindow = 24 * time.Hour
)

// WithDefaults returns c with every empty setting filled.
func (c Config) WithDefaults() Config {
	if c.APIType == "" {
		c.APIType = APIAuto
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.SearchDelay == 0 {
		c.SearchDelay = DefaultSearchDelay
	}
	if c.IssueType == "" {
		c.IssueType = DefaultIssueType
	}
	if c.WontFixResolution == "" {
		c.WontFixResolution = DefaultWontFixResolution
	}
	if c.ReopenWindow == 0 {
		c.ReopenWindow = DefaultReopenWindow
	}
	return c
}

// Cloud reports whether the configured Jira is Jira Cloud: api_type says so,
// or it is auto and the host ends in .atlassian.net.
func (c Config) Cloud() bool {
	switch strings.ToLower(c.APIType) {
	case APICloud:
		return true
	case APIDataCenter:
		return false
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return false
	}
	return strings.HasSuffix(strings.ToLower(u.Hostname()), ".atlassian.net")
}

// Validate returns every problem of the block at once. Messages never echo
// the URL (it may carry credentials) or the token.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("notifiers.jira.url is required (https://your-site.atlassian.net or your Data Center base URL)"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("notifiers.jira.url must be an absolute http or https URL"))
	} else if u.User != nil {
		errs = append(errs, errors.New("notifiers.jira.url must not carry credentials: use user and token"))
	}
	if c.Project == "" {
		errs = append(errs, errors.New("notifiers.jira.project is required (the default project key, e.g. WAOPS)"))
	}
	if !c.Token.IsSet() {
		errs = append(errs, errors.New("notifiers.jira.token is required (a Cloud API token or a Data Center personal access token)"))
	}
	switch strings.ToLower(c.APIType) {
	case "", APIAuto, APICloud, APIDataCenter:
	default:
		errs = append(errs, fmt.Errorf("notifiers.jira.api_type %q is not one of auto, cloud, datacenter", c.APIType))
	}
	if c.URL != "" && c.Cloud() && c.User == "" {
		errs = append(errs, errors.New("notifiers.jira.user is required on Jira Cloud: the account email that owns the API token"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("notifiers.jira.timeout %s must not be negative", c.Timeout))
	}
	if c.ReopenWindow < 0 {
		errs = append(errs, fmt.Errorf("notifiers.jira.reopen_window %s must not be negative", c.ReopenWindow))
	}
	return errors.Join(errs...)
}
