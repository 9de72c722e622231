package main

// Delivery under faults, through the real binary against the strict fakes
// of Slack and Jira: rate limits pause and pace a notifier, and one
// notifier's outage does not delay another's alerts.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/notifiers/jira/jiratest"
	"github.com/wabridge/wabridge/notifiers/slack/slacktest"
)

const (
	deliveryChannel   = "#whatsapp-ops"
	deliveryChannelID = "C0WAOPS"
	jiraUser          = "ops@example.com"
	jiraToken         = "jira-e2e-token"
)

func newDeliverySlack(t *testing.T) *slacktest.Server {
	return slacktest.New(t, slacktest.Options{Token: "xoxb-good", Channels: map[string]string{deliveryChannel: deliveryChannelID}})
}

func newDeliveryJira(t *testing.T) *jiratest.Server {
	return jiratest.New(t, jiratest.Options{User: jiraUser, Token: jiraToken})
}

// deliveryConfig writes a config for the fakes (jiraURL "" leaves Jira
// out) with extra pipeline settings.
func deliveryConfig(t *testing.T, dir, addr, slackURL, jiraURL, rules, pipeline string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	jira := ""
	if jiraURL != "" {
		jira = fmt.Sprintf(`  jira: {url: %q, user: %s, token: %s, project: WAOPS, api_type: datacenter, timeout: 2s, search_delay: 5s}`, jiraURL, jiraUser, jiraToken)
	}
	cfg := fmt.Sprintf(`
server: {listen: %q, shutdown_timeout: 5s, admin_token: %q}
storage: {dir: %q}
log: {level: debug, format: json}
sources:
  - {name: meta, type: meta, app_secret: %q, verify_token: e2e-verify}
notifiers:
  slack: {token: xoxb-good, api_url: %q, channel: %q, timeout: 2s}
%s
pipeline: {backoff_base: 100ms, backoff_max: 1s, max_attempts: 50, max_age: 1h%s}
rules: {files: [rules.yaml]}
`, addr, e2eAdminToken, filepath.Join(dir, "data"), e2eSecret, slackURL, deliveryChannel, jira, pipeline)
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// oneIncidentPerEvent opens an incident, so sends a message or ticket, for
// every failed status.
const oneIncidentPerEvent = `
rules:
  - name: failed-sends
    match: {kinds: [status], statuses: [failed]}
    group_by: [id]
    actions:
%s`

func slackAction() string { return "      - slack: {channel: \"" + deliveryChannel + "\"}\n" }
func jiraAction() string  { return "      - jira: {project: WAOPS}\n" }

// pauseFigures reads request arrival times around the one 429: how many
// requests came while the pause lasted, and the most that came within any
// second after it.
func pauseFigures(t *testing.T, at []time.Time, limited time.Time, retryAfter time.Duration) (duringPause, perSecondAfter int) {
	t.Helper()
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	end := limited.Add(retryAfter)
	var after []time.Time
	for _, a := range at {
		switch {
		case a.After(limited) && a.Before(end.Add(-100*time.Millisecond)):
			duringPause++
		case !a.Before(end):
			after = append(after, a)
		}
	}
	for i := range after {
		n := 0
		for j := i; j < len(after) && after[j].Sub(after[i]) < time.Second; j++ {
			n++
		}
		perSecondAfter = max(perSecondAfter, n)
	}
	return duringPause, perSecondAfter
}

// TestRateLimitPausesThenPaces: one 429 with Retry-After pauses every send
// bound for that Slack workspace or Jira host until it is over; then they
// go one per rate_limit_pace, not all at once.
func TestRateLimitPausesThenPaces(t *testing.T) {
	const (
		n          = 30
		retryAfter = 2 * time.Second
		pace       = 200 * time.Millisecond
	)
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = failedStatus(300+i, 131048)
	}
	check := func(t *testing.T, at []time.Time, limited time.Time) {
		t.Helper()
		during, perSecond := pauseFigures(t, at, limited, retryAfter)
		t.Logf("%d requests while paused for %s; at most %d in any second after it (pace %s)",
			during, retryAfter, perSecond, pace)
		// One sender: no request can be in flight besides the one that got
		// the 429 (with more, those already on their way still arrive).
		if during > 0 {
			t.Errorf("%d requests during the %s pause, want none", during, retryAfter)
		}
		if want := int(time.Second/pace) + 2; perSecond > want {
			t.Errorf("%d requests within a second after the pause, want at most %d at a pace of %s", perSecond, want, pace)
		}
	}

	t.Run("slack", func(t *testing.T) {
		slack := newDeliverySlack(t)
		slack.RateLimit("chat.postMessage", 1, int(retryAfter/time.Second))
		dir, addr := t.TempDir(), freeAddr(t)
		cfg := deliveryConfig(t, dir, addr, slack.APIURL(), "", fmt.Sprintf(oneIncidentPerEvent, slackAction()),
			fmt.Sprintf(", senders: 1, rate_limit_pace: %s", pace))
		inst := start(t, cfg, addr)
		postAll(t, addr, bodies)
		waitFor(t, "every alert", 60*time.Second, func() bool { return len(slack.Posts()) == n }, inst.logs.String)
		if bad := slack.Failed(); len(bad) > 0 {
			t.Fatalf("Slack refused %d calls: %+v", len(bad), bad[0])
		}
		var at []time.Time
		var limited time.Time
		for _, c := range slack.CallsOf("chat.postMessage") {
			if c.Fault {
				limited = c.At
				continue
			}
			at = append(at, c.At)
		}
		check(t, at, limited)
		inst.stop()
	})

	t.Run("jira", func(t *testing.T) {
		slack, jira := newDeliverySlack(t), newDeliveryJira(t)
		jira.Fail(http.MethodPost, "/rest/api/2/issue", 1, http.StatusTooManyRequests,
			http.Header{"Retry-After": {fmt.Sprint(int(retryAfter / time.Second))}}, `{"errorMessages":["Rate limit exceeded."],"errors":{}}`)
		dir, addr := t.TempDir(), freeAddr(t)
		cfg := deliveryConfig(t, dir, addr, slack.APIURL(), jira.URL, fmt.Sprintf(oneIncidentPerEvent, jiraAction()),
			fmt.Sprintf(", senders: 1, rate_limit_pace: %s", pace))
		inst := start(t, cfg, addr)
		postAll(t, addr, bodies)
		waitFor(t, "every ticket", 60*time.Second, func() bool { return len(jira.Issues()) == n }, inst.logs.String)
		var bad []jiratest.Request
		for _, r := range jira.Rejected() {
			if r.Status != http.StatusTooManyRequests {
				bad = append(bad, r)
			}
		}
		if len(bad) > 0 {
			t.Fatalf("Jira refused %d requests: %s %s %d", len(bad), bad[0].Method, bad[0].Path, bad[0].Status)
		}
		var at []time.Time
		var limited time.Time
		// Each open searches for the incident's ticket, then creates it:
		// the creates are the sends.
		for _, r := range jira.Find(http.MethodPost, "/rest/api/2/issue") {
			if r.Status == http.StatusTooManyRequests {
				limited = r.At
				continue
			}
			at = append(at, r.At)
		}
		check(t, at, limited)
		inst.stop()
	})
}

// TestSlowJiraDelaysNoSlackAlert: while every Jira request hangs until the
// client gives up, the Slack alerts of the same events go out at once.
func TestSlowJiraDelaysNoSlackAlert(t *testing.T) {
	const n = 20
	slack, jira := newDeliverySlack(t), newDeliveryJira(t)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	jira.Override("/", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := deliveryConfig(t, dir, addr, slack.APIURL(), jira.URL, fmt.Sprintf(oneIncidentPerEvent, slackAction()+jiraAction()), "")
	inst := start(t, cfg, addr)

	acked := make([]time.Time, n)
	for i := range n {
		if code := post(t, addr, failedStatus(500+i, 131031)); code != http.StatusOK {
			t.Fatalf("post %d: %d", i, code)
		}
		acked[i] = time.Now()
	}
	waitFor(t, "every Slack alert", 60*time.Second, func() bool { return len(slack.Posts()) == n }, inst.logs.String)
	var lat []time.Duration
	for _, c := range slack.CallsOf("chat.postMessage") {
		for i := range n {
			if c.Error == "" && containsMasked(c.Form.Get("blocks"), 500+i) {
				lat = append(lat, c.At.Sub(acked[i]))
			}
		}
	}
	if len(lat) != n {
		t.Fatalf("matched %d Slack alerts to their events, want %d", len(lat), n)
	}
	slices.Sort(lat)
	median, worst := lat[n/2], lat[n-1]
	t.Logf("Slack alert latency with Jira hanging: median %s, max %s", median.Round(time.Millisecond), worst.Round(time.Millisecond))
	// Each Jira attempt holds a sender for the 2s timeout; shared senders
	// made the Slack alerts wait several of those.
	if median > 2*time.Second {
		t.Errorf("median Slack latency %s while Jira hangs, want under 2s", median)
	}
	once.Do(func() { close(release) })
	inst.stop()
}

// containsMasked reports whether an alert names the recipient of
// failedStatus(i): its last four digits, as the mask shows them.
func containsMasked(s string, i int) bool {
	return s != "" && strings.Contains(s, fmt.Sprintf("*******%04d", 7000+i))
}
