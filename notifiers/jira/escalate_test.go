package jira

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
)

// TestEscalateCommentsAndRaisesPriority: against the strict fake, an
// escalation comments on the ticket and raises its priority; never lowers
// it; and an escalate.priority Jira does not have is a permanent error
// naming the ones it has, sent before anything is written.
func TestEscalateCommentsAndRaisesPriority(t *testing.T) {
	srv := jiratest.New(t, jiratest.Options{Token: testToken})
	n := newNotifier(t, dcConfig(srv.URL), nil, nil)
	srv.Seed(jiratest.Issue{Key: "WAOPS-1", Project: "WAOPS", Type: "Task", Summary: "ban", Priority: "High"})
	srv.Seed(jiratest.Issue{Key: "WAOPS-2", Project: "WAOPS", Type: "Task", Summary: "ban", Priority: "Highest"})
	// The comment's body shape is the comment tests' concern; here only
	// what it says and that it is made once per escalation.
	var mu sync.Mutex
	comments := map[string][]string{}
	srv.Override("POST /rest/api/2/issue/{key}/comment", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		key := strings.Split(r.URL.Path, "/")[5] // /rest/api/2/issue/KEY/comment
		mu.Lock()
		comments[key] = append(comments[key], string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"1"}`)
	})
	commentsOf := func(key string) []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), comments[key]...)
	}

	escalation := func(key, priority string) *notification.Notification {
		no := sample(t)
		no.Op = notification.OpEscalate
		no.Action.EscalatePriority = priority
		no.Incident = &notification.Incident{Fingerprint: "abc", Status: "open", Count: 2, Ref: key,
			Note: "Escalated: schedule_for_disable → disable."}
		return no
	}
	ctx := context.Background()
	if res, err := n.Notify(ctx, escalation("WAOPS-1", "highest")); err != nil || res.Ref != "WAOPS-1" {
		t.Fatalf("escalate WAOPS-1: %v, %v", res, err)
	}
	is, _ := srv.Issue("WAOPS-1")
	if c := commentsOf("WAOPS-1"); is.Priority != "Highest" || len(c) != 1 || !strings.Contains(c[0], "schedule_for_disable → disable") {
		t.Errorf("WAOPS-1: priority %q, comments %q; want Highest and a comment naming the change", is.Priority, c)
	}
	if _, err := n.Notify(ctx, escalation("WAOPS-2", "High")); err != nil {
		t.Fatal(err)
	}
	if is, _ := srv.Issue("WAOPS-2"); is.Priority != "Highest" || len(commentsOf("WAOPS-2")) != 1 {
		t.Errorf("WAOPS-2: priority %q with %d comments; an escalation must not lower it", is.Priority, len(commentsOf("WAOPS-2")))
	}
	_, err := n.Notify(ctx, escalation("WAOPS-1", "Urgent"))
	reason, _, retry := notifiers.Classify(err)
	if err == nil || reason != notifiers.ReasonPermanent || retry ||
		!strings.Contains(err.Error(), `"Urgent" is not a priority`) || !strings.Contains(err.Error(), "Highest, High, Medium, Low, Lowest") {
		t.Errorf("unknown priority: %v (%s), want a permanent error listing Jira's priorities", err, reason)
	}
	if c := commentsOf("WAOPS-1"); len(c) != 1 {
		t.Errorf("an unknown priority left %d comments, want none added", len(c)-1)
	}
	if rej := srv.Rejected(); len(rej) != 0 {
		t.Errorf("the strict fake rejected %d requests: %+v", len(rej), rej)
	}
}
