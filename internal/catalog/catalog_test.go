package catalog

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
)

func mustLoad(t testing.TB, extra ...string) *Catalog {
	t.Helper()
	c, err := Load(extra...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// writeFile writes a user catalogue file and returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEmbeddedDataLoadsAndIsConsistent(t *testing.T) {
	c := mustLoad(t)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestEveryEntryIsComplete(t *testing.T) {
	c := mustLoad(t)
	for _, ns := range Namespaces() {
		entries := c.Entries(ns)
		if len(entries) == 0 {
			t.Errorf("namespace %s has no entries", ns)
		}
		for _, e := range entries {
			id := ns + " " + e.ID()
			if strings.TrimSpace(e.Title) == "" {
				t.Errorf("%s: no title", id)
			}
			if strings.TrimSpace(e.Description) == "" {
				t.Errorf("%s: no description", id)
			}
			if len(e.Reasons) == 0 {
				t.Errorf("%s: no reasons", id)
			}
			if len(e.Actions) == 0 {
				t.Errorf("%s: no actions", id)
			}
			if !event.ValidSeverity(e.Severity) {
				t.Errorf("%s: invalid severity %q", id, e.Severity)
			}
			if e.Namespace != ns {
				t.Errorf("%s: namespace %q", id, e.Namespace)
			}
			if ns == NamespaceConnection && e.Key == "" {
				t.Errorf("%s: connection entries need a key", id)
			}
		}
	}
}

// TestReferenceTableCovered lists every code of Meta's table in the
// reference (§4); a code missing from the data is a gap for the person on duty.
func TestReferenceTableCovered(t *testing.T) {
	c := mustLoad(t)
	codes := []int{0, 1, 2, 3, 4, 10, 33, 100, 190, 200, 368, 80007, 130403, 130429, 130472, 130497,
		131000, 131005, 131008, 131009, 131016, 131021, 131026, 131031, 131037, 131042, 131045, 131047,
		131048, 131049, 131050, 131051, 131052, 131053, 131055, 131056, 131057, 131060, 131063, 131064,
		132000, 132001, 132005, 132007, 132012, 132015, 132016, 132018, 132068, 132069,
		133000, 133004, 133005, 133006, 133008, 133009, 133010, 133015, 133016, 134011,
		134100, 134101, 134102, 135000, 1752041, 2388019, 2388103, 2494100, 2593107, 2593108}
	for _, code := range codes {
		e, ok := c.Lookup(code)
		if !ok {
			t.Errorf("meta %d: no entry", code)
			continue
		}
		if e.Code != code || e.CodeTo != code {
			t.Errorf("meta %d: resolved to range %s, want its own entry", code, e.Range())
		}
	}
	for _, code := range []int{63003, 63013, 63016, 63018, 63023, 63024, 63032} {
		if _, ok := c.LookupIn(NamespaceTwilio, code); !ok {
			t.Errorf("twilio %d: no entry", code)
		}
	}
}

// TestSuggestedClasses checks the severity classes the reference suggests.
func TestSuggestedClasses(t *testing.T) {
	c := mustLoad(t)
	classes := map[event.Severity][]int{
		event.SeverityCritical:  {368, 131031, 130497, 131042, 190, 0, 10, 250, 133010, 131045},
		event.SeverityThrottle:  {4, 80007, 130429, 131048, 131056, 131064},
		event.SeverityRecipient: {131026, 131047, 131049, 131050, 130472, 130403},
		event.SeverityTemplate:  {132000, 132001, 132005, 132007, 132012, 132015, 132016, 132018, 132068, 132069, 131063},
		event.SeverityTransient: {1, 2, 131000, 131016, 131057, 133004, 2494100},
	}
	for sev, codes := range classes {
		for _, code := range codes {
			e, ok := c.Lookup(code)
			if !ok {
				t.Errorf("meta %d: no entry", code)
				continue
			}
			if e.Severity != sev {
				t.Errorf("meta %d: severity %s, want %s", code, e.Severity, sev)
			}
		}
	}
	for _, code := range []int{1, 2, 4, 130429, 131000, 131016, 131056, 131057, 133004, 2494100} {
		if e, _ := c.Lookup(code); !e.Retryable {
			t.Errorf("meta %d: should be retryable", code)
		}
	}
	for _, code := range []int{0, 190, 131026, 131031, 131047, 131050, 132000, 132001, 368} {
		if e, _ := c.Lookup(code); e.Retryable {
			t.Errorf("meta %d: retrying the same send cannot help", code)
		}
	}
}

// TestSeedCodes: the nine codes of the product seeds carry the seeds'
// common reasons and recommended actions.
func TestSeedCodes(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		code    int
		reasons []string
		actions []string
	}{
		{131026,
			[]string{"does not belong to a whatsapp account", "outdated version", "terms of service", "india"},
			[]string{"verify that the recipient can receive messages", "update the whatsapp app", "accept the latest terms"}},
		{131042,
			[]string{"payment account is not linked", "not active", "credit line is over its limit", "time zone or currency"},
			[]string{"billing settings and credit limits"}},
		{130472,
			[]string{"experiment"},
			[]string{"marketing message experiments"}},
		{131049,
			[]string{"limits meta applies to protect the ecosystem"},
			[]string{"wait before resending", "message limits"}},
		{131048,
			[]string{"blocked the number or reported its messages as spam"},
			[]string{"quality rating in whatsapp manager", "quality-based rate limits"}},
		{131031,
			[]string{"does not comply with the whatsapp business messaging or commerce policies", "failed verification"},
			[]string{"policy compliance", "health status api"}},
		{132000,
			[]string{"mismatch between the parameters defined in the template and the ones sent"},
			[]string{"include all required parameters"}},
		{100,
			[]string{"misspelled parameters", "unsupported parameters"},
			[]string{"verify that the parameters are valid and meet the endpoint's specification"}},
		{131053,
			[]string{"content type is not supported"},
			[]string{"complies with the supported formats"}},
	}
	for _, tt := range tests {
		e, ok := c.Lookup(tt.code)
		if !ok {
			t.Errorf("%d: no entry", tt.code)
			continue
		}
		reasons := strings.ToLower(strings.Join(e.Reasons, "\n"))
		actions := strings.ToLower(strings.Join(e.Actions, "\n"))
		for _, p := range tt.reasons {
			if !strings.Contains(reasons, p) {
				t.Errorf("%d: reasons lack %q:\n%s", tt.code, p, reasons)
			}
		}
		for _, p := range tt.actions {
			if !strings.Contains(actions, p) {
				t.Errorf("%d: actions lack %q:\n%s", tt.code, p, actions)
			}
		}
	}
}

func TestLookupRanges(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		code      int
		wantOK    bool
		wantRange string
	}{
		{250, true, "200-299"},
		{299, true, "200-299"},
		{200, true, "200"}, // the exact code beats the range it lies in
		{2388500, true, "2388000-2388999"},
		{2388019, true, "2388019"},
		{132003, false, ""}, // 132000-132069 is not a catalogue range
		{300, false, ""},
		{-1, false, ""},
	}
	for _, tt := range tests {
		e, ok := c.Lookup(tt.code)
		if ok != tt.wantOK {
			t.Errorf("Lookup(%d) ok = %v, want %v", tt.code, ok, tt.wantOK)
			continue
		}
		if ok && e.Range() != tt.wantRange {
			t.Errorf("Lookup(%d) = %s, want %s", tt.code, e.Range(), tt.wantRange)
		}
	}
	if e, _ := c.Lookup(200); e.Title == "API Permission" {
		t.Errorf("200 resolved to the range's title")
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		bad    bool
	}{
		{"131031", 131031, 131031, false},
		{"200-299", 200, 299, false},
		{" 200 - 299 ", 200, 299, false},
		{"0", 0, 0, false},
		{"299-200", 0, 0, true},
		{"abc", 0, 0, true},
		{"200-", 0, 0, true},
		{"-5", 0, 0, true},
		{"1-2-3", 0, 0, true},
		{"", 0, 0, true},
		{"99999999999999999999", 0, 0, true},
	}
	for _, tt := range tests {
		lo, hi, err := ParseRange(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("ParseRange(%q) err = %v, want bad=%v", tt.in, err, tt.bad)
			continue
		}
		if !tt.bad && (lo != tt.lo || hi != tt.hi) {
			t.Errorf("ParseRange(%q) = %d, %d; want %d, %d", tt.in, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestUserFileOverridesAndAdds(t *testing.T) {
	p := writeFile(t, "ours.yaml", `namespace: meta
codes:
  "131031":
    title: Account locked (ours)
    actions: [Page the WhatsApp owner on call.]
    severity: critical
  "999001":
    title: Our gateway's own code
    description: Only we send this.
    actions: [Restart the relay.]
    severity: transient
    retryable: true
  "200-299":
    title: Permission (ours)
    actions: [Ask the platform team for the permission.]
    severity: critical
`)
	conn := writeFile(t, "conn.yaml", `namespace: connection
codes:
  "401":
    title: Logged out (ours)
    actions: [Ask the store manager to re-scan the QR code.]
    severity: critical
keys:
  timed_out:
    title: Timed out (ours)
    actions: [Wait.]
    severity: transient
`)
	c := mustLoad(t, p, conn)

	if e, _ := c.Lookup(131031); e.Title != "Account locked (ours)" || len(e.Actions) != 1 {
		t.Errorf("131031 not overridden: %+v", e)
	}
	if e, ok := c.Lookup(999001); !ok || e.Severity != event.SeverityTransient || !e.Retryable {
		t.Errorf("999001 not added: %+v, %v", e, ok)
	}
	if e, _ := c.Lookup(250); e.Title != "Permission (ours)" {
		t.Errorf("range 200-299 not replaced: 250 → %q", e.Title)
	}
	if n := countRange(c.Entries(NamespaceMeta), "200-299"); n != 1 {
		t.Errorf("200-299 listed %d times, want 1", n)
	}
	// An override without key keeps the key adapters look reasons up by.
	if e, ok := c.LookupKey(NamespaceConnection, "logged_out"); !ok || e.Title != "Logged out (ours)" {
		t.Errorf("logged_out after override = %q, %v", e.Title, ok)
	}
	if e, _ := c.LookupIn(NamespaceConnection, 401); e.Key != "logged_out" {
		t.Errorf("401 lost its key: %q", e.Key)
	}
	// A key-only override takes the alias over; the code keeps its entry.
	if e, _ := c.LookupKey(NamespaceConnection, "timed_out"); e.Title != "Timed out (ours)" {
		t.Errorf("timed_out = %q", e.Title)
	}
	if e, _ := c.LookupIn(NamespaceConnection, 408); e.Title != "Connection lost" {
		t.Errorf("408 = %q", e.Title)
	}
	if e, _ := c.LookupKey(NamespaceConnection, "connection_lost"); e.Code != 408 {
		t.Errorf("connection_lost = %+v", e)
	}
	// The embedded catalogue is untouched by another Load.
	if e, _ := mustLoad(t).Lookup(131031); e.Title == "Account locked (ours)" {
		t.Errorf("override leaked into a fresh catalogue")
	}
}

func countRange(es []Entry, r string) int {
	n := 0
	for _, e := range es {
		if e.Range() == r {
			n++
		}
	}
	return n
}

func TestBrokenUserFiles(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string // substrings after "FILE"
	}{
		{"yaml syntax", "namespace: meta\ncodes:\n  \"1\": title: x\n", []string{":3: mapping values are not allowed"}},
		{"unknown severity", "codes:\n  \"1\":\n    title: x\n    actions: [y]\n    severity: urgent\n", []string{":5: code 1: unknown severity \"urgent\""}},
		{"unknown entry field", "codes:\n  \"1\":\n    title: x\n    action: [y]\n", []string{":4: code 1: unknown field \"action\"", ":3: code 1: at least one action"}},
		{"unknown top-level field", "namespace: meta\ncode:\n  \"1\": {}\n", []string{":2: field code is not a catalogue section"}},
		{"missing title", "codes:\n  \"1\":\n    actions: [y]\n", []string{":3: code 1: title is required"}},
		{"no actions", "codes:\n  \"1\":\n    title: x\n    actions: []\n", []string{":3: code 1: at least one action"}},
		{"empty action", "codes:\n  \"1\":\n    title: x\n    actions: [\"\"]\n", []string{"must not contain empty items"}},
		{"bad code", "codes:\n  abc:\n    title: x\n    actions: [y]\n", []string{":3: code abc: \"abc\" is not a code"}},
		{"wrong type", "codes:\n  \"1\":\n    title: x\n    actions: [y]\n    retryable: maybe\n", []string{":5: code 1: cannot unmarshal"}},
		{"entry not a mapping", "codes:\n  \"1\": just text\n", []string{":2: code 1: must be a mapping"}},
		{"duplicate code", "codes:\n  \"1\": {title: x, actions: [y]}\n  \"1\": {title: z, actions: [y]}\n", []string{":3: code 1: defined twice in this file (first at line 2)"}},
		{"unknown namespace", "namespace: telegram\ncodes: {}\n", []string{"unknown namespace \"telegram\""}},
		{"uppercase key", "namespace: connection\nkeys:\n  LoggedOut: {title: x, actions: [y]}\n", []string{":3: key LoggedOut: key \"LoggedOut\" must be lowercase"}},
		{"duplicate alias", "namespace: connection\nkeys:\n  a: {title: x, actions: [y]}\n  b: {title: x, actions: [y], aliases: [a]}\n", []string{":4: key b: key \"a\" already used at line 3"}},
		{"keys in meta", "namespace: meta\nkeys:\n  a: {title: x, actions: [y]}\n", []string{":3: keys: namespace meta has codes only"}},
		{"empty file", "", []string{": catalogue file is empty"}},
		{"namespace only", "namespace: meta\n", []string{": catalogue file has no entries (no codes: or keys: section)"}},
		{"cut after codes:", "namespace: meta\ncodes:\n", []string{": catalogue file has no entries"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "bad.yaml", tt.body)
			c, err := Load(p)
			if err == nil {
				t.Fatalf("Load accepted a broken file; catalogue %v", c != nil)
			}
			msg := err.Error()
			if !strings.Contains(msg, p+":") {
				t.Errorf("error %q does not name %s", msg, p)
			}
			for _, w := range tt.want {
				// A want starting with ":" is a line number: it must follow the file name.
				if strings.HasPrefix(w, ":") {
					w = p + w
				}
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(err.Error(), "catalog/data/") {
				t.Errorf("embedded data reported broken: %v", err)
			}
		})
	}
}

// TestBrokenFileNamesFileAndLine pins the exact FILE:LINE form `wabridge
// check` prints, for the two most common mistakes.
func TestBrokenFileNamesFileAndLine(t *testing.T) {
	// yaml.v3 names the line of the problem for most syntax errors (for a
	// few, such as a bad indent, the line where the enclosing block starts).
	p := writeFile(t, "bad.yaml", "namespace: meta\ncodes:\n  \"131031\":\n    title: x\n    actions: [y]\n  \"2\": title: y\n")
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p+":6: ") {
		t.Fatalf("want %s:6: in %v", p, err)
	}
	p = writeFile(t, "bad2.yaml", "namespace: meta\ncodes:\n  \"131031\":\n    title: x\n    actions: [y]\n    severity: urgent\n")
	_, err = Load(p)
	if err == nil || !strings.Contains(err.Error(), p+":6: code 131031: unknown severity \"urgent\"") {
		t.Fatalf("got %v", err)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: read catalogue") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestValidateFindsInconsistencies(t *testing.T) {
	p := writeFile(t, "tw.yaml", `namespace: twilio
codes:
  "63999":
    title: Made up
    actions: [Nothing.]
    meta_codes: [999999]
`)
	r := writeFile(t, "ranges.yaml", `codes:
  "500000-500099": {title: a, actions: [x]}
  "500050-500149": {title: b, actions: [x]}
`)
	err := mustLoad(t, p, r).Validate()
	if err == nil {
		t.Fatal("Validate accepted a dangling meta code and overlapping ranges")
	}
	for _, w := range []string{"twilio 63999 maps to meta code 999999", "ranges 500000-500099 and 500050-500149 overlap"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate: %v lacks %q", err, w)
		}
	}
}

func TestForEventAndEnrich(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		name      string
		ev        event.Event
		wantOK    bool
		wantID    string // Entry.ID()
		wantNS    string
		wantSev   event.Severity
		wantTitle string // event title after Enrich
	}{
		{"meta code", event.Event{Kind: event.KindStatus, Status: "failed", Code: 131031},
			true, "131031", NamespaceMeta, event.SeverityCritical, "Business account locked"},
		{"meta code keeps provider title", event.Event{Kind: event.KindStatus, Status: "failed", Code: 131026, Title: "Message undeliverable"},
			true, "131026", NamespaceMeta, event.SeverityRecipient, "Message undeliverable"},
		{"meta code in a range", event.Event{Kind: event.KindError, Code: 250},
			true, "200-299", NamespaceMeta, event.SeverityCritical, "API Permission"},
		{"twilio code", event.Event{Kind: event.KindStatus, Status: "undelivered", Code: 63016, Attributes: map[string]string{"provider": "twilio"}},
			true, "63016", NamespaceTwilio, event.SeverityRecipient, "Outside messaging window"},
		{"twilio code without provider", event.Event{Kind: event.KindStatus, Status: "failed", Code: 63016},
			false, "", "", event.SeverityWarning, ""},
		{"twilio provider, meta code", event.Event{Kind: event.KindStatus, Status: "failed", Code: 131047, Attributes: map[string]string{"provider": "twilio"}},
			true, "131047", NamespaceMeta, event.SeverityRecipient, "Re-engagement message"},
		{"connection by reason key", event.Event{Kind: event.KindConnection, Status: "close", Attributes: map[string]string{"reason": "logged_out"}},
			true, "401", NamespaceConnection, event.SeverityCritical, "Device logged out"},
		{"connection by camelCase reason", event.Event{Kind: event.KindConnection, Status: "close", Attributes: map[string]string{"reason": "sleepMode"}},
			true, "sleep_mode", NamespaceConnection, event.SeverityCritical, "Phone offline (sleep mode)"},
		{"connection by code", event.Event{Kind: event.KindConnection, Status: "close", Code: 515},
			true, "515", NamespaceConnection, event.SeverityTransient, "Restart required"},
		{"colliding code resolved by key", event.Event{Kind: event.KindConnection, Status: "close", Code: 403, Attributes: map[string]string{"reason": "main_device_gone"}},
			true, "main_device_gone", NamespaceConnection, event.SeverityCritical, "Main device gone"},
		{"colliding code without key is Baileys", event.Event{Kind: event.KindConnection, Status: "close", Code: 403},
			true, "403", NamespaceConnection, event.SeverityCritical, "Connection forbidden"},
		{"connection unknown reason falls back to status", event.Event{Kind: event.KindConnection, Status: "close", Attributes: map[string]string{"reason": "cosmic_rays"}},
			true, "connection/close", NamespaceEvent, event.SeverityTransient, "WhatsApp connection closed"},
		{"connection open", event.Event{Kind: event.KindConnection, Status: "open"},
			true, "connection/open", NamespaceEvent, event.SeverityInfo, "WhatsApp connection open"},
		{"ban by state", event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", Attributes: map[string]string{"state": "DISABLE"}},
			true, "account_update/disabled_update/disable", NamespaceEvent, event.SeverityCritical, "WhatsApp Business Account banned"},
		{"reinstate by state", event.Event{Kind: event.KindAccountUpdate, Status: "DISABLED_UPDATE", Attributes: map[string]string{"state": "REINSTATE"}},
			true, "account_update/disabled_update/reinstate", NamespaceEvent, event.SeverityInfo, "WhatsApp Business Account reinstated"},
		{"unknown state falls back to kind/status", event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", Attributes: map[string]string{"state": "SOMETHING_NEW"}},
			true, "account_update/disabled_update", NamespaceEvent, event.SeverityCritical, "WhatsApp Business Account ban update"},
		{"display name rejected by field", event.Event{Kind: event.KindAccountAlert, Status: "rejected", Attributes: map[string]string{"field": "phone_number_name_update"}},
			true, "phone_number_name_update/rejected", NamespaceEvent, event.SeverityWarning, "Display name rejected"},
		{"account review rejected", event.Event{Kind: event.KindAccountAlert, Status: "rejected"},
			true, "account_alert/rejected", NamespaceEvent, event.SeverityCritical, "Account review rejected"},
		{"template paused", event.Event{Kind: event.KindTemplate, Status: "paused"},
			true, "template_status/paused", NamespaceEvent, event.SeverityTemplate, "Template paused"},
		{"no entry", event.Event{Kind: event.KindMessage, Status: "text"},
			false, "", "", event.SeverityInfo, ""},
		{"unknown meta code", event.Event{Kind: event.KindStatus, Status: "failed", Code: 987654},
			false, "", "", event.SeverityWarning, ""},
		{"failure without a code", event.Event{Kind: event.KindStatus, Status: "undelivered"},
			false, "", "", event.SeverityWarning, ""},
		{"provider severity stricter", event.Event{Kind: event.KindAccountAlert, Status: "profile_picture_lost", Attributes: map[string]string{"alert_severity": "CRITICAL"}},
			true, "account_alert/profile_picture_lost", NamespaceEvent, event.SeverityCritical, "Profile picture lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			ent, ok := c.ForEvent(&ev)
			if ok != tt.wantOK {
				t.Fatalf("ForEvent ok = %v, want %v (entry %s)", ok, tt.wantOK, ent.ID())
			}
			if ok && (ent.ID() != tt.wantID || ent.Namespace != tt.wantNS) {
				t.Errorf("ForEvent = %s %s, want %s %s", ent.Namespace, ent.ID(), tt.wantNS, tt.wantID)
			}
			c.Enrich(&ev)
			if ev.Severity != tt.wantSev {
				t.Errorf("Enrich severity = %q, want %q", ev.Severity, tt.wantSev)
			}
			if ev.Title != tt.wantTitle {
				t.Errorf("Enrich title = %q, want %q", ev.Title, tt.wantTitle)
			}
			if ok && ev.RecommendedAction != ent.RecommendedAction() {
				t.Errorf("Enrich action = %q, want %q", ev.RecommendedAction, ent.RecommendedAction())
			}
			switch {
			case !ok && !ev.IsFailure() && ev.RecommendedAction != "":
				t.Errorf("Enrich invented an action: %q", ev.RecommendedAction)
			case !ok && ev.IsFailure() && !strings.Contains(ev.RecommendedAction, ev.Status) &&
				!strings.Contains(ev.RecommendedAction, strconv.Itoa(ev.Code)):
				t.Errorf("failure action %q names neither the code nor the status", ev.RecommendedAction)
			}
		})
	}
}

func TestEnrichSeverityRules(t *testing.T) {
	c := mustLoad(t)
	// Without an entry the adapter's severity stands.
	ev := event.Event{Kind: event.KindStatus, Status: "failed", Code: 987654, Severity: event.SeverityWarning}
	c.Enrich(&ev)
	if ev.Severity != event.SeverityWarning {
		t.Errorf("severity without entry = %q", ev.Severity)
	}
	// With an entry the catalogue ranks it, and an adapter's action is kept.
	ev = event.Event{Kind: event.KindStatus, Status: "failed", Code: 131048, Severity: event.SeverityInfo, RecommendedAction: "ours"}
	c.Enrich(&ev)
	if ev.Severity != event.SeverityThrottle || ev.RecommendedAction != "ours" {
		t.Errorf("Enrich = %q %q", ev.Severity, ev.RecommendedAction)
	}
	// A nil catalogue does not panic.
	var nilCat *Catalog
	ev = event.Event{Kind: event.KindStatus, Code: 131026}
	nilCat.Enrich(&ev)
	if ev.Severity != event.SeverityInfo {
		t.Errorf("nil catalogue severity = %q", ev.Severity)
	}
}

func TestLookupKeyAndFind(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		ns, key string
		wantID  string
	}{
		{NamespaceConnection, "logged_out", "401"},
		{NamespaceConnection, "loggedOut", "401"},
		{NamespaceConnection, " LOGGED_OUT ", "401"},
		{NamespaceConnection, "timed_out", "408"},
		{NamespaceConnection, "timedOut", "408"},
		{NamespaceConnection, "connectionReplaced", "440"},
		{NamespaceConnection, "stream_replaced", "440"},
		{NamespaceConnection, "temp_banned", "402"},
		{NamespaceConnection, "client_outdated", "405"},
		{NamespaceConnection, "unknown_logout", "406"},
		{NamespaceConnection, "bad_user_agent", "409"},
		{NamespaceConnection, "main_device_gone", "main_device_gone"},
		{NamespaceConnection, "notAuthorized", "not_authorized"},
		{NamespaceConnection, "yellowCard", "yellow_card"},
		{NamespaceConnection, "qr_timeout", "qr_timeout"},
		{NamespaceConnection, "banned", "banned"},
		{NamespaceConnection, "logout", "logout"},
		{NamespaceConnection, "blocked", "blocked"},
		{NamespaceEvent, "status/no_account", "status/not_found"},
		{NamespaceEvent, "account_alert/pin_reset_request", "account_alert/pin_reset_request"},
	}
	for _, tt := range tests {
		e, ok := c.LookupKey(tt.ns, tt.key)
		if !ok || e.ID() != tt.wantID {
			t.Errorf("LookupKey(%s, %q) = %q, %v; want %q", tt.ns, tt.key, e.ID(), ok, tt.wantID)
		}
	}
	for _, miss := range []string{"", "nope", "131031"} {
		if _, ok := c.LookupKey(NamespaceConnection, miss); ok {
			t.Errorf("LookupKey(connection, %q) found an entry", miss)
		}
	}
	if _, ok := c.LookupKey(NamespaceMeta, "logged_out"); ok {
		t.Error("keys leak across namespaces")
	}
	for _, tt := range []struct{ ns, text, want string }{
		{NamespaceMeta, "131031", "131031"},
		{NamespaceMeta, "250", "200-299"},
		{NamespaceConnection, "401", "401"},
		{NamespaceConnection, "sleep_mode", "sleep_mode"},
		{NamespaceEvent, "template_status/red", "template_status/red"},
	} {
		if e, ok := c.Find(tt.ns, tt.text); !ok || e.ID() != tt.want {
			t.Errorf("Find(%s, %q) = %q, %v; want %q", tt.ns, tt.text, e.ID(), ok, tt.want)
		}
	}
	if _, ok := c.Find(NamespaceMeta, "banana"); ok {
		t.Error("Find(meta, banana) found an entry")
	}
}

func TestEntriesSortedAndUnique(t *testing.T) {
	c := mustLoad(t)
	for _, ns := range Namespaces() {
		es := c.Entries(ns)
		seen := map[string]bool{}
		for i, e := range es {
			if seen[e.ID()] {
				t.Errorf("%s: %s listed twice", ns, e.ID())
			}
			seen[e.ID()] = true
			if i == 0 {
				continue
			}
			p := es[i-1]
			switch {
			case p.HasCode() && e.HasCode():
				if p.Code > e.Code || (p.Code == e.Code && p.CodeTo > e.CodeTo) {
					t.Errorf("%s: %s before %s", ns, p.ID(), e.ID())
				}
			case !p.HasCode() && e.HasCode():
				t.Errorf("%s: key-only %s before coded %s", ns, p.ID(), e.ID())
			case !p.HasCode() && !e.HasCode():
				if p.Key > e.Key {
					t.Errorf("%s: %s before %s", ns, p.Key, e.Key)
				}
			}
		}
	}
	meta := c.Entries(NamespaceMeta)
	if meta[0].Code != 0 || meta[0].Title != "AuthException" {
		t.Errorf("first meta entry = %s %q", meta[0].ID(), meta[0].Title)
	}
	var ids []string
	for _, e := range meta {
		ids = append(ids, e.ID())
	}
	if idx(ids, "200") > idx(ids, "200-299") {
		t.Errorf("200 listed after 200-299: %v", ids)
	}
	if (&Catalog{}).Entries(NamespaceMeta) != nil || (*Catalog)(nil).Entries(NamespaceMeta) != nil {
		t.Error("empty catalogue lists entries")
	}
}

func idx(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestFormat(t *testing.T) {
	c := mustLoad(t)
	e, _ := c.Lookup(131031)
	out := Format(e)
	for _, want := range []string{
		"131031  Business account locked\n",
		"Severity: critical    Retry can help: no\n",
		"\nCommon reasons:\n  - The account does not comply",
		"\nRecommended actions:\n  - Review policy compliance",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Format(131031) lacks %q:\n%s", want, out)
		}
	}
	e, _ = c.LookupKey(NamespaceConnection, "timed_out")
	out = Format(e)
	for _, want := range []string{"connection 408  Connection lost\n", "Key: connection_lost, timed_out\n", "Retry can help: yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("Format(408) lacks %q:\n%s", want, out)
		}
	}
	e, _ = c.LookupIn(NamespaceTwilio, 63018)
	if out := Format(e); !strings.Contains(out, "Meta codes: 130429, 131048, 131056\n") {
		t.Errorf("Format(63018):\n%s", out)
	}
	e, _ = c.LookupKey(NamespaceEvent, "template_status/red")
	if out := Format(e); !strings.HasPrefix(out, "event template_status/red  Template quality red\n") {
		t.Errorf("Format(event):\n%s", out)
	}
	// A bare entry renders without empty sections.
	out = Format(Entry{Code: 7, Title: "Seven", Severity: event.SeverityInfo, Actions: []string{"Nothing."}})
	if strings.Contains(out, "Common reasons") || !strings.Contains(out, "  - Nothing.") {
		t.Errorf("Format(bare):\n%s", out)
	}
}

func TestConcurrentReads(t *testing.T) {
	c := mustLoad(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				ev := event.Event{Kind: event.KindConnection, Status: "close", Code: 401 + i%2, Attributes: map[string]string{"reason": "logged_out"}}
				c.Enrich(&ev)
				c.Lookup(131026 + j)
				c.Entries(NamespaceConnection)
			}
		}(i)
	}
	wg.Wait()
}

func BenchmarkLookupExact(b *testing.B) {
	c := mustLoad(b)
	for b.Loop() {
		c.Lookup(131026)
	}
}

func BenchmarkLookupRange(b *testing.B) {
	c := mustLoad(b)
	for b.Loop() {
		c.Lookup(250)
	}
}

func BenchmarkEnrich(b *testing.B) {
	c := mustLoad(b)
	for b.Loop() {
		ev := event.Event{Kind: event.KindAccountUpdate, Status: "disabled_update", Attributes: map[string]string{"state": "DISABLE"}}
		c.Enrich(&ev)
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(); err != nil {
			b.Fatal(err)
		}
	}
}

// Every code the catalogue knows, reported on a failed message, ranks above
// info; the entries that are info themselves are the ones Meta sends on
// incoming messages or for requests that need no action, never as the reason
// an outgoing message failed.
func TestEveryFailureCodeIsAboveInfo(t *testing.T) {
	c := mustLoad(t)
	notFailures := map[int]bool{131051: true, 131060: true, 1752041: true}
	for _, ns := range []string{NamespaceMeta, NamespaceTwilio} {
		for _, ent := range c.Entries(ns) {
			if ent.Severity == event.SeverityInfo && !(ns == NamespaceMeta && notFailures[ent.Code]) {
				t.Errorf("%s %s (%s) is info: a failure with this code would not be seen", ns, ent.Range(), ent.Title)
			}
			for _, st := range []string{"failed", "undelivered", "error"} {
				e := event.Event{Kind: event.KindStatus, Status: st, Code: ent.Code}
				if ns == NamespaceTwilio {
					e.Attributes = map[string]string{"provider": NamespaceTwilio}
				}
				c.Enrich(&e)
				if e.Severity == event.SeverityInfo || e.Severity == "" || e.RecommendedAction == "" {
					t.Errorf("%s %d on a %s status: severity %q, action %q", ns, ent.Code, st, e.Severity, e.RecommendedAction)
				}
			}
		}
	}
	e := event.Event{Kind: event.KindError, Code: 999999}
	c.Enrich(&e)
	if e.Severity != event.SeverityWarning || !strings.Contains(e.RecommendedAction, "999999") {
		t.Errorf("unknown value-level error: severity %q action %q", e.Severity, e.RecommendedAction)
	}
}

// The codes the providers document and wabridge must explain.
func TestCatalogueCoversProviderTables(t *testing.T) {
	c := mustLoad(t)
	for _, code := range []int{131058, 131026, 131031, 131047, 131048, 131049, 131050, 131056, 138006, 141014} {
		if _, ok := c.Lookup(code); !ok {
			t.Errorf("meta %d missing", code)
		}
	}
	for _, code := range []int{30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30009, 30010,
		63001, 63003, 63005, 63007, 63012, 63013, 63014, 63016, 63018, 63020, 63024, 63027, 63028, 63032, 63038, 63049, 63112} {
		ent, ok := c.LookupIn(NamespaceTwilio, code)
		if !ok {
			t.Errorf("twilio %d missing", code)
			continue
		}
		if len(ent.Reasons) == 0 || len(ent.Actions) == 0 || ent.Description == "" {
			t.Errorf("twilio %d lacks reasons, actions or a description", code)
		}
	}
	if ent, _ := c.LookupIn(NamespaceTwilio, 63112); ent.Severity != event.SeverityCritical {
		t.Errorf("twilio 63112 (Meta disabled the account) is %s, want critical", ent.Severity)
	}
}

// Gupshup's own codes are explained from its namespace, never from Meta's.
func TestGupshupCodes(t *testing.T) {
	c := mustLoad(t)
	e := event.Event{Kind: event.KindStatus, Status: "failed", Code: 1002, Attributes: map[string]string{"provider": "gupshup"}}
	c.Enrich(&e)
	if e.Severity != event.SeverityRecipient || e.Title != "Number does not exist on WhatsApp" {
		t.Errorf("gupshup 1002: %s %q", e.Severity, e.Title)
	}
	e = event.Event{Kind: event.KindStatus, Status: "failed", Code: 1003, Attributes: map[string]string{"provider": "gupshup"}}
	c.Enrich(&e)
	if e.Severity != event.SeverityCritical {
		t.Errorf("gupshup 1003 (wallet empty): %s", e.Severity)
	}
	for _, ent := range c.Entries(NamespaceGupshup) {
		if ent.Severity == event.SeverityInfo {
			t.Errorf("gupshup %d is info", ent.Code)
		}
	}
}
