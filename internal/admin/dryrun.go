package admin

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/pipeline"
	"github.com/wabridge/wabridge/internal/sources"
	"github.com/wabridge/wabridge/internal/store"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/rules"
)

// DryRun evaluates deliveries through the pipeline's own committer, on a
// throwaway store: empty, or a snapshot of the real one for --state. So
// the decisions it reports (opened, joined, silenced, inhibited, muted,
// below threshold, duplicate, and whatever decisions the pipeline gains)
// are the ones serve would make. It sends nothing and changes nothing in
// the real store.
type DryRun struct {
	pl     Planner
	render Renderer // nil without Render

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
	State Snapshotter
	// Render adds the exact HTTP requests the Slack and Jira notifiers
	// would send.
	Render bool
	// Clock is the run's time; zero follows the wall clock.
	Clock time.Time
}

// Planner is what dry runs are planned with: the pipeline's settings, the
// sources and the runtime serve would use.
type Planner struct {
	Pipeline pipeline.Config
	Sources  map[string]sources.Source
	// DefaultSource is the source of a request that names none: the
	// first configured.
	DefaultSource string
	Runtime       *pipeline.Runtime
	// Render builds the notifiers of --render, which send to a recorder;
	// nil offers no rendering.
	Render func() (Renderer, error)
}

// Renderer sends a notification through the real notifiers pointed at a
// recorder, and returns the requests they sent and the error they would
// report.
type Renderer interface {
	Requests(ctx context.Context, n *notification.Notification) ([]Request, string)
	Close()
}

// Snapshotter copies a store's state into a directory, as a new embedded
// store a dry run can open and change.
type Snapshotter interface {
	Snapshot(dir string) error
}

// NewDryRun prepares a dry run. Close it when done.
func NewDryRun(pl Planner, opts DryRunOptions) (*DryRun, error) {
	dir, err := os.MkdirTemp("", "wabridge-dryrun-")
	if err != nil {
		return nil, fmt.Errorf("dry run: temporary store: %w", err)
	}
	d := &DryRun{pl: pl, dir: dir, clock: opts.Clock, reported: map[string]bool{}}
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
	d.p, err = pipeline.New(pl.Pipeline, pipeline.Deps{
		Store:   d.st,
		Sources: func(name string) (sources.Source, bool) { s, ok := pl.Sources[name]; return s, ok },
		Runtime: func() *pipeline.Runtime { return pl.Runtime },
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
	if opts.Render && pl.Render != nil {
		if d.render, err = pl.Render(); err != nil {
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
		d.render.Close()
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
	src, err := pickSource(d.pl.Sources, sourceName, d.pl.DefaultSource)
	if err != nil {
		return nil, Invalid(err)
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
		return nil, Invalid(fmt.Errorf("source %s (%s) rejects this payload: %w", src.Name(), src.Type(), err))
	}
	if events == nil {
		events = []event.Event{}
	}
	rep := newReport()
	for i := range events {
		e := events[i]
		if d.pl.Runtime != nil && d.pl.Runtime.Catalog != nil {
			d.pl.Runtime.Catalog.Enrich(&e)
		}
		ev := Evaluation{EventID: e.ID, Rules: []rules.Explanation{}, Decisions: []DecisionView{}}
		// As serve does, the accept filter drops events before the rules.
		if !src.Accept(&e) {
			ev.Dropped = fmt.Sprintf("status %q is not in source %s's accept list", e.Status, src.Name())
			rep.Dropped = append(rep.Dropped, DroppedEvent{Event: e, Reason: ev.Dropped})
		} else {
			rep.Events = append(rep.Events, e)
			if d.pl.Runtime != nil {
				ev.Rules = d.pl.Runtime.Rules.Explain(&e)
			}
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
	p := Planned{Rule: n.Rule.Name, Notifier: n.Action.Notifier, EventID: n.Event.ID, Op: string(n.Op), Target: n.Action.Target}
	if n.Incident != nil {
		p.Fingerprint = n.Incident.Fingerprint
	}
	var notifier notifiers.Notifier
	ok := false
	if d.pl.Runtime != nil {
		notifier, ok = d.pl.Runtime.Notifiers[n.Action.Notifier]
	}
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
		p.Requests, p.RenderError = d.render.Requests(ctx, &n)
	}
	return p
}

func pickSource(srcs map[string]sources.Source, name, def string) (sources.Source, error) {
	if name == "" {
		name = def
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

// Request is one HTTP request a notifier would send, byte for byte.
type Request struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body"`
}

// Planned is one notification a dry run would queue, rendered.
type Planned struct {
	Rule     string `json:"rule"`
	Notifier string `json:"notifier"`
	Target   string `json:"target"`
	Summary  string `json:"summary"`
	Body     string `json:"body"`
	EventID  string `json:"event_id"`
	Error    string `json:"error,omitempty"`
	// Op and Fingerprint say what the notification does to which
	// incident (open, update, repeat, resolve).
	Op          string `json:"op,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Requests are the exact HTTP requests the notifier would send
	// (wabridge test --render); RenderError is what it would report.
	Requests    []Request `json:"requests,omitempty"`
	RenderError string    `json:"render_error,omitempty"`
}

// DryRunRequest is the body of POST /api/v1/test: a payload to evaluate
// against the running server's state.
type DryRunRequest struct {
	Source      string `json:"source,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Payload     string `json:"payload"`
	Render      bool   `json:"render,omitempty"`
}
