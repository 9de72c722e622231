// Package jiratest is a strict stand-in for Jira's REST API on loopback:
// an httptest server that keeps issues, comments, transitions and remote
// links in memory, records every request, and refuses what real Jira
// refuses (unknown or empty-object fields in a comment, a description that
// is not ADF on API v3, a transition the issue's status does not offer,
// unknown priorities, issue types and projects, missing required fields,
// wrong credentials). Tests run the real go-jira client against it.
package jiratest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Status categories, as Jira names them in fields.status.statusCategory.key.
const (
	CategoryNew         = "new"
	CategoryInProgress  = "indeterminate"
	CategoryDone        = "done"
	ResolutionDone      = "Done"
	ResolutionWontFix   = "Won't Fix"
	TransitionReopen    = "Reopen Issue"
	TransitionDone      = "Done"
	TransitionStart     = "Start Progress"
	statusToDo          = "To Do"
	statusInProgress    = "In Progress"
	statusDone          = "Done"
	invalidPayload      = "Invalid request payload. Refer to the REST API documentation and try again."
	notAuthenticated    = "You are not authenticated. Authentication required to perform this operation."
	issueDoesNotExist   = "Issue does not exist or you do not have permission to see it."
	maxSummary          = 255
	maxText             = 32767
	maxLabel            = 255
	defaultSearchMaxLen = 50
)

// Options configure a Server. The zero value is a Data Center Jira with
// project WAOPS that takes the Bearer token "jira-token".
type Options struct {
	// Cloud serves /rest/api/3 and the new search endpoints, and answers
	// 410 Gone for the retired /rest/api/2/search, as Jira Cloud does.
	Cloud bool
	// User set: basic auth User:Token is required (Cloud, or Data Center
	// with a user). Empty: a personal access token as Bearer Token.
	User  string
	Token string
	// Projects, IssueTypes, Priorities and Resolutions Jira knows; nil
	// means the defaults below.
	Projects    []string
	IssueTypes  []string
	Priorities  []string
	Resolutions []string
	// Components known per project; nil accepts any component name.
	Components []string
	// Now replaces time.Now for created, updated and resolution dates.
	Now func() time.Time
	// SearchDelay hides an issue from searches until that long after it
	// was created, as Jira Cloud's eventually consistent index does.
	SearchDelay time.Duration
}

// Comment is one comment as the server keeps it.
type Comment struct {
	ID   string
	API  int // 2 or 3
	Body any // a string on v2, an ADF document on v3
	// Text is the body as plain text (ADF flattened), for assertions.
	Text string
	// Category is the issue's status category when the comment was made:
	// a comment on a closed ticket nobody will read shows as "done".
	Category string
}

// RemoteLink is a link added through /issue/{key}/remotelink.
type RemoteLink struct {
	GlobalID, URL, Title string
}

// Issue is one issue as the server keeps it.
type Issue struct {
	ID, Key     string
	API         int // the API version that created it
	Project     string
	Type        string
	Summary     string
	Description any // string on v2, ADF document on v3
	Priority    string
	Labels      []string
	Components  []string
	Fields      map[string]any // custom fields as sent
	Status      string
	Category    string
	Resolution  string
	Resolved    time.Time
	Created     time.Time
	Updated     time.Time
	Comments    []Comment
	Links       []RemoteLink
	Transitions []string // names of the transitions done, in order
	deleted     bool
}

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	// At is when the request arrived.
	At time.Time
	// Status is what the server answered.
	Status int
	// Injected says Fail or Override answered it.
	Injected bool
}

// Server is the fake Jira. It is safe for concurrent use.
type Server struct {
	*httptest.Server
	opts Options

	delay atomic.Int64 // nanoseconds each request waits before it is handled

	mu        sync.Mutex
	issues    map[string]*Issue
	order     []string
	next      int
	reqs      []Request
	overrides *http.ServeMux
	overrideN int
	faults    []*fault
}

type fault struct {
	method, path string // path "" matches any
	left         int
	status       int
	header       http.Header
	body         string
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
		opts.Token = "jira-token"
	}
	if opts.Projects == nil {
		opts.Projects = []string{"WAOPS"}
	}
	if opts.IssueTypes == nil {
		opts.IssueTypes = []string{"Task", "Bug", "Incident"}
	}
	if opts.Priorities == nil {
		opts.Priorities = []string{"Highest", "High", "Medium", "Low", "Lowest"}
	}
	if opts.Resolutions == nil {
		opts.Resolutions = []string{ResolutionDone, ResolutionWontFix, "Duplicate"}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, issues: map[string]*Issue{}, overrides: http.NewServeMux()}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetDelay makes every request wait d before Jira handles it: a slow Jira.
// A client that gives up meanwhile does not stop the request, as it would
// not stop Jira.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Override answers requests matching pattern (a net/http ServeMux pattern
// such as "POST /rest/api/2/issue/{key}/comment") with h instead of the
// fake's own handling. The request is still recorded.
func (s *Server) Override(pattern string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overrides.HandleFunc(pattern, h)
	s.overrideN++
}

// Fail answers the next n requests with that method and path (path "" for
// any) with status and body, then goes back to normal.
func (s *Server) Fail(method, path string, n, status int, header http.Header, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, path: path, left: n, status: status, header: header, body: body})
}

// Seed adds an issue as if someone had created it. Empty Status, Category,
// ID and dates get defaults; a Resolution without a Category closes it.
func (s *Server) Seed(is Issue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	c := is
	if c.Project == "" {
		c.Project = s.opts.Projects[0]
	}
	if c.Key == "" {
		c.Key = s.newKeyLocked(c.Project)
	}
	if c.ID == "" {
		c.ID = strconv.Itoa(10000 + len(s.order) + 1)
	}
	if c.Category == "" {
		c.Category = CategoryNew
		if c.Resolution != "" {
			c.Category = CategoryDone
		}
	}
	if c.Status == "" {
		c.Status = statusFor(c.Category)
	}
	if c.Category == CategoryDone && c.Resolved.IsZero() {
		c.Resolved = now
	}
	if c.Created.IsZero() {
		c.Created = now
	}
	if c.Updated.IsZero() {
		c.Updated = c.Created
		if !c.Resolved.IsZero() {
			c.Updated = c.Resolved
		}
	}
	if c.API == 0 {
		c.API = 2
	}
	c.Labels = append([]string(nil), c.Labels...)
	s.issues[c.Key] = &c
	s.order = append(s.order, c.Key)
}

// CloseIssue marks an issue done with a resolution, as a person in Jira would.
func (s *Server) CloseIssue(key, resolution string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issues[key]
	if is == nil {
		panic("jiratest: CloseIssue of unknown issue " + key)
	}
	now := s.opts.Now()
	is.Category, is.Status, is.Resolution, is.Resolved, is.Updated = CategoryDone, statusDone, resolution, now, now
}

// SetResolved changes when an issue was resolved, to put it inside or
// outside a reopen window.
func (s *Server) SetResolved(key string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is := s.issues[key]; is != nil {
		is.Resolved, is.Updated = at, at
	}
}

// Delete removes an issue: Jira answers 404 for it from now on.
func (s *Server) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is := s.issues[key]; is != nil {
		is.deleted = true
	}
}

// Issue returns a copy of an issue, deleted ones included.
func (s *Server) Issue(key string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.issues[key]
	if !ok {
		return Issue{}, false
	}
	return copyIssue(is), true
}

// Issues returns copies of every issue that was not deleted, in creation order.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, 0, len(s.order))
	for _, k := range s.order {
		if is := s.issues[k]; !is.deleted {
			out = append(out, copyIssue(is))
		}
	}
	return out
}

// Keys returns the keys of the issues that were not deleted, in creation order.
func (s *Server) Keys() []string {
	var out []string
	for _, is := range s.Issues() {
		out = append(out, is.Key)
	}
	return out
}

// Comments returns how many comments all issues hold.
func (s *Server) Comments() int {
	n := 0
	for _, is := range s.Issues() {
		n += len(is.Comments)
	}
	return n
}

func copyIssue(is *Issue) Issue {
	c := *is
	c.Labels = append([]string(nil), is.Labels...)
	c.Comments = append([]Comment(nil), is.Comments...)
	c.Links = append([]RemoteLink(nil), is.Links...)
	c.Transitions = append([]string(nil), is.Transitions...)
	return c
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Find returns the requests with that method and path.
func (s *Server) Find(method, path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Calls lists the requests as "METHOD PATH".
func (s *Server) Calls() []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// Rejected returns the requests the fake refused by its own rules (not by
// Fail or Override) as malformed, unauthenticated or not allowed: what
// real Jira would have refused. A 404 for a deleted issue or a 410 for the
// retired search are answers about state, not refusals.
func (s *Server) Rejected() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Status >= 400 && r.Status < 500 && r.Status != http.StatusNotFound && r.Status != http.StatusGone && !r.Injected {
			out = append(out, r)
		}
	}
	return out
}

// recorder captures the status a handler answered with.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{ResponseWriter: w}
	s.mu.Lock()
	idx := len(s.reqs)
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
	var override http.Handler
	if s.overrideN > 0 {
		if h, pattern := s.overrides.Handler(r); pattern != "" {
			override = h
		}
	}
	var f *fault
	for _, x := range s.faults {
		if x.left > 0 && x.method == r.Method && (x.path == "" || x.path == r.URL.Path) {
			x.left--
			f = x
			break
		}
	}
	s.mu.Unlock()
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d) // recorded as it arrived, answered late
	}
	switch {
	case override != nil:
		override.ServeHTTP(rec, r)
	case f != nil:
		for k, v := range f.header {
			rec.Header()[k] = v
		}
		rec.Header().Set("Content-Type", "application/json;charset=UTF-8")
		rec.WriteHeader(f.status)
		io.WriteString(rec, f.body)
	default:
		s.handle(rec, r, body)
	}
	s.mu.Lock()
	s.reqs[idx].Status, s.reqs[idx].Injected = rec.status, override != nil || f != nil
	s.mu.Unlock()
}

// answer writes a JSON answer.
func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func jiraError(w http.ResponseWriter, status int, messages []string, fields map[string]string) {
	if messages == nil {
		messages = []string{}
	}
	if fields == nil {
		fields = map[string]string{}
	}
	answer(w, status, map[string]any{"errorMessages": messages, "errors": fields})
}

var issuePath = regexp.MustCompile(`^/rest/api/([23])/issue(?:/([^/]+)(?:/([a-z]+))?)?$`)

func (s *Server) handle(w http.ResponseWriter, r *http.Request, body []byte) {
	if !s.authorized(r) {
		jiraError(w, http.StatusUnauthorized, []string{notAuthenticated}, nil)
		return
	}
	path := r.URL.Path
	switch {
	case path == "/rest/api/2/search":
		if s.opts.Cloud {
			jiraError(w, http.StatusGone, []string{"The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."}, nil)
			return
		}
		s.search(w, r)
		return
	case path == "/rest/api/2/search/jql" || path == "/rest/api/3/search/jql":
		if !s.opts.Cloud {
			jiraError(w, http.StatusNotFound, []string{"null for uri: " + path}, nil)
			return
		}
		s.search(w, r)
		return
	case (path == "/rest/api/2/priority" || path == "/rest/api/3/priority" && s.opts.Cloud) && r.Method == http.MethodGet:
		// Jira lists its priorities highest first.
		list := make([]map[string]any, len(s.opts.Priorities))
		for i, p := range s.opts.Priorities {
			list[i] = map[string]any{"self": fmt.Sprintf("%s%s/%d", s.URL, path, i+1), "id": strconv.Itoa(i + 1), "name": p}
		}
		answer(w, http.StatusOK, list)
		return
	}
	m := issuePath.FindStringSubmatch(path)
	if m == nil {
		jiraError(w, http.StatusNotFound, []string{"null for uri: " + path}, nil)
		return
	}
	api, _ := strconv.Atoi(m[1])
	if api == 3 && !s.opts.Cloud {
		// Data Center has no REST API v3.
		jiraError(w, http.StatusNotFound, []string{"null for uri: " + path}, nil)
		return
	}
	key, sub := m[2], m[3]
	switch {
	case key == "" && r.Method == http.MethodPost:
		s.create(w, api, body)
	case key != "" && sub == "" && r.Method == http.MethodGet:
		s.get(w, key)
	case key != "" && sub == "" && r.Method == http.MethodPut:
		s.edit(w, key, body)
	case sub == "comment" && r.Method == http.MethodPost:
		s.comment(w, api, key, body)
	case sub == "transitions" && r.Method == http.MethodGet:
		s.transitions(w, key)
	case sub == "transitions" && r.Method == http.MethodPost:
		s.transition(w, key, body)
	case sub == "remotelink" && r.Method == http.MethodPost:
		s.remoteLink(w, key, body)
	default:
		jiraError(w, http.StatusMethodNotAllowed, []string{"method " + r.Method + " is not allowed on " + path}, nil)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	if s.opts.User != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.opts.User+":"+s.opts.Token))
		return got == want
	}
	return got == "Bearer "+s.opts.Token
}

// decodeObject reads a JSON object, keeping numbers as written.
func decodeObject(body []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// lookupIssue returns the live issue; callers hold s.mu.
func (s *Server) lookupIssue(key string) *Issue {
	is := s.issues[key]
	if is == nil {
		for _, x := range s.issues {
			if x.ID == key {
				is = x
				break
			}
		}
	}
	if is == nil || is.deleted {
		return nil
	}
	return is
}

func (s *Server) newKeyLocked(project string) string {
	for {
		s.next++
		k := fmt.Sprintf("%s-%d", project, s.next)
		if _, taken := s.issues[k]; !taken {
			return k
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// nameOf reads {"name": "..."} or {"key": "..."} or {"id": "..."}.
func nameOf(v any, key string) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return "", false
	}
	s, ok := m[key].(string)
	return s, ok && s != ""
}

// systemFields are the fields the fake's create screen has.
var systemFields = map[string]bool{
	"project": true, "issuetype": true, "summary": true, "description": true, "priority": true,
	"labels": true, "components": true, "assignee": true, "duedate": true, "environment": true,
}

func (s *Server) create(w http.ResponseWriter, api int, body []byte) {
	top, ok := decodeObject(body)
	if !ok {
		jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
		return
	}
	for k := range top {
		if k != "fields" && k != "update" {
			jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
			return
		}
	}
	fields, ok := top["fields"].(map[string]any)
	if !ok {
		jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
		return
	}
	errs := map[string]string{}
	is := &Issue{API: api, Fields: map[string]any{}}
	project, ok := nameOf(fields["project"], "key")
	switch {
	case !ok:
		errs["project"] = "Specify a valid project ID or key"
	case !contains(s.opts.Projects, project):
		errs["project"] = "Specify a valid project ID or key"
	}
	is.Project = project
	if it, ok := nameOf(fields["issuetype"], "name"); !ok || !contains(s.opts.IssueTypes, it) {
		errs["issuetype"] = "Specify an issue type"
		if ok {
			errs["issuetype"] = "The issue type selected is invalid."
		}
	} else {
		is.Type = it
	}
	summary, _ := fields["summary"].(string)
	switch {
	case strings.TrimSpace(summary) == "":
		errs["summary"] = "You must specify a summary of the issue."
	case strings.ContainsAny(summary, "\r\n"):
		errs["summary"] = "The summary is invalid because it contains newline characters."
	case utf16Len(summary) > maxSummary:
		errs["summary"] = "Summary must be less than 255 characters."
	}
	is.Summary = summary
	if d, present := fields["description"]; present {
		if msg := checkText(api, d); msg != "" {
			errs["description"] = msg
		}
		is.Description = d
	}
	if p, present := fields["priority"]; present {
		name, ok := nameOf(p, "name")
		if !ok || !contains(s.opts.Priorities, name) {
			errs["priority"] = fmt.Sprintf("Priority name '%s' is not valid", name)
		}
		is.Priority = name
	}
	if l, present := fields["labels"]; present {
		labels, msg := checkLabels(l)
		if msg != "" {
			errs["labels"] = msg
		}
		is.Labels = labels
	}
	if c, present := fields["components"]; present {
		list, _ := c.([]any)
		for _, e := range list {
			name, ok := nameOf(e, "name")
			if !ok || (s.opts.Components != nil && !contains(s.opts.Components, name)) {
				errs["components"] = fmt.Sprintf("Component name '%s' is not valid", name)
			}
			is.Components = append(is.Components, name)
		}
	}
	for k, v := range fields {
		if systemFields[k] {
			continue
		}
		if !strings.HasPrefix(k, "customfield_") || isEmptyObject(v) {
			errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
			continue
		}
		is.Fields[k] = v
	}
	if len(errs) > 0 {
		jiraError(w, http.StatusBadRequest, nil, errs)
		return
	}
	s.mu.Lock()
	now := s.opts.Now()
	is.Key = s.newKeyLocked(project)
	is.ID = strconv.Itoa(10000 + len(s.order) + 1)
	is.Status, is.Category, is.Created, is.Updated = statusToDo, CategoryNew, now, now
	s.issues[is.Key] = is
	s.order = append(s.order, is.Key)
	id, key := is.ID, is.Key
	s.mu.Unlock()
	answer(w, http.StatusCreated, map[string]any{"id": id, "key": key, "self": fmt.Sprintf("%s/rest/api/%d/issue/%s", s.URL, api, id)})
}

func isEmptyObject(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

// checkText checks a description or comment body for the API version:
// wiki text on v2, an ADF document on v3.
func checkText(api int, v any) string {
	if api == 3 {
		if err := ValidateADF(v); err != nil {
			return "Operation value must be an Atlassian Document (see the Atlassian Document Format): " + err.Error()
		}
		if utf16Len(ADFText(v)) > maxText {
			return "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
		}
		return ""
	}
	s, ok := v.(string)
	if !ok {
		return "Operation value must be a string"
	}
	if utf16Len(s) > maxText {
		return "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
	}
	return ""
}

func checkLabels(v any) ([]string, string) {
	list, ok := v.([]any)
	if !ok {
		return nil, "Labels must be a list of strings"
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		l, ok := e.(string)
		switch {
		case !ok || l == "":
			return nil, "Labels must be non-empty strings"
		case strings.ContainsAny(l, " \t\r\n"):
			return nil, "The label '" + l + "' contains spaces which is invalid."
		case utf16Len(l) > maxLabel:
			return nil, "The label '" + l[:20] + "…' exceeds the maximum length for a single label of 255 characters."
		}
		out = append(out, l)
	}
	return out, ""
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func statusFor(category string) string {
	switch category {
	case CategoryDone:
		return statusDone
	case CategoryInProgress:
		return statusInProgress
	}
	return statusToDo
}

func jiraTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format("2006-01-02T15:04:05.000-0700")
}

func (s *Server) issueJSON(is *Issue) map[string]any {
	var resolution any
	if is.Resolution != "" {
		resolution = map[string]any{"id": "1", "name": is.Resolution}
	}
	var resolved any
	if is.Category == CategoryDone {
		resolved = jiraTime(is.Resolved)
	}
	var priority any
	if is.Priority != "" {
		priority = map[string]any{"name": is.Priority}
	}
	labels := is.Labels
	if labels == nil {
		labels = []string{}
	}
	return map[string]any{
		"id": is.ID, "key": is.Key, "self": s.URL + "/rest/api/2/issue/" + is.ID,
		"fields": map[string]any{
			"summary":        is.Summary,
			"labels":         labels,
			"priority":       priority,
			"project":        map[string]any{"key": is.Project},
			"issuetype":      map[string]any{"name": is.Type},
			"status":         map[string]any{"name": is.Status, "statusCategory": map[string]any{"key": is.Category, "name": is.Category}},
			"resolution":     resolution,
			"resolutiondate": resolved,
			"created":        jiraTime(is.Created),
			"updated":        jiraTime(is.Updated),
		},
	}
}

func (s *Server) get(w http.ResponseWriter, key string) {
	s.mu.Lock()
	is := s.lookupIssue(key)
	var out map[string]any
	if is != nil {
		out = s.issueJSON(is)
	}
	s.mu.Unlock()
	if out == nil {
		jiraError(w, http.StatusNotFound, []string{issueDoesNotExist}, nil)
		return
	}
	answer(w, http.StatusOK, out)
}

// edit is PUT /issue/{key}: {"fields": {...}} and/or {"update": {...}}.
func (s *Server) edit(w http.ResponseWriter, key string, body []byte) {
	top, ok := decodeObject(body)
	if !ok {
		jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
		return
	}
	for k := range top {
		if k != "fields" && k != "update" {
			jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
			return
		}
	}
	fields, _ := top["fields"].(map[string]any)
	errs := map[string]string{}
	for k, v := range fields {
		switch k {
		case "priority":
			if name, ok := nameOf(v, "name"); !ok || !contains(s.opts.Priorities, name) {
				errs["priority"] = fmt.Sprintf("Priority name '%s' is not valid", name)
			}
		case "labels":
			if _, msg := checkLabels(v); msg != "" {
				errs["labels"] = msg
			}
		case "summary":
			if sm, _ := v.(string); strings.TrimSpace(sm) == "" || strings.ContainsAny(sm, "\r\n") {
				errs["summary"] = "You must specify a summary of the issue."
			}
		default:
			if !strings.HasPrefix(k, "customfield_") || isEmptyObject(v) {
				errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
			}
		}
	}
	s.mu.Lock()
	is := s.lookupIssue(key)
	if is == nil {
		s.mu.Unlock()
		jiraError(w, http.StatusNotFound, []string{issueDoesNotExist}, nil)
		return
	}
	if len(errs) > 0 {
		s.mu.Unlock()
		jiraError(w, http.StatusBadRequest, nil, errs)
		return
	}
	for k, v := range fields {
		switch k {
		case "priority":
			is.Priority, _ = nameOf(v, "name")
		case "labels":
			is.Labels, _ = checkLabels(v)
		case "summary":
			is.Summary = v.(string)
		default:
			is.Fields[k] = v
		}
	}
	is.Updated = s.opts.Now()
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// commentKeys are what a comment body may hold besides "body".
var commentKeys = map[string]bool{"body": true, "visibility": true, "properties": true}

func (s *Server) comment(w http.ResponseWriter, api int, key string, body []byte) {
	top, ok := decodeObject(body)
	if !ok {
		jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
		return
	}
	for k, v := range top {
		// Real Jira refuses author, updateAuthor and any other field it
		// sets itself, and an empty visibility object.
		if !commentKeys[k] || isEmptyObject(v) {
			jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
			return
		}
	}
	if v, ok := top["visibility"]; ok {
		m, _ := v.(map[string]any)
		typ, _ := m["type"].(string)
		val, _ := m["value"].(string)
		if (typ != "group" && typ != "role") || val == "" {
			jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
			return
		}
	}
	b, present := top["body"]
	if !present {
		jiraError(w, http.StatusBadRequest, nil, map[string]string{"comment": "Comment body can not be empty!"})
		return
	}
	if str, isStr := b.(string); isStr && strings.TrimSpace(str) == "" && api == 2 {
		jiraError(w, http.StatusBadRequest, nil, map[string]string{"comment": "Comment body can not be empty!"})
		return
	}
	if msg := checkText(api, b); msg != "" {
		jiraError(w, http.StatusBadRequest, nil, map[string]string{"comment": msg})
		return
	}
	text, _ := b.(string)
	if api == 3 {
		text = ADFText(b)
		if strings.TrimSpace(text) == "" {
			jiraError(w, http.StatusBadRequest, nil, map[string]string{"comment": "Comment body can not be empty!"})
			return
		}
	}
	s.mu.Lock()
	is := s.lookupIssue(key)
	if is == nil {
		s.mu.Unlock()
		jiraError(w, http.StatusNotFound, []string{issueDoesNotExist}, nil)
		return
	}
	id := strconv.Itoa(20000 + s.commentCountLocked() + 1)
	is.Comments = append(is.Comments, Comment{ID: id, API: api, Body: b, Text: text, Category: is.Category})
	is.Updated = s.opts.Now()
	s.mu.Unlock()
	answer(w, http.StatusCreated, map[string]any{"id": id, "self": fmt.Sprintf("%s/rest/api/%d/issue/%s/comment/%s", s.URL, api, key, id), "body": b})
}

// commentCountLocked counts every comment; callers hold s.mu.
func (s *Server) commentCountLocked() int {
	n := 0
	for _, is := range s.issues {
		n += len(is.Comments)
	}
	return n
}

// transition is one edge of the fake's workflow.
type transition struct {
	id, name, to string // to is a status category
}

// workflow is a small version of Jira's default: To Do and In Progress go
// to Done, Done goes back to To Do by "Reopen Issue".
func workflow(category string) []transition {
	switch category {
	case CategoryDone:
		return []transition{{"11", TransitionReopen, CategoryNew}}
	case CategoryInProgress:
		return []transition{{"31", TransitionDone, CategoryDone}}
	}
	return []transition{{"21", TransitionStart, CategoryInProgress}, {"31", TransitionDone, CategoryDone}}
}

func (s *Server) transitions(w http.ResponseWriter, key string) {
	s.mu.Lock()
	is := s.lookupIssue(key)
	var list []map[string]any
	if is != nil {
		for _, t := range workflow(is.Category) {
			list = append(list, map[string]any{
				"id": t.id, "name": t.name,
				"to":     map[string]any{"name": statusFor(t.to), "statusCategory": map[string]any{"key": t.to}},
				"fields": map[string]any{},
			})
		}
	}
	s.mu.Unlock()
	if is == nil {
		jiraError(w, http.StatusNotFound, []string{issueDoesNotExist}, nil)
		return
	}
	answer(w, http.StatusOK, map[string]any{"expand": "transitions", "transitions": list})
}

var transitionKeys = map[string]bool{"transition": true, "fields": true, "update": true, "historyMetadata": true, "properties": true}

func (s *Server) transition(w http.ResponseWriter, key string, body []byte) {
	top, ok := decodeObject(body)
	if !ok {
		jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
		return
	}
	for k := range top {
		if !transitionKeys[k] {
			jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
			return
		}
	}
	id, _ := nameOf(top["transition"], "id")
	resolution := ""
	if f, _ := top["fields"].(map[string]any); f != nil {
		for k, v := range f {
			if k != "resolution" {
				jiraError(w, http.StatusBadRequest, nil, map[string]string{k: fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)})
				return
			}
			name, ok := nameOf(v, "name")
			if !ok || !contains(s.opts.Resolutions, name) {
				jiraError(w, http.StatusBadRequest, nil, map[string]string{"resolution": "Resolution '" + name + "' is not valid"})
				return
			}
			resolution = name
		}
	}
	s.mu.Lock()
	is := s.lookupIssue(key)
	if is == nil {
		s.mu.Unlock()
		jiraError(w, http.StatusNotFound, []string{issueDoesNotExist}, nil)
		return
	}
	var found *transition
	for _, t := range workflow(is.Category) {
		if t.id == id {
			found = &t
			break
		}
	}
	if found == nil {
		s.mu.Unlock()
		jiraError(w, http.StatusBadRequest, []string{fmt.Sprintf("Transition id '%s' is not valid for this issue.", id)}, nil)
		return
	}
	now := s.opts.Now()
	is.Category, is.Status, is.Updated = found.to, statusFor(found.to), now
	is.Transitions = append(is.Transitions, found.name)
	if found.to == CategoryDone {
		if resolution == "" {
			resolution = ResolutionDone
		}
		is.Resolution, is.Resolved = resolution, now
	} else {
		is.Resolution, is.Resolved = "", time.Time{}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) remoteLink(w http.ResponseWriter, key string, body []byte) {
	top, ok := decodeObject(body)
	if !ok {
		jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
		return
	}
	for k, v := range top {
		switch k {
		case "object", "globalId", "application", "relationship":
		default:
			jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
			return
		}
		if isEmptyObject(v) {
			jiraError(w, http.StatusBadRequest, []string{invalidPayload}, nil)
			return
		}
	}
	obj, _ := top["object"].(map[string]any)
	u, _ := obj["url"].(string)
	title, _ := obj["title"].(string)
	if u == "" || title == "" {
		jiraError(w, http.StatusBadRequest, nil, map[string]string{"object": "'url' and 'title' are required"})
		return
	}
	s.mu.Lock()
	is := s.lookupIssue(key)
	if is == nil {
		s.mu.Unlock()
		jiraError(w, http.StatusNotFound, []string{issueDoesNotExist}, nil)
		return
	}
	// As in Jira, a link with the global id of one the issue has
	// replaces it.
	gid, _ := top["globalId"].(string)
	n := 0
	for i, l := range is.Links {
		if gid != "" && l.GlobalID == gid {
			is.Links[i], n = RemoteLink{GlobalID: gid, URL: u, Title: title}, i+1
		}
	}
	if n == 0 {
		is.Links = append(is.Links, RemoteLink{GlobalID: gid, URL: u, Title: title})
		n = len(is.Links)
	}
	s.mu.Unlock()
	answer(w, http.StatusCreated, map[string]any{"id": 10000 + n, "self": s.URL + "/rest/api/2/issue/" + key + "/remotelink/" + strconv.Itoa(10000+n)})
}

var labelsJQL = regexp.MustCompile(`^labels\s*=\s*"((?:[^"\\]|\\.)*)"(?:\s+ORDER BY created DESC)?$`)

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	jql := strings.TrimSpace(q.Get("jql"))
	m := labelsJQL.FindStringSubmatch(jql)
	if m == nil {
		jiraError(w, http.StatusBadRequest, []string{"Error in the JQL Query: the fake Jira understands only labels = \"...\" [ORDER BY created DESC], got " + strconv.Quote(jql)}, nil)
		return
	}
	label := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[1])
	limit := defaultSearchMaxLen
	if v, err := strconv.Atoi(q.Get("maxResults")); err == nil && v > 0 {
		limit = v
	}
	s.mu.Lock()
	var found []*Issue
	for _, k := range s.order {
		is := s.issues[k]
		if !is.deleted && contains(is.Labels, label) && !s.opts.Now().Before(is.Created.Add(s.opts.SearchDelay)) {
			found = append(found, is)
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Created.After(found[j].Created) })
	if len(found) > limit {
		found = found[:limit]
	}
	issues := make([]map[string]any, 0, len(found))
	for _, is := range found {
		issues = append(issues, s.issueJSON(is))
	}
	s.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/jql") {
		answer(w, http.StatusOK, map[string]any{"issues": issues, "isLast": true})
		return
	}
	answer(w, http.StatusOK, map[string]any{"startAt": 0, "maxResults": limit, "total": len(issues), "issues": issues})
}
