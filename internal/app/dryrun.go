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
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/config"
	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/secret"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/rules"
)

// DryRun evaluates deliveries through the pipeline's own committer, on a
// throwaway store: empty, or a snapshot of the real one for --state. So
// the decisions it reports (opened, joined, silenced, inhibited, muted,
// below threshold, duplicate, and whatever decisions the pipeline gains)
// are the ones serve would make. It sends nothing and changes nothing in
// the real store.
type DryRun struct {
	cfg    *config.Config
	srcs   map[string]sources.Source
	rt     *Runtime
	render *renderer // nil without Render

	dir string
	st  *store.Bolt
	p   *pipeline.Pipeline

	mu        sync.Mutex
	clock     time.Time // zero: the wall clock
	decisions []pipeline.Decision
	reported  map[string]bool // outbox ids already reported
	seq       int
}

// DryRunOptions says what a dry run starts from.
type DryRunOptions struct {
	// State, when set, is the store whose incidents, silences and dedup
	// records the run starts from (a snapshot is taken; the store is only
	// read).
	State *store.Bolt
	// Render adds the exact HTTP requests the Slack and Jira notifiers
	// would send.
	Render bool
	// Clock is the run's time; zero follows the wall clock.
	Clock time.Time
}

// NewDryRun prepares a dry run over rt. Close it when done.
func NewDryRun(cfg *config.Config, srcs map[string]sources.Source, rt *Runtime, opts DryRunOptions) (*DryRun, error) {
	dir, err := os.MkdirTemp("", "wabridge-dryrun-")
	if err != nil {
		return nil, fmt.Errorf("dry run: temporary store: %w", err)
	}
	d := &DryRun{cfg: cfg, srcs: srcs, rt: rt, dir: dir, clock: opts.Clock, reported: map[string]bool{}}
	if opts.State != nil {
		if err := opts.State.Snapshot(dir); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("dry run: read the store's state: %w", err)
		}
	}
	if d.st, err = store.Open(dir, store.Options{NoSync: true}); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("dry run: %w", err)
	}
	// What the snapshot already had waiting is not this run's to report.
	if out, err := d.st.Outbox(context.Background()); err == nil {
		for _, e := range out {
			d.reported[e.ID] = true
		}
	}
	d.p, err = pipeline.New(PipelineConfig(cfg), pipeline.Deps{
		Store:   d.st,
		Sources: func(name string) (sources.Source, bool) { s, ok := srcs[name]; return s, ok },
		Runtime: func() *pipeline.Runtime { return rt.Runtime },
		Now:     d.now,
		Decided: func(ds []pipeline.Decision) {
			d.mu.Lock()
			d.decisions = append(d.decisions, ds...)
			d.mu.Unlock()
		},
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	if opts.Render {
		if d.render, err = newRenderer(cfg); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

func (d *DryRun) now() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.clock.IsZero() {
		return time.Now().UTC()
	}
	return d.clock
}

// SetClock moves the run's clock (rules tests step through time).
func (d *DryRun) SetClock(t time.Time) {
	d.mu.Lock()
	d.clock = t
	d.mu.Unlock()
}

// Close removes the throwaway store.
func (d *DryRun) Close() {
	if d.p != nil {
		_ = d.p.Close()
	} else if d.st != nil {
		_ = d.st.Close()
	}
	if d.render != nil {
		d.render.close()
	}
	_ = os.RemoveAll(d.dir)
}

// Report is what a dry run prints: {"events", "notifications"} as the
// contract has it, extended with how each event was evaluated.
type Report struct {
	// Events are those past the source's accept filter; Dropped the others.
	Events        []event.Event  `json:"events"`
	Dropped       []DroppedEvent `json:"dropped"`
	Notifications []Planned      `json:"notifications"`
	Evaluations   []Evaluation   `json:"evaluations"`
}

// DroppedEvent is an event the source's accept filter drops, and why.
type DroppedEvent struct {
	Event  event.Event `json:"event"`
	Reason string      `json:"reason"`
}

// Evaluation is how one event was judged.
type Evaluation struct {
	EventID string `json:"event_id"`
	// Dropped says why the source's accept filter dropped the event; it
	// then met no rule.
	Dropped   string              `json:"dropped,omitempty"`
	Rules     []rules.Explanation `json:"rules"`
	Decisions []DecisionView      `json:"decisions"`
}

// DecisionView is one pipeline decision, with a line for people.
type DecisionView struct {
	Rule          string `json:"rule,omitempty"`
	Outcome       string `json:"outcome"`
	Detail        string `json:"detail,omitempty"`
	Fingerprint   string `json:"fingerprint,omitempty"`
	Notifications int    `json:"notifications,omitempty"`
	Text          string `json:"text"`
}

func viewDecision(d pipeline.Decision) DecisionView {
	v := DecisionView{Rule: d.Rule, Outcome: string(d.Outcome), Detail: d.Detail, Fingerprint: d.Fingerprint, Notifications: d.Notifications}
	switch d.Outcome {
	case pipeline.OutcomeSilenced:
		v.Text = "silenced by " + strings.TrimPrefix(d.Detail, "silence ")
	case pipeline.OutcomeInhibited:
		v.Text = "inhibited by " + strings.TrimPrefix(d.Detail, "open incident ")
	case pipeline.OutcomeBelowThreshold:
		v.Text = "below threshold: " + d.Detail
	default:
		v.Text = string(d.Outcome)
		if d.Detail != "" {
			v.Text += ": " + d.Detail
		}
	}
	if d.Notifications > 0 {
		v.Text += fmt.Sprintf(" (%d notifications)", d.Notifications)
	}
	return v
}

func newReport() *Report {
	return &Report{Events: []event.Event{}, Dropped: []DroppedEvent{}, Notifications: []Planned{}, Evaluations: []Evaluation{}}
}

// Deliver runs one payload as source would receive it, at the run's
// clock, and reports what happened.
func (d *DryRun) Deliver(ctx context.Context, sourceName, contentType string, body []byte) (*Report, error) {
	src, err := pickSource(d.srcs, sourceName, d.cfg)
	if err != nil {
		return nil, badInput{err}
	}
	if contentType == "" {
		contentType = "application/json"
		if src.Type() == "twilio" {
			contentType = "application/x-www-form-urlencoded"
		}
	}
	d.mu.Lock()
	d.seq++
	id := fmt.Sprintf("dry-run-%d", d.seq)
	d.mu.Unlock()
	del := delivery.Delivery{ID: id, Source: src.Name(), ReceivedAt: d.now(), ContentType: contentType, Body: body}
	events, err := src.Parse(del)
	if err != nil {
		return nil, badInput{fmt.Errorf("source %s (%s) rejects this payload: %w", src.Name(), src.Type(), err)}
	}
	if events == nil {
		events = []event.Event{}
	}
	rep := newReport()
	for i := range events {
		e := events[i]
		d.rt.Catalog.Enrich(&e)
		ev := Evaluation{EventID: e.ID, Rules: []rules.Explanation{}, Decisions: []DecisionView{}}
		// As serve does, the accept filter drops events before the rules.
		if !src.Accept(&e) {
			ev.Dropped = fmt.Sprintf("status %q is not in source %s's accept list", e.Status, src.Name())
			rep.Dropped = append(rep.Dropped, DroppedEvent{Event: e, Reason: ev.Dropped})
		} else {
			rep.Events = append(rep.Events, e)
			ev.Rules = d.rt.Rules.Explain(&e)
		}
		rep.Evaluations = append(rep.Evaluations, ev)
	}
	if err := d.p.Accept(ctx, del, events); err != nil {
		return nil, err
	}
	if err := d.p.ProcessInbox(); err != nil {
		return nil, err
	}
	d.collect(ctx, rep)
	return rep, nil
}

// Tick applies what time alone decides at the run's clock (group_wait
// over, resolve_after) and reports it.
func (d *DryRun) Tick(ctx context.Context) (*Report, error) {
	if err := d.p.Tick(); err != nil {
		return nil, err
	}
	rep := newReport()
	d.collect(ctx, rep)
	return rep, nil
}

// collect moves the decisions and new outbox entries since the last call
// into rep.
func (d *DryRun) collect(ctx context.Context, rep *Report) {
	d.mu.Lock()
	ds := d.decisions
	d.decisions = nil
	d.mu.Unlock()
	byEvent := map[string]int{}
	for i, e := range rep.Evaluations {
		byEvent[e.EventID] = i
	}
	for _, dec := range ds {
		i, ok := byEvent[dec.EventID]
		if !ok {
			rep.Evaluations = append(rep.Evaluations, Evaluation{EventID: dec.EventID, Rules: []rules.Explanation{}})
			i = len(rep.Evaluations) - 1
			byEvent[dec.EventID] = i
		}
		rep.Evaluations[i].Decisions = append(rep.Evaluations[i].Decisions, viewDecision(dec))
	}
	out, err := d.st.Outbox(context.Background())
	if err != nil {
		rep.Notifications = append(rep.Notifications, Planned{Error: "read the dry run's outbox: " + err.Error()})
		return
	}
	for _, e := range out {
		if d.reported[e.ID] {
			continue
		}
		d.reported[e.ID] = true
		rep.Notifications = append(rep.Notifications, d.plan(ctx, e))
	}
}

// plan renders one queued notification as the sender would send it.
func (d *DryRun) plan(ctx context.Context, e outbox.Entry) Planned {
	n := e.Notification
	p := Planned{Rule: n.Rule.Name, Notifier: n.Action.Notifier, EventID: n.Event.ID, Op: string(n.Op), Target: pipeline.Target(n.Action)}
	if n.Incident != nil {
		p.Fingerprint = n.Incident.Fingerprint
	}
	notifier, ok := d.rt.Notifiers[n.Action.Notifier]
	if !ok {
		p.Error = fmt.Sprintf("notifier %q is not configured", n.Action.Notifier)
		return p
	}
	msg, err := notifier.Render(&n)
	if err != nil {
		p.Error = err.Error()
	}
	if p.Target == "" {
		p.Target = msg.Target // the notifier's default (Slack's channel)
	}
	p.Summary, p.Body = msg.Summary, msg.Body
	if d.render != nil && err == nil {
		p.Requests, p.RenderError = d.render.requests(ctx, &n)
	}
	return p
}

func pickSource(srcs map[string]sources.Source, name string, cfg *config.Config) (sources.Source, error) {
	if name == "" && len(cfg.Sources) > 0 {
		name = cfg.Sources[0].Name
	}
	if src, ok := srcs[name]; ok {
		return src, nil
	}
	var names []string
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("no source named %q (configured: %s)", name, strings.Join(names, ", "))
}

// badInput is a dry run's input at fault, not the run.
type badInput struct{ error }

func (e badInput) Unwrap() error { return e.error }

// Request is one HTTP request a notifier would send, byte for byte.
type Request struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body"`
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
	got []Request
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

func (r *renderer) close() {
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
	r.got = append(r.got, Request{Method: req.Method, URL: u, ContentType: req.Header.Get("Content-Type"), Body: string(body)})
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

// requests sends n through the capturing notifier and returns what it sent.
func (r *renderer) requests(ctx context.Context, n *notification.Notification) ([]Request, string) {
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
		got = []Request{}
	}
	return got, msg
}

// DryRun starts a dry run from this service's store: the --state run,
// offline or (through the admin API) inside a running server.
func (s *Service) DryRun(opts DryRunOptions) (*DryRun, error) {
	opts.State = s.store
	return NewDryRun(s.cfg, s.sources, s.runtime.Load(), opts)
}

// DryRunRequest is the body of POST /api/v1/test: a payload to evaluate
// against the running server's state.
type DryRunRequest struct {
	Source      string `json:"source,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Payload     string `json:"payload"`
	Render      bool   `json:"render,omitempty"`
}

// RunDryRun evaluates one request against the service's state.
func (s *Service) RunDryRun(ctx context.Context, req DryRunRequest) (*Report, error) {
	d, err := s.DryRun(DryRunOptions{Render: req.Render})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Deliver(ctx, req.Source, req.ContentType, []byte(req.Payload))
}
