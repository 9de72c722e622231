package jira

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
	"github.com/wabridge/wabridge/templates"
)

const testToken = "tok-SECRET-42"

// fakeJira is the strict fake Jira every test runs the real client against.
type fakeJira struct {
	*jiratest.Server
	srv *jiratest.Server
}

func jsonAnswer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// newFake starts a Data Center fake taking testToken as Bearer; routes
// answer instead of the fake for what a test provokes.
func newFake(t testing.TB, routes map[string]http.HandlerFunc) *fakeJira {
	t.Helper()
	return newFakeWith(t, jiratest.Options{Token: testToken}, routes)
}

// newCloudFake is Jira Cloud with ops@example.com's API token.
func newCloudFake(t testing.TB, routes map[string]http.HandlerFunc) *fakeJira {
	t.Helper()
	return newFakeWith(t, jiratest.Options{Cloud: true, User: "ops@example.com", Token: testToken}, routes)
}

func newFakeWith(t testing.TB, opts jiratest.Options, routes map[string]http.HandlerFunc) *fakeJira {
	t.Helper()
	s := jiratest.New(t, opts)
	for pattern, h := range routes {
		s.Override(pattern, h)
	}
	return &fakeJira{Server: s, srv: s}
}

func (f *fakeJira) requests() []jiratest.Request { return f.Requests() }

func (f *fakeJira) find(method, path string) []jiratest.Request { return f.Find(method, path) }

func (f *fakeJira) calls() []string { return f.Calls() }

// seed adds open issues by key.
func (f *fakeJira) seed(keys ...string) {
	for _, k := range keys {
		f.Seed(jiratest.Issue{Key: k, Summary: "seeded", Type: "Task"})
	}
}

// checkAccepted fails the test when the fake refused a request on its own
// rules: what real Jira would have refused.
func (f *fakeJira) checkAccepted(t *testing.T) {
	t.Helper()
	for _, r := range f.Rejected() {
		t.Errorf("Jira would refuse %s %s (%d): %s", r.Method, r.Path, r.Status, r.Body)
	}
}

func testTemplates(t testing.TB) *templates.Templates {
	t.Helper()
	tm, err := templates.Load("", templates.WithSpecs(Spec()))
	if err != nil {
		t.Fatalf("load default templates: %v", err)
	}
	return tm
}

func dcConfig(url string) Config {
	return Config{URL: url, Token: testToken, Project: "WAOPS", APIType: APIDataCenter, Timeout: 5 * time.Second}
}

func cloudConfig(url string) Config {
	c := dcConfig(url)
	c.APIType, c.User = APICloud, "ops@example.com"
	return c
}

func newNotifier(t testing.TB, cfg Config, tm *templates.Templates, logger *slog.Logger, opts ...Option) *Notifier {
	t.Helper()
	if tm == nil {
		tm = testTemplates(t)
	}
	n, err := New(cfg, tm, logger, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

func sample(t testing.TB) *notification.Notification {
	t.Helper()
	// The entry is written out rather than loaded, so these tests do not
	// depend on the catalogue's wording.
	ent := catalog.Entry{
		Namespace: catalog.NamespaceMeta, Code: 131031, CodeTo: 131031,
		Title:       "Business account has been locked",
		Description: "The WhatsApp Business Account is restricted or disabled.",
		Reasons:     []string{"A policy violation", "Payment issues"},
		Actions:     []string{"Open the Business Support Home and request a review.", "Check the account's payment method."},
		Severity:    event.SeverityCritical,
	}
	ts := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	return &notification.Notification{
		ID:   "n-1",
		Rule: notification.RuleRef{Name: "account-blocked"},
		Action: jiraAction(t, Settings{
			Project:    "WAOPS",
			IssueType:  "Incident",
			Priority:   "Highest",
			Labels:     []string{"whatsapp ops", "meta", "meta", "  ", "code-{{.Event.Code}}"},
			Components: []string{"WhatsApp"},
			Fields: map[string]any{
				"customfield_10010": "code {{.Event.Code}} on {{.Event.PhoneNumberID}}",
				"customfield_10020": map[string]any{"value": "{{.Event.Severity}}"},
				"customfield_10030": []any{map[string]any{"name": "ops"}},
				"customfield_10040": 3,
			},
		}),
		Op: notification.OpOpen,
		Event: event.Event{
			ID: "wamid.HBgL", Source: "meta", Kind: event.KindStatus, Status: "failed",
			Code: 131031, Title: ent.Title, Message: "Business Account locked",
			Severity: ent.Severity, RecommendedAction: ent.RecommendedAction(),
			PhoneNumberID: "106540352242922", DisplayPhoneNumber: "16505551234",
			WABAID: "102290129340398", RecipientID: "16315551181", MessageID: "wamid.HBgL",
			Timestamp: ts,
		},
		Catalog: ent,
		Incident: &notification.Incident{
			Fingerprint: "fp123abc", Status: "open", Count: 1,
			FirstSeen: ts, LastSeen: ts, SinceTime: ts,
		},
	}
}

// createFields decodes the fields of the recorded create request.
func createFields(t *testing.T, f *fakeJira) map[string]any {
	t.Helper()
	creates := append(f.find("POST", "/rest/api/2/issue"), f.find("POST", "/rest/api/3/issue")...)
	if len(creates) != 1 {
		t.Fatalf("want 1 create request, got %d: %v", len(creates), f.calls())
	}
	var body struct {
		Fields map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(creates[0].Body, &body); err != nil {
		t.Fatalf("decode create body %s: %v", creates[0].Body, err)
	}
	return body.Fields
}

func utf16Count(s string) int { return len(utf16.Encode([]rune(s))) }

func TestNewValidatesConfig(t *testing.T) {
	tm := testTemplates(t)
	cases := []struct {
		name string
		cfg  Config
		tmpl *templates.Templates
		want []string
	}{
		{"missing url", Config{Token: testToken, Project: "WAOPS"}, tm, []string{"url is required"}},
		{"relative url", Config{URL: "jira.example.com", Token: testToken, Project: "WAOPS"}, tm, []string{"absolute http or https"}},
		{"missing project", Config{URL: "https://jira.example.com", Token: testToken}, tm, []string{"project is required"}},
		{"missing token", Config{URL: "https://jira.example.com", Project: "WAOPS"}, tm, []string{"token is required"}},
		{"cloud by host without user", Config{URL: "https://acme.atlassian.net", Token: testToken, Project: "WAOPS"}, tm, []string{"user is required on Jira Cloud"}},
		{"cloud by type without user", Config{URL: "https://jira.acme.com", Token: testToken, Project: "WAOPS", APIType: "cloud"}, tm, []string{"user is required"}},
		{"bad api type", Config{URL: "https://jira.example.com", Token: testToken, Project: "WAOPS", APIType: "server"}, tm, []string{`api_type "server"`}},
		{"everything missing at once", Config{}, tm, []string{"url is required", "project is required", "token is required"}},
		{"credentials in url", Config{URL: "https://bob:hunter2@jira.example.com", Token: testToken, Project: "WAOPS"}, tm, []string{"must not carry credentials"}},
		{"nil templates", dcConfig("https://jira.example.com"), nil, []string{"templates are required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.tmpl, nil)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, secret := range []string{testToken, "hunter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %q", err)
				}
			}
		})
	}
}

func TestConfigCloudDetection(t *testing.T) {
	cases := []struct {
		url, apiType string
		want         bool
	}{
		{"https://acme.atlassian.net", "", true},
		{"https://ACME.Atlassian.NET/", "auto", true},
		{"https://jira.acme.com", "", false},
		{"https://atlassian.net.evil.com", "", false},
		{"https://jira.acme.com", "cloud", true},
		{"https://acme.atlassian.net", "datacenter", false},
	}
	for _, tc := range cases {
		if got := (Config{URL: tc.url, APIType: tc.apiType}).Cloud(); got != tc.want {
			t.Errorf("Cloud(%s, %q) = %v, want %v", tc.url, tc.apiType, got, tc.want)
		}
	}
}

func TestCreateIssue(t *testing.T) {
	cases := []struct {
		name     string
		opts     jiratest.Options
		cfg      func(url string) Config
		wantAuth string
	}{
		{"datacenter bearer", jiratest.Options{Token: testToken}, dcConfig, "Bearer " + testToken},
		{"cloud basic", jiratest.Options{Cloud: true, User: "ops@example.com", Token: testToken}, cloudConfig,
			"Basic " + base64.StdEncoding.EncodeToString([]byte("ops@example.com:"+testToken))},
		{"datacenter basic with a user", jiratest.Options{User: "svc-wabridge", Token: testToken}, func(url string) Config {
			c := dcConfig(url)
			c.User = "svc-wabridge"
			return c
		}, "Basic " + base64.StdEncoding.EncodeToString([]byte("svc-wabridge:"+testToken))},
		{"auto on a private host is datacenter", jiratest.Options{Token: testToken}, func(url string) Config {
			c := dcConfig(url)
			c.APIType = ""
			return c
		}, "Bearer " + testToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWith(t, tc.opts, nil)
			n := newNotifier(t, tc.cfg(f.srv.URL), nil, nil)
			no := sample(t)
			no.Incident = &notification.Incident{Fingerprint: "fp123abc", Ref: ""}

			res, err := n.Notify(context.Background(), no)
			if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if res.Ref != "WAOPS-1" {
				t.Errorf("Ref = %q, want WAOPS-1", res.Ref)
			}
			for _, r := range f.requests() {
				if got := r.Header.Get("Authorization"); got != tc.wantAuth {
					t.Errorf("%s %s: Authorization = %q, want %q", r.Method, r.Path, got, tc.wantAuth)
				}
				if got := r.Header.Get("Accept-Language"); got != "en" {
					t.Errorf("%s %s: Accept-Language = %q, want en", r.Method, r.Path, got)
				}
			}
			fields := createFields(t, f)
			checkJSON(t, fields, "project", map[string]any{"key": "WAOPS"})
			checkJSON(t, fields, "issuetype", map[string]any{"name": "Incident"})
			checkJSON(t, fields, "priority", map[string]any{"name": "Highest"})
			checkJSON(t, fields, "components", []any{map[string]any{"name": "WhatsApp"}})
			checkJSON(t, fields, "labels", []any{"whatsapp_ops", "meta", "code-131031", "wabridge", "wabridge-fp123abc"})
			checkJSON(t, fields, "customfield_10010", "code 131031 on 106540352242922")
			checkJSON(t, fields, "customfield_10020", map[string]any{"value": "critical"})
			checkJSON(t, fields, "customfield_10030", []any{map[string]any{"name": "ops"}})
			checkJSON(t, fields, "customfield_10040", float64(3))

			summary, _ := fields["summary"].(string)
			if summary == "" || strings.ContainsAny(summary, "\r\n") {
				t.Errorf("summary %q: want one non-empty line", summary)
			}
			desc, _ := fields["description"].(string)
			if tc.opts.Cloud {
				// REST API v3: the description is an ADF document.
				if err := jiratest.ValidateADF(fields["description"]); err != nil {
					t.Errorf("description is not ADF: %v", err)
				}
				desc = jiratest.ADFText(fields["description"])
			}
			f.checkAccepted(t)
			if !strings.Contains(desc, "131031") {
				t.Errorf("description does not carry the code:\n%s", desc)
			}
			if act := no.Catalog.Actions[0]; !strings.Contains(desc, act) {
				t.Errorf("description does not carry the catalogue's action %q:\n%s", act, desc)
			}
		})
	}
}

func checkJSON(t *testing.T, fields map[string]any, key string, want any) {
	t.Helper()
	got, _ := json.Marshal(fields[key])
	w, _ := json.Marshal(want)
	if !bytes.Equal(got, w) {
		t.Errorf("field %s = %s, want %s", key, got, w)
	}
}

func TestCreateDefaults(t *testing.T) {
	f := newFake(t, nil)
	n := newNotifier(t, dcConfig(f.srv.URL), nil, nil)
	no := sample(t)
	no.Action = notification.Action{Notifier: "jira"}
	no.Incident = nil
	if _, err := n.Notify(context.Background(), no); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	fields := createFields(t, f)
	checkJSON(t, fields, "project", map[string]any{"key": "WAOPS"})
	checkJSON(t, fields, "issuetype", map[string]any{"name": "Task"})
	checkJSON(t, fields, "labels", []any{"wabridge"})
	if _, ok := fields["priority"]; ok {
		t.Errorf("priority sent without one configured: %v", fields["priority"])
	}
	if got := f.find("GET", "/rest/api/2/search"); len(got) != 0 {
		t.Errorf("searched without a fingerprint: %v", f.calls())
	}
}

func TestCreateTruncatesToJiraLimits(t *testing.T) {
	dir := t.TempDir()
	// Overrides that echo the message, so a long message hits both limits.
	tmpl := `{{define "jira.summary"}}{{.Event.Message}}{{end}}
{{define "jira.description"}}{{.Event.Message}}{{end}}`
	if err := os.WriteFile(filepath.Join(dir, "long.tmpl"), []byte(tmpl), 0o600); err != nil {
		t.Fatal(err)
	}
	tm, err := templates.Load(dir)
	if err != nil {
		t.Fatalf("load templates: %v", err)
	}
	f := newFake(t, nil)
	n := newNotifier(t, dcConfig(f.srv.URL), tm, nil)
	no := sample(t)
	// Emoji count twice in Jira's limits; the line breaks must leave the summary.
	no.Event.Message = "line one\nline two 🚨 " + strings.Repeat("é🚨x", 20000)
	longLabel := strings.Repeat("l", 400)
	editSettings(t, no, func(a *Settings) { a.Labels = []string{longLabel} })
	if _, err := n.Notify(context.Background(), no); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	fields := createFields(t, f)
	summary := fields["summary"].(string)
	desc := fields["description"].(string)
	if c := utf16Count(summary); c > maxSummary {
		t.Errorf("summary is %d UTF-16 units, limit %d", c, maxSummary)
	}
	if !strings.HasSuffix(summary, summaryMarker) || !strings.HasPrefix(summary, "line one line two") {
		t.Errorf("summary %q: want one line ending with the marker", summary)
	}
	if c := utf16Count(desc); c > maxText {
		t.Errorf("description is %d UTF-16 units, limit %d", c, maxText)
	}
	if !strings.HasSuffix(desc, textMarker) {
		t.Errorf("description does not end with the truncation marker")
	}
	labels := fields["labels"].([]any)
	if l := labels[0].(string); len(l) != maxLabel {
		t.Errorf("label is %d long, want %d", len(l), maxLabel)
	}
}

// labelled is an issue of the sample incident as someone left it in Jira:
// open without a resolution, else closed with it at resolved. created
// orders a search's answer, newest first.
func labelled(key, resolution string, resolved, created time.Time) jiratest.Issue {
	return jiratest.Issue{Key: key, Summary: "seeded", Type: "Task", Labels: []string{"wabridge", "wabridge-fp123abc"},
		Resolution: resolution, Resolved: resolved, Created: created}
}

func TestOpenRecoversTicketByLabel(t *testing.T) {
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	older, newer := now.Add(-100*time.Hour), now.Add(-90*time.Hour)
	cases := []struct {
		name      string
		issues    []jiratest.Issue
		wantRef   string
		wantCalls []string
	}{
		{
			name:      "open ticket gets a comment",
			issues:    []jiratest.Issue{labelled("WAOPS-7", "", time.Time{}, older)},
			wantRef:   "WAOPS-7",
			wantCalls: []string{"SEARCH", "POST /rest/api/V/issue/WAOPS-7/comment"},
		},
		{
			name:    "recently resolved ticket is reopened",
			issues:  []jiratest.Issue{labelled("WAOPS-8", "Done", now.Add(-time.Hour), older)},
			wantRef: "WAOPS-8",
			wantCalls: []string{"SEARCH", "GET /rest/api/2/issue/WAOPS-8/transitions",
				"POST /rest/api/2/issue/WAOPS-8/transitions", "POST /rest/api/V/issue/WAOPS-8/comment"},
		},
		{
			name:      "won't fix gets a new ticket",
			issues:    []jiratest.Issue{labelled("WAOPS-9", "Won't Fix", now.Add(-time.Hour), older)},
			wantRef:   "WAOPS-1",
			wantCalls: []string{"SEARCH", "POST /rest/api/V/issue"},
		},
		{
			name:      "resolved long ago gets a new ticket",
			issues:    []jiratest.Issue{labelled("WAOPS-10", "Done", now.Add(-72*time.Hour), older)},
			wantRef:   "WAOPS-1",
			wantCalls: []string{"SEARCH", "POST /rest/api/V/issue"},
		},
		{
			name: "an open ticket wins over a newer resolved one",
			issues: []jiratest.Issue{labelled("WAOPS-12", "Done", now.Add(-72*time.Hour), newer),
				labelled("WAOPS-11", "", time.Time{}, older)},
			wantRef:   "WAOPS-11",
			wantCalls: []string{"SEARCH", "POST /rest/api/V/issue/WAOPS-11/comment"},
		},
		{
			name:      "nothing found gets a new ticket",
			wantRef:   "WAOPS-1",
			wantCalls: []string{"SEARCH", "POST /rest/api/V/issue"},
		},
	}
	for _, api := range []string{APICloud, APIDataCenter} {
		for _, tc := range cases {
			t.Run(api+"/"+tc.name, func(t *testing.T) {
				f, cfg, searchPath, version := newFake(t, nil), dcConfig(""), "/rest/api/2/search", "2"
				if api == APICloud {
					// The old endpoint is gone on Cloud: the fake answers 410.
					f, cfg, searchPath, version = newCloudFake(t, nil), cloudConfig(""), "/rest/api/2/search/jql", "3"
				}
				for _, is := range tc.issues {
					f.Seed(is)
				}
				cfg.URL = f.srv.URL
				cfg.ReopenTransition = "reopen issue"
				n := newNotifier(t, cfg, nil, nil, WithClock(func() time.Time { return now }))

				res, err := n.Notify(context.Background(), sample(t))
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				if res.Ref != tc.wantRef {
					t.Errorf("Ref = %q, want %q", res.Ref, tc.wantRef)
				}
				if want := f.srv.URL + "/browse/" + tc.wantRef; res.Link != want {
					t.Errorf("Link = %q, want %q", res.Link, want)
				}
				want := strings.Join(tc.wantCalls, "\n")
				want = strings.Replace(want, "SEARCH", "GET "+searchPath, 1)
				want = strings.ReplaceAll(want, "/api/V/", "/api/"+version+"/")
				if got := strings.Join(f.calls(), "\n"); got != want {
					t.Errorf("calls:\n%s\nwant:\n%s", got, want)
				}
				search := f.find("GET", searchPath)[0]
				if jql := queryValue(t, search.Query, "jql"); jql != `labels = "wabridge-fp123abc" ORDER BY created DESC` {
					t.Errorf("jql = %q", jql)
				}
				if tr := f.find("POST", "/rest/api/2/issue/WAOPS-8/transitions"); len(tr) == 1 && !strings.Contains(string(tr[0].Body), `"id":"11"`) {
					t.Errorf("reopen used the wrong transition: %s", tr[0].Body)
				}
				f.checkAccepted(t)
				if is, _ := f.Issue(tc.wantRef); is.Category == jiratest.CategoryDone {
					t.Errorf("%s is still closed", tc.wantRef)
				}
			})
		}
	}
}

func queryValue(t *testing.T, raw, key string) string {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("parse query %q: %v", raw, err)
	}
	return v.Get(key)
}

func TestOpenWithStoredRef(t *testing.T) {
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		deleted   bool
		wantRef   string
		wantCalls []string
	}{
		{"open ticket", false, "WAOPS-5",
			[]string{"GET /rest/api/2/issue/WAOPS-5", "POST /rest/api/2/issue/WAOPS-5/comment"}},
		{"deleted ticket", true, "WAOPS-1",
			[]string{"GET /rest/api/2/issue/WAOPS-5", "POST /rest/api/2/issue"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, nil)
			f.seed("WAOPS-5")
			if tc.deleted {
				f.Delete("WAOPS-5")
			}
			n := newNotifier(t, dcConfig(f.srv.URL), nil, nil, WithClock(func() time.Time { return now }))
			no := sample(t)
			no.Incident.Ref = "WAOPS-5"
			res, err := n.Notify(context.Background(), no)
			if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if res.Ref != tc.wantRef {
				t.Errorf("Ref = %q, want %q", res.Ref, tc.wantRef)
			}
			if got, want := strings.Join(f.calls(), "\n"), strings.Join(tc.wantCalls, "\n"); got != want {
				t.Errorf("calls:\n%s\nwant:\n%s", got, want)
			}
			f.checkAccepted(t)
		})
	}
}

func TestRepeatComments(t *testing.T) {
	for _, api := range []string{APIDataCenter, APICloud} {
		t.Run(api, func(t *testing.T) {
			f, cfg, version := newFake(t, nil), dcConfig(""), "2"
			if api == APICloud {
				f, cfg, version = newCloudFake(t, nil), cloudConfig(""), "3"
			}
			cfg.URL = f.srv.URL
			f.seed("WAOPS-3")
			n := newNotifier(t, cfg, nil, nil)
			no := sample(t)
			no.Op = notification.OpRepeat
			no.Incident.Ref = "WAOPS-3"
			no.Incident.Count = 42
			res, err := n.Notify(context.Background(), no)
			if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if res.Ref != "WAOPS-3" {
				t.Errorf("Ref = %q", res.Ref)
			}
			want := "GET /rest/api/2/issue/WAOPS-3\nPOST /rest/api/" + version + "/issue/WAOPS-3/comment"
			if got := strings.Join(f.calls(), "\n"); got != want {
				t.Fatalf("calls:\n%s\nwant:\n%s", got, want)
			}
			f.checkAccepted(t)
			// Exactly {"body": ...}: nothing Jira would refuse.
			var c map[string]json.RawMessage
			if err := json.Unmarshal(f.find("POST", "/rest/api/"+version+"/issue/WAOPS-3/comment")[0].Body, &c); err != nil || len(c) != 1 || c["body"] == nil {
				t.Errorf("comment body %v: %v", c, err)
			}
			is, _ := f.Issue("WAOPS-3")
			if len(is.Comments) != 1 || !strings.Contains(is.Comments[0].Text, "42 in total") {
				t.Errorf("comments: %+v", is.Comments)
			}
		})
	}
}

// TestRepeatOnTicketClosedInJira is the repeat after someone closed or
// deleted the ticket: never a comment on a closed ticket alone.
func TestRepeatOnTicketClosedInJira(t *testing.T) {
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		resolution string // closes WAOPS-3 with it; "-" deletes it
		closedAgo  time.Duration
		reopen     string
		wantRef    string
		wantLog    string
	}{
		{"closed recently is reopened", "Done", time.Hour, jiratest.TransitionReopen, "WAOPS-3", "reopened"},
		{"closed as won't fix gets a new ticket", "Won't Fix", time.Hour, jiratest.TransitionReopen, "WAOPS-1", "won't fix"},
		{"closed before the window gets a new ticket", "Done", 48 * time.Hour, jiratest.TransitionReopen, "WAOPS-1", "before the reopen window"},
		{"closed without reopen_transition gets a new ticket", "Done", time.Hour, "", "WAOPS-1", "reopen_transition is not set"},
		{"closed and the reopen is not offered gets a new ticket", "Done", time.Hour, "Back to work", "WAOPS-1", "cannot be reopened"},
		{"deleted is recreated", "-", 0, jiratest.TransitionReopen, "WAOPS-1", "deleted in Jira (404)"},
	}
	for _, api := range []string{APIDataCenter, APICloud} {
		for _, tc := range cases {
			t.Run(api+"/"+tc.name, func(t *testing.T) {
				f, cfg := newFake(t, nil), dcConfig("")
				if api == APICloud {
					f, cfg = newCloudFake(t, nil), cloudConfig("")
				}
				cfg.URL, cfg.ReopenTransition = f.srv.URL, tc.reopen
				f.seed("WAOPS-3")
				if tc.resolution == "-" {
					f.Delete("WAOPS-3")
				} else {
					f.CloseIssue("WAOPS-3", tc.resolution)
					f.SetResolved("WAOPS-3", now.Add(-tc.closedAgo))
				}
				var logs bytes.Buffer
				n := newNotifier(t, cfg, nil, slog.New(slog.NewTextHandler(&logs, nil)), WithClock(func() time.Time { return now }))
				no := sample(t)
				no.Op = notification.OpRepeat
				no.Incident.Ref = "WAOPS-3"
				res, err := n.Notify(context.Background(), no)
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				if res.Ref != tc.wantRef {
					t.Errorf("Ref = %q, want %q", res.Ref, tc.wantRef)
				}
				f.checkAccepted(t)
				if !strings.Contains(logs.String(), tc.wantLog) {
					t.Errorf("log does not say %q:\n%s", tc.wantLog, logs.String())
				}
				for _, is := range f.Issues() {
					for _, c := range is.Comments {
						if c.Category == jiratest.CategoryDone {
							t.Errorf("a comment landed on %s while it was closed: %s", is.Key, c.Text)
						}
					}
				}
				got, _ := f.Issue(tc.wantRef)
				if got.Category == jiratest.CategoryDone {
					t.Errorf("the incident's ticket %s is closed", tc.wantRef)
				}
				if tc.wantRef == "WAOPS-3" && len(got.Comments) != 1 {
					t.Errorf("the reopened ticket has %d comments, want 1", len(got.Comments))
				}
				if n := len(f.Keys()); tc.wantRef == "WAOPS-1" && n != 1+btoi(tc.resolution != "-") {
					t.Errorf("issues %v: want one new ticket", f.Keys())
				}
			})
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRepeatWithoutRefSearchesThenCreates(t *testing.T) {
	f := newFake(t, nil)
	n := newNotifier(t, dcConfig(f.srv.URL), nil, nil)
	no := sample(t)
	no.Op = notification.OpRepeat
	res, err := n.Notify(context.Background(), no)
	if err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if res.Ref != "WAOPS-1" {
		t.Errorf("Ref = %q", res.Ref)
	}
	if got, want := strings.Join(f.calls(), "\n"), "GET /rest/api/2/search\nPOST /rest/api/2/issue"; got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name       string
		transition string
		ref        string
		seed       *jiratest.Issue
		wantRef    string
		wantCalls  []string
	}{
		{"comment and transition", "done", "WAOPS-3", nil, "WAOPS-3", []string{"GET /rest/api/2/issue/WAOPS-3",
			"GET /rest/api/2/issue/WAOPS-3/transitions", "POST /rest/api/2/issue/WAOPS-3/comment", "POST /rest/api/2/issue/WAOPS-3/transitions"}},
		{"comment only without a transition", "", "WAOPS-3", nil, "WAOPS-3", []string{"GET /rest/api/2/issue/WAOPS-3", "POST /rest/api/2/issue/WAOPS-3/comment"}},
		{"transition not offered still comments", "Close", "WAOPS-3", nil, "WAOPS-3", []string{"GET /rest/api/2/issue/WAOPS-3",
			"GET /rest/api/2/issue/WAOPS-3/transitions", "POST /rest/api/2/issue/WAOPS-3/comment"}},
		{"closed in Jira is left alone", "Done", "WAOPS-3", &jiratest.Issue{Key: "WAOPS-3", Resolution: "Done"}, "WAOPS-3",
			[]string{"GET /rest/api/2/issue/WAOPS-3"}},
		{"deleted in Jira is nothing to resolve", "Done", "WAOPS-9", nil, "", []string{"GET /rest/api/2/issue/WAOPS-9"}},
		{"no ref finds the open ticket", "Done", "", &jiratest.Issue{Key: "WAOPS-4", Labels: []string{"wabridge-fp123abc"}}, "WAOPS-4", []string{
			"GET /rest/api/2/search", "GET /rest/api/2/issue/WAOPS-4/transitions", "POST /rest/api/2/issue/WAOPS-4/comment", "POST /rest/api/2/issue/WAOPS-4/transitions"}},
		{"no ref and already resolved", "Done", "", &jiratest.Issue{Key: "WAOPS-4", Labels: []string{"wabridge-fp123abc"}, Resolution: "Done"}, "WAOPS-4",
			[]string{"GET /rest/api/2/search"}},
		{"no ref and no ticket creates then resolves", "Done", "", nil, "WAOPS-1", []string{
			"GET /rest/api/2/search", "POST /rest/api/2/issue", "GET /rest/api/2/issue/WAOPS-1/transitions", "POST /rest/api/2/issue/WAOPS-1/comment", "POST /rest/api/2/issue/WAOPS-1/transitions"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, nil)
			switch {
			case tc.seed != nil:
				tc.seed.Summary, tc.seed.Type = "seeded", "Task"
				f.Seed(*tc.seed)
			case tc.ref == "WAOPS-3":
				f.seed("WAOPS-3")
			}
			cfg := dcConfig(f.srv.URL)
			cfg.ResolveTransition = tc.transition
			n := newNotifier(t, cfg, nil, nil)
			no := sample(t)
			no.Op = notification.OpResolve
			no.Incident.Ref = tc.ref
			no.Incident.Status = "resolved"
			res, err := n.Notify(context.Background(), no)
			if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if res.Ref != tc.wantRef {
				t.Errorf("Ref = %q, want %q", res.Ref, tc.wantRef)
			}
			if got, want := strings.Join(f.calls(), "\n"), strings.Join(tc.wantCalls, "\n"); got != want {
				t.Errorf("calls:\n%s\nwant:\n%s", got, want)
			}
			for _, tr := range f.find("POST", "/rest/api/2/issue/"+tc.wantRef+"/transitions") {
				if !strings.Contains(string(tr.Body), `"id":"31"`) {
					t.Errorf("resolve used the wrong transition: %s", tr.Body)
				}
			}
			f.checkAccepted(t)
			if tc.transition != "" && tc.transition != "Close" && tc.wantRef != "" {
				if is, _ := f.Issue(tc.wantRef); is.Category != jiratest.CategoryDone {
					t.Errorf("%s is %s, want done", tc.wantRef, is.Category)
				}
			}
		})
	}
}

func TestUpdateIsANoOp(t *testing.T) {
	f := newFake(t, nil)
	n := newNotifier(t, dcConfig(f.srv.URL), nil, nil)
	no := sample(t)
	no.Op = notification.OpUpdate
	no.Incident.Ref = "WAOPS-3"
	res, err := n.Notify(context.Background(), no)
	if err != nil || res.Ref != "WAOPS-3" {
		t.Fatalf("Notify = %+v, %v; want Ref WAOPS-3", res, err)
	}
	if len(f.requests()) != 0 {
		t.Errorf("update called Jira: %v", f.calls())
	}
}

func TestUnknownOpIsPermanent(t *testing.T) {
	f := newFake(t, nil)
	n := newNotifier(t, dcConfig(f.srv.URL), nil, nil)
	no := sample(t)
	no.Op = "explode"
	_, err := n.Notify(context.Background(), no)
	if reason, _, _ := notifiers.Classify(err); reason != notifiers.ReasonPermanent || !strings.Contains(err.Error(), "explode") {
		t.Errorf("err = %v (%s), want permanent naming the op", err, reason)
	}
	if _, err := n.Notify(context.Background(), nil); err == nil {
		t.Error("nil notification: want an error")
	}
}

func TestFailuresAreClassified(t *testing.T) {
	cases := []struct {
		name       string
		api        string
		route      string
		answer     http.HandlerFunc
		op         notification.Op
		reason     notifiers.Reason
		retryAfter time.Duration
		wantText   []string
	}{
		{"field errors", APIDataCenter, "POST /rest/api/2/issue",
			jsonAnswer(400, `{"errorMessages":[],"errors":{"priority":"Priority name 'Urgent' is not valid","components":"Component name 'X' is not valid"}}`),
			notification.OpOpen, notifiers.ReasonPermanent, 0,
			[]string{"create issue in WAOPS", "status 400", "priority: Priority name 'Urgent' is not valid", "components: Component name 'X' is not valid"}},
		{"bad token", APIDataCenter, "POST /rest/api/2/issue", jsonAnswer(401, `{"errorMessages":["You are not authenticated."]}`),
			notification.OpOpen, notifiers.ReasonAuth, 0, []string{"status 401", "token"}},
		{"no permission", APIDataCenter, "POST /rest/api/2/issue/{key}/comment", jsonAnswer(403, `{"errorMessages":["You do not have permission"],"errors":{}}`),
			notification.OpRepeat, notifiers.ReasonAuth, 0, []string{"comment on WAOPS-3", "status 403", "You do not have permission"}},
		{"project not found", APIDataCenter, "POST /rest/api/2/issue", jsonAnswer(404, `{"errorMessages":["project is not valid"]}`),
			notification.OpOpen, notifiers.ReasonPermanent, 0, []string{"status 404", "does not exist"}},
		{"rate limited", APIDataCenter, "POST /rest/api/2/issue/{key}/comment", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			jsonAnswer(429, `{"errorMessages":["Rate limit exceeded."]}`)(w, r)
		}, notification.OpRepeat, notifiers.ReasonRateLimited, 30 * time.Second, []string{"status 429"}},
		{"server error", APIDataCenter, "POST /rest/api/2/issue", jsonAnswer(500, `{"errorMessages":["Internal server error"]}`),
			notification.OpOpen, notifiers.ReasonTransient, 0, []string{"status 500"}},
		{"proxy html", APIDataCenter, "POST /rest/api/2/issue/{key}/comment", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html><body>bad gateway</body></html>")
		}, notification.OpRepeat, notifiers.ReasonTransient, 0, []string{"status 502"}},
		{"search 5xx stops the create", APIDataCenter, "GET /rest/api/2/search", jsonAnswer(503, `{}`),
			notification.OpOpen, notifiers.ReasonTransient, 0, []string{"search issues by label", "status 503"}},
		{"old search on cloud", APIDataCenter, "GET /rest/api/2/search", jsonAnswer(410, `{"errorMessages":["The requested API has been removed."]}`),
			notification.OpOpen, notifiers.ReasonPermanent, 0, []string{"status 410", "api_type to cloud"}},
		{"cloud search auth", APICloud, "GET /rest/api/2/search/jql", jsonAnswer(401, `{}`),
			notification.OpOpen, notifiers.ReasonAuth, 0, []string{"status 401"}},
		{"reopen transition refused", APIDataCenter, "POST /rest/api/2/issue/{key}/transitions", jsonAnswer(400, `{"errorMessages":[],"errors":{"resolution":"Field 'resolution' cannot be set."}}`),
			notification.OpResolve, notifiers.ReasonPermanent, 0, []string{"resolve WAOPS-3", "resolution: Field 'resolution' cannot be set."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, cfg := newFake(t, map[string]http.HandlerFunc{tc.route: tc.answer}), dcConfig("")
			if tc.api == APICloud {
				f, cfg = newCloudFake(t, map[string]http.HandlerFunc{tc.route: tc.answer}), cloudConfig("")
			}
			cfg.URL = f.srv.URL
			f.seed("WAOPS-3")
			cfg.ResolveTransition = "Done"
			var logs bytes.Buffer
			n := newNotifier(t, cfg, nil, slog.New(slog.NewTextHandler(&logs, nil)))
			no := sample(t)
			no.Op = tc.op
			if tc.op != notification.OpOpen {
				no.Incident.Ref = "WAOPS-3"
			}
			_, err := n.Notify(context.Background(), no)
			if err == nil {
				t.Fatal("Notify succeeded, want an error")
			}
			var ne *notifiers.Error
			if !errors.As(err, &ne) {
				t.Fatalf("err %T %v is not a *notifiers.Error", err, err)
			}
			if ne.Reason != tc.reason || ne.RetryAfter != tc.retryAfter || ne.Notifier != "jira" {
				t.Errorf("got %s retry after %s from %q, want %s after %s", ne.Reason, ne.RetryAfter, ne.Notifier, tc.reason, tc.retryAfter)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			checkNoLeak(t, err.Error()+logs.String())
			if strings.Contains(err.Error(), "<html>") {
				t.Errorf("error carries the proxy's page: %q", err)
			}
		})
	}
}

func TestFieldErrorsAreLogged(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"POST /rest/api/2/issue": jsonAnswer(400, `{"errorMessages":[],"errors":{"priority":"Priority name 'Urgent' is not valid"}}`),
	})
	var logs bytes.Buffer
	n := newNotifier(t, dcConfig(f.srv.URL), nil, slog.New(slog.NewTextHandler(&logs, nil)))
	no := sample(t)
	editSettings(t, no, func(a *Settings) { a.Priority = "Urgent" })
	if _, err := n.Notify(context.Background(), no); err == nil {
		t.Fatal("want an error")
	}
	for _, w := range []string{"jira rejected the request", "priority: Priority name 'Urgent' is not valid", "rule=account-blocked"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log does not say %q:\n%s", w, logs.String())
		}
	}
}

func checkNoLeak(t *testing.T, s string) {
	t.Helper()
	for _, bad := range []string{testToken, "jql=", "16505551234", "106540352242922"} {
		if strings.Contains(s, bad) {
			t.Errorf("output leaks %q: %s", bad, s)
		}
	}
}

func TestNetworkFailuresAreTransient(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		addr := srv.URL
		srv.Close()
		n := newNotifier(t, dcConfig(addr), nil, nil)
		_, err := n.Notify(context.Background(), sample(t)) // searches first: its URL has a query
		if reason, _, retry := notifiers.Classify(err); reason != notifiers.ReasonTransient || !retry {
			t.Errorf("err = %v (%s), want transient", err, reason)
		}
		var ne *notifiers.Error
		if !errors.As(err, &ne) {
			t.Fatalf("err %T is not a *notifiers.Error", err)
		}
		checkNoLeak(t, err.Error())
		if strings.Contains(err.Error(), addr) {
			t.Errorf("error carries the URL: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		f := newFake(t, map[string]http.HandlerFunc{
			"POST /rest/api/2/issue/{key}/comment": func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			},
		})
		defer close(release)
		f.seed("WAOPS-3")
		cfg := dcConfig(f.srv.URL)
		cfg.Timeout = 100 * time.Millisecond
		n := newNotifier(t, cfg, nil, nil)
		no := sample(t)
		no.Op = notification.OpRepeat
		no.Incident.Ref = "WAOPS-3"
		_, err := n.Notify(context.Background(), no)
		if reason, _, _ := notifiers.Classify(err); reason != notifiers.ReasonTransient || err == nil {
			t.Errorf("err = %v (%s), want transient", err, reason)
		}
		var ne *notifiers.Error
		if !errors.As(err, &ne) {
			t.Fatalf("err %T is not a *notifiers.Error", err)
		}
	})
}

func TestRenderDoesNotCallJira(t *testing.T) {
	f := newFake(t, nil)
	n := newNotifier(t, dcConfig(f.srv.URL), nil, nil)
	for _, op := range []notification.Op{notification.OpOpen, notification.OpRepeat, notification.OpResolve} {
		no := sample(t)
		no.Op = op
		editSettings(t, no, func(a *Settings) { a.Project = "OPS2" })
		m, err := n.Render(no)
		if err != nil {
			t.Fatalf("Render %s: %v", op, err)
		}
		if m.Notifier != "jira" || m.Target != "OPS2" || m.Summary == "" || strings.TrimSpace(m.Body) == "" {
			t.Errorf("Render %s = %+v", op, m)
		}
	}
	m, _ := n.Render(sample(t))
	if !strings.Contains(m.Body, "131031") {
		t.Errorf("open body does not carry the code:\n%s", m.Body)
	}
	if len(f.requests()) != 0 {
		t.Errorf("Render called Jira: %v", f.calls())
	}
	if _, err := n.Render(nil); err == nil {
		t.Error("Render(nil): want an error")
	}
	no := sample(t)
	no.Action.Templates = map[string]string{"summary": "no.such.template"}
	if _, err := n.Render(no); err == nil || !strings.Contains(err.Error(), "no.such.template") {
		t.Errorf("unknown template: err = %v", err)
	}
}

func TestTemplateErrorsArePermanent(t *testing.T) {
	f := newFake(t, nil)
	n := newNotifier(t, dcConfig(f.srv.URL), nil, nil)
	cases := map[string]func(*notification.Notification){
		"unknown template": func(no *notification.Notification) { no.Action.Templates = map[string]string{"description": "no.such"} },
		"broken field": func(no *notification.Notification) {
			editSettings(t, no, func(a *Settings) { a.Fields = map[string]any{"customfield_1": "{{.Event.Nope}}"} })
		},
		"labels field not a list": func(no *notification.Notification) {
			editSettings(t, no, func(a *Settings) { a.Fields = map[string]any{"labels": map[string]any{"a": 1}} })
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			no := sample(t)
			no.Incident = nil
			mutate(no)
			_, err := n.Notify(context.Background(), no)
			if reason, _, _ := notifiers.Classify(err); err == nil || reason != notifiers.ReasonPermanent {
				t.Errorf("err = %v (%s), want permanent", err, reason)
			}
		})
	}
	if len(f.find("POST", "/rest/api/2/issue")) != 0 {
		t.Errorf("a broken issue reached Jira: %v", f.calls())
	}
}

func TestLabelsFromFieldsJoinOurs(t *testing.T) {
	f := newFake(t, nil)
	n := newNotifier(t, dcConfig(f.srv.URL), nil, nil)
	no := sample(t)
	editSettings(t, no, func(a *Settings) { a.Labels = nil })
	editSettings(t, no, func(a *Settings) { a.Fields = map[string]any{"labels": []any{"from fields"}} })
	if _, err := n.Notify(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	checkJSON(t, createFields(t, f), "labels", []any{"from_fields", "wabridge", "wabridge-fp123abc"})
}

func TestConcurrentNotify(t *testing.T) {
	f := newFake(t, nil)
	for i := 1; i <= 8; i++ {
		f.seed(fmt.Sprintf("WAOPS-%d", i))
	}
	n := newNotifier(t, dcConfig(f.srv.URL), nil, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			no := sample(t)
			no.Incident.Ref = fmt.Sprintf("WAOPS-%d", i+1)
			no.Op = notification.OpRepeat
			if _, err := n.Notify(context.Background(), no); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(f.requests()); got != 16 {
		t.Errorf("got %d requests, want 16 (a look at each ticket, then its comment)", got)
	}
	f.checkAccepted(t)
	if got := f.Comments(); got != 8 {
		t.Errorf("%d comments, want 8", got)
	}
}

func BenchmarkNotifyOpen(b *testing.B) {
	f := newFake(b, nil)
	n := newNotifier(b, dcConfig(f.srv.URL), nil, nil)
	no := sample(b)
	no.Incident = nil // a create each time, not a search of all the earlier ones
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.Notify(context.Background(), no); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	n := newNotifier(b, dcConfig("http://127.0.0.1:1"), nil, nil)
	no := sample(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.Render(no); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReopenEdges(t *testing.T) {
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		transition string
		routes     map[string]http.HandlerFunc
		wantRef    string
		wantReason notifiers.Reason
		wantCalls  []string
	}{
		{name: "no reopen transition configured", wantRef: "WAOPS-1",
			wantCalls: []string{"GET /rest/api/2/search", "POST /rest/api/2/issue"}},
		{name: "transition not offered", transition: "Back to work", wantRef: "WAOPS-1",
			wantCalls: []string{"GET /rest/api/2/search", "GET /rest/api/2/issue/WAOPS-8/transitions", "POST /rest/api/2/issue"}},
		{name: "transition fails", transition: "Reopen Issue", wantReason: notifiers.ReasonTransient,
			routes:    map[string]http.HandlerFunc{"POST /rest/api/2/issue/{key}/transitions": jsonAnswer(500, `{}`)},
			wantCalls: []string{"GET /rest/api/2/search", "GET /rest/api/2/issue/WAOPS-8/transitions", "POST /rest/api/2/issue/WAOPS-8/transitions"}},
		{name: "listing transitions fails", transition: "Reopen Issue", wantReason: notifiers.ReasonAuth,
			routes:    map[string]http.HandlerFunc{"GET /rest/api/2/issue/{key}/transitions": jsonAnswer(403, `{}`)},
			wantCalls: []string{"GET /rest/api/2/search", "GET /rest/api/2/issue/WAOPS-8/transitions"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.routes)
			f.Seed(labelled("WAOPS-8", "Done", now.Add(-time.Hour), now.Add(-2*time.Hour)))
			cfg := dcConfig(f.srv.URL)
			cfg.ReopenTransition = tc.transition
			n := newNotifier(t, cfg, nil, nil, WithClock(func() time.Time { return now }))
			res, err := n.Notify(context.Background(), sample(t))
			if tc.wantReason != "" {
				if reason, _, _ := notifiers.Classify(err); err == nil || reason != tc.wantReason {
					t.Errorf("err = %v (%s), want %s", err, reason, tc.wantReason)
				}
			} else if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if res.Ref != tc.wantRef {
				t.Errorf("Ref = %q, want %q", res.Ref, tc.wantRef)
			}
			if got, want := strings.Join(f.calls(), "\n"), strings.Join(tc.wantCalls, "\n"); got != want {
				t.Errorf("calls:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestFieldValues(t *testing.T) {
	n := newNotifier(t, dcConfig("http://127.0.0.1:1"), nil, nil)
	d := templates.DataFor(sample(t))
	cases := []struct {
		name string
		in   any
		want string // JSON
	}{
		{"string is a template", "{{.Event.Code}}", `"131031"`},
		{"number passes", 7, `7`},
		{"bool passes", true, `true`},
		{"nil passes", nil, `null`},
		{"string list", []string{"a", "{{.Rule.Name}}"}, `["a","account-blocked"]`},
		{"select field", map[string]any{"value": "{{.Event.Severity}}"}, `{"value":"critical"}`},
		{"yaml map with any keys", map[any]any{"id": "{{.Event.Code}}", 1: "x"}, `{"1":"x","id":"131031"}`},
		{"nested", []any{map[string]any{"value": "x", "child": map[string]any{"value": "{{.Event.Source}}"}}}, `[{"child":{"value":"meta"},"value":"x"}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := n.fieldValue(tc.in, d)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tc.want {
				t.Errorf("fieldValue = %s, want %s", b, tc.want)
			}
		})
	}
	for _, bad := range []any{"{{.Event.Nope}}", []any{"{{"}, map[string]any{"v": "{{.Nope}}"}, []string{"{{end}}"}, map[any]any{"k": "{{.X}}"}} {
		if _, err := n.fieldValue(bad, d); err == nil {
			t.Errorf("fieldValue(%v): want an error", bad)
		}
	}
}

// jiraAction is a jira action with settings s, as rules load it.
func jiraAction(t testing.TB, s Settings) notification.Action {
	t.Helper()
	b, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	return notification.Action{Notifier: name, Target: s.Target(), Settings: b}
}

// editSettings changes the settings of no's action.
func editSettings(t testing.TB, no *notification.Notification, edit func(*Settings)) {
	t.Helper()
	s, err := settingsOf(no.Action)
	if err != nil {
		t.Fatal(err)
	}
	edit(&s)
	a := jiraAction(t, s)
	no.Action.Target, no.Action.Settings = a.Target, a.Settings
}
