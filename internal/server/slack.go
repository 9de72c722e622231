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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	goslack "github.com/slack-go/slack"

	"github.com/wabridge/wabridge/internal/secret"
)

// SlackAction is one button click on an incident message.
type SlackAction struct {
	ActionID string // resolve, silence_1h, silence_24h
	Value    string // the incident's fingerprint
	UserID   string
	UserName string
}

// SlackActions does what a button asks. The message it returns is shown
// to the person who clicked; an error is a failure of ours (500), not of
// the click: an incident already resolved is a message, not an error.
type SlackActions interface {
	SlackAction(ctx context.Context, a SlackAction) (string, error)
}

// SlackInteractions configures POST /slack/interactions.
type SlackInteractions struct {
	SigningSecret secret.Secret
	// AllowedUsers, when not empty, are the user ids whose clicks count.
	AllowedUsers []string
	Actions      SlackActions
}

// Slack's request signing: requests older than this are refused, so a
// captured request cannot be replayed later.
const slackMaxSkew = 5 * time.Minute

// maxSlackBody bounds an interaction payload: it carries the message's
// blocks, at most 50 of a few kilobytes each.
const maxSlackBody = 1 << 20

// slackSeen remembers the clicks done, so Slack's retry of one (or a
// second delivery of the same request) does the work once. Entries
// outlive slackMaxSkew, past which the request is refused anyway.
type slackSeen struct {
	mu   sync.Mutex
	done map[string]slackDone
}

type slackDone struct {
	at      time.Time
	message string
	busy    bool
}

const slackSeenFor = 2 * slackMaxSkew

// claim marks key as being done; ok is false when it was done (or is
// being done), with what was answered.
func (s *slackSeen) claim(key string, now time.Time) (message string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, d := range s.done {
		if now.Sub(d.at) > slackSeenFor {
			delete(s.done, k)
		}
	}
	if d, seen := s.done[key]; seen {
		if d.busy {
			return "That click is being handled already.", false
		}
		return d.message, false
	}
	if s.done == nil {
		s.done = map[string]slackDone{}
	}
	s.done[key] = slackDone{at: now, busy: true}
	return "", true
}

func (s *slackSeen) finish(key, message string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		delete(s.done, key) // failed: a retry may do it
		return
	}
	s.done[key] = slackDone{at: s.done[key].at, message: message}
}

func (h *handlers) mountSlack(r *gin.Engine) {
	if h.Slack == nil || !h.Slack.SigningSecret.IsSet() || h.Slack.Actions == nil {
		return
	}
	r.POST("/slack/interactions", h.slackInteraction)
}

// slackAnswer is the reply to a click: Slack shows text to the person who
// clicked, and leaves the message as it is.
func slackAnswer(c *gin.Context, text string) {
	c.JSON(http.StatusOK, gin.H{"response_type": "ephemeral", "replace_original": false, "text": text})
}

// slackInteraction takes a click on an incident button. It answers as soon
// as the click is done in the store: what Slack is told (the message
// updated, the thread reply) goes through the outbox, well inside the 3
// seconds Slack waits.
func (h *handlers) slackInteraction(c *gin.Context) {
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
		c.Set("reason", msg)
		c.JSON(http.StatusUnauthorized, gin.H{"error": msg})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		c.JSON(http.StatusBadRequest, gin.H{"error": "want a form with a payload field, as Slack sends interactions"})
		return
	}
	var cb goslack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "payload is not an interaction: " + err.Error()})
		return
	}
	if cb.Type != goslack.InteractionTypeBlockActions {
		c.JSON(http.StatusBadRequest, gin.H{"error": "interaction type " + strconv.Quote(string(cb.Type)) + " is not taken; only block_actions from incident buttons"})
		return
	}
	user := cb.User.ID
	name := cb.User.Name
	if name == "" {
		name = cb.User.Username
	}
	if len(h.Slack.AllowedUsers) > 0 && !slices.Contains(h.Slack.AllowedUsers, user) {
		c.Set("reason", "slack user "+user+" is not in notifiers.slack.allowed_users")
		slackAnswer(c, "You are not allowed to act on wabridge incidents from Slack (your user id "+user+
			" is not in notifiers.slack.allowed_users). Nothing was changed.")
		return
	}
	if len(cb.ActionCallback.BlockActions) == 0 {
		c.JSON(http.StatusBadRequest, gin.H{"error": "block_actions payload holds no action"})
		return
	}
	var answers []string
	for _, a := range cb.ActionCallback.BlockActions {
		key := user + "\x00" + a.ActionTs + "\x00" + a.ActionID + "\x00" + a.Value
		if prev, ok := h.slackSeen.claim(key, h.Now()); !ok {
			answers = append(answers, prev)
			continue
		}
		msg, err := h.Slack.Actions.SlackAction(c.Request.Context(), SlackAction{
			ActionID: a.ActionID, Value: a.Value, UserID: user, UserName: name,
		})
		h.slackSeen.finish(key, msg, err == nil)
		if err != nil {
			c.Set("reason", err.Error())
			c.JSON(http.StatusInternalServerError, gin.H{"error": "the click could not be done: " + err.Error()})
			return
		}
		answers = append(answers, msg)
	}
	text := answers[0]
	for _, a := range answers[1:] {
		text += "\n" + a
	}
	slackAnswer(c, text)
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
