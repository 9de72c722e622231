package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/sources"
)

// Planner is what dry runs over cfg, srcs and rt are planned with.
func Planner(cfg *config.Config, srcs map[string]sources.Source, rt *Runtime) admin.Planner {
	pl := admin.Planner{
		Pipeline: PipelineConfig(cfg),
		Sources:  srcs,
		Render: func() (admin.Renderer, error) {
			r, err := newRenderer(cfg)
			if err != nil {
				return nil, err
			}
			return r, nil
		},
	}
	if len(cfg.Sources) > 0 {
		pl.DefaultSource = cfg.Sources[0].Name
	}
	if rt != nil {
		pl.Runtime = rt.Runtime
	}
	return pl
}

// NewDryRun prepares a dry run over cfg, srcs and rt. Close it when done.
func NewDryRun(cfg *config.Config, srcs map[string]sources.Source, rt *Runtime, opts admin.DryRunOptions) (*admin.DryRun, error) {
	return admin.NewDryRun(Planner(cfg, srcs, rt), opts)
}

// renderer runs the real Slack and Jira notifiers against a loopback
// server that records what they send and answers as the services would,
// so --render shows the requests themselves, not a second rendering.
type renderer struct {
	srv     *httptest.Server
	rt      *Runtime
	base    map[string]string // capture prefix → the configured base URL
	secrets []string          // credentials that travel in bodies (Slack's token), printed as <secret>

	mu  sync.Mutex
	got []admin.Request
}

func newRenderer(cfg *config.Config) (*renderer, error) {
	r := &renderer{base: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	c := *cfg
	if c.Notifiers.Slack.Token.IsSet() {
		base := c.Notifiers.Slack.APIURL
		if base == "" {
			base = "https://slack.com/api/"
		}
		r.base["/slack/"] = strings.TrimRight(base, "/") + "/"
		tok := c.Notifiers.Slack.Token.Value()
		r.secrets = append(r.secrets, url.QueryEscape(tok), tok)
		c.Notifiers.Slack.APIURL = r.srv.URL + "/slack/"
	} else if c.Notifiers.Slack.WebhookURL.IsSet() {
		r.base["/slack-webhook"] = "(notifiers.slack.webhook_url)"
		c.Notifiers.Slack.WebhookURL = secret.Secret(r.srv.URL + "/slack-webhook")
	}
	if c.Notifiers.Jira.Configured() {
		if c.Notifiers.Jira.Cloud() {
			c.Notifiers.Jira.APIType = "cloud"
		} else {
			c.Notifiers.Jira.APIType = "datacenter"
		}
		r.base["/jira/"] = strings.TrimRight(c.Notifiers.Jira.URL, "/") + "/"
		c.Notifiers.Jira.URL = r.srv.URL + "/jira/"
	}
	rt, err := BuildRuntime(&c, slog.New(slog.DiscardHandler))
	if err != nil {
		r.srv.Close()
		return nil, fmt.Errorf("dry run: build notifiers for --render: %w", err)
	}
	r.rt = rt
	return r, nil
}

// Close stops the recorder and the notifiers.
func (r *renderer) Close() {
	_ = r.rt.Close()
	r.srv.Close()
}

func (r *renderer) serve(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	body := RedactBody(string(raw), r.secrets...)
	u := req.URL.Path
	for prefix, base := range r.base {
		if rest, ok := strings.CutPrefix(u, prefix); ok {
			u = base + rest
			break
		}
	}
	r.mu.Lock()
	if req.URL.RawQuery != "" {
		u += "?" + req.URL.RawQuery
	}
	r.got = append(r.got, admin.Request{Method: req.Method, URL: u, ContentType: req.Header.Get("Content-Type"), Body: string(body)})
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	p := req.URL.Path
	switch {
	case strings.HasPrefix(p, "/slack-webhook"):
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	case strings.HasPrefix(p, "/slack/"):
		_, _ = io.WriteString(w, `{"ok":true,"channel":"C0DRYRUN","ts":"1700000000.000100","message":{"ts":"1700000000.000100"}}`)
	case req.Method == http.MethodPost && strings.HasSuffix(p, "/issue"):
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"10000","key":"DRYRUN-1","self":"`+r.srv.URL+`/jira/rest/api/2/issue/10000"}`)
	case strings.Contains(p, "/search"):
		_, _ = io.WriteString(w, `{"startAt":0,"maxResults":50,"total":0,"issues":[]}`)
	case strings.Contains(p, "/transitions") && req.Method == http.MethodGet:
		_, _ = io.WriteString(w, `{"transitions":[]}`)
	case req.Method == http.MethodGet && strings.Contains(p, "/issue/"):
		_, _ = io.WriteString(w, `{"id":"10000","key":"DRYRUN-1","fields":{"status":{"name":"Open"},"labels":[]}}`)
	default:
		if req.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = io.WriteString(w, `{}`)
	}
}

// RedactBody replaces each secret in a request body with <secret>.
func RedactBody(body string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			body = strings.ReplaceAll(body, s, secret.Redacted)
		}
	}
	return body
}

// Requests sends n through the capturing notifier and returns what it sent.
func (r *renderer) Requests(ctx context.Context, n *notification.Notification) ([]admin.Request, string) {
	notifier, ok := r.rt.Notifiers[n.Action.Notifier]
	if !ok {
		return nil, ""
	}
	r.mu.Lock()
	r.got = nil
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := notifier.Notify(ctx, n)
	r.mu.Lock()
	got := r.got
	r.got = nil
	r.mu.Unlock()
	msg := ""
	if err != nil && !errors.Is(err, context.Canceled) {
		msg = err.Error()
	}
	if got == nil {
		got = []admin.Request{}
	}
	return got, msg
}
