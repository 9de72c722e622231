package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/wabridge/wabridge/internal/admin"
	"github.com/wabridge/wabridge/internal/event"
)

// playgroundView is the playground: the form, and after a run its report.
type playgroundView struct {
	Sources []string
	Source  string
	Payload string
	Limit   int64
	Result  *playgroundResult
}

// playgroundResult is a dry run as the page shows it.
type playgroundResult struct {
	Error   string
	Events  []playEvent
	Dropped []admin.DroppedEvent
	Notes   []playNote
}

type playEvent struct {
	Event     event.Event
	Eval      admin.Evaluation
	Describe  string
	EventJSON string
}

// playNote is one notification the run would send, rendered as its
// notifier's service would show it.
type playNote struct {
	admin.Planned
	Slack *slackMessage
	Jira  *jiraFields
	Raw   []admin.Request
}

// playgroundFormLimit bounds the playground's form: a payload of
// server.max_body_bytes, percent-encoded at worst, and the other fields.
func (c *Console) playgroundFormLimit() int64 { return 3*c.maxBody() + maxFormBytes }

func (c *Console) maxBody() int64 {
	if c.d.MaxBodyBytes > 0 {
		return c.d.MaxBodyBytes
	}
	return 3 << 20
}

func (c *Console) playgroundPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := playgroundView{Sources: c.d.Sources, Limit: c.maxBody()}
	if len(v.Sources) > 0 {
		v.Source = v.Sources[0]
	}
	c.render(w, r, s, http.StatusOK, "playground", v)
}

func (c *Console) runPlayground(w http.ResponseWriter, r *http.Request, s *session) {
	v := playgroundView{Sources: c.d.Sources, Source: r.PostFormValue("source"), Payload: r.PostFormValue("payload"), Limit: c.maxBody()}
	if n := int64(len(v.Payload)); n > c.maxBody() {
		c.fail(w, r, s, http.StatusRequestEntityTooLarge, fmt.Sprintf("The payload is %d bytes, over server.max_body_bytes (%d), so a provider's delivery of it would be refused with 413 too; nothing was evaluated.", n, c.maxBody()))
		return
	}
	if strings.TrimSpace(v.Payload) == "" {
		c.fail(w, r, s, http.StatusBadRequest, "Paste a payload to evaluate.")
		return
	}
	ctx, cancel := c.opCtx(r)
	defer cancel()
	rep, err := c.d.Operator.DryRun(ctx, admin.DryRunRequest{Source: v.Source, Payload: v.Payload, Render: true})
	res := &playgroundResult{}
	status := http.StatusOK
	if err != nil {
		status = admin.Status(err)
		if status == http.StatusInternalServerError {
			c.d.Logger.Error("console: playground", "error", err)
		}
		res.Error = err.Error()
	} else {
		res = viewReport(rep)
	}
	v.Result = res
	c.render(w, r, s, status, "playground", v)
}

func viewReport(rep *admin.Report) *playgroundResult {
	res := &playgroundResult{}
	evals := map[string]admin.Evaluation{}
	for _, e := range rep.Evaluations {
		evals[e.EventID] = e
	}
	for _, e := range rep.Events {
		m := e.Masked()
		b, _ := json.MarshalIndent(m, "", "  ")
		res.Events = append(res.Events, playEvent{Event: m, Eval: evals[e.ID], Describe: m.Describe(), EventJSON: string(b)})
	}
	for _, d := range rep.Dropped {
		d.Event = d.Event.Masked()
		res.Dropped = append(res.Dropped, d)
	}
	for _, n := range rep.Notifications {
		pn := playNote{Planned: n}
		// The templates mask the recipient in what they render, as they do
		// for what is sent.
		for _, rq := range n.Requests {
			pn.Raw = append(pn.Raw, rq)
			switch {
			case strings.Contains(rq.URL, "chat.postMessage") || strings.Contains(rq.URL, "chat.update") || strings.Contains(rq.URL, "webhook"):
				if pn.Slack == nil {
					pn.Slack = slackFromRequest(rq)
				}
			case strings.HasSuffix(strings.SplitN(rq.URL, "?", 2)[0], "/issue") && rq.Method == http.MethodPost:
				if pn.Jira == nil {
					pn.Jira = jiraFromRequest(rq)
				}
			}
		}
		res.Notes = append(res.Notes, pn)
	}
	return res
}

// jiraFields is what a created ticket would hold.
type jiraFields struct {
	Summary, Project, IssueType, Priority, Description string
	Labels                                             []string
	Other                                              [][2]string
}

func jiraFromRequest(rq admin.Request) *jiraFields {
	var body struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if json.Unmarshal([]byte(rq.Body), &body) != nil || body.Fields == nil {
		return nil
	}
	j := &jiraFields{}
	str := func(k string) string {
		var s string
		if raw, ok := body.Fields[k]; ok && json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	named := func(k, field string) string {
		var m map[string]any
		if raw, ok := body.Fields[k]; ok && json.Unmarshal(raw, &m) == nil {
			if s, ok := m[field].(string); ok {
				return s
			}
		}
		return ""
	}
	j.Summary = str("summary")
	j.Project = named("project", "key")
	j.IssueType = named("issuetype", "name")
	j.Priority = named("priority", "name")
	if d := str("description"); d != "" {
		j.Description = d
	} else if raw, ok := body.Fields["description"]; ok {
		j.Description = adfText(raw) // Jira Cloud: the description is ADF
	}
	if raw, ok := body.Fields["labels"]; ok {
		_ = json.Unmarshal(raw, &j.Labels)
	}
	var keys []string
	for k := range body.Fields {
		switch k {
		case "summary", "project", "issuetype", "priority", "description", "labels":
		default:
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		j.Other = append(j.Other, [2]string{k, string(body.Fields[k])})
	}
	return j
}

// adfText flattens an Atlassian Document Format value to its text, a
// paragraph a line, near enough to judge the description by.
func adfText(raw json.RawMessage) string {
	var node struct {
		Type    string            `json:"type"`
		Text    string            `json:"text"`
		Content []json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &node) != nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(node.Text)
	for _, c := range node.Content {
		b.WriteString(adfText(c))
	}
	switch node.Type {
	case "paragraph", "heading", "listItem", "tableRow":
		b.WriteString("\n")
	case "tableCell", "tableHeader":
		b.WriteString(" | ")
	}
	return b.String()
}

// numberRun is a phone number's shape in a payload: 8 to 15 digits (E.164
// allows 15), maybe after a +, not inside a longer run of digits.
var numberRun = regexp.MustCompile(`\+?\d{8,15}`)

// keptKeys are the payload fields whose digits are not a person's number:
// the business's own identifiers, times and codes.
var keptKeys = map[string]bool{
	"id": true, "phone_number_id": true, "display_phone_number": true, "waba_id": true,
	"business_account_id": true, "timestamp": true, "expiration_timestamp": true, "code": true,
	"date_time": true, "time": true, "created_at": true, "updated_at": true,
}

// MaskNumbers masks the phone numbers in a payload or a rendered request
// (runs of 8 to 15 digits, as event.MaskPhone masks a recipient), except
// the digits the payload gives as the business's identifiers, times and
// codes. A shown payload needs the whole number only when a person asks.
func MaskNumbers(s string) string {
	keep := map[string]bool{}
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		collectKept(v, "", keep)
	} else if q, err := url.ParseQuery(s); err == nil {
		for k, vals := range q {
			if keptKeys[strings.ToLower(k)] {
				for _, x := range vals {
					keep[x] = true
				}
			}
		}
	}
	return maskRuns(s, keep)
}

func collectKept(v any, key string, keep map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			collectKept(c, k, keep)
		}
	case []any:
		for _, c := range x {
			collectKept(c, key, keep)
		}
	case string:
		if keptKeys[strings.ToLower(key)] {
			for _, m := range numberRun.FindAllString(x, -1) {
				keep[strings.TrimPrefix(m, "+")] = true
			}
		}
	case float64:
		if keptKeys[strings.ToLower(key)] {
			keep[fmt.Sprintf("%.0f", x)] = true
		}
	}
}

func maskRuns(s string, keep map[string]bool) string {
	locs := numberRun.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b bytes.Buffer
	last := 0
	for _, l := range locs {
		start, end := l[0], l[1]
		// Part of a longer run of digits (an id of 16 digits and more, a
		// token): not a phone number.
		if (start > 0 && isDigit(s[start-1])) || (end < len(s) && isDigit(s[end])) {
			continue
		}
		m := s[start:end]
		if keep[strings.TrimPrefix(m, "+")] {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(event.MaskPhone(m))
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// readable shows a payload for reading: JSON indented, a form one
// decoded field a line (so masking sees the numbers, not their escapes),
// anything else as it is.
func readable(s string) string {
	var out bytes.Buffer
	if json.Indent(&out, []byte(s), "", "  ") == nil {
		return out.String()
	}
	if q, err := url.ParseQuery(s); err == nil && strings.Contains(s, "=") && !strings.ContainsAny(s, " \n{") {
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			for _, v := range q[k] {
				fmt.Fprintf(&b, "%s=%s\n", k, v)
			}
		}
		return b.String()
	}
	return s
}
