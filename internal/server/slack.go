package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/wabridge/wabridge/internal/secret"
)

// SlackAction is one button click on an incident message.
type SlackAction struct {
	ActionID string // ack, resolve, silence_1h, silence_24h, jira_open
	Value    string // the incident's fingerprint
	UserID   string
	UserName string
}

// SlackActions does what a button asks. Done, it returns "": the message
// edit and the thread reply, through the outbox, show what was done. A
// click that changes nothing (the incident resolved meanwhile, already
// acknowledged by someone else, an unknown button) returns what to tell
// the person who clicked. An error is a failure of ours (500).
type SlackActions interface {
	SlackAction(ctx context.Context, a SlackAction) (string, error)
}

// SlackInteractions configures POST /slack/interactions.
type SlackInteractions struct {
	SigningSecret secret.Secret
	// Allowed reports whether the user's clicks count (allowed_users,
	// allowed_groups); nil lets everyone's. An error refuses the click,
	// saying why.
	Allowed func(ctx context.Context, userID string) (bool, error)
	// Respond shows text to the person who clicked, through the click's
	// response_url: Slack ignores the body of the answer to a click.
	Respond func(ctx context.Context, responseURL, text string) error
	Actions SlackActions
	// Observe counts each request by result (wabridge_slack_interactions_total);
	// nil counts nothing.
	Observe func(result string)
}

// The results POST /slack/interactions counts.
const (
	ClickDone       = "done"        // the click changed something
	ClickUnchanged  = "unchanged"   // told why nothing changed (resolved meanwhile, acknowledged by another)
	ClickNotAllowed = "not_allowed" // not on allowed_users nor allowed_groups
	ClickRetry      = "retry"       // a retry of a click already taken
	ClickForged     = "unauthorized"
	ClickBad        = "bad_request"
	ClickFailed     = "failed"
)

func (h *handlers) observeClick(result string) {
	if h.Slack.Observe != nil {
		h.Slack.Observe(result)
	}
}

// slackInteraction is the part of Slack's interaction payload a click on
// an incident button needs. It is read here rather than with slack-go's
// InteractionCallback so that the request path links no Slack client.
type slackInteraction struct {
	Type        string `json:"type"`
	ResponseURL string `json:"response_url"`
	User        struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"user"`
	Actions []slackBlockAction `json:"actions"`
}

// slackBlockAction is one action of the payload; only those with a
// block_id are block actions (a legacy attachment action has none).
type slackBlockAction struct {
	BlockID  *string `json:"block_id"`
	ActionID string  `json:"action_id"`
	Value    string  `json:"value"`
	ActionTs string  `json:"action_ts"`
}

// blockActions are the payload's block actions, in order.
func (cb *slackInteraction) blockActions() []slackBlockAction {
	var out []slackBlockAction
	for _, a := range cb.Actions {
		if a.BlockID != nil {
			out = append(out, a)
		}
	}
	return out
}

// Slack's request signing: requests older than this are refused, so a
// captured request cannot be replayed later.
const slackMaxSkew = 5 * time.Minute

// maxSlackBody bounds an interaction payload: it carries the message's
// blocks, at most 50 of a few kilobytes each.
const maxSlackBody = 1 << 20

// slackSeen remembers the clicks taken, so Slack's retry of one (or a
// second delivery of the same request) does the work once. Entries
// outlive slackMaxSkew, past which the request is refused anyway.
type slackSeen struct {
	mu   sync.Mutex
	done map[string]time.Time
}

const slackSeenFor = 2 * slackMaxSkew

// claim marks key as taken; false when it was taken before (done, or
// being done).
func (s *slackSeen) claim(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range s.done {
		if now.Sub(at) > slackSeenFor {
			delete(s.done, k)
		}
	}
	if _, seen := s.done[key]; seen {
		return false
	}
	if s.done == nil {
		s.done = map[string]time.Time{}
	}
	s.done[key] = now
	return true
}

// finish keeps a click taken once done; one that failed or was refused
// is forgotten, so a retry may do it.
func (s *slackSeen) finish(key string, ok bool) {
	if ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.done, key)
}

func (h *handlers) mountSlack(r *gin.Engine) {
	if h.Slack == nil || !h.Slack.SigningSecret.IsSet() || h.Slack.Actions == nil {
		return
	}
	r.POST("/slack/interactions", h.slackInteraction)
}

// respondTimeout bounds the answer through a response_url, which runs
// after the click was answered.
const respondTimeout = 10 * time.Second

// slackTell shows text to the person who clicked, after the click is
// answered: Slack waits 3 seconds for the answer and shows nothing of its
// body, so what the person must read goes through the response_url.
func (h *handlers) slackTell(c *gin.Context, responseURL, text string) {
	if text == "" {
		return
	}
	c.Set("reason", text)
	if responseURL == "" || h.Slack.Respond == nil {
		h.Logger.Warn("slack: a click's answer could not be shown: the payload has no response_url", "text", text)
		return
	}
	ctx := context.WithoutCancel(c.Request.Context())
	go func() {
		ctx, cancel := context.WithTimeout(ctx, respondTimeout)
		defer cancel()
		if err := h.Slack.Respond(ctx, responseURL, text); err != nil {
			h.Logger.Warn("slack: a click's answer could not be shown", "error", err, "text", text)
		}
	}()
}

// slackInteraction takes a click on an incident button. It answers as soon
// as the click is done in the store: what Slack is told (the message
// updated, the thread reply) goes through the outbox, well inside the 3
// seconds Slack waits; what the person who clicked must read (a refusal)
// goes through the click's response_url.
func (h *handlers) slackInteraction(c *gin.Context) {
	result := ClickBad
	defer func() { h.observeClick(result) }()
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxSlackBody+1))
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "could not read the request body"})
		return
	}
	if len(body) > maxSlackBody {
		c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": "interaction payload is over 1 MiB"})
		return
	}
	if msg := h.slackVerify(c.Request.Header, body); msg != "" {
		result = ClickForged
		c.Set("reason", msg)
		c.JSON(http.StatusUnauthorized, gin.H{"error": msg})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		c.JSON(http.StatusBadRequest, gin.H{"error": "want a form with a payload field, as Slack sends interactions"})
		return
	}
	var cb slackInteraction
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "payload is not an interaction: " + err.Error()})
		return
	}
	if cb.Type != "block_actions" {
		c.JSON(http.StatusBadRequest, gin.H{"error": "interaction type " + strconv.Quote(string(cb.Type)) + " is not taken; only block_actions from incident buttons"})
		return
	}
	if len(cb.blockActions()) == 0 {
		c.JSON(http.StatusBadRequest, gin.H{"error": "block_actions payload holds no action"})
		return
	}
	user := cb.User.ID
	if user == "" {
		c.JSON(http.StatusBadRequest, gin.H{"error": "block_actions payload names no user"})
		return
	}
	name := cb.User.Name
	if name == "" {
		name = cb.User.Username
	}
	// Slack's retry of a click (X-Slack-Retry-Num) carries the same
	// action_ts: it is done once, and answered once.
	var todo []slackBlockAction
	var keys []string
	for _, a := range cb.blockActions() {
		key := user + "\x00" + a.ActionTs + "\x00" + a.ActionID + "\x00" + a.Value
		if h.slackSeen.claim(key, h.Now()) {
			todo, keys = append(todo, a), append(keys, key)
		}
	}
	if len(todo) == 0 {
		result = ClickRetry
		c.Set("reason", "a retry of a click already taken")
		c.Status(http.StatusOK)
		return
	}
	if h.Slack.Allowed != nil {
		ok, err := h.Slack.Allowed(c.Request.Context(), user)
		if !ok {
			for _, k := range keys {
				h.slackSeen.finish(k, false)
			}
			why := "your user id " + user + " is not in notifiers.slack.allowed_users nor a member of notifiers.slack.allowed_groups"
			if err != nil {
				why = "your membership of notifiers.slack.allowed_groups could not be read (" + err.Error() + ")"
			}
			result = ClickNotAllowed
			c.Status(http.StatusOK)
			h.slackTell(c, cb.ResponseURL, "You are not allowed to act on wabridge incidents from Slack: "+why+". Nothing was changed.")
			return
		}
	}
	var answers []string
	for i, a := range todo {
		msg, err := h.Slack.Actions.SlackAction(c.Request.Context(), SlackAction{
			ActionID: a.ActionID, Value: a.Value, UserID: user, UserName: name,
		})
		h.slackSeen.finish(keys[i], err == nil)
		if err != nil {
			for _, k := range keys[i+1:] {
				h.slackSeen.finish(k, false)
			}
			result = ClickFailed
			c.JSON(http.StatusInternalServerError, gin.H{"error": "the click could not be done: " + err.Error()})
			h.slackTell(c, cb.ResponseURL, "The click could not be done ("+err.Error()+"). Nothing may have changed: try again.")
			return
		}
		if msg != "" {
			answers = append(answers, msg)
		}
	}
	result = ClickDone
	if len(answers) > 0 {
		result = ClickUnchanged
	}
	c.Status(http.StatusOK)
	h.slackTell(c, cb.ResponseURL, strings.Join(answers, "\n"))
}

// slackVerify checks Slack's v0 signature over the raw body and that the
// request is fresh; it says what is wrong, or "".
func (h *handlers) slackVerify(hdr http.Header, body []byte) string {
	ts := hdr.Get("X-Slack-Request-Timestamp")
	sig := hdr.Get("X-Slack-Signature")
	if ts == "" || sig == "" {
		return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "X-Slack-Request-Timestamp is not a Unix time"
	}
	if d := h.Now().Sub(time.Unix(secs, 0)); d > slackMaxSkew || d < -slackMaxSkew {
		return "X-Slack-Request-Timestamp is more than 5 minutes from now: a replayed request, or a clock that is off"
	}
	got, ok := parseSlackSig(sig)
	if !ok {
		return "X-Slack-Signature is not v0=<hex>"
	}
	mac := hmac.New(sha256.New, []byte(h.Slack.SigningSecret.Value()))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return "X-Slack-Signature does not match notifiers.slack.signing_secret"
	}
	return ""
}

func parseSlackSig(s string) ([]byte, bool) {
	hexSig, ok := strings.CutPrefix(s, "v0=")
	if !ok {
		return nil, false
	}
	b, err := hex.DecodeString(hexSig)
	if err != nil || len(b) != sha256.Size {
		return nil, false
	}
	return b, true
}
