package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/jira"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
	"github.com/wabridge/wabridge/templates"
)

const (
	token    = "xoxb-1111-2222-s3cr3tT0k3n"
	hookPath = "/services/T000/B000/h00kS3cr3t"
)

// request is what the fake Slack received, as the tests read it.
type request struct {
	Path   string
	Form   url.Values // Web API calls
	Body   []byte     // webhooks
	Header http.Header
}

// existingTS is the message the update, repeat and resolve notifications
// of these tests refer to ("C123/" + existingTS).
const existingTS = "1700000000.000100"

// fakeSlack is the strict fake Slack every test runs slack-go against.
type fakeSlack struct {
	*slacktest.Server
}

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	s := slacktest.New(t, slacktest.Options{
		Token:       token,
		WebhookPath: hookPath,
		Channels:    map[string]string{"#whatsapp-ops": "C123", "#default": "C0DEF", "#c": "C0C"},
	})
	s.Seed("C123", existingTS)
	return &fakeSlack{Server: s}
}

// requests are the calls that carry a message, in order: chat.getPermalink
// (asked after each post) is left out and checked on its own.
func (f *fakeSlack) requests() []request {
	var out []request
	for _, c := range f.Calls() {
		switch c.Method {
		case "chat.getPermalink":
			continue
		case "webhook":
			out = append(out, request{Path: hookPath, Body: c.Body, Header: c.Header})
		default:
			out = append(out, request{Path: "/" + c.Method, Form: c.Form, Body: c.Body, Header: c.Header})
		}
	}
	return out
}

// setRespond answers every later call with exactly what fn says.
func (f *fakeSlack) setRespond(fn func(path string) (int, http.Header, string)) {
	f.ClearFaults()
	status, header, body := fn("")
	f.FailRaw("", 1<<20, status, header, body)
}

// checkAccepted fails the test when Slack would have refused a call.
func (f *fakeSlack) checkAccepted(t *testing.T) {
	t.Helper()
	for _, c := range f.Failed() {
		t.Errorf("Slack would refuse %s: %s %v", c.Method, c.Error, c.Form)
	}
}

// posted is the ref of the n-th top-level message the fake holds, counting
// the seeded one as 0.
func (f *fakeSlack) posted(n int) string {
	p := f.Posts()
	if n >= len(p) {
		return ""
	}
	return p[n].Channel + "/" + p[n].TS
}

// logBuffer captures the notifier's logs at debug level, to prove what they
// hold and what they never hold.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTokenNotifier(t *testing.T, f *fakeSlack, mod ...func(*Config)) (*Notifier, *logBuffer) {
	t.Helper()
	cfg := Config{Token: secret.Secret(token), APIURL: f.URL, Channel: "#default", Timeout: 2 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	logs := &logBuffer{}
	n, err := New(cfg, testTemplates(t), slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "h00kS3cr3t") {
			t.Errorf("a credential reached the logs:\n%s", logs.String())
		}
	})
	return n, logs
}

var first = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func testNotification(op notification.Op) *notification.Notification {
	ev := templates.SampleEvents()[0]
	return &notification.Notification{
		ID:     "n-1",
		Rule:   notification.RuleRef{Name: "account-blocked"},
		Action: notification.Action{Notifier: "slack", Target: "#whatsapp-ops", Settings: []byte(`{"channel":"#whatsapp-ops"}`)},
		Op:     op,
		Event:  ev,
		Catalog: catalog.Entry{
			Namespace: catalog.NamespaceMeta, Code: 131031, Title: "Business account locked",
			Description: "The WhatsApp Business Account has been restricted or disabled.",
			Actions:     []string{"Review the account's status in WhatsApp Manager."},
			Severity:    event.SeverityCritical,
		},
		Incident: &notification.Incident{
			Fingerprint: "fp-131031", Status: "open", Count: 313, NewSince: 312,
			FirstSeen: first, SinceTime: first.Add(64 * time.Minute), LastSeen: first.Add(90 * time.Minute),
			Ref: "C123/" + existingTS,
		},
	}
}

func blocksJSON(t *testing.T, r request) string {
	t.Helper()
	b := r.Form.Get("blocks")
	if b == "" {
		t.Fatalf("no blocks in %s: %v", r.Path, r.Form)
	}
	var v []map[string]any
	if err := json.Unmarshal([]byte(b), &v); err != nil {
		t.Fatalf("blocks are not JSON: %v", err)
	}
	return b
}

func mustContain(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

func TestOpenPostsBlocks(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	res, err := n.Notify(context.Background(), testNotification(notification.OpOpen))
	if err != nil {
		t.Fatal(err)
	}
	f.checkAccepted(t)
	if res.Ref != f.posted(1) || res.Ref == "" {
		t.Errorf("ref = %q, want %q", res.Ref, f.posted(1))
	}
	ch, ts, _ := strings.Cut(res.Ref, "/")
	if want := f.Permalink(ch, ts); res.Link != want || len(f.CallsOf("chat.getPermalink")) != 1 {
		t.Errorf("link = %q, want the permalink %q", res.Link, want)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Path != "/chat.postMessage" {
		t.Fatalf("requests = %+v", reqs)
	}
	r := reqs[0]
	if r.Form.Get("channel") != "#whatsapp-ops" || r.Form.Get("thread_ts") != "" {
		t.Errorf("channel %q thread_ts %q", r.Form.Get("channel"), r.Form.Get("thread_ts"))
	}
	if got := r.Form.Get("text"); got != "Business account locked (131031) on 15550783881" {
		t.Errorf("fallback text = %q", got)
	}
	b := blocksJSON(t, r)
	mustContain(t, "blocks", b, `"type":"header"`, ":rotating_light: Business account locked (131031)",
		"131031", "Business account locked", "Review the account's status in WhatsApp Manager.",
		"*******1234", "*Recipient*", "*WABA*", "*Phone number*", "*Time*", "*Severity*",
		"!date^", "Rule *account-blocked*", "Event `sample-failed-131031`", "Fingerprint `fp-131031`")
	if strings.Contains(b, "16505551234") {
		t.Error("blocks show the full recipient number")
	}
}

func TestChannelFallback(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification(notification.OpOpen)
	nt.Action.Target, nt.Action.Settings = "", nil
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	if got := f.requests()[0].Form.Get("channel"); got != "#default" {
		t.Errorf("channel = %q, want the config's", got)
	}

	n2, logs := newTokenNotifier(t, f, func(c *Config) { c.Channel = "" })
	_, err := n2.Notify(context.Background(), nt)
	if reason, _, _ := notifiers.Classify(err); reason != notifiers.ReasonPermanent || !strings.Contains(err.Error(), "no channel") {
		t.Errorf("err = %v (%s)", err, reason)
	}
	if len(f.requests()) != 1 {
		t.Error("a message without a channel reached Slack")
	}
	mustContain(t, "logs", logs.String(), "no channel")
}

func TestUpdateRepeatResolve(t *testing.T) {
	tests := []struct {
		op    notification.Op
		calls []string // paths in order
		check func(t *testing.T, reqs []request)
	}{
		{notification.OpUpdate, []string{"/chat.update"}, func(t *testing.T, reqs []request) {
			r := reqs[0]
			if r.Form.Get("channel") != "C123" || r.Form.Get("ts") != "1700000000.000100" {
				t.Errorf("update channel %q ts %q", r.Form.Get("channel"), r.Form.Get("ts"))
			}
			mustContain(t, "update blocks", blocksJSON(t, r), "*Occurrences*\\n313", "*Last seen*", "Review the account")
		}},
		{notification.OpRepeat, []string{"/chat.postMessage"}, func(t *testing.T, reqs []request) {
			r := reqs[0]
			if r.Form.Get("channel") != "C123" || r.Form.Get("thread_ts") != "1700000000.000100" {
				t.Errorf("repeat channel %q thread_ts %q", r.Form.Get("channel"), r.Form.Get("thread_ts"))
			}
			mustContain(t, "repeat text", r.Form.Get("text"), "312 more since 10:04 UTC", "313 in total")
		}},
		{notification.OpResolve, []string{"/chat.update", "/chat.postMessage"}, func(t *testing.T, reqs []request) {
			up, reply := reqs[0], reqs[1]
			if up.Form.Get("ts") != "1700000000.000100" || up.Form.Get("channel") != "C123" {
				t.Errorf("resolve update channel %q ts %q", up.Form.Get("channel"), up.Form.Get("ts"))
			}
			mustContain(t, "resolved blocks", blocksJSON(t, up), ":white_check_mark: Resolved: Business account locked")
			if reply.Form.Get("thread_ts") != "1700000000.000100" {
				t.Errorf("resolve reply thread_ts %q", reply.Form.Get("thread_ts"))
			}
			mustContain(t, "resolved reply", reply.Form.Get("text"), "Resolved: Business account locked after 313 events over 1h 30m")
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.op), func(t *testing.T) {
			f := newFakeSlack(t)
			n, _ := newTokenNotifier(t, f)
			res, err := n.Notify(context.Background(), testNotification(tt.op))
			if err != nil {
				t.Fatal(err)
			}
			if res.Ref != "C123/1700000000.000100" {
				t.Errorf("ref = %q", res.Ref)
			}
			f.checkAccepted(t)
			reqs := f.requests()
			var paths []string
			for _, r := range reqs {
				paths = append(paths, r.Path)
			}
			if fmt.Sprint(paths) != fmt.Sprint(tt.calls) {
				t.Fatalf("calls = %v, want %v", paths, tt.calls)
			}
			tt.check(t, reqs)
		})
	}
}

func TestMissingRefPostsNewMessage(t *testing.T) {
	for _, op := range []notification.Op{notification.OpUpdate, notification.OpRepeat, notification.OpResolve} {
		for name, inc := range map[string]*notification.Incident{"nil incident": nil, "empty ref": {Count: 2}, "bad ref": {Ref: "nots"}} {
			t.Run(string(op)+"/"+name, func(t *testing.T) {
				f := newFakeSlack(t)
				n, logs := newTokenNotifier(t, f)
				nt := testNotification(op)
				nt.Incident = inc
				res, err := n.Notify(context.Background(), nt)
				if err != nil {
					t.Fatal(err)
				}
				reqs := f.requests()
				if len(reqs) != 1 || reqs[0].Path != "/chat.postMessage" || reqs[0].Form.Get("thread_ts") != "" ||
					reqs[0].Form.Get("channel") != "#whatsapp-ops" {
					t.Fatalf("requests = %+v", reqs)
				}
				if res.Ref != f.posted(1) || res.Ref == "" {
					t.Errorf("ref = %q, want the new message %q", res.Ref, f.posted(1))
				}
				f.checkAccepted(t)
				mustContain(t, "debug log", logs.String(), "posting a new one")
			})
		}
	}
}

func TestFailuresAreClassified(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		reason notifiers.Reason
		after  time.Duration
		logged bool // auth and permanent failures are logged with the channel
		inErr  string
	}{
		{"channel_not_found", 200, nil, `{"ok":false,"error":"channel_not_found"}`, notifiers.ReasonPermanent, 0, true, "invite the bot"},
		{"not_in_channel", 200, nil, `{"ok":false,"error":"not_in_channel"}`, notifiers.ReasonPermanent, 0, true, "/invite"},
		{"is_archived", 200, nil, `{"ok":false,"error":"is_archived"}`, notifiers.ReasonPermanent, 0, true, "archived"},
		{"invalid_blocks", 200, nil, `{"ok":false,"error":"invalid_blocks"}`, notifiers.ReasonPermanent, 0, true, "invalid_blocks"},
		{"msg_too_long", 200, nil, `{"ok":false,"error":"msg_too_long"}`, notifiers.ReasonPermanent, 0, true, "msg_too_long"},
		{"invalid_auth", 200, nil, `{"ok":false,"error":"invalid_auth"}`, notifiers.ReasonAuth, 0, true, "notifiers.slack.token"},
		{"missing_scope", 200, nil, `{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"users:read"}`, notifiers.ReasonAuth, 0, true, "needs chat:write"},
		{"token_revoked", 200, nil, `{"ok":false,"error":"token_revoked"}`, notifiers.ReasonAuth, 0, true, "token_revoked"},
		{"internal_error", 200, nil, `{"ok":false,"error":"internal_error"}`, notifiers.ReasonTransient, 0, false, "internal_error"},
		{"429 with Retry-After", 429, http.Header{"Retry-After": {"7"}}, `{"ok":false,"error":"ratelimited"}`, notifiers.ReasonRateLimited, 7 * time.Second, false, "rate limit"},
		{"429 without Retry-After", 429, nil, ``, notifiers.ReasonRateLimited, 0, false, "429"},
		{"500", 500, nil, `<html>oops</html>`, notifiers.ReasonTransient, 0, false, "500"},
		{"503", 503, nil, ``, notifiers.ReasonTransient, 0, false, "503"},
		{"200 with HTML", 200, nil, `<html>proxy error</html>`, notifiers.ReasonTransient, 0, false, "post to #whatsapp-ops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			f.setRespond(func(string) (int, http.Header, string) { return tt.status, tt.header, tt.body })
			n, logs := newTokenNotifier(t, f)
			_, err := n.Notify(context.Background(), testNotification(notification.OpOpen))
			var ne *notifiers.Error
			if !errors.As(err, &ne) {
				t.Fatalf("err = %v, want *notifiers.Error", err)
			}
			if ne.Notifier != "slack" || ne.Reason != tt.reason || ne.RetryAfter != tt.after {
				t.Errorf("got %s after %s, want %s after %s (%v)", ne.Reason, ne.RetryAfter, tt.reason, tt.after, err)
			}
			mustContain(t, "error", err.Error(), tt.inErr, "#whatsapp-ops")
			if strings.Contains(err.Error(), token) {
				t.Error("the token is in the error")
			}
			if got := strings.Contains(logs.String(), `"channel":"#whatsapp-ops"`); got != tt.logged {
				t.Errorf("logged with channel = %v, want %v:\n%s", got, tt.logged, logs.String())
			}
		})
	}
}

func TestTransportFailuresAreTransient(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(500 * time.Millisecond):
		}
	}))
	defer slow.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for name, apiURL := range map[string]string{"timeout": slow.URL, "connection refused": closedURL} {
		t.Run(name, func(t *testing.T) {
			n, err := New(Config{Token: secret.Secret(token), APIURL: apiURL, Channel: "#c", Timeout: 100 * time.Millisecond}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = n.Notify(context.Background(), testNotification(notification.OpOpen))
			if reason, _, retry := notifiers.Classify(err); reason != notifiers.ReasonTransient || !retry {
				t.Errorf("err = %v classified %s", err, reason)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification(notification.OpOpen)
	nt.Catalog = catalog.Entry{} // the title comes from the event
	nt.Event.Title = strings.Repeat("T", 50_000)
	nt.Event.Details = strings.Repeat("é", 5000)
	nt.Event.WABAID = strings.Repeat("9", 2500)
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	f.checkAccepted(t)
	r := f.requests()[0]
	if got := r.Form.Get("text"); len(got) > maxText || !strings.HasSuffix(got, templates.TruncationMarker) {
		t.Errorf("fallback text is %d bytes, want <= %d ending with the marker", len(got), maxText)
	}
	var blocks []struct {
		Type   string                  `json:"type"`
		Text   *struct{ Text string }  `json:"text"`
		Fields []struct{ Text string } `json:"fields"`
	}
	if err := json.Unmarshal([]byte(r.Form.Get("blocks")), &blocks); err != nil {
		t.Fatal(err)
	}
	var sawHeader, sawSection, sawField bool
	for _, b := range blocks {
		if b.Text != nil {
			limit := maxSection
			if b.Type == "header" {
				limit = maxHeader
				sawHeader = true
			}
			if len(b.Text.Text) > limit {
				t.Errorf("%s text is %d bytes, over %d", b.Type, len(b.Text.Text), limit)
			}
			if b.Type == "section" && strings.HasSuffix(b.Text.Text, templates.TruncationMarker) {
				sawSection = true
			}
			if b.Type == "header" && !strings.HasSuffix(b.Text.Text, templates.TruncationMarker) {
				t.Errorf("header not marked as truncated: %q", b.Text.Text)
			}
		}
		for _, fl := range b.Fields {
			if len(fl.Text) > maxField {
				t.Errorf("field is %d bytes, over %d", len(fl.Text), maxField)
			}
			if strings.HasPrefix(fl.Text, "*WABA*") {
				sawField = strings.HasSuffix(fl.Text, templates.TruncationMarker)
			}
		}
	}
	if !sawHeader || !sawSection || !sawField {
		t.Errorf("truncated header %v, section %v, field %v", sawHeader, sawSection, sawField)
	}

	// A thread reply is cut to the message limit.
	f2 := newFakeSlack(t)
	n2, _ := newTokenNotifier(t, f2)
	rep := testNotification(notification.OpRepeat)
	rep.Action.Templates = map[string]string{"repeat": "long.repeat"}
	dir := t.TempDir()
	writeFile(t, dir+"/long.tmpl", `{{ define "long.repeat" }}`+strings.Repeat("x", 45_000)+`{{ end }}`)
	tm, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	n2.tmpl = tm
	if _, err := n2.Notify(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	if got := f2.requests()[0].Form.Get("text"); len(got) > maxText || !strings.HasSuffix(got, templates.TruncationMarker) {
		t.Errorf("thread reply is %d bytes", len(got))
	}
}

func TestLimitBlocks(t *testing.T) {
	var blocks []goslack.Block
	for range 60 {
		blocks = append(blocks, goslack.NewDividerBlock())
	}
	got := limitBlocks(blocks)
	if len(got) != maxBlocks {
		t.Fatalf("%d blocks", len(got))
	}
	last, ok := got[maxBlocks-1].(*goslack.ContextBlock)
	if !ok {
		t.Fatalf("last block is %T", got[maxBlocks-1])
	}
	b, _ := json.Marshal(last)
	mustContain(t, "last block", string(b), "11 more blocks not shown", templates.TruncationMarker)
	if len(limitBlocks(blocks[:50])) != 50 || len(limitBlocks(blocks[:3])) != 3 {
		t.Error("limitBlocks changed a message within the limit")
	}
}

func TestWebhookMode(t *testing.T) {
	f := newFakeSlack(t)
	logs := &logBuffer{}
	n, err := New(Config{WebhookURL: secret.Secret(f.URL + hookPath)}, nil,
		slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []notification.Op{notification.OpOpen, notification.OpUpdate, notification.OpRepeat, notification.OpResolve} {
		res, err := n.Notify(context.Background(), testNotification(op))
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if res.Ref != "" {
			t.Errorf("%s: ref %q from a webhook", op, res.Ref)
		}
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d webhook posts, want 3 (update is skipped)", len(reqs))
	}
	var msgs []goslack.WebhookMessage
	for _, r := range reqs {
		if r.Path != hookPath || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("posted to %s as %s", r.Path, r.Header.Get("Content-Type"))
		}
		var m goslack.WebhookMessage
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	open, _ := json.Marshal(msgs[0].Blocks)
	mustContain(t, "webhook open", string(open), "131031", "Business account locked", "Review the account's status", "*******1234")
	if strings.Contains(string(open), "16505551234") {
		t.Error("full recipient number in the webhook message")
	}
	rep, _ := json.Marshal(msgs[1].Blocks)
	mustContain(t, "webhook repeat", string(rep), "312 more since")
	if msgs[2].Text != "Resolved: Business account locked (131031) on 15550783881" {
		t.Errorf("resolved text = %q", msgs[2].Text)
	}

	tests := []struct {
		status int
		header http.Header
		reason notifiers.Reason
		after  time.Duration
	}{
		{429, http.Header{"Retry-After": {"7"}}, notifiers.ReasonRateLimited, 7 * time.Second},
		{500, nil, notifiers.ReasonTransient, 0},
		{403, nil, notifiers.ReasonAuth, 0},
		{404, nil, notifiers.ReasonAuth, 0},
		{400, nil, notifiers.ReasonPermanent, 0},
		{410, nil, notifiers.ReasonPermanent, 0},
	}
	for _, tt := range tests {
		f.setRespond(func(string) (int, http.Header, string) { return tt.status, tt.header, "invalid_token" })
		_, err := n.Notify(context.Background(), testNotification(notification.OpOpen))
		var ne *notifiers.Error
		if !errors.As(err, &ne) || ne.Reason != tt.reason || ne.RetryAfter != tt.after {
			t.Errorf("%d: err = %v, want %s after %s", tt.status, err, tt.reason, tt.after)
			continue
		}
		if strings.Contains(err.Error(), "h00kS3cr3t") {
			t.Errorf("%d: the webhook URL is in the error: %v", tt.status, err)
		}
	}

	// A transport error carries the URL in net/http's text; it must not
	// leave the notifier.
	f.Close()
	_, err = n.Notify(context.Background(), testNotification(notification.OpOpen))
	if reason, _, _ := notifiers.Classify(err); reason != notifiers.ReasonTransient {
		t.Errorf("closed server: %v classified %s", err, reason)
	}
	for _, s := range []string{err.Error(), logs.String(), fmt.Sprintf("%+v %#v", err, errors.Unwrap(err))} {
		if strings.Contains(s, "h00kS3cr3t") {
			t.Errorf("the webhook URL leaked: %s", s)
		}
	}
}

func TestRenderSendsNothing(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	for _, tt := range []struct {
		op   notification.Op
		body []string
	}{
		{notification.OpOpen, []string{"*Business account locked*", "*What to do*", "• Review the account's status in WhatsApp Manager."}},
		{notification.OpRepeat, []string{"312 more since 10:04 UTC"}},
		{notification.OpResolve, []string{"Resolved: Business account locked"}},
	} {
		msg, err := n.Render(testNotification(tt.op))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Notifier != "slack" || msg.Target != "#whatsapp-ops" || msg.Summary != "Business account locked (131031) on 15550783881" {
			t.Errorf("%s: Render = %+v", tt.op, msg)
		}
		mustContain(t, "body", msg.Body, tt.body...)
		if strings.Contains(msg.Body, token) || strings.Contains(msg.Body, "16505551234") {
			t.Errorf("%s: body leaks: %s", tt.op, msg.Body)
		}
	}
	if len(f.requests()) != 0 {
		t.Error("Render called Slack")
	}
	if _, err := n.Render(nil); err == nil {
		t.Error("Render(nil) succeeded")
	}
}

func TestProviderTextCannotPing(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification(notification.OpOpen)
	nt.Catalog = catalog.Entry{}
	nt.Event.Title = "<!channel> urgent"
	nt.Event.Details = "<!here> <https://evil.example|click>"
	nt.Rule.Name = "<@U123>"
	if _, err := n.Notify(context.Background(), nt); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	for _, s := range []string{r.Form.Get("text"), r.Form.Get("blocks")} {
		if strings.Contains(s, "<!channel>") || strings.Contains(s, "<!here>") || strings.Contains(s, "<https://evil") || strings.Contains(s, "<@U123>") {
			t.Errorf("unescaped provider text: %s", s)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing set", Config{}, "neither notifiers.slack.token nor notifiers.slack.webhook_url"},
		{"negative timeout", Config{Token: token, Timeout: -time.Second}, "negative"},
		{"bad api_url", Config{Token: token, APIURL: "slack.example/api"}, "api_url: not an absolute http(s) URL"},
		{"bad webhook", Config{WebhookURL: "hooks.slack.com/services/h00kS3cr3t"}, "webhook_url: not an absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "h00kS3cr3t") || strings.Contains(err.Error(), token) {
				t.Errorf("a credential is in the error: %v", err)
			}
		})
	}
	// A trailing slash on api_url must not double up.
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f, func(c *Config) { c.APIURL = f.URL + "/" })
	if _, err := n.Notify(context.Background(), testNotification(notification.OpOpen)); err != nil {
		t.Fatal(err)
	}
	if p := f.requests()[0].Path; p != "/chat.postMessage" {
		t.Errorf("path = %q", p)
	}
}

func TestUnknownOpAndBadTemplate(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	nt := testNotification("explode")
	_, err := n.Notify(context.Background(), nt)
	if reason, _, _ := notifiers.Classify(err); reason != notifiers.ReasonPermanent || !strings.Contains(err.Error(), "explode") {
		t.Errorf("err = %v", err)
	}
	nt = testNotification(notification.OpOpen)
	nt.Action.Templates = map[string]string{"title": "no.such"}
	_, err = n.Notify(context.Background(), nt)
	if reason, _, _ := notifiers.Classify(err); reason != notifiers.ReasonPermanent || !strings.Contains(err.Error(), "no.such") {
		t.Errorf("err = %v", err)
	}
	if _, err := n.Notify(context.Background(), nil); err == nil {
		t.Error("Notify(nil) succeeded")
	}
	if len(f.requests()) != 0 {
		t.Error("a failed render reached Slack")
	}
}

func TestConcurrentNotify(t *testing.T) {
	f := newFakeSlack(t)
	n, _ := newTokenNotifier(t, f)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := []notification.Op{notification.OpOpen, notification.OpUpdate, notification.OpRepeat, notification.OpResolve}[i%4]
			for range 5 {
				if _, err := n.Notify(context.Background(), testNotification(op)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConfigNeverPrintsCredentials(t *testing.T) {
	cfg := Config{Token: token, WebhookURL: secret.Secret("https://hooks.slack.com" + hookPath), Channel: "#c"}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "slack", cfg)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), string(js), logged.String()} {
		if strings.Contains(s, token) || strings.Contains(s, "h00kS3cr3t") {
			t.Errorf("credential printed: %s", s)
		}
	}
}

// testTemplates are the default templates with the specs of the notifiers
// whose links a Slack message shows.
func testTemplates(t testing.TB) *templates.Templates {
	t.Helper()
	tm, err := templates.Load("", templates.WithSpecs(Spec(), jira.Spec()))
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
