package slack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

func interactivity(t *testing.T, fake *slacktest.Server, cfg Config, now func() time.Time) *Interactivity {
	t.Helper()
	cfg.Token, cfg.SigningSecret, cfg.APIURL = secret.Secret(slacktest.DefaultToken), secret.Secret("s"), fake.APIURL()
	in, err := NewInteractivity(cfg, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestRespondOnlyToSlack: the answer to a click goes to its response_url
// only when that points at Slack, so a click cannot make wabridge POST
// elsewhere.
func TestRespondOnlyToSlack(t *testing.T) {
	fake := slacktest.New(t, slacktest.Options{})
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	in := interactivity(t, fake, Config{}, nil)
	ctx := context.Background()
	if err := in.Respond(ctx, fake.ResponseURL(), "Nothing was changed."); err != nil {
		t.Fatalf("respond to Slack: %v", err)
	}
	for _, u := range []string{other.URL + "/actions/T/1/x", "http://hooks.slack.com.evil.example/actions", "not a url", ""} {
		if err := in.Respond(ctx, u, "x"); err == nil || !strings.Contains(err.Error(), "does not point at Slack") {
			t.Errorf("respond to %q: %v, want it refused", u, err)
		}
	}
	if hits.Load() != 0 || len(fake.Responses()) != 1 {
		t.Errorf("another server got %d requests; Slack got %d answers, want 1", hits.Load(), len(fake.Responses()))
	}
	// A response_url spent (5 uses) fails without showing its token.
	u := fake.ResponseURL()
	for range slacktest.ResponseURLUses {
		if err := in.Respond(ctx, u, "x"); err != nil {
			t.Fatal(err)
		}
	}
	err := in.Respond(ctx, u, "x")
	if err == nil || strings.Contains(err.Error(), u[strings.LastIndex(u, "/"):]) {
		t.Errorf("a spent response_url: %v, want an error without the URL", err)
	}
}

// TestAllowedUsersAndGroups: allowed_users by id, allowed_groups by
// membership read from Slack and kept for a minute, anyone when neither
// is set.
func TestAllowedUsersAndGroups(t *testing.T) {
	fake := slacktest.New(t, slacktest.Options{UserGroups: map[string][]string{"S0ONCALL": {"U0BOB"}}})
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	ctx := context.Background()
	if ok, err := interactivity(t, fake, Config{}, clock).Allowed(ctx, "U0ANYONE"); !ok || err != nil {
		t.Errorf("no allow-list: %v %v, want anyone", ok, err)
	}
	in := interactivity(t, fake, Config{AllowedUsers: []string{"U0ALICE"}, AllowedGroups: []string{"S0ONCALL"}}, clock)
	for user, want := range map[string]bool{"U0ALICE": true, "U0BOB": true, "U0MALLORY": false} {
		if ok, err := in.Allowed(ctx, user); ok != want || err != nil {
			t.Errorf("%s: %v %v, want %v", user, ok, err, want)
		}
	}
	lists := func() int { return len(fake.CallsOf("usergroups.users.list")) }
	n := lists()
	in.Allowed(ctx, "U0MALLORY")
	if lists() != n {
		t.Errorf("the group's members were read again within a minute")
	}
	now.Add(int64(2 * time.Minute))
	in.Allowed(ctx, "U0MALLORY")
	if lists() != n+1 {
		t.Errorf("the group's members were not read again after a minute")
	}
	broken := interactivity(t, fake, Config{AllowedGroups: []string{"S0GONE"}}, clock)
	if ok, err := broken.Allowed(ctx, "U0BOB"); ok || err == nil || !strings.Contains(err.Error(), "S0GONE") {
		t.Errorf("an unknown group: %v %v, want refused with the group named", ok, err)
	}
}
