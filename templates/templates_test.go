package templates

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
)

var defaultNames = []string{
	"slack.title", "slack.text", "slack.actions", "slack.repeat", "slack.resolved",
	"jira.summary", "jira.description", "jira.comment", "jira.resolved",
	"log.summary", "log.body",
}

func mustDefault(t *testing.T) *Templates {
	t.Helper()
	tm, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return tm
}

func TestDefaultsDefineEveryName(t *testing.T) {
	tm := mustDefault(t)
	for _, name := range defaultNames {
		if !tm.Has(name) {
			t.Errorf("default templates lack %q (have %v)", name, tm.Names())
		}
		if !strings.HasPrefix(tm.Source(name), "templates/default/") {
			t.Errorf("%s: source %q, want an embedded file", name, tm.Source(name))
		}
	}
	if tm.Has("nope") {
		t.Error(`Has("nope") = true`)
	}
}

func TestEveryDefaultRendersForEverySample(t *testing.T) {
	tm := mustDefault(t)
	for _, d := range sampleData() {
		for _, name := range tm.Names() {
			out, err := tm.Execute(name, d)
			if err != nil {
				t.Fatalf("%s with %q: %v", name, d.Event.ID, err)
			}
			if strings.Contains(out, "<no value>") {
				t.Errorf("%s with %q prints <no value>:\n%s", name, d.Event.ID, out)
			}
			if d.Event.RecipientID != "" && strings.Contains(out, d.Event.RecipientID) {
				t.Errorf("%s with %q shows the full recipient number:\n%s", name, d.Event.ID, out)
			}
		}
	}
}

// sample131031 is the data of a real-looking alert with its catalogue entry.
func sample131031(t *testing.T) Data {
	t.Helper()
	ev := SampleEvents()[0]
	// A literal entry, not the live catalogue, so these tests check the
	// templates rather than the catalogue's wording.
	ent := catalog.Entry{
		Namespace: catalog.NamespaceMeta, Code: 131031, CodeTo: 131031, Title: "Business account locked",
		Description: "The WhatsApp Business Account has been restricted or disabled for violating a platform policy.",
		Reasons:     []string{"The account violated the WhatsApp Business Messaging or Commerce policy."},
		Actions:     []string{"Review the account's status in WhatsApp Manager and the Policy Enforcement documentation."},
		Severity:    event.SeverityCritical,
	}
	return Data{
		Event: ev, Rule: notification.RuleRef{Name: "account-blocked"}, Catalog: ent,
		Incident: &notification.Incident{
			Fingerprint: "fp-1", Count: 313, NewSince: 312,
			SinceTime: time.Date(2026, 3, 2, 10, 4, 0, 0, time.UTC),
			FirstSeen: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
			LastSeen:  time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC),
		},
	}
}

func TestDefaultContent(t *testing.T) {
	tm := mustDefault(t)
	d := sample131031(t)
	tests := []struct {
		name string
		want []string
		not  []string
	}{
		{"slack.title", []string{"Business account locked (131031)"}, nil},
		{"slack.text", []string{"code `131031`", d.Catalog.Description}, []string{"16505551234"}},
		{"slack.actions", []string{"• " + d.Catalog.Actions[0]}, nil},
		{"slack.repeat", []string{"312 more since 10:04 UTC", "313 in total"}, nil},
		{"slack.resolved", []string{"Resolved: Business account locked", "313 events", "over 1h 30m"}, nil},
		{"jira.summary", []string{"Business account locked (131031) on 15550783881"}, nil},
		{"jira.description", []string{
			"h2. Business account locked", "# " + d.Catalog.Actions[0], "|Code|131031|",
			"|Catalogue title|Business account locked|", "|Recipient|*******1234|",
			"|Phone number ID|106540352242922|", "|WABA|102290129340398|", "|Rule|account-blocked|",
			"|Event ID|sample-failed-131031|", "|Fingerprint|fp-1|", "|Time|2026-03-02 10:04:05 UTC|",
			"|Message ID|wamid.", "h3. Why this happens",
		}, []string{"16505551234"}},
		{"jira.comment", []string{"312 more occurrences since 2026-03-02 10:04 UTC", "313 in total"}, nil},
		{"jira.resolved", []string{"Resolved: Business account locked after 313 occurrences"}, nil},
		{"log.summary", []string{"[critical] Business account locked (131031)"}, nil},
		{"log.body", []string{"What to do: " + d.Catalog.Actions[0], "*******1234"}, []string{"16505551234"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tm.Execute(tt.name, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("unexpected %q in:\n%s", n, out)
				}
			}
		})
	}
}

// TestDefaultsShowReasonAndRecommendation: a template rejection carries its
// reason in Message and Meta's recommendation in Details; the template
// owners need both, and a status error must not repeat its title.
func TestDefaultsShowReasonAndRecommendation(t *testing.T) {
	tm := mustDefault(t)
	rejected := Data{Event: event.Event{
		Kind: event.KindTemplate, Status: "rejected", Title: "Template rejected",
		Message: "Parameters are placed next to each other.",
		Details: "Separate parameters with descriptive text.",
	}}
	failed := Data{Event: event.Event{
		Kind: event.KindStatus, Status: "failed", Code: 131031, Title: "Business Account locked",
		Message: "Business Account locked", Details: "Business account has been locked.",
	}}
	for _, name := range []string{"slack.text", "jira.description", "log.body"} {
		out, err := tm.Execute(name, rejected)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, want := range []string{"Parameters are placed next to each other.", "Separate parameters with descriptive text."} {
			if !strings.Contains(out, want) {
				t.Errorf("%s of a rejected template lacks %q:\n%s", name, want, out)
			}
		}
		out, err = tm.Execute(name, failed)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(out, "Business account has been locked.") {
			t.Errorf("%s of a failed status lacks its details:\n%s", name, out)
		}
		if strings.Contains(out, "> Business Account locked") || strings.Contains(out, "*What happened:* Business Account locked") {
			t.Errorf("%s repeats the title as what happened:\n%s", name, out)
		}
	}
}

func TestActionsFallBackToRecommendedAction(t *testing.T) {
	tm := mustDefault(t)
	d := Data{Event: event.Event{Code: 131048, RecommendedAction: "Slow down sending."}}
	out, err := tm.Execute("slack.actions", d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "• Slow down sending.") {
		t.Errorf("got %q", out)
	}
	out, err = tm.Execute("slack.actions", Data{Event: event.Event{Code: 999}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "No recommended action is known") || !strings.Contains(out, "999") {
		t.Errorf("got %q", out)
	}
}

func TestSlackTextEscapesProviderText(t *testing.T) {
	tm := mustDefault(t)
	d := Data{Event: event.Event{Details: "hello <!channel> & <https://evil.example|click>"}}
	out, err := tm.Execute("slack.text", d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "<!channel>") || !strings.Contains(out, "&lt;!channel&gt; &amp;") {
		t.Errorf("provider text not escaped: %q", out)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// An emptied or half-written override file is a load error, so a reload
// keeps the templates that work instead of quietly falling back.
func TestEmptyOverrideFileIsAnError(t *testing.T) {
	for name, body := range map[string]string{
		"empty":        "",
		"blank":        "\n  \n",
		"comment only": "{{/* only a comment */}}",
		"no define":    "OURS {{ .Event.Code }}",
	} {
		dir := writeFiles(t, map[string]string{"slack.tmpl": body})
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "slack.tmpl")+": template file ") {
			t.Errorf("%s: Load = %v, want an error naming the file", name, err)
		}
	}
}

func TestOverrideWins(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"ours.tmpl": `{{ define "slack.title" }}OURS {{ .Event.Code }}{{ end }}{{ define "my.title" }}mine: {{ .Rule.Name }}{{ end }}`,
		"notes.txt": `{{ define "slack.text" }}ignored{{ end }}`,
	})
	tm, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := Data{Event: event.Event{Code: 131031}, Rule: notification.RuleRef{Name: "r1"}}
	for name, want := range map[string]string{"slack.title": "OURS 131031", "my.title": "mine: r1"} {
		got, err := tm.Execute(name, d)
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if got := tm.Source("slack.title"); got != filepath.Join(dir, "ours.tmpl") {
		t.Errorf("source of slack.title = %q", got)
	}
	// Untouched defaults still render; a .txt file is not a template.
	got, err := tm.Execute("slack.text", d)
	if err != nil || got == "ignored" {
		t.Errorf("slack.text = %q, %v", got, err)
	}
	// The defaults stay usable by an override.
	dir2 := writeFiles(t, map[string]string{
		"wrap.tmpl": `{{ define "jira.summary" }}[WA] {{ template "slack.title" . }}{{ end }}`,
	})
	tm2, err := Load(dir2)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tm2.Execute("jira.summary", d); got != "[WA] WhatsApp event (131031)" {
		t.Errorf("jira.summary = %q", got)
	}
}

func TestBrokenOverrideFailsLoad(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"syntax error", "\n\n{{ define \"slack.title\" }}{{ if .Event.Code }}open{{ end }",
			[]string{"bad.tmpl:3:", `"slack.title"`}},
		{"unknown function", "{{ define \"my.title\" }}\n{{ nope .Event.Code }}{{ end }}",
			[]string{"bad.tmpl:2:", `"my.title"`, `function "nope" not defined`}},
		{"unknown field", "{{ define \"slack.text\" }}\n\n{{ .Event.Nope }}{{ end }}",
			[]string{"bad.tmpl:3:", `"slack.text"`, "Nope"}},
		{"nil incident", "{{ define \"slack.repeat\" }}{{ .Incident.Count }} more{{ end }}",
			[]string{"bad.tmpl:1:", `"slack.repeat"`, "nil pointer", "sample"}},
		{"bad function argument", `{{ define "x" }}{{ truncate "ten" .Event.Title }}{{ end }}`,
			[]string{"bad.tmpl:1:", `"x"`}},
		{"unknown template", `{{ define "x" }}{{ template "nope" . }}{{ end }}`,
			[]string{"bad.tmpl:1:", `"x"`, "nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"bad.tmpl": tt.body})
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if !strings.HasPrefix(err.Error(), filepath.Join(dir, "bad.tmpl")+":") {
				t.Errorf("error does not start with FILE:LINE:\n%v", err)
			}
		})
	}
}

func TestLoadReportsEveryFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.tmpl": `{{ define "a" }}{{ .Event.Nope }}{{ end }}`,
		"b.tmpl": `{{ define "b" }}{{ if }}{{ end }}`,
		"c.tmpl": `{{ define "a" }}twice{{ end }}`,
	})
	_, err := Load(dir)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, w := range []string{"b.tmpl:1:", "c.tmpl:1: template \"a\" is already defined at " + filepath.Join(dir, "a.tmpl") + ":1"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestLoadMissingDir(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent"))
	if err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("err = %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(f); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v", err)
	}
}

func TestExecuteUnknownName(t *testing.T) {
	_, err := mustDefault(t).Execute("nope", Data{})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestExecuteText(t *testing.T) {
	tm := mustDefault(t)
	d := sample131031(t)
	tests := []struct {
		text    string
		want    string
		wantErr string
	}{
		{"{{ .Event.Code }}", "131031", ""},
		{"WA-{{ .Event.PhoneNumberID }}", "WA-106540352242922", ""},
		{`{{ template "slack.title" . }}`, "Business account locked (131031) on 15550783881", ""},
		{`{{ .Event.Attributes.pricing_category | upper }}`, "MARKETING", ""},
		{`{{ .Event.Attributes.absent }}`, "", ""},
		{"{{ .Event.Nope }}", "", "Nope"},
		{"{{ if }}", "", "inline template"},
	}
	for _, tt := range tests {
		for range 2 { // the second run comes from the cache
			got, err := tm.ExecuteText(tt.text, d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%q: err = %v, want %q", tt.text, err, tt.wantErr)
				}
				continue
			}
			if err != nil || got != tt.want {
				t.Errorf("%q = %q, %v; want %q", tt.text, got, err, tt.want)
			}
		}
	}
	// An inline text cannot redefine a named template for everyone.
	if _, err := tm.ExecuteText(`{{ define "slack.title" }}hijack{{ end }}x`, d); err != nil {
		t.Fatal(err)
	}
	if got, _ := tm.Execute("slack.title", d); got == "hijack" {
		t.Error("inline define leaked into the shared set")
	}
}

func TestExecuteTextConcurrent(t *testing.T) {
	tm := mustDefault(t)
	d := sample131031(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				text := "{{ .Event.Code }}-" + string(rune('a'+(i+j)%5))
				if _, err := tm.ExecuteText(text, d); err != nil {
					t.Error(err)
					return
				}
				if _, err := tm.Execute("jira.description", d); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestValidateText(t *testing.T) {
	tm := mustDefault(t)
	for text, ok := range map[string]bool{
		"{{ .Event.Code }}":                         true,
		"{{ .Rule.Name }}-{{ .Action.Project }}":    true,
		"{{ .Event.Nope }}":                         false,
		"{{ .Incident.Fingerprint }}":               false, // nil when no incident
		"{{ with .Incident }}{{ .Count }}{{ end }}": true,
		"{{ nope }}":                                false,
		"{{ end }}":                                 false,
	} {
		err := tm.ValidateText(text)
		if (err == nil) != ok {
			t.Errorf("ValidateText(%q) = %v, want ok=%v", text, err, ok)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"", 5, ""},
		{"hello", 0, ""},
		{"hello", -1, ""},
		{"hello world", 3, "hel"},
		{"héllo", 2, "h"}, // é is two bytes: never split it
		{strings.Repeat("a", 30), 20, "aaaaa" + TruncationMarker},
		{strings.Repeat("é", 20), 20, "éé" + TruncationMarker},                 // the 15-byte marker leaves 5 bytes: two é
		{strings.Repeat("日本", 20), 21, "日本" + TruncationMarker},                // 6 bytes left: two 3-byte runes
		{"word     " + strings.Repeat("x", 40), 24, "word" + TruncationMarker}, // no dangling spaces
		{"😀😀😀😀😀😀", 18, TruncationMarker},                                       // 3 bytes left: no room for a 4-byte rune
		{"😀😀😀😀😀😀", 19, "😀" + TruncationMarker},
	}
	for _, tt := range tests {
		got := Truncate(tt.s, tt.max)
		if tt.max > 0 && len(got) > tt.max {
			t.Errorf("Truncate(%q, %d) is %d bytes", tt.s, tt.max, len(got))
		}
		if !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q is not valid UTF-8", tt.s, tt.max, got)
		}
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

func TestFuncs(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tm, err := Load("", WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	d := Data{
		Event: event.Event{
			Code: 131048, Title: "spam rate limit", RecipientID: "447700900123",
			Timestamp:  time.Date(2026, 3, 2, 9, 55, 30, 0, time.UTC),
			Attributes: map[string]string{"template_name": "order_update"},
		},
		Catalog: catalog.Entry{Reasons: []string{"a", "b"}},
	}
	tests := []struct{ text, want string }{
		{`{{ truncate 20 "a long long long long text" }}`, "a lon" + TruncationMarker},
		{`{{ .Catalog.Reasons | join ", " }}`, "a, b"},
		{`{{ upper "abc" }}|{{ lower "ABC" }}|{{ title "spam rate_limit-hit" }}`, "ABC|abc|Spam Rate_Limit-Hit"},
		{`{{ default "none" .Event.Details }}|{{ default "none" .Event.Title }}|{{ default 7 .Event.Code }}`, "none|spam rate limit|131048"},
		{`{{ mask .Event.RecipientID }}`, "********0123"},
		{`{{ formatTime "15:04" .Event.Timestamp }}|{{ formatTime "RFC3339" .Event.Timestamp }}|{{ formatTime "15:04" .Incident.SinceTime }}`, ""},
		{`{{ since .Event.Timestamp | humanizeDuration }}`, "2h 4m"},
		{`{{ humanizeDuration 90061 }}|{{ humanizeDuration "45s" }}|{{ humanizeDuration 0 }}`, "1d 1h|45s|0s"},
		{`{{ toJSON .Catalog.Reasons }}`, `["a","b"]`},
		{`{{ replace "_" " " .Event.Attributes.template_name }}`, "order update"},
		{`{{ if contains "spam" .Event.Title }}yes{{ end }}|{{ if hasPrefix "spam" .Event.Title }}yes{{ end }}`, "yes|yes"},
		{`{{ jiraEscape "a|b{c}" }}`, `a\|b\{c\}`},
	}
	for _, tt := range tests {
		if tt.want == "" {
			// A nil incident: make sure the template fails clearly rather than printing.
			if _, err := tm.ExecuteText(tt.text, d); err == nil || !strings.Contains(err.Error(), "nil") {
				t.Errorf("%s: err = %v, want a nil pointer error", tt.text, err)
			}
			continue
		}
		got, err := tm.ExecuteText(tt.text, d)
		if err != nil || got != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.text, got, err, tt.want)
		}
	}
	got, err := tm.ExecuteText(`{{ formatTime "15:04" .Event.Timestamp }}|{{ formatTime "RFC3339" .Event.Timestamp }}`, d)
	if err != nil || got != "09:55|2026-03-02T09:55:30Z" {
		t.Errorf("formatTime = %q, %v", got, err)
	}
	if _, err := tm.ExecuteText(`{{ humanizeDuration "soon" }}`, d); err == nil {
		t.Error("humanizeDuration accepted a bad duration")
	}
}

func TestSampleEvents(t *testing.T) {
	samples := SampleEvents()
	kinds := map[event.Kind]bool{}
	codes := map[int]bool{}
	empty := false
	for _, e := range samples {
		kinds[e.Kind] = true
		codes[e.Code] = true
		if e.ID == "" && e.Kind == "" && e.Timestamp.IsZero() {
			empty = true
		}
	}
	for _, k := range []event.Kind{event.KindStatus, event.KindAccountUpdate, event.KindTemplate, event.KindConnection, event.KindUnknown} {
		if !kinds[k] {
			t.Errorf("no sample of kind %s", k)
		}
	}
	if !codes[131031] || !codes[131048] || !empty {
		t.Errorf("samples lack 131031, 131048 or an empty event")
	}
	samples[0].Attributes["x"] = "y"
	if _, ok := SampleEvents()[0].Attributes["x"]; ok {
		t.Error("SampleEvents shares state between calls")
	}
}

func TestDataFor(t *testing.T) {
	if d := DataFor(nil); d.Incident != nil || d.Event.ID != "" {
		t.Errorf("DataFor(nil) = %+v", d)
	}
	n := &notification.Notification{
		Rule: notification.RuleRef{Name: "r"}, Event: event.Event{ID: "e"},
		Action: notification.Action{Notifier: "slack", Templates: map[string]string{"title": "my.title"},
			Settings: []byte(`{"channel":"#ops","issue_type":"Bug"}`)},
	}
	d := DataFor(n)
	if d.Rule.Name != "r" || d.Event.ID != "e" || d.Action["Notifier"] != "slack" {
		t.Errorf("DataFor = %+v", d)
	}
	if d.Action["Channel"] != "#ops" || d.Action["IssueType"] != "Bug" {
		t.Errorf("settings as templates see them = %+v, want Channel and IssueType", d.Action)
	}
	sp := notifiers.Spec{Roles: []notifiers.Role{{Name: "title", Default: "slack.title"}, {Name: "text", Default: "slack.text"}}}
	if sp.Role(n.Action, "title") != "my.title" || sp.Role(n.Action, "text") != "slack.text" {
		t.Error("Role ignores the action's templates")
	}
}

// TestSpecRolesNeedTemplates: a notifier whose role has no template fails
// the load, not its first send.
func TestSpecRolesNeedTemplates(t *testing.T) {
	sp := notifiers.Spec{Name: "pager", Roles: []notifiers.Role{{Name: "title", Default: "slack.title"}, {Name: "page", Default: "pager.page"}}}
	_, err := Load("", WithSpecs(sp))
	if err == nil || !strings.Contains(err.Error(), `notifier pager renders its page with "pager.page", which no file defines`) {
		t.Fatalf("err = %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pager.tmpl"), []byte(`{{ define "pager.page" }}{{ .Title }}{{ end }}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, WithSpecs(sp)); err != nil {
		t.Fatalf("with the template: %v", err)
	}
}
