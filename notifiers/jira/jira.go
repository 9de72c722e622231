// Package jira opens, comments on, reopens and resolves one Jira ticket per
// incident, on Jira Cloud and Data Center, through one long-lived go-jira
// client. It classifies Jira's answers for the pipeline and never retries.
package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	gojira "github.com/andygrunwald/go-jira"

	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/templates"
)

// name is how this notifier signs its errors and messages.
const name = "jira"

// Jira's limits, counted in UTF-16 code units because Jira stores Java
// strings: an emoji counts twice.
const (
	maxSummary = 255
	maxText    = 32767 // description and comment
	maxLabel   = 255
)

// Markers tell a reader that wabridge cut the text, so nobody mistakes a
// truncated description for the whole story.
const (
	summaryMarker = "…"
	textMarker    = "\n\n… [truncated by wabridge: the full text is longer than Jira allows]"
)

// Labels wabridge puts on every ticket it opens: the first finds them all,
// the second finds the incident's ticket when the store has lost its key.
const (
	baseLabel         = "wabridge"
	testLabel         = "wabridge-test" // on notify-test's tickets, besides their own fingerprint label
	fingerprintPrefix = "wabridge-"
	searchMaxResults  = 10
	templateSummary   = "summary"
	templateDesc      = "description"
	templateComment   = "comment"
	templateResolved  = "resolved"
)

// Option changes how New builds a Notifier.
type Option func(*Notifier)

// WithClock replaces time.Now, for the reopen window.
func WithClock(now func() time.Time) Option {
	return func(n *Notifier) {
		if now != nil {
			n.now = now
		}
	}
}

// Notifier sends notifications to Jira. It is immutable after New and safe
// for concurrent use.
type Notifier struct {
	cfg    Config
	spec   notifiers.Spec // the roles it renders
	cloud  bool           // Jira Cloud: REST API v3 with ADF for descriptions and comments
	client *gojira.Client
	tmpl   *templates.Templates
	logger *slog.Logger
	now    func() time.Time
}

var _ notifiers.Notifier = (*Notifier)(nil)

// New validates cfg and builds the one Jira client the notifier uses for its
// whole life.
func New(cfg Config, tmpl *templates.Templates, logger *slog.Logger, opts ...Option) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("jira: invalid config: %w", err)
	}
	if tmpl == nil {
		return nil, errors.New("jira: templates are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.WithDefaults()
	n := &Notifier{
		cfg:    cfg,
		spec:   Spec(),
		cloud:  cfg.Cloud(),
		tmpl:   tmpl,
		logger: logger.With("notifier", name),
		now:    time.Now,
	}
	for _, o := range opts {
		o(n)
	}

	base := http.DefaultTransport.(*http.Transport).Clone()
	var auth http.RoundTripper
	switch {
	case n.cloud || cfg.User != "":
		// Cloud: account email + API token. Data Center with a user: the
		// same basic scheme with a password or token.
		auth = &gojira.BasicAuthTransport{Username: cfg.User, Password: cfg.Token.Value(), Transport: base}
	default:
		auth = &gojira.PATAuthTransport{Token: cfg.Token.Value(), Transport: base}
	}
	httpClient := &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &langTransport{next: auth},
	}
	client, err := gojira.NewClient(httpClient, cfg.URL)
	if err != nil {
		// url.Parse errors quote the URL; Validate already parsed it, so
		// this cannot happen with a valid config, and we do not echo it.
		return nil, errors.New("jira: build client: the url does not parse")
	}
	n.client = client
	return n, nil
}

// langTransport asks Jira for English, because transition and resolution
// names are localized and the config names them in English.
type langTransport struct{ next http.RoundTripper }

func (t *langTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Accept-Language", "en")
	return t.next.RoundTrip(r)
}

// Render returns what Notify would send, without calling Jira: the summary,
// and the description on open, the comment on repeat, the resolution note on
// resolve.
func (n *Notifier) Render(no *notification.Notification) (notification.Message, error) {
	if no == nil {
		return notification.Message{}, errors.New("jira: render: nil notification")
	}
	d := templates.DataFor(no)
	summary, err := n.summary(no, d)
	if err != nil {
		return notification.Message{}, fmt.Errorf("jira: %w", err)
	}
	if no.Op == notification.OpLink {
		link := ""
		if no.Incident != nil {
			link = no.Incident.Links["slack"]
		}
		return notification.Message{Notifier: name, Target: n.project(no), Summary: summary, Body: "Slack message of the incident: " + link}, nil
	}
	role := templateDesc
	switch no.Op {
	case notification.OpRepeat, notification.OpEscalate:
		role = templateComment
	case notification.OpResolve:
		role = templateResolved
	}
	body, err := n.text(no, d, role)
	if err != nil {
		return notification.Message{}, fmt.Errorf("jira: %w", err)
	}
	return notification.Message{Notifier: name, Target: n.project(no), Summary: summary, Body: body}, nil
}

// Notify applies the notification to the incident's ticket.
func (n *Notifier) Notify(ctx context.Context, no *notification.Notification) (notification.Result, error) {
	if no == nil {
		return notification.Result{}, permanent(errors.New("nil notification"))
	}
	d := templates.DataFor(no)
	switch no.Op {
	case notification.OpOpen, "":
		return n.open(ctx, no, d)
	case notification.OpUpdate:
		// A counter change is not worth a Jira comment: repeats carry it.
		return notification.Result{Ref: ref(no)}, nil
	case notification.OpRepeat:
		return n.repeat(ctx, no, d)
	case notification.OpResolve:
		return n.resolve(ctx, no, d)
	case notification.OpEscalate:
		return n.escalate(ctx, no, d)
	case notification.OpOpenResolved:
		// Over before it could be told: the ticket the open would use,
		// then resolved at once.
		res, err := n.open(ctx, no, d)
		if err != nil {
			return res, err
		}
		with := *no
		inc := *no.Incident
		inc.Ref = res.Ref
		with.Incident = &inc
		return n.resolve(ctx, &with, d)
	case notification.OpLink:
		return n.link(ctx, no)
	default:
		return notification.Result{}, permanent(fmt.Errorf("unknown op %q (want open, update, repeat, escalate, resolve, open_resolved or link)", no.Op))
	}
}

// escalate comments on the incident's ticket that it got worse and raises
// its priority to the action's EscalatePriority, when set and higher than
// the ticket's. The priority is checked first, so an unknown one fails
// before anything is written and a replay after the fix writes it once.
func (n *Notifier) escalate(ctx context.Context, no *notification.Notification, d templates.Data) (notification.Result, error) {
	key := ref(no)
	if key == "" {
		n.logger.Warn("jira escalation without a ticket key: looking for the incident's ticket",
			"rule", no.Rule.Name, "fingerprint", fingerprint(no))
		return n.open(ctx, no, d)
	}
	// A ticket closed or deleted in Jira is reopened or replaced, as for a
	// repeat: an escalation is never a comment nobody reads.
	if t, err := n.get(ctx, no, key); err != nil {
		return notification.Result{}, err
	} else if t == nil || t.resolved {
		return n.open(ctx, no, d)
	}
	raise := ""
	if want := strings.TrimSpace(no.Action.EscalatePriority); want != "" {
		var err error
		if raise, err = n.priorityToRaise(ctx, no, key, want); err != nil {
			return notification.Result{}, err
		}
	}
	if err := n.comment(ctx, no, d, key, templateComment); err != nil {
		return notification.Result{}, err
	}
	if raise != "" {
		fields := map[string]any{"fields": map[string]any{"priority": map[string]any{"name": raise}}}
		resp, err := n.client.Issue.UpdateIssueWithContext(ctx, key, fields)
		if err != nil {
			return notification.Result{}, n.fail(no, fmt.Sprintf("raise priority of %s to %q", key, raise), resp, err)
		}
		resp.Body.Close() // go-jira leaves the body of an answer it does not decode open
		n.logger.Info("jira ticket priority raised", "key", key, "priority", raise, "rule", no.Rule.Name)
	}
	return notification.Result{Ref: key, Link: n.browse(key)}, nil
}

// priorityToRaise returns the Jira name of the priority want when it ranks
// above the ticket's current one, "" when the ticket is already there or
// higher. Jira lists priorities highest first. A name Jira does not know
// is a permanent error that lists the ones it does.
func (n *Notifier) priorityToRaise(ctx context.Context, no *notification.Notification, key, want string) (string, error) {
	list, resp, err := n.client.Priority.GetListWithContext(ctx)
	if err != nil {
		return "", n.fail(no, "list priorities", resp, err)
	}
	target, names := -1, make([]string, len(list))
	for i, p := range list {
		names[i] = p.Name
		if target < 0 && strings.EqualFold(strings.TrimSpace(p.Name), want) {
			target = i
		}
	}
	if target < 0 {
		return "", permanent(fmt.Errorf("rule %s: escalate.priority %q is not a priority this Jira has (it has: %s); fix the rule, then replay this dead letter",
			no.Rule.Name, want, strings.Join(names, ", ")))
	}
	is, resp, err := n.client.Issue.GetWithContext(ctx, key, &gojira.GetQueryOptions{Fields: "priority"})
	if err != nil {
		return "", n.fail(no, "get issue "+key, resp, err)
	}
	if is.Fields != nil && is.Fields.Priority != nil {
		for i, p := range list {
			if strings.EqualFold(p.Name, is.Fields.Priority.Name) && i <= target {
				return "", nil // already as high
			}
		}
	}
	return list[target].Name, nil
}

// open creates the incident's ticket unless one already exists: the store's
// key first, a label search when the store has none.
func (n *Notifier) open(ctx context.Context, no *notification.Notification, d templates.Data) (notification.Result, error) {
	t, err := n.existing(ctx, no)
	if err != nil {
		return notification.Result{}, err
	}
	if t != nil {
		key, reused, err := n.reuse(ctx, no, d, t)
		if err != nil {
			return notification.Result{}, err
		}
		if reused {
			return notification.Result{Ref: key, Link: n.browse(key)}, nil
		}
	}
	key, err := n.create(ctx, no, d)
	if err != nil {
		return notification.Result{}, err
	}
	return notification.Result{Ref: key, Link: n.browse(key)}, nil
}

// repeat comments on the incident's ticket, after looking at it: a ticket
// closed in Jira is reopened or replaced, a deleted one recreated, so a
// repeat never lands as a comment nobody reads.
func (n *Notifier) repeat(ctx context.Context, no *notification.Notification, d templates.Data) (notification.Result, error) {
	if ref(no) == "" {
		n.logger.Warn("jira repeat without a ticket key: looking for the incident's ticket",
			"rule", no.Rule.Name, "fingerprint", fingerprint(no))
	}
	return n.open(ctx, no, d)
}

// link puts the incident's Slack message on its ticket as a remote link.
func (n *Notifier) link(ctx context.Context, no *notification.Notification) (notification.Result, error) {
	key := ref(no)
	if key == "" || no.Incident == nil || no.Incident.Links["slack"] == "" {
		return notification.Result{Ref: key}, nil
	}
	if err := n.addSlackLink(ctx, no, key); err != nil {
		return notification.Result{}, err
	}
	return notification.Result{Ref: key, Link: n.browse(key)}, nil
}

// addSlackLink adds (or, with the same global id, updates) the remote link
// to the incident's Slack message.
func (n *Notifier) addSlackLink(ctx context.Context, no *notification.Notification, key string) error {
	link := no.Incident.Links["slack"]
	body := map[string]any{
		"globalId": "wabridge:" + fingerprint(no) + ":slack",
		"object":   map[string]any{"url": link, "title": "Slack message of the incident"},
	}
	if err := n.do(ctx, http.MethodPost, "issue/"+key+"/remotelink", body, nil); err != nil {
		return n.fail(no, "link the Slack message to "+key, err.resp, err.err)
	}
	return nil
}

// browse is the ticket's URL for a person.
func (n *Notifier) browse(key string) string {
	if key == "" {
		return ""
	}
	return strings.TrimRight(n.cfg.URL, "/") + "/browse/" + key
}

func (n *Notifier) resolve(ctx context.Context, no *notification.Notification, d templates.Data) (notification.Result, error) {
	key := ref(no)
	var t *ticket
	if key == "" {
		n.logger.Warn("jira resolve without a ticket key: looking for the incident's ticket",
			"rule", no.Rule.Name, "fingerprint", fingerprint(no))
		found, err := n.search(ctx, fingerprint(no))
		if err != nil {
			return notification.Result{}, err
		}
		if found == nil {
			// Nothing to resolve in Jira: open one so the incident leaves a
			// trace, then resolve it below.
			n.logger.Warn("jira found no ticket to resolve: creating one", "rule", no.Rule.Name)
			created, err := n.create(ctx, no, d)
			if err != nil {
				return notification.Result{}, err
			}
			found = &ticket{key: created}
		}
		t, key = found, found.key
	} else {
		// Look at the ticket first: one deleted in Jira has nothing to
		// resolve, one closed there is left as the person closed it.
		got, err := n.get(ctx, no, key)
		if err != nil {
			return notification.Result{}, err
		}
		if got == nil {
			n.logger.Warn("jira ticket of the incident was deleted in Jira (404): nothing to resolve", "key", key,
				"rule", no.Rule.Name, "fingerprint", fingerprint(no))
			return notification.Result{}, nil
		}
		t = got
	}
	if t.resolved {
		n.logger.Info("jira ticket of the incident is already closed in Jira: left as it is", "key", key,
			"rule", no.Rule.Name, "resolution", t.resolution)
		return notification.Result{Ref: key, Link: n.browse(key)}, nil
	}
	// Find the transition before commenting, so a failure leaves no comment
	// behind for a retry to repeat.
	var transitionID string
	if n.cfg.ResolveTransition != "" {
		id, err := n.transition(ctx, key, n.cfg.ResolveTransition)
		if err != nil {
			return notification.Result{}, err
		}
		transitionID = id
	}
	if err := n.comment(ctx, no, d, key, templateResolved); err != nil {
		return notification.Result{}, err
	}
	if transitionID != "" {
		if resp, err := n.client.Issue.DoTransitionWithContext(ctx, key, transitionID); err != nil {
			return notification.Result{}, n.fail(no, fmt.Sprintf("resolve %s with transition %q", key, n.cfg.ResolveTransition), resp, err)
		}
	}
	return notification.Result{Ref: key, Link: n.browse(key)}, nil
}

// ticket is what wabridge needs to know about an existing issue.
type ticket struct {
	key        string
	resolved   bool
	resolution string
	resolvedAt time.Time
}

// lifecycleFields are the fields a search or get asks for: enough to decide
// between comment, reopen and create.
var lifecycleFields = []string{"status", "resolution", "resolutiondate", "updated"}

func toTicket(is *gojira.Issue) *ticket {
	t := &ticket{key: is.Key}
	f := is.Fields
	if f == nil {
		return t
	}
	if f.Resolution != nil {
		t.resolved, t.resolution = true, f.Resolution.Name
	}
	// Some workflows close tickets without setting a resolution; their
	// status category is still "done".
	if f.Status != nil && f.Status.StatusCategory.Key == gojira.StatusCategoryComplete {
		t.resolved = true
	}
	t.resolvedAt = time.Time(f.Resolutiondate)
	if t.resolvedAt.IsZero() {
		t.resolvedAt = time.Time(f.Updated)
	}
	return t
}

// existing returns the incident's ticket, or nil when it has none.
func (n *Notifier) existing(ctx context.Context, no *notification.Notification) (*ticket, error) {
	if key := ref(no); key != "" {
		t, err := n.get(ctx, no, key)
		if err == nil && t == nil {
			n.logger.Warn("jira ticket of the incident was deleted in Jira (404): opening a new one", "key", key,
				"rule", no.Rule.Name, "fingerprint", fingerprint(no))
		}
		return t, err
	}
	return n.search(ctx, fingerprint(no))
}

// get reads a ticket's status; nil without an error when Jira answers 404
// (someone deleted it, or the account lost sight of it).
func (n *Notifier) get(ctx context.Context, no *notification.Notification, key string) (*ticket, error) {
	is, resp, err := n.client.Issue.GetWithContext(ctx, key, &gojira.GetQueryOptions{Fields: strings.Join(lifecycleFields, ",")})
	if err == nil {
		return toTicket(is), nil
	}
	if statusOf(resp) == http.StatusNotFound {
		return nil, nil
	}
	return nil, n.fail(no, "get issue "+key, resp, err)
}

// search finds the newest ticket labelled with the fingerprint, preferring
// an unresolved one. Search is eventually consistent on Cloud, which is why
// it is only the fallback for a lost store.
func (n *Notifier) search(ctx context.Context, fp string) (*ticket, error) {
	if fp == "" {
		return nil, nil
	}
	jql := fmt.Sprintf(`labels = "%s" ORDER BY created DESC`, jqlEscape(fingerprintLabel(fp)))
	var (
		issues []gojira.Issue
		resp   *gojira.Response
		err    error
	)
	if n.cloud {
		issues, resp, err = n.client.Issue.SearchV2JQLWithContext(ctx, jql, &gojira.SearchOptionsV2{MaxResults: searchMaxResults, Fields: lifecycleFields})
	} else {
		issues, resp, err = n.client.Issue.SearchWithContext(ctx, jql, &gojira.SearchOptions{MaxResults: searchMaxResults, Fields: lifecycleFields})
	}
	if err != nil {
		if statusOf(resp) == http.StatusBadRequest {
			// A query Jira refuses must not block the ticket: log and let
			// the caller create one.
			n.logger.Warn("jira refused the label search: opening a new ticket", "fingerprint", fp, "error", apiDetail(resp.Response, err))
			return nil, nil
		}
		return nil, n.fail(nil, "search issues by label", resp, err)
	}
	if len(issues) == 0 {
		return nil, nil
	}
	var newest *ticket
	for i := range issues {
		t := toTicket(&issues[i])
		if !t.resolved {
			return t, nil
		}
		if newest == nil {
			newest = t
		}
	}
	return newest, nil
}

// reuse comments on an open ticket or reopens a recently resolved one; it
// reports false when a new ticket is the better answer.
func (n *Notifier) reuse(ctx context.Context, no *notification.Notification, d templates.Data, t *ticket) (string, bool, error) {
	if !t.resolved {
		if err := n.comment(ctx, no, d, t.key, templateComment); err != nil {
			return "", false, err
		}
		n.logger.Info("jira commented on the open ticket of the incident", "key", t.key, "rule", no.Rule.Name)
		return t.key, true, nil
	}
	log := n.logger.With("key", t.key, "rule", no.Rule.Name, "resolution", t.resolution, "fingerprint", fingerprint(no))
	switch {
	case n.cfg.ReopenTransition == "":
		log.Info("jira ticket was closed in Jira and reopen_transition is not set: opening a new one")
		return "", false, nil
	case strings.EqualFold(t.resolution, n.cfg.WontFixResolution):
		log.Info("jira ticket was closed in Jira as won't fix: opening a new one")
		return "", false, nil
	case t.resolvedAt.IsZero() || n.now().Sub(t.resolvedAt) > n.cfg.ReopenWindow:
		log.Info("jira ticket was closed in Jira before the reopen window: opening a new one", "reopen_window", n.cfg.ReopenWindow)
		return "", false, nil
	}
	id, err := n.transition(ctx, t.key, n.cfg.ReopenTransition)
	if err != nil {
		return "", false, err
	}
	if id == "" {
		log.Warn("jira ticket was closed in Jira and cannot be reopened from its status: opening a new one",
			"reopen_transition", n.cfg.ReopenTransition)
		return "", false, nil
	}
	if resp, err := n.client.Issue.DoTransitionWithContext(ctx, t.key, id); err != nil {
		return "", false, n.fail(no, fmt.Sprintf("reopen %s with transition %q", t.key, n.cfg.ReopenTransition), resp, err)
	}
	if err := n.comment(ctx, no, d, t.key, templateComment); err != nil {
		return "", false, err
	}
	log.Info("jira reopened the recently resolved ticket of the incident")
	return t.key, true, nil
}

// transition finds a transition of the issue by name, ignoring case. It
// returns "" when the workflow does not offer it from the current status
// (the ticket may already be there), after logging what it does offer.
func (n *Notifier) transition(ctx context.Context, key, want string) (string, error) {
	ts, resp, err := n.client.Issue.GetTransitionsWithContext(ctx, key)
	if err != nil {
		return "", n.fail(nil, "list transitions of "+key, resp, err)
	}
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		if strings.EqualFold(strings.TrimSpace(t.Name), strings.TrimSpace(want)) {
			return t.ID, nil
		}
		names = append(names, t.Name)
	}
	n.logger.Warn("jira transition is not available on the ticket", "key", key, "transition", want, "available", names)
	return "", nil
}

func (n *Notifier) comment(ctx context.Context, no *notification.Notification, d templates.Data, key, role string) error {
	body, err := n.text(no, d, role)
	if err != nil {
		return permanent(err)
	}
	// Not go-jira's AddComment: its Comment sends empty author,
	// updateAuthor and visibility objects, which Jira refuses with 400.
	if err := n.do(ctx, http.MethodPost, "issue/"+key+"/comment", map[string]any{"body": n.doc(body)}, nil); err != nil {
		return n.fail(no, "comment on "+key, err.resp, err.err)
	}
	return nil
}

// doc is a description or comment as the API version wants it: wiki text
// on v2, an ADF document on v3.
func (n *Notifier) doc(text string) any {
	if n.cloud {
		return wikiToADF(text)
	}
	return text
}

// api is the REST API path for rest on the configured API version.
func (n *Notifier) api(rest string) string {
	if n.cloud {
		return "rest/api/3/" + rest
	}
	return "rest/api/2/" + rest
}

// callError is a failed request with the answer, if any, for fail.
type callError struct {
	resp *gojira.Response
	err  error
}

// do sends a request of our own through the go-jira client (its auth,
// Accept-Language and timeout) and decodes the answer into out.
func (n *Notifier) do(ctx context.Context, method, rest string, body, out any) *callError {
	req, err := n.client.NewRequestWithContext(ctx, method, n.api(rest), body)
	if err != nil {
		return &callError{err: err}
	}
	resp, err := n.client.Do(req, out)
	if err != nil {
		if resp != nil && resp.Response != nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
			err = gojira.NewJiraError(resp, err)
		}
		return &callError{resp: resp, err: err}
	}
	return nil
}

func (n *Notifier) create(ctx context.Context, no *notification.Notification, d templates.Data) (string, error) {
	issue, err := n.issue(no, d)
	if err != nil {
		return "", permanent(err)
	}
	project := issue.Fields.Project.Key
	var created gojira.Issue
	if cerr := n.do(ctx, http.MethodPost, "issue", n.createBody(issue), &created); cerr != nil {
		return "", n.fail(no, "create issue in "+project, cerr.resp, cerr.err)
	}
	if created.Key == "" {
		// Retrying could open a second ticket: let a person look.
		return "", permanent(fmt.Errorf("create issue in %s: jira answered without an issue key", project))
	}
	n.logger.Info("jira ticket created", "key", created.Key, "project", project, "rule", no.Rule.Name,
		"code", no.Event.Code, "phone_number", maskedPhone(no))
	if no.Incident != nil && no.Incident.Links["slack"] != "" {
		// The ticket exists: a failed link must not fail the create, or
		// the retry would open a second ticket.
		if err := n.addSlackLink(ctx, no, created.Key); err != nil {
			n.logger.Warn("jira could not link the Slack message to the new ticket", "key", created.Key, "err", err)
		}
	}
	return created.Key, nil
}

// createBody is the create request as JSON fields, with the description
// as the API version wants it.
func (n *Notifier) createBody(issue *gojira.Issue) any {
	if !n.cloud {
		return issue
	}
	b, err := json.Marshal(issue)
	if err != nil {
		return issue
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return issue
	}
	if f, ok := m["fields"].(map[string]any); ok {
		if d, ok := f["description"].(string); ok {
			f["description"] = wikiToADF(d)
		}
	}
	return m
}

// issue builds the create request.
func (n *Notifier) issue(no *notification.Notification, d templates.Data) (*gojira.Issue, error) {
	summary, err := n.summary(no, d)
	if err != nil {
		return nil, err
	}
	description, err := n.text(no, d, templateDesc)
	if err != nil {
		return nil, err
	}
	a, err := settingsOf(no.Action)
	if err != nil {
		return nil, err
	}
	issueType := a.IssueType
	if issueType == "" {
		issueType = n.cfg.IssueType
	}
	f := &gojira.IssueFields{
		Project:     gojira.Project{Key: n.project(no)},
		Type:        gojira.IssueType{Name: issueType},
		Summary:     summary,
		Description: description,
	}
	if a.Priority != "" {
		f.Priority = &gojira.Priority{Name: a.Priority}
	}
	for _, c := range a.Components {
		if c = strings.TrimSpace(c); c != "" {
			f.Components = append(f.Components, &gojira.Component{Name: c})
		}
	}
	raw := append([]string(nil), a.Labels...)
	unknowns := map[string]any{}
	for k, v := range a.Fields {
		if k == "labels" {
			// Labels set through fields join ours rather than replace
			// them: losing wabridge-<fingerprint> would make duplicates.
			extra, ok := stringList(v)
			if !ok {
				return nil, fmt.Errorf("field labels: want a list of strings, got %T", v)
			}
			raw = append(raw, extra...)
			continue
		}
		val, err := n.fieldValue(v, d)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		unknowns[k] = val
	}
	labels := make([]string, 0, len(raw)+2)
	for _, l := range raw {
		out, err := n.tmpl.ExecuteText(l, d)
		if err != nil {
			return nil, fmt.Errorf("label %q: %w", l, err)
		}
		labels = append(labels, out)
	}
	labels = append(labels, baseLabel)
	if no.Test {
		labels = append(labels, testLabel)
	}
	if fp := fingerprint(no); fp != "" {
		labels = append(labels, fingerprintLabel(fp))
	}
	f.Labels = sanitizeLabels(labels)
	if len(unknowns) > 0 {
		f.Unknowns = unknowns
	}
	return &gojira.Issue{Fields: f}, nil
}

// fieldValue renders string values as templates, deep inside maps and lists
// too, so `{value: "{{.Event.Severity}}"}` works for a select field; other
// values pass through as written.
func (n *Notifier) fieldValue(v any, d templates.Data) (any, error) {
	switch x := v.(type) {
	case string:
		return n.tmpl.ExecuteText(x, d)
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := n.tmpl.ExecuteText(e, d)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			val, err := n.fieldValue(e, d)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			val, err := n.fieldValue(e, d)
			if err != nil {
				return nil, err
			}
			out[k] = val
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			val, err := n.fieldValue(e, d)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = val
		}
		return out, nil
	default:
		return v, nil
	}
}

func (n *Notifier) summary(no *notification.Notification, d templates.Data) (string, error) {
	s, err := n.tmpl.Execute(n.spec.Role(no.Action, templateSummary), d)
	if err != nil {
		return "", fmt.Errorf("render summary: %w", err)
	}
	// Jira refuses a summary with line breaks.
	s = strings.Join(strings.Fields(s), " ")
	if no.Test {
		s = notification.TestMarker + s
	}
	return truncate(s, maxSummary, summaryMarker), nil
}

func (n *Notifier) text(no *notification.Notification, d templates.Data, role string) (string, error) {
	s, err := n.tmpl.Execute(n.spec.Role(no.Action, role), d)
	if err != nil {
		return "", fmt.Errorf("render %s: %w", role, err)
	}
	if no.Incident != nil && strings.TrimSpace(no.Incident.Note) != "" {
		// What the pipeline has to say (an escalation, a mute's story, an
		// incident already over) comes first.
		s = "*" + templates.JiraEscape(strings.TrimSpace(no.Incident.Note)) + "*\n\n" + s
	}
	return truncate(s, maxText, textMarker), nil
}

// project is where no's ticket is: the action's project (its Target),
// else the config's.
func (n *Notifier) project(no *notification.Notification) string {
	if no.Action.Target != "" {
		return no.Action.Target
	}
	return n.cfg.Project
}

func ref(no *notification.Notification) string {
	if no.Incident == nil {
		return ""
	}
	return strings.TrimSpace(no.Incident.Ref)
}

func fingerprint(no *notification.Notification) string {
	if no.Incident == nil {
		return ""
	}
	return no.Incident.Fingerprint
}

func maskedPhone(no *notification.Notification) string {
	if no.Event.DisplayPhoneNumber != "" {
		return event.MaskPhone(no.Event.DisplayPhoneNumber)
	}
	return event.MaskPhone(no.Event.PhoneNumberID)
}

// statusOf is the HTTP status of a go-jira answer, 0 when there was none.
func statusOf(resp *gojira.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

func permanent(err error) error {
	return &notifiers.Error{Notifier: name, Reason: notifiers.ReasonPermanent, Err: err}
}

func stringList(v any) ([]string, bool) {
	switch x := v.(type) {
	case []string:
		return x, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	case string:
		return []string{x}, true
	}
	return nil, false
}
