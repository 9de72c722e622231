package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/incident"
	"github.com/wabridge/wabridge/internal/outbox"
	"github.com/wabridge/wabridge/internal/silence"
)

// visitor is a browser at the HTTP level: a cookie jar, and the Origin a
// browser sends with its posts.
type visitor struct {
	t    *testing.T
	st   *stack
	c    *http.Client
	csrf string
}

func newVisitor(t *testing.T, st *stack) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, st: st, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in with the token and reads the session's CSRF token.
func (v *visitor) signIn() {
	v.t.Helper()
	resp := v.post("/ui/login", url.Values{"token": {adminToken}, "name": {"ana"}})
	if resp.code != http.StatusSeeOther {
		v.t.Fatalf("sign in: %d %s", resp.code, resp.body)
	}
	page := v.get("/ui/incidents")
	m := csrfField.FindStringSubmatch(page.body)
	if m == nil {
		v.t.Fatalf("no CSRF token on the incidents page:\n%s", page.body)
	}
	v.csrf = m[1]
}

type answer struct {
	code int
	body string
	loc  string
}

func (v *visitor) do(req *http.Request) answer {
	v.t.Helper()
	resp, err := v.c.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header.Get("Location")}
}

func (v *visitor) get(path string) answer {
	req, _ := http.NewRequest(http.MethodGet, v.st.url(path), nil)
	return v.do(req)
}

func (v *visitor) post(path string, form url.Values) answer {
	req, _ := http.NewRequest(http.MethodPost, v.st.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+v.st.addr)
	return v.do(req)
}

// postMultipart posts the playground's form as the browser's script does.
func (v *visitor) postMultipart(path string, fields map[string]string) answer {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, val := range fields {
		_ = w.WriteField(k, val)
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, v.st.url(path), &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Origin", "http://"+v.st.addr)
	req.Header.Set("X-Console-Fragment", "1")
	return v.do(req)
}

// api reads the admin API, to check state apart from the pages.
func (st *stack) api(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, st.url("/api/v1"+path), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

func (st *stack) incidents(t *testing.T) []incident.Incident {
	var list []incident.Incident
	st.api(t, "/incidents?all=true", &list)
	return list
}

func (st *stack) deadLetters(t *testing.T) []outbox.DeadLetter {
	var list []outbox.DeadLetter
	st.api(t, "/dlq", &list)
	return list
}

// The recipients of the deliveries the tests send: customers' numbers,
// which no page may show in full unless asked.
const (
	recipientLocked = "5551991344790"
	recipientGone   = "5551991347001"
)

// TestNoPageServesAFullNumber: every page of the console, and the
// playground's result, shows customers' numbers masked; the delivery page
// shows the payload's in full only when asked.
func TestNoPageServesAFullNumber(t *testing.T) {
	st := startStack(t)
	st.deliver(t, failedDelivery("lock1", 131031, "106540352242922", recipientLocked))
	st.deliver(t, failedDelivery("gone1", 131026, "106540352242922", recipientGone))
	st.waitFor(t, "an incident and a dead letter", func() bool {
		return len(st.incidents(t)) >= 2 && len(st.deadLetters(t)) == 1
	})
	v := newVisitor(t, st)
	v.signIn()
	deliveries := v.get("/ui/deliveries")
	links := regexp.MustCompile(`href="(/ui/deliveries/[^"?]+)"`).FindAllStringSubmatch(deliveries.body, -1)
	if len(links) != 2 {
		t.Fatalf("deliveries page links %d deliveries, want 2:\n%s", len(links), deliveries.body)
	}
	pages := []string{"/ui/", "/ui/incidents", "/ui/incidents?status=open", "/ui/incidents?number=106540352242922",
		"/ui/silences?matchers=code%3D131031", "/ui/silences/preview?matchers=code%3D~1310.*", "/ui/deliveries",
		"/ui/dead", "/ui/playground", links[0][1], links[1][1]}
	for _, p := range pages {
		a := v.get(p)
		if a.code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", p, a.code, a.body)
		}
		for _, n := range []string{recipientLocked, recipientGone} {
			if strings.Contains(a.body, n) {
				t.Errorf("GET %s shows the full number %s", p, n)
			}
		}
	}
	if a := v.get("/ui/dead"); !strings.Contains(a.body, "channel_not_found") {
		t.Errorf("dead letters page without the reason:\n%s", a.body)
	}
	play := v.postMultipart("/ui/playground", map[string]string{"csrf": v.csrf, "source": "meta",
		"payload": failedDelivery("play1", 131031, "106540352242922", recipientLocked)})
	if play.code != http.StatusOK || !strings.Contains(play.body, "account-blocked") {
		t.Fatalf("playground: %d\n%s", play.code, play.body)
	}
	if strings.Contains(play.body, recipientLocked) {
		t.Error("the playground's result shows the full number")
	}
	// Asked for, the payload shows the number as the provider sent it.
	asked := ""
	for _, l := range links {
		asked += v.get(l[1] + "?numbers=show").body
	}
	for _, n := range []string{recipientLocked, recipientGone} {
		if !strings.Contains(asked, n) {
			t.Errorf("the delivery pages do not show %s even when asked", n)
		}
	}
}

// TestActionsNeedSessionAndCSRF: a post without a session, or with a CSRF
// token not the session's, is refused with a 4xx and changes nothing; the
// same post with the token does what it says.
func TestActionsNeedSessionAndCSRF(t *testing.T) {
	st := startStack(t)
	st.deliver(t, failedDelivery("lock1", 131031, "106540352242922", recipientLocked))
	st.deliver(t, failedDelivery("gone1", 131026, "106540352242922", recipientGone))
	st.deliver(t, failedDelivery("reengage1", 131047, "106540352242922", recipientLocked))
	var fp, ticketFP string
	st.waitFor(t, "two open incidents and a dead letter", func() bool {
		for _, inc := range st.incidents(t) {
			if inc.Status == incident.Open && inc.Rule == "account-blocked" {
				fp = inc.Fingerprint
			}
			if inc.Status == incident.Open && inc.Rule == "ticket-on-demand" {
				ticketFP = inc.Fingerprint
			}
		}
		return fp != "" && ticketFP != "" && len(st.deadLetters(t)) == 1
	})
	dead := st.deadLetters(t)[0].ID
	silences := func() int {
		var l []silence.Silence
		st.api(t, "/silences", &l)
		return len(l)
	}
	status := func() string {
		for _, inc := range st.incidents(t) {
			if inc.Fingerprint == fp {
				return inc.Status
			}
		}
		return "gone"
	}
	anon := newVisitor(t, st)
	if a := anon.get("/ui/incidents"); a.code != http.StatusSeeOther || !strings.HasPrefix(a.loc, "/ui/login") {
		t.Fatalf("incidents page without a session: %d to %q", a.code, a.loc)
	}
	v := newVisitor(t, st)
	v.signIn()
	actions := []struct {
		path string
		form url.Values
	}{
		{"/ui/incidents/resolve", url.Values{"fingerprint": {fp}}},
		{"/ui/incidents/ack", url.Values{"fingerprint": {fp}}},
		{"/ui/incidents/ticket", url.Values{"fingerprint": {ticketFP}}},
		{"/ui/incidents/silence", url.Values{"fingerprint": {fp}, "for": {"1h"}}},
		{"/ui/silences", url.Values{"matchers": {"code=131031"}, "for": {"2h"}, "comment": {"c"}, "author": {"a"}}},
		{"/ui/dead/drop", url.Values{"id": {dead}}},
		{"/ui/dead/replay", url.Values{"id": {dead}}},
	}
	for _, tc := range actions {
		if a := anon.post(tc.path, tc.form); a.code != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", tc.path, a.code)
		}
		tc.form.Set("csrf", "not-the-token")
		if a := v.post(tc.path, tc.form); a.code != http.StatusForbidden {
			t.Errorf("POST %s with a wrong CSRF token: %d, want 403", tc.path, a.code)
		}
		tc.form.Del("csrf")
		if a := v.post(tc.path, tc.form); a.code != http.StatusForbidden {
			t.Errorf("POST %s without a CSRF token: %d, want 403", tc.path, a.code)
		}
	}
	if s := status(); s != incident.Open {
		t.Errorf("incident is %s after refused posts, want open", s)
	}
	for _, inc := range st.incidents(t) {
		if inc.Fingerprint == fp && inc.Ack != nil {
			t.Errorf("incident acknowledged by refused posts: %+v", inc.Ack)
		}
	}
	for _, inc := range st.incidents(t) {
		if inc.Fingerprint == ticketFP && (len(inc.OnDemand) != 0 || len(inc.Offered) == 0) {
			t.Errorf("ticket asked for by refused posts: on demand %v, offered %v", inc.OnDemand, inc.Offered)
		}
	}
	if n := len(st.jira.Issues()); n != 0 {
		t.Errorf("%d Jira issues after refused posts, want none", n)
	}
	if n := silences(); n != 0 {
		t.Errorf("%d silences after refused posts, want none", n)
	}
	if n := len(st.deadLetters(t)); n != 1 {
		t.Errorf("%d dead letters after refused posts, want 1", n)
	}
	// With the token, each does what it says.
	if a := v.post("/ui/incidents/silence", url.Values{"csrf": {v.csrf}, "fingerprint": {fp}, "for": {"1h"}}); a.code != http.StatusSeeOther {
		t.Fatalf("silence from the row: %d %s", a.code, a.body)
	}
	if n := silences(); n != 1 {
		t.Errorf("%d silences after silencing the incident, want 1", n)
	}
	if a := v.post("/ui/incidents/resolve", url.Values{"csrf": {v.csrf}, "fingerprint": {fp}}); a.code != http.StatusSeeOther {
		t.Fatalf("resolve: %d %s", a.code, a.body)
	}
	if s := status(); s != incident.Resolved {
		t.Errorf("incident is %s after resolve, want resolved", s)
	}
	// A second resolve is a conflict, said on the page.
	if a := v.post("/ui/incidents/resolve", url.Values{"csrf": {v.csrf}, "fingerprint": {fp}}); a.code != http.StatusConflict || !strings.Contains(a.body, "already resolved") {
		t.Errorf("second resolve: %d %s", a.code, a.body)
	}
	if a := v.post("/ui/dead/drop", url.Values{"csrf": {v.csrf}, "id": {dead}}); a.code != http.StatusSeeOther {
		t.Fatalf("drop: %d %s", a.code, a.body)
	}
	if n := len(st.deadLetters(t)); n != 0 {
		t.Errorf("%d dead letters after drop, want none", n)
	}
	if a := v.post("/ui/dead/drop", url.Values{"csrf": {v.csrf}, "id": {dead}}); a.code != http.StatusNotFound {
		t.Errorf("drop of a dropped dead letter: %d, want 404", a.code)
	}
}

// rowOf returns the incidents page's row of fingerprint fp, or "".
func rowOf(page, fp string) string {
	_, row, ok := strings.Cut(page, `<tr data-fingerprint="`+fp+`">`)
	if !ok {
		return ""
	}
	row, _, _ = strings.Cut(row, "</tr>")
	return row
}

// TestTicketFromTheConsole: the row of an open incident whose rule has a
// jira action with on_demand: true offers the ticket, and only that row;
// the click creates exactly one issue in Jira and the offer is gone; a
// second click (an older copy of the page) is refused, saying who asked,
// and no second issue is made.
func TestTicketFromTheConsole(t *testing.T) {
	st := startStack(t)
	st.deliver(t, failedDelivery("lock1", 131031, "106540352242922", recipientLocked))
	st.deliver(t, failedDelivery("reengage1", 131047, "106540352242922", recipientLocked))
	var locked, fp string
	st.waitFor(t, "two open incidents", func() bool {
		for _, inc := range st.incidents(t) {
			if inc.Status == incident.Open && inc.Rule == "account-blocked" {
				locked = inc.Fingerprint
			}
			if inc.Status == incident.Open && inc.Rule == "ticket-on-demand" {
				fp = inc.Fingerprint
			}
		}
		return locked != "" && fp != ""
	})
	for _, inc := range st.incidents(t) {
		if inc.Fingerprint == fp && (len(inc.Offered) != 1 || inc.Offered[0] != "jira") {
			t.Fatalf("offered before the click: %v, want [jira]", inc.Offered)
		}
	}
	if n := len(st.jira.Issues()); n != 0 {
		t.Fatalf("%d Jira issues before anyone asked, want none", n)
	}
	v := newVisitor(t, st)
	v.signIn()
	page := v.get("/ui/incidents").body
	if row := rowOf(page, fp); !strings.Contains(row, `action="/ui/incidents/ticket"`) {
		t.Fatalf("the on-demand incident's row offers no ticket:\n%s", row)
	}
	if row := rowOf(page, locked); row == "" || strings.Contains(row, "/ui/incidents/ticket") {
		t.Fatalf("a row whose rule has no on-demand action offers a ticket (or is missing):\n%s", row)
	}

	a := v.post("/ui/incidents/ticket", url.Values{"csrf": {v.csrf}, "fingerprint": {fp}, "back": {"/ui/incidents"}})
	if a.code != http.StatusSeeOther || a.loc != "/ui/incidents" {
		t.Fatalf("ticket: %d to %q %s", a.code, a.loc, a.body)
	}
	st.waitFor(t, "the Jira issue", func() bool { return len(st.jira.Issues()) >= 1 })
	page = v.get("/ui/incidents").body
	if !strings.Contains(page, "Jira ticket asked for incident "+fp) {
		t.Errorf("no flash after the click:\n%s", page)
	}
	if row := rowOf(page, fp); row == "" || strings.Contains(row, "/ui/incidents/ticket") {
		t.Errorf("the row still offers the ticket after the click (or is missing):\n%s", row)
	}
	for _, inc := range st.incidents(t) {
		if inc.Fingerprint == fp && (len(inc.Offered) != 0 || len(inc.OnDemand) != 1) {
			t.Errorf("after the click: offered %v, on demand %v", inc.Offered, inc.OnDemand)
		}
	}

	a = v.post("/ui/incidents/ticket", url.Values{"csrf": {v.csrf}, "fingerprint": {fp}})
	if a.code != http.StatusConflict || !strings.Contains(a.body, "no ticket opened") || !strings.Contains(a.body, "already asked for by ana") {
		t.Errorf("second click: %d %s", a.code, a.body)
	}
	// A rule without an on-demand action is refused too, and says why.
	a = v.post("/ui/incidents/ticket", url.Values{"csrf": {v.csrf}, "fingerprint": {locked}})
	if a.code != http.StatusConflict || !strings.Contains(a.body, "on_demand: true") {
		t.Errorf("ticket for a rule without one: %d %s", a.code, a.body)
	}
	st.waitFor(t, "the ticket's link in the Slack thread", func() bool {
		for _, m := range st.slack.Messages() {
			if m.ThreadTS != "" && strings.Contains(m.Text, "tracks this incident") {
				return true
			}
		}
		return false
	})
	if n := len(st.jira.Issues()); n != 1 {
		t.Errorf("%d Jira issues after two clicks, want exactly 1", n)
	}
	if rej := st.jira.Rejected(); len(rej) != 0 {
		t.Errorf("Jira refused %d requests: %+v", len(rej), rej)
	}
}

// TestPlaygroundSizeLimit: a payload of server.max_body_bytes is
// evaluated; one byte more is a 413 that says so, and nothing runs.
func TestPlaygroundSizeLimit(t *testing.T) {
	st := startStack(t)
	v := newVisitor(t, st)
	v.signIn()
	const max = 3 << 20
	pad := func(n int) string {
		// A JSON object of exactly n bytes.
		head := `{"object":"whatsapp_business_account","entry":[],"pad":"`
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}
	ok := v.postMultipart("/ui/playground", map[string]string{"csrf": v.csrf, "source": "meta", "payload": pad(max)})
	if ok.code != http.StatusOK || !strings.Contains(ok.body, "Events") {
		t.Fatalf("a payload of %d bytes: %d %s", max, ok.code, ok.body[:min(len(ok.body), 400)])
	}
	big := v.postMultipart("/ui/playground", map[string]string{"csrf": v.csrf, "source": "meta", "payload": pad(max + 1)})
	if big.code != http.StatusRequestEntityTooLarge || !strings.Contains(big.body, "over server.max_body_bytes") {
		t.Fatalf("a payload of %d bytes: %d %s", max+1, big.code, big.body[:min(len(big.body), 400)])
	}
	bad := v.postMultipart("/ui/playground", map[string]string{"csrf": v.csrf, "source": "nope", "payload": "{}"})
	if bad.code != http.StatusBadRequest || !strings.Contains(bad.body, "no source named") {
		t.Errorf("an unknown source: %d %s", bad.code, bad.body)
	}
}

// TestPlaygroundShowsJiraFields: a rule with a Jira action shows the
// ticket the playground would open, field by field, and Jira is not
// called.
func TestPlaygroundShowsJiraFields(t *testing.T) {
	st := startStack(t)
	v := newVisitor(t, st)
	v.signIn()
	a := v.postMultipart("/ui/playground", map[string]string{"csrf": v.csrf, "source": "meta",
		"payload": failedDelivery("tkt1", 131049, "106540352242922", recipientLocked)})
	if a.code != http.StatusOK {
		t.Fatalf("playground: %d %s", a.code, a.body)
	}
	for _, want := range []string{`class="jira card"`, "<dd>WAOPS</dd>", "<dd>Incident</dd>", "<dd>High</dd>", `class="jira-summary"`, "matched</span> <b>ticket</b>"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("playground result lacks %s:\n%s", want, a.body)
		}
	}
	if strings.Contains(a.body, recipientLocked) {
		t.Error("the Jira fields show the full number")
	}
	if n := len(st.jira.Issues()); n != 0 {
		t.Errorf("the playground opened %d Jira issues", n)
	}
}
