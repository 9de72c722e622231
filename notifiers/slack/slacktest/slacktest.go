// Package slacktest is a strict stand-in for Slack's Web API and incoming
// webhooks on loopback: an httptest server that keeps the messages it was
// sent, records every call, and answers as Slack documents for
// chat.postMessage, chat.update, chat.getPermalink, conversations.history,
// usergroups.users.list and interactions' response_url, refusing what
// Slack refuses (a wrong or missing token, a token without the method's
// scope, an unknown channel or user group, a response_url used more than
// five times or after 30 minutes, a thread_ts or ts of no message, more than 50
// blocks, a section text over 3,000 characters, a header over 150,
// malformed blocks, buttons Slack refuses). Tests run the real slack-go client against it.
package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Slack's documented limits.
const (
	MaxBlocks        = 50
	MaxSectionText   = 3000
	MaxHeaderText    = 150
	MaxField         = 2000
	MaxFields        = 10
	MaxContextElems  = 10
	MaxText          = 40000
	MaxBlockID       = 255
	DefaultToken     = "xoxb-test-token"
	DefaultWebhook   = "/services/T000/B000/test-webhook"
	DefaultChannel   = "#ops"
	DefaultChannelID = "C0OPS"
)

// Options configure a Server. The zero value takes DefaultToken, knows
// channel #ops as C0OPS and serves an incoming webhook at DefaultWebhook.
type Options struct {
	Token string
	// Channels maps names ("#ops") to IDs ("C0OPS"); a channel can be
	// named by either. nil means {DefaultChannel: DefaultChannelID}.
	Channels map[string]string
	// WebhookPath is the incoming webhook's path.
	WebhookPath string
	// Team is the workspace's subdomain in permalinks.
	Team string
	// Scopes are the token's OAuth scopes: a method whose scope is not
	// among them is refused with missing_scope, as Slack does. nil grants
	// every scope.
	Scopes []string
	// UserGroups maps user group (subteam) ids to their members' user
	// ids, for usergroups.users.list.
	UserGroups map[string][]string
	// DisabledGroups are user groups that are disabled: listed only with
	// include_disabled.
	DisabledGroups map[string]bool
}

// Message is one message the server holds.
type Message struct {
	Channel  string // the channel ID
	TS       string
	ThreadTS string // set on a thread reply
	Text     string
	Blocks   json.RawMessage
	Metadata json.RawMessage
	Updates  int // chat.update calls that changed it
	Webhook  bool
}

// Call is one request the server received.
type Call struct {
	Method string // "chat.postMessage", or "webhook"
	At     time.Time
	Form   url.Values
	Body   []byte
	Header http.Header
	// Error is the Slack error the call was answered with, "" when ok.
	Error  string
	Status int
	// Fault says the answer came from RateLimit, FailHTTP or FailAPI.
	Fault bool
}

// Server is the fake Slack. It is safe for concurrent use.
type Server struct {
	*httptest.Server
	opts Options

	delay atomic.Int64 // nanoseconds each API call waits before it is handled

	mu       sync.Mutex
	calls    []Call
	messages []*Message
	seq      int
	lastTS   int64 // microseconds of the last ts given
	faults   []*fault

	responseURLs map[string]*responseURL
	responses    []Response
}

type fault struct {
	method     string // "" for any
	left       int
	status     int
	retryAfter int
	apiErr     string
	raw        *rawAnswer
}

type rawAnswer struct {
	header http.Header
	body   string
}

// New starts a server on 127.0.0.1, closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a server the caller closes.
func NewServer(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Channels == nil {
		opts.Channels = map[string]string{DefaultChannel: DefaultChannelID}
	}
	if opts.WebhookPath == "" {
		opts.WebhookPath = DefaultWebhook
	}
	if opts.Team == "" {
		opts.Team = "wabridge-test"
	}
	s := &Server{opts: opts}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetDelay makes every Web API call wait d before Slack handles it: a slow
// Slack. A client that gives up meanwhile does not stop the call, as it
// would not stop Slack.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// APIURL is the base to give slack.OptionAPIURL (ends in a slash).
func (s *Server) APIURL() string { return s.URL + "/api/" }

// WebhookURL is the incoming webhook's URL.
func (s *Server) WebhookURL() string { return s.URL + s.opts.WebhookPath }

// SetToken changes the token the server accepts.
func (s *Server) SetToken(tok string) {
	s.mu.Lock()
	s.opts.Token = tok
	s.mu.Unlock()
}

// RateLimit answers the next n calls of method ("" for any) with 429 and
// Retry-After: retryAfter seconds.
func (s *Server) RateLimit(method string, n, retryAfter int) {
	s.mu.Lock()
	s.faults = append(s.faults, &fault{method: method, left: n, status: http.StatusTooManyRequests, retryAfter: retryAfter, apiErr: "ratelimited"})
	s.mu.Unlock()
}

// FailHTTP answers the next n calls of method ("" for any) with an HTTP
// status (500, 503 ...).
func (s *Server) FailHTTP(method string, n, status int) {
	s.mu.Lock()
	s.faults = append(s.faults, &fault{method: method, left: n, status: status, apiErr: "internal_error"})
	s.mu.Unlock()
}

// FailAPI answers the next n calls of method ("" for any) with HTTP 200
// and {"ok":false,"error":apiErr}.
func (s *Server) FailAPI(method string, n int, apiErr string) {
	s.mu.Lock()
	s.faults = append(s.faults, &fault{method: method, left: n, status: http.StatusOK, apiErr: apiErr})
	s.mu.Unlock()
}

// FailRaw answers the next n calls of method ("" for any, "webhook" for
// the incoming webhook) with exactly status, header and body: a proxy's
// HTML page, an empty 503.
func (s *Server) FailRaw(method string, n, status int, header http.Header, body string) {
	s.mu.Lock()
	s.faults = append(s.faults, &fault{method: method, left: n, status: status, raw: &rawAnswer{header: header, body: body}})
	s.mu.Unlock()
}

// Seed adds a message as if it had been posted before, so updates and
// replies to it are accepted.
func (s *Server) Seed(channelID, ts string) {
	s.mu.Lock()
	s.messages = append(s.messages, &Message{Channel: channelID, TS: ts, Text: "seeded"})
	s.mu.Unlock()
}

// ClearFaults drops every fault still waiting.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// Calls returns every call received, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsOf returns the calls of one method.
func (s *Server) CallsOf(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Failed returns the calls Slack would have refused by its own rules
// (not those answered by a fault): what a test must never see.
func (s *Server) Failed() []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Error != "" && !c.Fault {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns copies of every message, top-level and replies, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = *m
	}
	return out
}

// Posts returns the top-level messages.
func (s *Server) Posts() []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.ThreadTS == "" {
			out = append(out, m)
		}
	}
	return out
}

// Replies returns the replies in the thread of ts.
func (s *Server) Replies(ts string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.ThreadTS == ts {
			out = append(out, m)
		}
	}
	return out
}

// Permalink is the link chat.getPermalink gives for a message.
func (s *Server) Permalink(channelID, ts string) string {
	return fmt.Sprintf("https://%s.slack.com/archives/%s/p%s", s.opts.Team, channelID, strings.ReplaceAll(ts, ".", ""))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if r.URL.Path == s.opts.WebhookPath {
		s.webhook(w, r, body)
		return
	}
	if strings.HasPrefix(r.URL.Path, responsePath) {
		s.respond(w, r, body)
		return
	}
	method := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	_ = r.ParseForm()
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	form := r.Form
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		// Slack takes JSON bodies too; flatten the top level into a form.
		form = url.Values{}
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			for k, v := range m {
				if str, ok := v.(string); ok {
					form.Set(k, str)
				} else {
					b, _ := json.Marshal(v)
					form.Set(k, string(b))
				}
			}
		}
		for k, v := range r.URL.Query() {
			form[k] = v
		}
	}
	call := Call{Method: method, At: time.Now(), Form: form, Body: body, Header: r.Header.Clone()}
	s.mu.Lock()
	defer s.mu.Unlock()
	var f *fault
	for _, x := range s.faults {
		if x.left > 0 && (x.method == "" || x.method == method) {
			x.left--
			f = x
			break
		}
	}
	var status int
	var out map[string]any
	switch {
	case f != nil && f.raw != nil:
		call.Status, call.Fault, call.Error = f.status, true, "raw answer"
		s.calls = append(s.calls, call)
		for k, v := range f.raw.header {
			w.Header()[k] = v
		}
		w.WriteHeader(f.status)
		io.WriteString(w, f.raw.body)
		return
	case f != nil:
		status, out = f.status, map[string]any{"ok": false, "error": f.apiErr}
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
	default:
		status, out = http.StatusOK, s.apiLocked(method, r, form)
	}
	call.Status, call.Fault = status, f != nil
	if ok, _ := out["ok"].(bool); !ok {
		call.Error, _ = out["error"].(string)
	}
	s.calls = append(s.calls, call)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

func fail(code string) map[string]any { return map[string]any{"ok": false, "error": code} }

func failWith(code string, errs []string) map[string]any {
	return map[string]any{"ok": false, "error": code, "errors": errs, "response_metadata": map[string]any{"messages": errs}}
}

func (s *Server) tokenOK(r *http.Request, form url.Values) (string, bool) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		tok = form.Get("token")
	}
	switch {
	case tok == "":
		return "not_authed", false
	case tok != s.opts.Token:
		return "invalid_auth", false
	}
	return "", true
}

// channelID resolves a channel name or ID; callers hold s.mu.
func (s *Server) channelID(ch string) (string, bool) {
	if id, ok := s.opts.Channels[ch]; ok {
		return id, true
	}
	if id, ok := s.opts.Channels["#"+ch]; ok {
		return id, true
	}
	for _, id := range s.opts.Channels {
		if id == ch {
			return id, true
		}
	}
	return "", false
}

func (s *Server) findLocked(channel, ts string) *Message {
	for _, m := range s.messages {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return nil
}

func (s *Server) apiLocked(method string, r *http.Request, form url.Values) map[string]any {
	switch method {
	case "chat.postMessage", "chat.update", "chat.getPermalink", "conversations.history", "conversations.list", "auth.test",
		"usergroups.users.list":
	default:
		return fail("unknown_method")
	}
	if code, ok := s.tokenOK(r, form); !ok {
		return fail(code)
	}
	if out := s.missingScope(method); out != nil {
		return out
	}
	switch method {
	case "auth.test":
		return map[string]any{"ok": true, "team": s.opts.Team, "user": "wabridge", "bot_id": "B0WABRIDGE"}
	case "chat.postMessage":
		return s.postLocked(form)
	case "chat.update":
		return s.updateLocked(form)
	case "chat.getPermalink":
		id, ok := s.channelID(form.Get("channel"))
		if !ok {
			return fail("channel_not_found")
		}
		if s.findLocked(id, form.Get("message_ts")) == nil {
			return fail("message_not_found")
		}
		return map[string]any{"ok": true, "channel": id, "permalink": s.Permalink(id, form.Get("message_ts"))}
	case "conversations.history":
		return s.historyLocked(form)
	case "conversations.list":
		return s.listLocked()
	case "usergroups.users.list":
		return s.groupMembersLocked(form)
	}
	return fail("unknown_method")
}

// content checks text, blocks and metadata as chat.postMessage and
// chat.update do.
func content(form url.Values) (map[string]any, bool) {
	text, blocks := form.Get("text"), form.Get("blocks")
	if text == "" && blocks == "" && form.Get("attachments") == "" {
		return fail("no_text"), false
	}
	if len([]rune(text)) > MaxText {
		return fail("msg_too_long"), false
	}
	if blocks != "" {
		if errs := ValidateBlocks([]byte(blocks)); len(errs) > 0 {
			return failWith("invalid_blocks", errs), false
		}
	}
	if md := form.Get("metadata"); md != "" {
		var m struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if json.Unmarshal([]byte(md), &m) != nil || m.EventType == "" || m.EventPayload == nil {
			return fail("invalid_metadata_format"), false
		}
	}
	return nil, true
}

func (s *Server) postLocked(form url.Values) map[string]any {
	ch := form.Get("channel")
	if ch == "" {
		return fail("channel_not_found")
	}
	id, ok := s.channelID(ch)
	if !ok {
		return fail("channel_not_found")
	}
	if out, ok := content(form); !ok {
		return out
	}
	thread := form.Get("thread_ts")
	if thread != "" {
		parent := s.findLocked(id, thread)
		if parent == nil {
			return fail("thread_not_found")
		}
		if parent.ThreadTS != "" {
			// A reply's ts is not a thread: Slack wants the parent's.
			thread = parent.ThreadTS
		}
	}
	s.seq++
	// Slack's ts is the posting time in microseconds, unique per channel.
	us := max(time.Now().UnixMicro(), s.lastTS+1)
	s.lastTS = us
	m := &Message{
		Channel: id, TS: fmt.Sprintf("%d.%06d", us/1e6, us%1e6), ThreadTS: thread,
		Text: form.Get("text"), Blocks: rawOrNil(form.Get("blocks")), Metadata: rawOrNil(form.Get("metadata")),
	}
	s.messages = append(s.messages, m)
	return map[string]any{"ok": true, "channel": id, "ts": m.TS, "message": map[string]any{"text": m.Text, "ts": m.TS}}
}

func (s *Server) updateLocked(form url.Values) map[string]any {
	ch, ts := form.Get("channel"), form.Get("ts")
	if ch == "" {
		return fail("channel_not_found")
	}
	// Like conversations.history, chat.update takes a conversation ID
	// only: "#ops" is channel_not_found.
	id, ok := s.channelID(ch)
	if !ok || id != ch {
		return fail("channel_not_found")
	}
	if ts == "" {
		return fail("message_not_found")
	}
	m := s.findLocked(id, ts)
	if m == nil {
		return fail("message_not_found")
	}
	if m.Webhook {
		return fail("cant_update_message")
	}
	if out, ok := content(form); !ok {
		return out
	}
	m.Text, m.Blocks, m.Updates = form.Get("text"), rawOrNil(form.Get("blocks")), m.Updates+1
	if md := form.Get("metadata"); md != "" {
		m.Metadata = rawOrNil(md)
	}
	return map[string]any{"ok": true, "channel": id, "ts": ts, "text": m.Text}
}

// historyLocked serves conversations.history: newest first, after oldest,
// at most limit (default 100, at most 999). Like Slack it takes a
// conversation ID only, never a "#name".
func (s *Server) historyLocked(form url.Values) map[string]any {
	id := form.Get("channel")
	if known, ok := s.channelID(id); !ok || known != id {
		return fail("channel_not_found")
	}
	withMeta := form.Get("include_all_metadata") == "true" || form.Get("include_all_metadata") == "1"
	oldest, _ := strconv.ParseFloat(form.Get("oldest"), 64)
	limit := 100
	if v := form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fail("invalid_limit")
		}
		limit = min(n, 999)
	}
	var msgs []map[string]any
	for i := len(s.messages) - 1; i >= 0 && len(msgs) < limit; i-- {
		m := s.messages[i]
		if m.Channel != id || m.ThreadTS != "" {
			continue
		}
		if ts, _ := strconv.ParseFloat(m.TS, 64); ts < oldest {
			continue
		}
		e := map[string]any{"type": "message", "ts": m.TS, "text": m.Text}
		if withMeta && m.Metadata != nil {
			e["metadata"] = m.Metadata
		}
		msgs = append(msgs, e)
	}
	if msgs == nil {
		msgs = []map[string]any{}
	}
	return map[string]any{"ok": true, "messages": msgs, "has_more": false}
}

// listLocked serves conversations.list: every channel the server knows,
// in one page.
func (s *Server) listLocked() map[string]any {
	var chs []map[string]any
	for name, id := range s.opts.Channels {
		chs = append(chs, map[string]any{"id": id, "name": strings.TrimPrefix(name, "#"), "is_channel": true})
	}
	return map[string]any{"ok": true, "channels": chs, "response_metadata": map[string]any{"next_cursor": ""}}
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// webhook serves an incoming webhook: a JSON body with text and/or blocks,
// answered "ok" in plain text, or an error string with 400 as Slack does.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request, body []byte) {
	call := Call{Method: "webhook", At: time.Now(), Body: body, Header: r.Header.Clone(), Status: http.StatusOK}
	var msg struct {
		Text     string          `json:"text"`
		Blocks   json.RawMessage `json:"blocks"`
		ThreadTS string          `json:"thread_ts"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var f *fault
	for _, x := range s.faults {
		if x.left > 0 && (x.method == "" || x.method == "webhook") {
			x.left--
			f = x
			break
		}
	}
	reply := func(status int, text string) {
		call.Status = status
		if text != "ok" {
			call.Error = text
		}
		s.calls = append(s.calls, call)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		io.WriteString(w, text)
	}
	switch {
	case f != nil && f.raw != nil:
		for k, v := range f.raw.header {
			w.Header()[k] = v
		}
		call.Fault = true
		reply(f.status, f.raw.body)
		return
	case f != nil:
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		call.Fault = true
		reply(f.status, f.apiErr)
		return
	case r.Method != http.MethodPost:
		reply(http.StatusMethodNotAllowed, "invalid_method")
		return
	case json.Unmarshal(body, &msg) != nil:
		reply(http.StatusBadRequest, "invalid_payload")
		return
	case msg.Text == "" && len(msg.Blocks) == 0:
		reply(http.StatusBadRequest, "no_text")
		return
	}
	if len(msg.Blocks) > 0 && string(msg.Blocks) != "null" {
		if errs := ValidateBlocks(msg.Blocks); len(errs) > 0 {
			reply(http.StatusBadRequest, "invalid_blocks")
			return
		}
	}
	s.seq++
	s.messages = append(s.messages, &Message{Channel: "webhook", TS: fmt.Sprintf("1700000000.%06d", s.seq), Text: msg.Text, Blocks: msg.Blocks, Webhook: true})
	reply(http.StatusOK, "ok")
}
