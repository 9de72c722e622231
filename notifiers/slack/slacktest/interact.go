package slacktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// What Slack answers usergroups.users.list and response_url with, and the
// limits it sets on them.
const (
	// ResponseURLUses is how many times Slack takes a response_url.
	ResponseURLUses = 5
	// ResponseURLTTL is how long a response_url is valid.
	ResponseURLTTL = 30 * time.Minute
	responsePath   = "/actions/"
)

// scopeOf names the OAuth scope each Web API method needs (bot tokens).
var scopeOf = map[string]string{
	"chat.postMessage":      "chat:write",
	"chat.update":           "chat:write",
	"chat.getPermalink":     "chat:write",
	"conversations.history": "channels:history",
	"conversations.list":    "channels:read",
	"usergroups.users.list": "usergroups:read",
}

// missingScope answers as Slack does a token without the method's scope;
// nil when the token has it (or no scopes are set: every scope granted).
func (s *Server) missingScope(method string) map[string]any {
	need := scopeOf[method]
	if s.opts.Scopes == nil || need == "" {
		return nil
	}
	for _, sc := range s.opts.Scopes {
		if sc == need {
			return nil
		}
	}
	return map[string]any{"ok": false, "error": "missing_scope", "needed": need, "provided": strings.Join(s.opts.Scopes, ",")}
}

// groupMembersLocked serves usergroups.users.list: the user ids of one
// user group (subteam) by its id, as Slack lists them; a disabled group
// only with include_disabled.
func (s *Server) groupMembersLocked(form url.Values) map[string]any {
	get := form.Get
	id := get("usergroup")
	if id == "" {
		return map[string]any{"ok": false, "error": "invalid_arguments",
			"response_metadata": map[string]any{"messages": []string{"[ERROR] missing required field: usergroup"}}}
	}
	users, ok := s.opts.UserGroups[id]
	if !ok {
		return fail("no_such_subteam")
	}
	if s.opts.DisabledGroups[id] && get("include_disabled") != "true" && get("include_disabled") != "1" {
		return fail("no_such_subteam")
	}
	if users == nil {
		users = []string{}
	}
	return map[string]any{"ok": true, "users": users}
}

// Response is one message posted to a response_url.
type Response struct {
	URL             string
	At              time.Time
	Text            string
	ResponseType    string // ephemeral (the default) or in_channel
	ReplaceOriginal bool
	DeleteOriginal  bool
	Blocks          json.RawMessage
}

type responseURL struct {
	minted time.Time
	uses   int
}

// ResponseURL mints a response_url as Slack puts one in an interaction
// payload: it takes ResponseURLUses messages within ResponseURLTTL.
func (s *Server) ResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	path := fmt.Sprintf("%sT0TEAM/%d/r%08d", responsePath, 1000+s.seq, s.seq)
	if s.responseURLs == nil {
		s.responseURLs = map[string]*responseURL{}
	}
	s.responseURLs[path] = &responseURL{minted: time.Now()}
	return s.URL + path
}

// Responses returns what was posted to response_urls, in order.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Response(nil), s.responses...)
}

// respond serves a response_url as Slack does: a JSON message, at most
// ResponseURLUses times within ResponseURLTTL of the click.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, body []byte) {
	call := Call{Method: "response_url", At: time.Now(), Body: body, Header: r.Header.Clone()}
	s.mu.Lock()
	defer s.mu.Unlock()
	answer := func(status int, text string) {
		call.Status = status
		if text != "ok" {
			call.Error = text
		}
		s.calls = append(s.calls, call)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		io.WriteString(w, text)
	}
	u := s.responseURLs[r.URL.Path]
	var msg struct {
		Text            string          `json:"text"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal bool            `json:"replace_original"`
		DeleteOriginal  bool            `json:"delete_original"`
		Blocks          json.RawMessage `json:"blocks"`
	}
	switch {
	case r.Method != http.MethodPost:
		answer(http.StatusMethodNotAllowed, "invalid_method")
		return
	case u == nil:
		answer(http.StatusNotFound, "no_such_url")
		return
	case time.Since(u.minted) > ResponseURLTTL:
		answer(http.StatusNotFound, "expired_url")
		return
	case u.uses >= ResponseURLUses:
		answer(http.StatusNotFound, "used_url")
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		answer(http.StatusBadRequest, "invalid_payload")
		return
	case json.Unmarshal(body, &msg) != nil:
		answer(http.StatusBadRequest, "invalid_payload")
		return
	case msg.Text == "" && len(msg.Blocks) == 0 && !msg.DeleteOriginal:
		answer(http.StatusBadRequest, "no_text")
		return
	case msg.ResponseType != "" && msg.ResponseType != "ephemeral" && msg.ResponseType != "in_channel":
		answer(http.StatusBadRequest, "invalid_response_type")
		return
	}
	if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" {
		if errs := ValidateBlocks(msg.Blocks); len(errs) > 0 {
			answer(http.StatusBadRequest, "invalid_blocks")
			return
		}
	}
	if len([]rune(msg.Text)) > MaxText {
		answer(http.StatusBadRequest, "msg_too_long")
		return
	}
	u.uses++
	rt := msg.ResponseType
	if rt == "" {
		rt = "ephemeral"
	}
	s.responses = append(s.responses, Response{URL: s.URL + r.URL.Path, At: call.At, Text: msg.Text, ResponseType: rt,
		ReplaceOriginal: msg.ReplaceOriginal, DeleteOriginal: msg.DeleteOriginal, Blocks: msg.Blocks})
	answer(http.StatusOK, "ok")
}

// Click is one button click as Slack sends it to an app's Request URL:
// a block_actions payload in its documented shape.
type Click struct {
	UserID, UserName string
	ActionID, Value  string
	BlockID          string // ButtonsBlockID of the notifier when ""
	ActionTS         string
	ChannelID        string
	MessageTS        string
	ResponseURL      string
}

// Form is the request body Slack POSTs: application/x-www-form-urlencoded
// with the JSON in the payload field.
func (c Click) Form() string {
	block := c.BlockID
	if block == "" {
		block = "wabridge_incident"
	}
	p := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": c.UserID, "username": c.UserName, "name": c.UserName, "team_id": "T0TEAM"},
		"api_app_id": "A0APP",
		"token":      "legacy-verification-token",
		"container": map[string]any{"type": "message", "message_ts": c.MessageTS, "channel_id": c.ChannelID,
			"is_ephemeral": false},
		"trigger_id":            "1.2.3",
		"team":                  map[string]any{"id": "T0TEAM", "domain": "wabridge-test"},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": c.ChannelID, "name": "ops"},
		"message":               map[string]any{"type": "message", "ts": c.MessageTS, "text": "alert", "bot_id": "B0WABRIDGE"},
		"state":                 map[string]any{"values": map[string]any{}},
		"response_url":          c.ResponseURL,
		"actions": []any{map[string]any{
			"action_id": c.ActionID, "block_id": block, "value": c.Value, "type": "button",
			"text": map[string]any{"type": "plain_text", "text": c.ActionID, "emoji": true}, "action_ts": c.ActionTS,
		}},
	}
	b, _ := json.Marshal(p)
	return "payload=" + url.QueryEscape(string(b))
}

// Sign returns the X-Slack-Request-Timestamp and X-Slack-Signature Slack
// sends with body at time at, signed with the app's signing secret.
func Sign(secret string, at time.Time, body string) (timestamp, signature string) {
	timestamp = strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + timestamp + ":" + body))
	return timestamp, "v0=" + hex.EncodeToString(m.Sum(nil))
}

// SetScopes changes the token's scopes (nil: every scope).
func (s *Server) SetScopes(scopes ...string) {
	s.mu.Lock()
	s.opts.Scopes = scopes
	s.mu.Unlock()
}
