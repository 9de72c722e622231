// Package log is the notifier that writes one JSON line per notification to
// stdout or a file. It stands in for Slack or Jira when they are not
// configured, rendering with their templates so the line shows exactly what
// would have been sent.
package log

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/templates"
)

// Name is the notifier's name in rules and results.
const Name = "log"

var _ notifiers.Notifier = (*Notifier)(nil)

// Notifier writes notifications as JSON lines. It is safe for concurrent use.
type Notifier struct {
	tmpl   *templates.Templates
	logger *slog.Logger
	now    func() time.Time
	target string // "stdout" or the path

	mu     sync.Mutex // one line is one Write, never interleaved
	w      io.Writer
	closer io.Closer // nil for stdout and injected writers
}

// Option changes a Notifier; tests use them.
type Option func(*Notifier)

// WithClock sets the clock that stamps each line.
func WithClock(now func() time.Time) Option { return func(n *Notifier) { n.now = now } }

// WithWriter sends lines to w instead of stdout or cfg.Path.
func WithWriter(w io.Writer) Option { return func(n *Notifier) { n.w = w } }

// New opens cfg.Path for appending (creating the file, not its directory),
// or uses stdout when the path is empty. A nil tmpl means the defaults.
func New(cfg Config, tmpl *templates.Templates, logger *slog.Logger, opts ...Option) (*Notifier, error) {
	if tmpl == nil {
		t, err := templates.Load("", templates.WithSpecs(Spec()))
		if err != nil {
			return nil, fmt.Errorf("log notifier: load default templates: %w", err)
		}
		tmpl = t
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{tmpl: tmpl, logger: logger, now: time.Now, target: "stdout"}
	for _, opt := range opts {
		opt(n)
	}
	if n.w != nil {
		if cfg.Path != "" {
			n.target = cfg.Path
		}
		return n, nil
	}
	if cfg.Path == "" {
		n.w = os.Stdout
		return n, nil
	}
	// A missing directory is a typo more often than a wish: say so rather
	// than create a tree somewhere unexpected.
	dir := filepath.Dir(cfg.Path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("log notifier: directory %s of path %s does not exist; create it or fix notifiers.log.path", dir, cfg.Path)
	case err != nil:
		return nil, fmt.Errorf("log notifier: check directory of %s: %w", cfg.Path, err)
	case !st.IsDir():
		return nil, fmt.Errorf("log notifier: %s is not a directory (notifiers.log.path %s)", dir, cfg.Path)
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log notifier: open %s: %w", cfg.Path, err)
	}
	n.w, n.closer, n.target = f, f, cfg.Path
	return n, nil
}

// Close closes the file, if the notifier opened one.
func (n *Notifier) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closer == nil {
		return nil
	}
	err := n.closer.Close()
	n.closer = nil
	n.w = io.Discard
	if err != nil {
		return fmt.Errorf("log notifier: close %s: %w", n.target, err)
	}
	return nil
}

// Line is one JSON line the notifier writes.
type Line struct {
	Time           time.Time `json:"time"`
	NotificationID string    `json:"notification_id,omitempty"`
	Op             string    `json:"op"`
	Rule           string    `json:"rule"`
	Notifier       string    `json:"notifier"`
	// StandInFor names the notifier the action asked for, when the log
	// writes in its place.
	StandInFor  string `json:"stand_in_for,omitempty"`
	Target      string `json:"target"`
	Summary     string `json:"summary"`
	Body        string `json:"body"`
	EventID     string `json:"event_id"`
	Code        int    `json:"code,omitempty"`
	Severity    string `json:"severity"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Ref         string `json:"ref,omitempty"`
}

// Render renders with the templates of the notifier the action names, so a
// log standing in for Slack shows the Slack message.
func (n *Notifier) Render(nt *notification.Notification) (notification.Message, error) {
	if nt == nil {
		return notification.Message{}, errors.New("log notifier: nil notification")
	}
	if nt.Op == notification.OpLink {
		// A link to the incident's other message or ticket has no template.
		var parts []string
		if nt.Incident != nil {
			for _, k := range slices.Sorted(maps.Keys(nt.Incident.Links)) {
				if u := nt.Incident.Links[k]; u != "" {
					parts = append(parts, k+": "+u)
				}
			}
		}
		return notification.Message{Notifier: Name, Target: n.targetFor(nt.Action), Summary: "link", Body: strings.Join(parts, "\n")}, nil
	}
	summary, body, err := n.tmpl.Render(nt.Action.Notifier, nt)
	if err != nil {
		return notification.Message{}, fmt.Errorf("log notifier: rule %s: %w", nt.Rule.Name, err)
	}
	if nt.Test {
		summary = notification.TestMarker + summary
	}
	return notification.Message{Notifier: Name, Target: n.targetFor(nt.Action), Summary: summary, Body: body}, nil
}

// targetFor is where the notifier the log stands in for would have sent
// (the action's Target), else where the line goes.
func (n *Notifier) targetFor(a notification.Action) string {
	if a.Notifier != Name && a.Target != "" {
		return a.Target
	}
	return n.target
}

// Notify writes the line. A failed write is transient: a full disk or a
// closed pipe may recover.
func (n *Notifier) Notify(ctx context.Context, nt *notification.Notification) (notification.Result, error) {
	if err := ctx.Err(); err != nil {
		return notification.Result{}, &notifiers.Error{Notifier: Name, Reason: notifiers.ReasonTransient, Err: err}
	}
	msg, err := n.Render(nt)
	if err != nil {
		// A template that passed the load check but fails on this event
		// will fail again: retrying cannot help.
		return notification.Result{}, &notifiers.Error{Notifier: Name, Reason: notifiers.ReasonPermanent, Err: err}
	}
	l := Line{
		Time:           n.now().UTC(),
		NotificationID: nt.ID,
		Op:             string(nt.Op),
		Rule:           nt.Rule.Name,
		Notifier:       Name,
		Target:         msg.Target,
		Summary:        msg.Summary,
		Body:           msg.Body,
		EventID:        nt.Event.ID,
		Code:           nt.Event.Code,
		Severity:       string(templates.DataFor(nt).Severity()),
	}
	if nt.Action.Notifier != "" && nt.Action.Notifier != Name {
		l.StandInFor = nt.Action.Notifier
	}
	if nt.Incident != nil {
		l.Fingerprint, l.Ref = nt.Incident.Fingerprint, nt.Incident.Ref
	}
	b, err := json.Marshal(l)
	if err != nil {
		return notification.Result{}, &notifiers.Error{Notifier: Name, Reason: notifiers.ReasonPermanent, Err: fmt.Errorf("encode line: %w", err)}
	}
	b = append(b, '\n')

	n.mu.Lock()
	_, err = n.w.Write(b)
	n.mu.Unlock()
	if err != nil {
		n.logger.Warn("log notifier: write failed", "target", n.target, "rule", nt.Rule.Name, "error", err)
		return notification.Result{}, &notifiers.Error{Notifier: Name, Reason: notifiers.ReasonTransient, Err: fmt.Errorf("write to %s: %w", n.target, err)}
	}
	// Standing in for Slack or Jira, the line is all that happened: the
	// result says "logged", never "sent".
	return notification.Result{Logged: l.StandInFor != ""}, nil
}
