package jiratest

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	gojira "github.com/andygrunwald/go-jira"
)

func client(t *testing.T, s *Server, user, token string) *gojira.Client {
	t.Helper()
	var hc *http.Client
	if user != "" {
		hc = (&gojira.BasicAuthTransport{Username: user, Password: token}).Client()
	} else {
		hc = (&gojira.PATAuthTransport{Token: token}).Client()
	}
	c, err := gojira.NewClient(hc, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func status(resp *gojira.Response) int {
	if resp == nil || resp.Response == nil {
		return 0
	}
	return resp.StatusCode
}

func create(t *testing.T, c *gojira.Client, f *gojira.IssueFields) (string, int) {
	t.Helper()
	is, resp, _ := c.Issue.CreateWithContext(context.Background(), &gojira.Issue{Fields: f})
	if is == nil {
		return "", status(resp)
	}
	return is.Key, status(resp)
}

func fields() *gojira.IssueFields {
	return &gojira.IssueFields{Project: gojira.Project{Key: "WAOPS"}, Type: gojira.IssueType{Name: "Task"}, Summary: "s", Description: "d"}
}

// raw sends a request with a body of our own, as the notifier does for comments.
func raw(t *testing.T, c *gojira.Client, method, path string, body any) int {
	t.Helper()
	req, err := c.NewRequestWithContext(context.Background(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := c.Do(req, nil)
	return status(resp)
}

func TestRejectsWhatJiraRejects(t *testing.T) {
	s := New(t, Options{})
	c := client(t, s, "", "jira-token")
	key, code := create(t, c, fields())
	if code != 201 || key != "WAOPS-1" {
		t.Fatalf("create: %d %q", code, key)
	}
	// go-jira v1.17's own Comment carries author/updateAuthor/visibility.
	if _, resp, err := c.Issue.AddCommentWithContext(context.Background(), key, &gojira.Comment{Body: "x"}); err == nil || status(resp) != 400 {
		t.Errorf("go-jira AddComment: status %d, want 400", status(resp))
	}
	if got := raw(t, c, "POST", "rest/api/2/issue/"+key+"/comment", map[string]any{"body": "x"}); got != 201 {
		t.Errorf(`{"body"} comment: %d`, got)
	}
	if got := raw(t, c, "POST", "rest/api/2/issue/"+key+"/comment", map[string]any{"body": ""}); got != 400 {
		t.Errorf("empty comment: %d", got)
	}
	if got := raw(t, c, "POST", "rest/api/3/issue/"+key+"/comment", map[string]any{"body": "x"}); got != 404 {
		t.Errorf("v3 on Data Center: %d", got)
	}
	// Reopen is not offered from To Do.
	if resp, err := c.Issue.DoTransitionWithContext(context.Background(), key, "11"); err == nil || status(resp) != 400 {
		t.Errorf("reopen of an open issue: %d", status(resp))
	}
	if resp, err := c.Issue.DoTransitionWithContext(context.Background(), key, "31"); err != nil {
		t.Errorf("done: %d %v", status(resp), err)
	}
	if is, _ := s.Issue(key); is.Category != CategoryDone || is.Resolution != ResolutionDone {
		t.Errorf("after Done: %+v", is)
	}
	f := fields()
	f.Priority = &gojira.Priority{Name: "Urgent"}
	if _, code := create(t, c, f); code != 400 {
		t.Errorf("unknown priority: %d", code)
	}
	f = fields()
	f.Summary = ""
	if _, code := create(t, c, f); code != 400 {
		t.Errorf("no summary: %d", code)
	}
	f = fields()
	f.Labels = []string{"has space"}
	if _, code := create(t, c, f); code != 400 {
		t.Errorf("label with a space: %d", code)
	}
	if _, code := create(t, client(t, s, "", "wrong"), fields()); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	s.Delete(key)
	if _, resp, _ := c.Issue.GetWithContext(context.Background(), key, nil); status(resp) != 404 {
		t.Errorf("deleted issue: %d", status(resp))
	}
	if n := len(s.Rejected()); n != 7 {
		t.Errorf("%d rejected requests, want 7: %v", n, s.Calls())
	}
}

func TestCloudWantsADF(t *testing.T) {
	s := New(t, Options{Cloud: true, User: "ops@example.com"})
	c := client(t, s, "ops@example.com", "jira-token")
	doc := map[string]any{"type": "doc", "version": 1, "content": []any{
		map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": "hello", "marks": []any{map[string]any{"type": "link", "attrs": map[string]any{"href": "https://x"}}}}}},
	}}
	body := func(desc any) map[string]any {
		return map[string]any{"fields": map[string]any{"project": map[string]any{"key": "WAOPS"}, "issuetype": map[string]any{"name": "Task"}, "summary": "s", "description": desc}}
	}
	if got := raw(t, c, "POST", "rest/api/3/issue", body("h2. wiki")); got != 400 {
		t.Errorf("wiki description on v3: %d", got)
	}
	if got := raw(t, c, "POST", "rest/api/3/issue", body(doc)); got != 201 {
		t.Errorf("ADF description on v3: %d", got)
	}
	if got := raw(t, c, "POST", "rest/api/3/issue/WAOPS-1/comment", map[string]any{"body": "plain"}); got != 400 {
		t.Errorf("string comment on v3: %d", got)
	}
	if got := raw(t, c, "POST", "rest/api/3/issue/WAOPS-1/comment", map[string]any{"body": doc}); got != 201 {
		t.Errorf("ADF comment on v3: %d", got)
	}
	is, _ := s.Issue("WAOPS-1")
	if len(is.Comments) != 1 || is.Comments[0].Text != "hello (https://x)" {
		t.Errorf("comments: %+v", is.Comments)
	}
	// The retired search answers 410 on Cloud; the new one works.
	if _, resp, _ := c.Issue.SearchWithContext(context.Background(), `labels = "x"`, nil); status(resp) != 410 {
		t.Errorf("old search on cloud: %d", status(resp))
	}
	if _, resp, err := c.Issue.SearchV2JQLWithContext(context.Background(), `labels = "x" ORDER BY created DESC`, nil); err != nil {
		t.Errorf("new search: %d %v", status(resp), err)
	}
	var buf bytes.Buffer
	for _, r := range s.Rejected() {
		buf.WriteString(r.Method + " " + r.Path + "\n")
	}
	if strings.Count(buf.String(), "\n") != 2 {
		t.Errorf("rejected:\n%s", buf.String())
	}
}
