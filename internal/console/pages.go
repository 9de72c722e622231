package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/audit"
	"github.com/wabridge/wabridge/internal/duration"
	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
)

// The pages over the operator service. Each GET reads through it; each
// POST is an action (origin, session and CSRF checked), does one operator
// call and redirects back with a flash saying what happened.

// opTimeout bounds one operator call from a page: a replay sends.
const opTimeout = 70 * time.Second

func (c *Console) opCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), opTimeout)
}

// failOp answers an operator error on a page: the caller's fault with its
// status and text, ours as a 500 that the log explains.
func (c *Console) failOp(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status := admin.Status(err)
	if status == http.StatusInternalServerError {
		c.d.Logger.Error("console: operator call failed", "path", r.URL.Path, "error", err)
	}
	c.fail(w, r, s, status, err.Error())
}

// back redirects to the page the form was on (its "back" field, kept
// inside the console), else to fallback.
func back(w http.ResponseWriter, r *http.Request, fallback string) {
	to := r.PostFormValue("back")
	if !strings.HasPrefix(to, "/ui/") || strings.HasPrefix(to, "//") || strings.ContainsAny(to, "\\\r\n") {
		to = fallback
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (c *Console) pageRoutes() {
	c.mux.HandleFunc("GET /ui/incidents", c.page(c.incidentsPage))
	c.mux.HandleFunc("POST /ui/incidents/resolve", c.action(c.resolveIncident))
	c.mux.HandleFunc("POST /ui/incidents/silence", c.action(c.silenceIncident))
	c.mux.HandleFunc("POST /ui/incidents/ack", c.action(c.ackIncident))
	c.mux.HandleFunc("POST /ui/incidents/ticket", c.action(c.ticketIncident))
	c.mux.HandleFunc("GET /ui/silences", c.page(c.silencesPage))
	c.mux.HandleFunc("GET /ui/silences/preview", c.page(c.silencePreview))
	c.mux.HandleFunc("POST /ui/silences", c.action(c.createSilence))
	c.mux.HandleFunc("POST /ui/silences/expire", c.action(c.expireSilence))
	c.mux.HandleFunc("GET /ui/deliveries", c.page(c.deliveriesPage))
	c.mux.HandleFunc("GET /ui/deliveries/{id}", c.page(c.deliveryPage))
	c.mux.HandleFunc("GET /ui/dead", c.page(c.deadPage))
	c.mux.HandleFunc("POST /ui/dead/replay", c.action(c.replayDead))
	c.mux.HandleFunc("POST /ui/dead/drop", c.action(c.dropDead))
	c.mux.HandleFunc("GET /ui/playground", c.page(c.playgroundPage))
	c.mux.HandleFunc("POST /ui/playground", c.actionWithLimit(c.playgroundFormLimit(), c.runPlayground))
}

// homeView is the console's front page: the sizes of the lists.
type homeView struct {
	Stats     admin.Stats
	Open      int
	Pending   int
	Silences  int
	StatsErr  string
	Incidents []incident.Incident
}

func (c *Console) homePage(w http.ResponseWriter, r *http.Request, s *session) {
	if c.d.Operator == nil {
		c.render(w, r, s, http.StatusOK, "home", homeView{StatsErr: "This console has no operator service: its pages are not served."})
		return
	}
	ctx, cancel := c.opCtx(r)
	defer cancel()
	var v homeView
	var errs []string
	st, err := c.d.Operator.Stats(ctx)
	if err != nil {
		errs = append(errs, err.Error())
	}
	v.Stats = st
	list, err := c.d.Operator.Incidents(ctx, admin.IncidentQuery{})
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, inc := range list {
		switch inc.Status {
		case incident.Open:
			v.Open++
		case incident.Pending:
			v.Pending++
		}
	}
	if len(list) > 10 {
		list = list[:10]
	}
	v.Incidents = list
	if sl, err := c.d.Operator.Silences(ctx, admin.SilenceFilter{States: []string{"active"}}); err == nil {
		v.Silences = len(sl)
	} else {
		errs = append(errs, err.Error())
	}
	v.StatsErr = strings.Join(errs, "; ")
	c.render(w, r, s, http.StatusOK, "home", v)
}

// incidentsView is the incidents page.
type incidentsView struct {
	Query     admin.IncidentQuery
	Tabs      []tab
	Incidents []incident.Incident
	Now       time.Time
	Back      string
}

type tab struct {
	Title, Href string
	Current     bool
}

var incidentTabs = []struct{ status, title string }{
	{"", "Open and pending"}, {incident.Open, "Open"}, {incident.Pending, "Pending"}, {incident.Resolved, "Resolved"},
}

func (c *Console) incidentsPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	iq := admin.IncidentQuery{Status: q.Get("status"), Rule: strings.TrimSpace(q.Get("rule")),
		Account: strings.TrimSpace(q.Get("account")), Number: strings.TrimSpace(q.Get("number"))}
	switch iq.Status {
	case "", incident.Open, incident.Pending, incident.Resolved:
	default:
		c.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("status %q: want open, pending or resolved.", iq.Status))
		return
	}
	ctx, cancel := c.opCtx(r)
	defer cancel()
	list, err := c.d.Operator.Incidents(ctx, iq)
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	v := incidentsView{Query: iq, Incidents: list, Now: c.d.Now(), Back: r.URL.RequestURI()}
	for _, t := range incidentTabs {
		tq := url.Values{}
		for k, val := range map[string]string{"status": t.status, "rule": iq.Rule, "account": iq.Account, "number": iq.Number} {
			if val != "" {
				tq.Set(k, val)
			}
		}
		href := "/ui/incidents"
		if e := tq.Encode(); e != "" {
			href += "?" + e
		}
		v.Tabs = append(v.Tabs, tab{Title: t.title, Href: href, Current: t.status == iq.Status})
	}
	c.render(w, r, s, http.StatusOK, "incidents", v)
}

func (c *Console) resolveIncident(w http.ResponseWriter, r *http.Request, s *session) {
	fp := strings.TrimSpace(r.PostFormValue("fingerprint"))
	ctx, cancel := c.opCtx(r)
	defer cancel()
	res, err := c.d.Operator.ResolveIncident(ctx, fp, s.actor())
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	s.addFlash("ok", fmt.Sprintf("Resolved incident %s (rule %s): %d notification(s) queued.", res.Fingerprint, res.Rule, res.Notifications))
	back(w, r, "/ui/incidents")
}

// silenceFor reads a duration a form gives ("1h", "2h", "1d").
func silenceFor(s string) (time.Duration, error) {
	d, err := duration.Parse(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: duration %q: want a positive duration such as %s", admin.ErrInvalid, s, duration.Form)
	}
	return d, nil
}

func (c *Console) silenceIncident(w http.ResponseWriter, r *http.Request, s *session) {
	fp := strings.TrimSpace(r.PostFormValue("fingerprint"))
	d, err := silenceFor(r.PostFormValue("for"))
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	ctx, cancel := c.opCtx(r)
	defer cancel()
	sil, err := c.d.Operator.SilenceIncident(ctx, fp, d, s.actor())
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	s.addFlash("ok", fmt.Sprintf("Silence %s added for incident %s's group (%s), until %s.", sil.ID, fp, matchersText(sil.Matchers), sil.EndsAt.UTC().Format(time.RFC3339)))
	back(w, r, "/ui/incidents")
}

func (c *Console) ackIncident(w http.ResponseWriter, r *http.Request, s *session) {
	fp := strings.TrimSpace(r.PostFormValue("fingerprint"))
	ctx, cancel := c.opCtx(r)
	defer cancel()
	res, err := c.d.Operator.AcknowledgeIncident(ctx, fp, s.actor())
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	s.addFlash("ok", fmt.Sprintf("Acknowledged incident %s (rule %s) as %s: its repeats are held until it escalates.", res.Fingerprint, res.Rule, res.By))
	back(w, r, "/ui/incidents")
}

// ticketIncident asks for an open incident's on-demand actions (its Jira
// ticket), as the Slack button does: once; asked again, or for a rule
// without one, the refusal says so.
func (c *Console) ticketIncident(w http.ResponseWriter, r *http.Request, s *session) {
	fp := strings.TrimSpace(r.PostFormValue("fingerprint"))
	ctx, cancel := c.opCtx(r)
	defer cancel()
	res, err := c.d.Operator.OpenTicket(ctx, fp, s.actor())
	if err != nil {
		if errors.Is(err, admin.ErrConflict) {
			err = fmt.Errorf("no ticket opened: %w", err)
		}
		c.failOp(w, r, s, err)
		return
	}
	s.addFlash("ok", fmt.Sprintf("Jira ticket asked for incident %s (rule %s): %d notification(s) queued; the ticket is created once and follows the incident.", res.Fingerprint, res.Rule, res.Notifications))
	back(w, r, "/ui/incidents")
}

// silencesView is the silences page: the create form (with what it would
// match) and the list.
type silencesView struct {
	State    string
	Tabs     []tab
	Silences []silence.Silence
	Form     silenceForm
	Preview  *previewView
	Now      time.Time
}

type silenceForm struct {
	Matchers, For, Comment, Author string
}

// previewView is what a silence being written would match.
type previewView struct {
	Matchers  string
	Error     string
	Incidents []incident.Incident
}

func (c *Console) silencesPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	state := q.Get("state")
	f := admin.SilenceFilter{}
	switch state {
	case "":
	case "active", "pending", "expired":
		f.States = []string{state}
	default:
		c.fail(w, r, s, http.StatusBadRequest, fmt.Sprintf("state %q: want active, pending or expired.", state))
		return
	}
	ctx, cancel := c.opCtx(r)
	defer cancel()
	list, err := c.d.Operator.Silences(ctx, f)
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	// Newest first: the one just added is at the top.
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	v := silencesView{State: state, Silences: list, Now: c.d.Now(),
		Form: silenceForm{Matchers: q.Get("matchers"), For: firstOf(q.Get("for"), "2h"), Comment: q.Get("comment"), Author: firstOf(q.Get("author"), s.displayName())}}
	for _, t := range []struct{ state, title string }{{"", "All"}, {"active", "Active"}, {"pending", "Pending"}, {"expired", "Expired"}} {
		href := "/ui/silences"
		if t.state != "" {
			href += "?state=" + t.state
		}
		v.Tabs = append(v.Tabs, tab{Title: t.title, Href: href, Current: t.state == state})
	}
	if strings.TrimSpace(v.Form.Matchers) != "" {
		v.Preview = c.preview(ctx, v.Form.Matchers)
	}
	c.render(w, r, s, http.StatusOK, "silences", v)
}

// parseMatchers reads matchers written one a line (or separated by commas
// or spaces, as --match values are).
func parseMatchers(text string) ([]silence.Matcher, error) {
	var out []silence.Matcher
	var errs []error
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' }) {
		m, err := silence.ParseMatcher(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	}
	return out, nil
}

func (c *Console) preview(ctx context.Context, text string) *previewView {
	pv := &previewView{Matchers: text}
	ms, err := parseMatchers(text)
	if err == nil {
		pv.Incidents, err = c.d.Operator.PreviewSilence(ctx, ms)
	}
	if err != nil {
		pv.Error = err.Error()
	}
	return pv
}

// silencePreview answers the silence form's script: the fragment that
// lists what the matchers typed so far would match.
func (c *Console) silencePreview(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := c.opCtx(r)
	defer cancel()
	c.render(w, r, s, http.StatusOK, "preview", c.preview(ctx, r.URL.Query().Get("matchers")))
}

func (c *Console) createSilence(w http.ResponseWriter, r *http.Request, s *session) {
	form := silenceForm{Matchers: r.PostFormValue("matchers"), For: r.PostFormValue("for"),
		Comment: r.PostFormValue("comment"), Author: r.PostFormValue("author")}
	ms, err := parseMatchers(form.Matchers)
	if err == nil && len(ms) == 0 {
		err = fmt.Errorf("%w: a silence needs at least one matcher, such as code=131048", admin.ErrInvalid)
	}
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	in := admin.SilenceInput{Matchers: ms, For: strings.TrimSpace(form.For)}
	in.Comment, in.Author = strings.TrimSpace(form.Comment), strings.TrimSpace(form.Author)
	ctx, cancel := c.opCtx(r)
	defer cancel()
	out, err := c.d.Operator.SaveSilences(ctx, []admin.SilenceInput{in}, true)
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	if form.Author != "" {
		s.setName(form.Author)
	}
	s.addFlash("ok", fmt.Sprintf("Silence %s added (%s), until %s.", out[0].ID, matchersText(out[0].Matchers), out[0].EndsAt.UTC().Format(time.RFC3339)))
	http.Redirect(w, r, "/ui/silences", http.StatusSeeOther)
}

func (c *Console) expireSilence(w http.ResponseWriter, r *http.Request, s *session) {
	id := strings.TrimSpace(r.PostFormValue("id"))
	ctx, cancel := c.opCtx(r)
	defer cancel()
	if _, err := c.d.Operator.ExpireSilence(ctx, id); err != nil {
		c.failOp(w, r, s, err)
		return
	}
	s.addFlash("ok", "Silence "+id+" expired.")
	back(w, r, "/ui/silences")
}

func matchersText(ms []silence.Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = silence.MatcherString(m)
	}
	return strings.Join(parts, " ")
}

// deliveriesView is a page of the audit trail.
type deliveriesView struct {
	Since, Code, Source string
	Records             []deliveryRow
	Next                string
	Now                 time.Time
}

// deliveryRow is one audit record, summed up for the table.
type deliveryRow struct {
	audit.Record
	Codes, Decisions []string
	Dropped, Dups    int
}

func rowOf(r audit.Record) deliveryRow {
	row := deliveryRow{Record: r}
	for _, e := range r.Events {
		if e.Code != 0 {
			row.Codes = appendOnce(row.Codes, strconv.Itoa(e.Code))
		}
		switch e.Outcome {
		case audit.EventDropped:
			row.Dropped++
		case audit.EventDuplicate:
			row.Dups++
		}
		for _, d := range e.Decisions {
			row.Decisions = appendOnce(row.Decisions, d.Rule+": "+d.Outcome)
		}
	}
	return row
}

func appendOnce(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// deliveriesPageSize is how many records a page of the table shows.
const deliveriesPageSize = 50

func (c *Console) deliveriesPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := deliveriesView{Since: q.Get("since"), Code: q.Get("code"), Source: q.Get("source"), Now: c.d.Now()}
	aq, err := admin.ParseAuditQuery(v.Since, v.Code, v.Source, "", c.d.Now())
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, err.Error())
		return
	}
	aq.Limit, aq.Before = deliveriesPageSize, q.Get("before")
	ctx, cancel := c.opCtx(r)
	defer cancel()
	page, err := c.d.Operator.Audit(ctx, admin.AuditQuery{Query: aq})
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	for _, rec := range page.Records {
		v.Records = append(v.Records, rowOf(rec))
	}
	if page.Next != "" {
		nq := url.Values{}
		for k, val := range map[string]string{"since": v.Since, "code": v.Code, "source": v.Source, "before": page.Next} {
			if val != "" {
				nq.Set(k, val)
			}
		}
		v.Next = "/ui/deliveries?" + nq.Encode()
	}
	c.render(w, r, s, http.StatusOK, "deliveries", v)
}

// deliveryView is one delivery: its record and its payload, with phone
// numbers masked unless Unmasked.
type deliveryView struct {
	Row      deliveryRow
	Payload  string
	Unmasked bool
	Href     string
}

func (c *Console) deliveryPage(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx, cancel := c.opCtx(r)
	defer cancel()
	rec, err := c.findDelivery(ctx, id)
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	v := deliveryView{Row: rowOf(rec), Unmasked: r.URL.Query().Get("numbers") == "show", Href: "/ui/deliveries/" + url.PathEscape(id)}
	v.Payload = readable(rec.Payload)
	if !v.Unmasked {
		v.Payload = MaskNumbers(v.Payload)
	}
	v.Row.Payload = ""
	c.render(w, r, s, http.StatusOK, "delivery", v)
}

// findDelivery reads the audit record id, with its payload: the page
// before the record's cursor successor is the record itself.
func (c *Console) findDelivery(ctx context.Context, id string) (audit.Record, error) {
	// Record ids sort by time: the record is the first one older than an
	// id just after it.
	page, err := c.d.Operator.Audit(ctx, admin.AuditQuery{Query: audit.Query{Limit: 1, Body: true, Before: id + "\x00"}})
	if err != nil {
		return audit.Record{}, err
	}
	if len(page.Records) == 0 || page.Records[0].ID != id {
		return audit.Record{}, fmt.Errorf("%w: no delivery %q in the audit trail (it may be older than storage.retention)", admin.ErrNotFound, id)
	}
	return page.Records[0], nil
}

// deadView is the dead letters page.
type deadView struct {
	Dead []outbox.DeadLetter
	Now  time.Time
}

func (c *Console) deadPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := c.opCtx(r)
	defer cancel()
	list, err := c.d.Operator.DeadLetters(ctx)
	if err != nil {
		c.failOp(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "dead", deadView{Dead: list, Now: c.d.Now()})
}

func (c *Console) replayDead(w http.ResponseWriter, r *http.Request, s *session) {
	id := strings.TrimSpace(r.PostFormValue("id"))
	ctx, cancel := c.opCtx(r)
	defer cancel()
	if err := c.d.Operator.ReplayDead(ctx, id); err != nil {
		if errors.Is(err, admin.ErrConflict) {
			// The replay failed again: the letter stays, with the new error.
			s.addFlash("error", "Dead letter "+id+" was not sent: "+err.Error())
			back(w, r, "/ui/dead")
			return
		}
		c.failOp(w, r, s, err)
		return
	}
	s.addFlash("ok", "Dead letter "+id+" sent again and removed.")
	back(w, r, "/ui/dead")
}

func (c *Console) dropDead(w http.ResponseWriter, r *http.Request, s *session) {
	id := strings.TrimSpace(r.PostFormValue("id"))
	ctx, cancel := c.opCtx(r)
	defer cancel()
	if err := c.d.Operator.DropDead(ctx, id); err != nil {
		c.failOp(w, r, s, err)
		return
	}
	s.addFlash("ok", "Dead letter "+id+" dropped.")
	back(w, r, "/ui/dead")
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
