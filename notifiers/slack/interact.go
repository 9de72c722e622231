package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"
)

// Interactivity is what taking button clicks needs from Slack besides the
// message edits, which go through the outbox: whether the clicking user
// may act (notifiers.slack.allowed_users and allowed_groups, the groups'
// members read with usergroups.users.list), and answering the person who
// clicked through the click's response_url.
type Interactivity struct {
	cfg    Config
	api    *goslack.Client
	http   *http.Client
	logger *slog.Logger
	now    func() time.Time
	// origins are where a response_url may point: Slack's hooks host, and
	// the api_url's origin (a proxy, a test server).
	origins []string

	mu      sync.Mutex
	members map[string]groupMembers
}

type groupMembers struct {
	users   []string
	fetched time.Time
}

// groupMembersTTL is how long a user group's members are trusted before
// they are read again: a person removed from the group loses the buttons
// within it.
const groupMembersTTL = time.Minute

// lookupTimeout bounds the usergroups.users.list calls of one click: it
// must be answered within Slack's 3 seconds.
const lookupTimeout = 2 * time.Second

// NewInteractivity builds the click side of a bot token's Slack app; nil
// clock means time.Now.
func NewInteractivity(cfg Config, logger *slog.Logger, now func() time.Time) (*Interactivity, error) {
	if !cfg.Buttons() {
		return nil, errors.New("slack: buttons need notifiers.slack.token and notifiers.slack.signing_secret")
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	i := &Interactivity{cfg: cfg, http: &http.Client{Timeout: timeout}, logger: logger.With("notifier", Name), now: now,
		origins: []string{"https://hooks.slack.com"}, members: map[string]groupMembers{}}
	opts := []goslack.Option{goslack.OptionHTTPClient(i.http)}
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		if err != nil || checkURL(cfg.APIURL) != nil {
			return nil, errors.New("slack: api_url: not an absolute http(s) URL")
		}
		i.origins = append(i.origins, u.Scheme+"://"+u.Host)
		opts = append(opts, goslack.OptionAPIURL(strings.TrimRight(cfg.APIURL, "/")+"/"))
	}
	i.api = goslack.New(cfg.Token.Value(), opts...)
	return i, nil
}

// Allowed reports whether userID may act on incidents from Slack: anyone
// when neither allow-list is set; otherwise a user listed in
// allowed_users or a member of a group in allowed_groups. An error is a
// failure to read a group (the scope usergroups:read missing, Slack
// down): the click is refused, saying so.
func (i *Interactivity) Allowed(ctx context.Context, userID string) (bool, error) {
	if len(i.cfg.AllowedUsers) == 0 && len(i.cfg.AllowedGroups) == 0 {
		return true, nil
	}
	if slices.Contains(i.cfg.AllowedUsers, userID) {
		return true, nil
	}
	// One deadline for all the groups: the click must be answered within
	// Slack's 3 seconds however many there are.
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var errs []error
	for _, g := range i.cfg.AllowedGroups {
		users, err := i.groupMembers(ctx, g)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.Contains(users, userID) {
			return true, nil
		}
	}
	return false, errors.Join(errs...)
}

func (i *Interactivity) groupMembers(ctx context.Context, group string) ([]string, error) {
	now := i.now()
	i.mu.Lock()
	m, ok := i.members[group]
	i.mu.Unlock()
	if ok && now.Sub(m.fetched) < groupMembersTTL {
		return m.users, nil
	}
	users, err := i.api.GetUserGroupMembersContext(ctx, group)
	if err != nil {
		var se goslack.SlackErrorResponse
		if errors.As(err, &se) && se.Err == "missing_scope" {
			return nil, fmt.Errorf("slack: members of user group %s: the token lacks the usergroups:read scope", group)
		}
		return nil, fmt.Errorf("slack: members of user group %s: %w", group, err)
	}
	i.mu.Lock()
	i.members[group] = groupMembers{users: users, fetched: now}
	i.mu.Unlock()
	return users, nil
}

// Respond shows text to the person who clicked (ephemeral), through the
// click's response_url. A response_url that does not point at Slack is
// refused, so a click cannot make wabridge POST elsewhere.
func (i *Interactivity) Respond(ctx context.Context, responseURL, text string) error {
	u, err := url.Parse(responseURL)
	if err != nil || u.Host == "" || !slices.Contains(i.origins, u.Scheme+"://"+u.Host) {
		return errors.New("slack: response_url does not point at Slack")
	}
	msg := &goslack.WebhookMessage{Text: fallbackText(text), ResponseType: "ephemeral", ReplaceOriginal: false}
	if err := goslack.PostWebhookCustomHTTPContext(ctx, responseURL, i.http, msg); err != nil {
		// The URL carries a token of its own: never in the error.
		var se goslack.StatusCodeError
		if errors.As(err, &se) {
			return fmt.Errorf("slack: answer through response_url: HTTP %d", se.Code)
		}
		return errors.New("slack: answer through response_url failed")
	}
	return nil
}
