package log

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/catalog"
	"github.com/wabridge/wabridge/internal/event"
	"github.com/wabridge/wabridge/internal/notification"
	"github.com/wabridge/wabridge/notifiers"
	"github.com/wabridge/wabridge/notifiers/jira"
	"github.com/wabridge/wabridge/notifiers/slack"
	"github.com/wabridge/wabridge/templates"
)

var fixed = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

func testNotification(notifier string, op notification.Op) *notification.Notification {
	ev := templates.SampleEvents()[0]
	return &notification.Notification{
		ID:     "n-1",
		Rule:   notification.RuleRef{Name: "account-blocked"},
		Action: notification.Action{Notifier: notifier, Target: map[string]string{"slack": "#whatsapp-ops", "jira": "WAOPS"}[notifier]},
		Op:     op,
		Event:  ev,
		Catalog: catalog.Entry{
			Code: 131031, Title: "Business account locked", Severity: event.SeverityCritical,
			Actions: []string{"Review the account's status in WhatsApp Manager."},
		},
		Incident: &notification.Incident{
			Fingerprint: "fp-1", Count: 5, NewSince: 4, Ref: "C123/1700000000.000100",
			SinceTime: fixed.Add(-time.Hour), FirstSeen: fixed.Add(-2 * time.Hour), LastSeen: fixed,
		},
	}
}

func readLines(t *testing.T, path string) []Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l Line
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d is not a Line: %v\n%s", len(out)+1, err, sc.Text())
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWritesJSONLinesToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	if err := os.WriteFile(path, []byte(`{"time":"2026-01-01T00:00:00Z","op":"open","rule":"earlier","notifier":"log","target":"x","summary":"","body":"","event_id":"","severity":""}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Path: path}, testTemplates(t), nil, WithClock(func() time.Time { return fixed }))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []notification.Op{notification.OpOpen, notification.OpRepeat} {
		res, err := n.Notify(context.Background(), testNotification("log", op))
		if err != nil {
			t.Fatal(err)
		}
		if res.Ref != "" {
			t.Errorf("log returned ref %q; a log line cannot be updated", res.Ref)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 3 || lines[0].Rule != "earlier" {
		t.Fatalf("file was not appended to: %+v", lines)
	}
	l := lines[1]
	want := Line{
		Time: fixed, NotificationID: "n-1", Op: "open", Rule: "account-blocked", Notifier: "log",
		Target: path, EventID: "sample-failed-131031", Code: 131031, Severity: "critical",
		Fingerprint: "fp-1", Ref: "C123/1700000000.000100",
	}
	got := l
	got.Summary, got.Body = "", ""
	if got != want {
		t.Errorf("line =\n%+v\nwant\n%+v", got, want)
	}
	if l.Summary != "[critical] Business account locked (131031)" {
		t.Errorf("summary = %q", l.Summary)
	}
	if !strings.Contains(l.Body, "What to do: Review the account's status") || strings.Contains(l.Body, "16505551234") {
		t.Errorf("body = %q", l.Body)
	}
	if lines[2].Op != "repeat" {
		t.Errorf("second op = %q", lines[2].Op)
	}
}

func TestStandsInForSlackAndJira(t *testing.T) {
	var buf bytes.Buffer
	n, err := New(Config{}, testTemplates(t), nil, WithWriter(&buf))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		notifier string
		op       notification.Op
		target   string
		summary  string
		body     []string
	}{
		{"slack", notification.OpOpen, "#whatsapp-ops", "Business account locked (131031) on 15550783881",
			[]string{"*Business account locked*", "*What to do*", "• Review the account's status"}},
		{"slack", notification.OpRepeat, "#whatsapp-ops", "Business account locked (131031) on 15550783881",
			[]string{"4 more since 09:30 UTC (5 in total, last at 10:30 UTC)"}},
		{"jira", notification.OpOpen, "WAOPS", "Business account locked (131031) on 15550783881",
			[]string{"h2. Business account locked", "# Review the account's status", "|Recipient|*******1234|"}},
		{"jira", notification.OpResolve, "WAOPS", "Business account locked (131031) on 15550783881",
			[]string{"Resolved: Business account locked after 5 occurrences over 2h"}},
		{"log", notification.OpOpen, "stdout", "[critical] Business account locked (131031)", []string{"What to do:"}},
	}
	for _, tt := range tests {
		t.Run(tt.notifier+"/"+string(tt.op), func(t *testing.T) {
			buf.Reset()
			nt := testNotification(tt.notifier, tt.op)
			msg, err := n.Render(nt)
			if err != nil {
				t.Fatal(err)
			}
			if msg.Notifier != "log" || msg.Target != tt.target || msg.Summary != tt.summary {
				t.Errorf("Render = %+v", msg)
			}
			if _, err := n.Notify(context.Background(), nt); err != nil {
				t.Fatal(err)
			}
			var l Line
			if err := json.Unmarshal(buf.Bytes(), &l); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			wantStandIn := tt.notifier
			if tt.notifier == "log" {
				wantStandIn = ""
			}
			if l.StandInFor != wantStandIn || l.Target != tt.target || l.Summary != tt.summary || l.Body != msg.Body {
				t.Errorf("line = %+v", l)
			}
			for _, w := range tt.body {
				if !strings.Contains(l.Body, w) {
					t.Errorf("body lacks %q:\n%s", w, l.Body)
				}
			}
			if strings.Contains(buf.String(), "16505551234") {
				t.Error("full recipient number in the line")
			}
		})
	}
}

func TestActionTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine.tmpl"), []byte(`{{ define "my.title" }}custom {{ .Rule.Name }}{{ end }}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tm, err := templates.Load(dir, templates.WithSpecs(slack.Spec(), jira.Spec(), Spec()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{}, tm, nil, WithWriter(&bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	nt := testNotification("slack", notification.OpOpen)
	nt.Action.Templates = map[string]string{"title": "my.title"}
	msg, err := n.Render(nt)
	if err != nil || msg.Summary != "custom account-blocked" {
		t.Errorf("Render = %+v, %v", msg, err)
	}
	nt.Action.Templates = map[string]string{"title": "gone.title"}
	_, err = n.Notify(context.Background(), nt)
	var ne *notifiers.Error
	if !errors.As(err, &ne) || ne.Reason != notifiers.ReasonPermanent || !strings.Contains(err.Error(), "gone.title") {
		t.Errorf("missing template: err = %v", err)
	}
}

func TestConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	n, err := New(Config{Path: path}, testTemplates(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			notifier := []string{"slack", "jira", "log"}[w%3]
			for range each {
				if _, err := n.Notify(context.Background(), testNotification(notifier, notification.OpOpen)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(readLines(t, path)); got != workers*each {
		t.Errorf("%d lines, want %d", got, workers*each)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string
	}{
		{filepath.Join(dir, "missing", "alerts.jsonl"), "does not exist"},
		{filepath.Join(file, "alerts.jsonl"), "not a directory"},
		{dir, "open " + dir},
	}
	for _, tt := range tests {
		_, err := New(Config{Path: tt.path}, testTemplates(t), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%q) err = %v, want %q", tt.path, err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Error("New created a directory")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteFailureIsTransient(t *testing.T) {
	n, err := New(Config{}, testTemplates(t), nil, WithWriter(failingWriter{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Notify(context.Background(), testNotification("log", notification.OpOpen))
	if reason, _, retry := notifiers.Classify(err); reason != notifiers.ReasonTransient || !retry {
		t.Errorf("err = %v classified %s", err, reason)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Notify(ctx, testNotification("log", notification.OpOpen)); err == nil {
		t.Error("Notify with a cancelled context succeeded")
	}
	if _, err := n.Render(nil); err == nil {
		t.Error("Render(nil) succeeded")
	}
}

func TestCloseStdoutIsNoop(t *testing.T) {
	n, err := New(Config{}, testTemplates(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

// testTemplates are the default templates with the specs of the notifiers
// the log stands in for.
func testTemplates(t testing.TB) *templates.Templates {
	t.Helper()
	tm, err := templates.Load("", templates.WithSpecs(slack.Spec(), jira.Spec(), Spec()))
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
