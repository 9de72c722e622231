package slacktest

import (
	"context"
	"errors"
	"strings"
	"testing"

	goslack "github.com/slack-go/slack"
)

func TestEnforcesSlackRules(t *testing.T) {
	s := New(t, Options{})
	api := goslack.New(DefaultToken, goslack.OptionAPIURL(s.APIURL()))
	ctx := context.Background()
	hdr := func(n int) goslack.Block {
		return goslack.NewHeaderBlock(goslack.NewTextBlockObject(goslack.PlainTextType, strings.Repeat("h", n), false, false))
	}
	sec := func(n int) goslack.Block {
		return goslack.NewSectionBlock(goslack.NewTextBlockObject(goslack.MarkdownType, strings.Repeat("s", n), false, false), nil, nil)
	}
	ch, ts, err := api.PostMessageContext(ctx, "#ops", goslack.MsgOptionText("t", false), goslack.MsgOptionBlocks(hdr(150), sec(3000)))
	if err != nil || ch != DefaultChannelID || ts == "" {
		t.Fatalf("post: %q %q %v", ch, ts, err)
	}
	cases := map[string]struct {
		err  string
		opts []goslack.MsgOption
		ch   string
	}{
		"header over 150":   {"invalid_blocks", []goslack.MsgOption{goslack.MsgOptionBlocks(hdr(151))}, "#ops"},
		"section over 3000": {"invalid_blocks", []goslack.MsgOption{goslack.MsgOptionBlocks(sec(3001))}, "#ops"},
		"51 blocks":         {"invalid_blocks", []goslack.MsgOption{goslack.MsgOptionBlocks(make51()...)}, "#ops"},
		"unknown channel":   {"channel_not_found", []goslack.MsgOption{goslack.MsgOptionText("x", false)}, "#nope"},
		"no text":           {"no_text", nil, "#ops"},
		"unknown thread":    {"thread_not_found", []goslack.MsgOption{goslack.MsgOptionText("x", false), goslack.MsgOptionTS("1.2")}, "#ops"},
	}
	for name, tc := range cases {
		_, _, err := api.PostMessageContext(ctx, tc.ch, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %s", name, err, tc.err)
		}
	}
	if _, _, err := api.PostMessageContext(ctx, ch, goslack.MsgOptionText("reply", false), goslack.MsgOptionTS(ts)); err != nil {
		t.Errorf("reply: %v", err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, ch, "9.9", goslack.MsgOptionText("x", false)); err == nil || !strings.Contains(err.Error(), "message_not_found") {
		t.Errorf("update of no message: %v", err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, ch, ts, goslack.MsgOptionText("edited", false)); err != nil {
		t.Errorf("update: %v", err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "#ops", ts, goslack.MsgOptionText("edited", false)); err == nil || !strings.Contains(err.Error(), "channel_not_found") {
		t.Errorf("update naming the channel by name: %v, want channel_not_found (chat.update takes an ID)", err)
	}
	link, err := api.GetPermalinkContext(ctx, &goslack.PermalinkParameters{Channel: ch, Ts: ts})
	if err != nil || link != s.Permalink(ch, ts) {
		t.Errorf("permalink %q %v", link, err)
	}
	bad := goslack.New("xoxb-wrong", goslack.OptionAPIURL(s.APIURL()))
	if _, _, err := bad.PostMessageContext(ctx, "#ops", goslack.MsgOptionText("x", false)); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("wrong token: %v", err)
	}
	s.RateLimit("chat.postMessage", 1, 3)
	_, _, err = api.PostMessageContext(ctx, "#ops", goslack.MsgOptionText("x", false))
	var rl *goslack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter.Seconds() != 3 {
		t.Errorf("rate limit: %v", err)
	}
	if got := len(s.Posts()); got != 1 {
		t.Errorf("%d posts", got)
	}
	if got := s.Posts()[0]; got.Text != "edited" || got.Updates != 1 || len(s.Replies(ts)) != 1 {
		t.Errorf("message %+v, replies %d", got, len(s.Replies(ts)))
	}
	if got := len(s.Failed()); got != 9 {
		t.Errorf("%d refused calls, want 9", got)
	}
	if err := goslack.PostWebhookContext(ctx, s.WebhookURL(), &goslack.WebhookMessage{Blocks: &goslack.Blocks{BlockSet: []goslack.Block{hdr(151)}}}); err == nil {
		t.Error("webhook with a long header was accepted")
	}
}

func make51() []goslack.Block {
	out := make([]goslack.Block, 51)
	for i := range out {
		out[i] = goslack.NewDividerBlock()
	}
	return out
}

func TestValidateBlocksButtons(t *testing.T) {
	long := strings.Repeat("x", 76)
	raw := `[{"type":"actions","elements":[` +
		`{"type":"button","action_id":"resolve","value":"fp","text":{"type":"plain_text","text":"Resolve"}},` +
		`{"type":"button","action_id":"resolve","value":"fp","text":{"type":"mrkdwn","text":"` + long + `"}}]}]`
	got := strings.Join(ValidateBlocks([]byte(raw)), "\n")
	for _, want := range []string{"duplicate action_id [json-pointer:/blocks/0/elements/1/action_id]",
		`must be "plain_text" [json-pointer:/blocks/0/elements/1/text/type]`,
		"must be less than 76 characters [json-pointer:/blocks/0/elements/1/text/text]"} {
		if !strings.Contains(got, want) {
			t.Errorf("ValidateBlocks = %s\nwant %s", got, want)
		}
	}
	ok := `[{"type":"actions","elements":[{"type":"button","action_id":"a","value":"v","text":{"type":"plain_text","text":"A"}}]}]`
	if errs := ValidateBlocks([]byte(ok)); len(errs) != 0 {
		t.Errorf("a good button refused: %v", errs)
	}
}

func TestUserGroupsAndScopes(t *testing.T) {
	s := New(t, Options{Scopes: []string{"chat:write"}, UserGroups: map[string][]string{"S0OPS": {"U0ALICE"}, "S0OLD": {"U0BOB"}},
		DisabledGroups: map[string]bool{"S0OLD": true}})
	api := goslack.New(DefaultToken, goslack.OptionAPIURL(s.APIURL()))
	ctx := context.Background()
	if _, err := api.GetUserGroupMembersContext(ctx, "S0OPS"); err == nil || !strings.Contains(err.Error(), "missing_scope") {
		t.Errorf("usergroups.users.list without usergroups:read: %v, want missing_scope", err)
	}
	s.SetScopes("chat:write", "usergroups:read")
	users, err := api.GetUserGroupMembersContext(ctx, "S0OPS")
	if err != nil || len(users) != 1 || users[0] != "U0ALICE" {
		t.Errorf("members of S0OPS: %v %v", users, err)
	}
	for _, g := range []string{"S0NONE", "S0OLD"} {
		if _, err := api.GetUserGroupMembersContext(ctx, g); err == nil || !strings.Contains(err.Error(), "no_such_subteam") {
			t.Errorf("members of %s: %v, want no_such_subteam", g, err)
		}
	}
	if users, err := api.GetUserGroupMembersContext(ctx, "S0OLD", goslack.GetUserGroupMembersOptionIncludeDisabled(true)); err != nil || len(users) != 1 {
		t.Errorf("members of a disabled group with include_disabled: %v %v", users, err)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, ""); err == nil || !strings.Contains(err.Error(), "invalid_arguments") {
		t.Errorf("no usergroup: %v, want invalid_arguments", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "#ops", goslack.MsgOptionText("x", false)); err != nil {
		t.Errorf("post with chat:write: %v", err)
	}
	if _, err := api.GetConversationHistoryContext(ctx, &goslack.GetConversationHistoryParameters{ChannelID: DefaultChannelID}); err == nil ||
		!strings.Contains(err.Error(), "missing_scope") {
		t.Errorf("history without channels:history: %v, want missing_scope", err)
	}
}

func TestResponseURL(t *testing.T) {
	s := New(t, Options{})
	u := s.ResponseURL()
	msg := &goslack.WebhookMessage{Text: "Nothing was changed.", ResponseType: "ephemeral"}
	for i := range ResponseURLUses {
		if err := goslack.PostWebhookContext(context.Background(), u, msg); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	if err := goslack.PostWebhookContext(context.Background(), u, msg); err == nil {
		t.Error("a sixth use of a response_url was taken")
	}
	if err := goslack.PostWebhookContext(context.Background(), s.URL+"/actions/T0TEAM/1/forged", msg); err == nil {
		t.Error("a response_url Slack never gave was taken")
	}
	if err := goslack.PostWebhookContext(context.Background(), s.ResponseURL(), &goslack.WebhookMessage{}); err == nil {
		t.Error("an empty response was taken")
	}
	rs := s.Responses()
	if len(rs) != ResponseURLUses || rs[0].Text != "Nothing was changed." || rs[0].ResponseType != "ephemeral" || rs[0].URL != u {
		t.Errorf("responses %+v", rs)
	}
}
