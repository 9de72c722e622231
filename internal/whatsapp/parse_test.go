package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wabridge/wabridge/internal/event"
)

func TestParseNotJSON(t *testing.T) {
	for _, body := range []string{"", "   ", "not json", "{", `{"entry":[}`, "\x00\x01", `{"a":1} trailing`} {
		t.Run(fmt.Sprintf("%q", body), func(t *testing.T) {
			events, err := Parse("meta", []byte(body), received)
			if !errors.Is(err, ErrNotJSON) {
				t.Fatalf("err = %v, want ErrNotJSON", err)
			}
			if events != nil {
				t.Errorf("got %d events with an error", len(events))
			}
		})
	}
}

// TestParseUnknownShapes: valid JSON nobody knows is kept, never an error.
func TestParseUnknownShapes(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantN     int
		wantWhy   string // substring of parse_error of the first event
		wantField string
	}{
		{"array", `[1,2,3]`, 1, "not a Meta webhook envelope", ""},
		{"string", `"hello"`, 1, "not a Meta webhook envelope", ""},
		{"number", `42`, 1, "not a Meta webhook envelope", ""},
		{"null", `null`, 1, "no entry[]", ""},
		{"empty object", `{}`, 1, "no entry[]", ""},
		{"empty entry", `{"object":"whatsapp_business_account","entry":[]}`, 1, "no entry[]", ""},
		{"entry not an array", `{"entry":"x"}`, 1, "entry is a JSON string, want an array", ""},
		{"entry item a string", `{"entry":["x"]}`, 1, "entry:", ""},
		{"entry without changes", `{"entry":[{"id":"1","time":1700000000}]}`, 1, "no changes[]", ""},
		{"change without value", `{"entry":[{"id":"1","changes":[{"field":"messages"}]}]}`, 1, "no value", "messages"},
		{"change value null", `{"entry":[{"id":"1","changes":[{"field":"account_update","value":null}]}]}`, 1, "no value", "account_update"},
		{"change is a number", `{"entry":[{"id":"1","changes":[7]}]}`, 1, "change:", ""},
		{"field is an object", `{"entry":[{"id":"1","changes":[{"field":{},"value":{}}]}]}`, 1, "want a string or a number, got an object", ""},
		{"unknown field", `{"entry":[{"id":"1","changes":[{"field":"smb_message_echoes","value":{"a":1}}]}]}`, 1, "no mapping", "smb_message_echoes"},
		{"messages value is an array", `{"entry":[{"id":"1","changes":[{"field":"messages","value":[1]}]}]}`, 1, "messages value", "messages"},
		{"statuses wrong type", `{"entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":{"id":"x"}}}]}]}`, 1, "statuses is a JSON object, want an array", "messages"},
		{"metadata only", `{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"}}}]}]}`, 1, "carries nothing", "messages"},
		{"ban_info wrong type", `{"entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"DISABLED_UPDATE","ban_info":"DISABLE"}}]}]}`, 1, "ban_info", "account_update"},
		{"template value empty", `{"entry":[{"id":"1","changes":[{"field":"message_template_status_update","value":{}}]}]}`, 1, "carries nothing", "message_template_status_update"},
		{"code is an object", `{"entry":[{"id":"1","changes":[{"field":"messages","value":{"errors":[{"code":{"x":1}}]}}]}]}`, 1, "want an integer", "messages"},
		{"code non-numeric string", `{"entry":[{"id":"1","changes":[{"field":"messages","value":{"errors":[{"code":"abc"}]}}]}]}`, 1, "want an integer", "messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Parse("meta", []byte(tt.body), received)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(events) != tt.wantN {
				t.Fatalf("got %d events, want %d: %+v", len(events), tt.wantN, events)
			}
			e := events[0]
			if e.Kind != event.KindUnknown {
				t.Fatalf("kind = %s, want unknown", e.Kind)
			}
			if why := e.Attr(AttrParseError); !strings.Contains(why, tt.wantWhy) {
				t.Errorf("parse_error = %q, want it to contain %q", why, tt.wantWhy)
			}
			if e.Status != tt.wantField {
				t.Errorf("status = %q, want the field %q", e.Status, tt.wantField)
			}
			if len(e.Raw) == 0 || !json.Valid(e.Raw) {
				t.Errorf("raw = %q, want the valid JSON that was not understood", e.Raw)
			}
			if e.ID == "" || !strings.HasPrefix(e.ID, prefixUnknown) {
				t.Errorf("id = %q, want a %s id", e.ID, prefixUnknown)
			}
			if e.Timestamp.IsZero() {
				t.Errorf("timestamp is zero")
			}
		})
	}
}

// TestParseKeepsGoodItems: one bad status costs only itself.
func TestParseKeepsGoodItems(t *testing.T) {
	body := `{"entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"77"},"statuses":[
		{"id":"wamid.A","status":"delivered","timestamp":"1751142888","recipient_id":"16505551234"},
		{"id":"wamid.B","status":"failed","timestamp":{"bad":true}},
		{"id":"wamid.C","status":"read","timestamp":"1751142890","recipient_id":"16505551234"}]}}]}]}`
	events, err := Parse("meta", []byte(body), received)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Fatalf("got %d events, want 3", len(events))
	}
	kinds := []event.Kind{events[0].Kind, events[1].Kind, events[2].Kind}
	want := []event.Kind{event.KindStatus, event.KindUnknown, event.KindStatus}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("kinds = %v, want %v", kinds, want)
		}
	}
	if got, want := events[1].Attr("path"), "entry[0].changes[0].value.statuses[1]"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
	if events[1].PhoneNumberID != "77" {
		t.Errorf("unknown item lost the phone number id: %q", events[1].PhoneNumberID)
	}
	if !strings.Contains(string(events[1].Raw), "wamid.B") {
		t.Errorf("raw = %s, want the bad status", events[1].Raw)
	}
}

// TestParseLenientTypes: Meta and relays vary the JSON types of some fields.
func TestParseLenientTypes(t *testing.T) {
	status := func(ts, code string) string {
		return `{"entry":[{"id":102290129340398,"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":106540352242922},"statuses":[
			{"id":"wamid.X","status":"FAILED","timestamp":` + ts + `,"recipient_id":16505551234,"errors":[{"code":` + code + `,"title":"t"}]}]}}]}]}`
	}
	want := time.Unix(1751142888, 0).UTC()
	tests := []struct {
		name, ts, code string
		wantTime       time.Time
	}{
		{"string timestamp and number code", `"1751142888"`, `131026`, want},
		{"numeric timestamp", `1751142888`, `131026`, want},
		{"string code", `"1751142888"`, `"131026"`, want},
		{"code with spaces", `"1751142888"`, `" 131026 "`, want},
		{"float code", `"1751142888"`, `131026.0`, want},
		{"millisecond timestamp", `1751142888000`, `131026`, want},
		{"RFC 3339 timestamp", `"2025-06-28T20:34:48Z"`, `131026`, want},
		{"null timestamp falls back to receipt", `null`, `131026`, received},
		{"garbage timestamp falls back to receipt", `"soon"`, `131026`, received},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Parse("meta", []byte(status(tt.ts, tt.code)), received)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].Kind != event.KindStatus {
				t.Fatalf("got %+v, want one status event", events)
			}
			e := events[0]
			if e.Code != 131026 || e.Status != "failed" {
				t.Errorf("code=%d status=%q, want 131026 failed", e.Code, e.Status)
			}
			if !e.Timestamp.Equal(tt.wantTime) {
				t.Errorf("timestamp = %v, want %v", e.Timestamp, tt.wantTime)
			}
			if e.WABAID != "102290129340398" || e.PhoneNumberID != "106540352242922" || e.RecipientID != "16505551234" {
				t.Errorf("numeric ids not kept as text: waba=%q phone=%q recipient=%q", e.WABAID, e.PhoneNumberID, e.RecipientID)
			}
		})
	}
}

func TestParseTimestampFallbacks(t *testing.T) {
	// An account event without its own timestamp takes the entry time; with
	// neither, the delivery's receipt time.
	withTime := `{"entry":[{"id":"1","time":1743451903,"changes":[{"field":"account_review_update","value":{"decision":"APPROVED"}}]}]}`
	without := `{"entry":[{"id":"1","changes":[{"field":"account_review_update","value":{"decision":"APPROVED"}}]}]}`
	for body, want := range map[string]time.Time{withTime: time.Unix(1743451903, 0).UTC(), without: received} {
		events, err := Parse("meta", []byte(body), received.In(time.FixedZone("X", 3600)))
		if err != nil {
			t.Fatal(err)
		}
		if !events[0].Timestamp.Equal(want) || events[0].Timestamp.Location() != time.UTC {
			t.Errorf("timestamp = %v, want %v in UTC", events[0].Timestamp, want)
		}
	}
}

func TestParseLegacyAlertShape(t *testing.T) {
	body := `{"entry":[{"id":"1","time":1739321024,"changes":[{"field":"account_alerts","value":{
		"entity_type":"PHONE_NUMBER","entity_id":"106540352242922","alert_severity":"CRITICAL","alert_status":"ACTIVE",
		"alert_type":"OBA_REJECTED","alert_description":"Official business account request was rejected."}}]}]}`
	events, err := Parse("meta", []byte(body), received)
	if err != nil {
		t.Fatal(err)
	}
	e := events[0]
	if e.Kind != event.KindAccountAlert || e.Status != "oba_rejected" || e.Severity != event.SeverityCritical || e.Message == "" {
		t.Errorf("got kind=%s status=%q severity=%s message=%q", e.Kind, e.Status, e.Severity, e.Message)
	}
}

func TestSeverityDefaults(t *testing.T) {
	update := func(v string) string {
		return `{"entry":[{"id":"1","time":1743451903,"changes":[{"field":"account_update","value":` + v + `}]}]}`
	}
	quality := func(ev string) string {
		return `{"entry":[{"id":"1","time":1743451903,"changes":[{"field":"phone_number_quality_update","value":{"event":"` + ev + `"}}]}]}`
	}
	tmpl := func(ev string) string {
		return `{"entry":[{"id":"1","time":1743451903,"changes":[{"field":"message_template_status_update","value":{"event":"` + ev + `","message_template_id":1}}]}]}`
	}
	tests := []struct {
		name, body string
		status     string
		state      string
		want       event.Severity
	}{
		{"ban disable", update(`{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"DISABLE"}}`), "disabled_update", "disable", event.SeverityCritical},
		{"ban scheduled", update(`{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"SCHEDULE_FOR_DISABLE"}}`), "disabled_update", "schedule_for_disable", event.SeverityCritical},
		{"ban reinstate", update(`{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"REINSTATE"}}`), "disabled_update", "reinstate", event.SeverityInfo},
		{"offboarded", update(`{"event":"ACCOUNT_OFFBOARDED"}`), "account_offboarded", "", event.SeverityCritical},
		{"partner removed", update(`{"event":"PARTNER_REMOVED"}`), "partner_removed", "", event.SeverityCritical},
		{"partner added", update(`{"event":"PARTNER_ADDED","waba_info":{"waba_id":"9","owner_business_id":"8"}}`), "partner_added", "", event.SeverityInfo},
		{"reconnected", update(`{"event":"ACCOUNT_RECONNECTED"}`), "account_reconnected", "", event.SeverityInfo},
		{"certification failed", update(`{"event":"PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE","partner_client_certification_info":{"client_business_id":"5","status":"FAILED","rejection_reasons":["LEGAL_NAME_NOT_MATCHING"]}}`), "partner_client_certification_status_update", "failed", event.SeverityInfo},
		{"quality flagged", quality("FLAGGED"), "flagged", "", event.SeverityWarning},
		{"quality unflagged", quality("UNFLAGGED"), "unflagged", "", event.SeverityInfo},
		{"quality upgrade", quality("UPGRADE"), "upgrade", "", event.SeverityInfo},
		{"quality onboarding", quality("ONBOARDING"), "onboarding", "", event.SeverityInfo},
		{"template approved", tmpl("APPROVED"), "approved", "", event.SeverityInfo},
		{"template paused", tmpl("PAUSED"), "paused", "", event.SeverityTemplate},
		{"template disabled", tmpl("DISABLED"), "disabled", "", event.SeverityTemplate},
		{"template flagged", tmpl("FLAGGED"), "flagged", "", event.SeverityWarning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Parse("meta", []byte(tt.body), received)
			if err != nil {
				t.Fatal(err)
			}
			e := events[0]
			if e.Status != tt.status || e.Attr(AttrState) != tt.state || e.Severity != tt.want {
				t.Errorf("got status=%q state=%q severity=%s, want %q %q %s", e.Status, e.Attr(AttrState), e.Severity, tt.status, tt.state, tt.want)
			}
		})
	}
}

func TestParseThousandStatuses(t *testing.T) {
	body := batchBody(1000)
	events, err := Parse("meta", body, received)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1000 {
		t.Fatalf("got %d events, want 1000", len(events))
	}
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		if e.Kind != event.KindStatus || e.Code != 131026 {
			t.Fatalf("got kind=%s code=%d, want status 131026", e.Kind, e.Code)
		}
		if seen[e.ID] {
			t.Fatalf("duplicate id %s among different messages", e.ID)
		}
		seen[e.ID] = true
	}
}

// batchBody builds one delivery of n failed statuses for distinct messages.
func batchBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI%08d","status":"failed","timestamp":"1751142888","recipient_id":"1650555%04d","errors":[{"code":131026,"title":"Message undeliverable","message":"Message undeliverable","error_data":{"details":"Message Undeliverable."},"href":"/documentation/business-messaging/whatsapp/support/error-codes"}]}`, i, i)
	}
	b.WriteString(`]}}]}]}`)
	return []byte(b.String())
}

func TestIDsDeterministic(t *testing.T) {
	for _, path := range fixtures(t) {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := Parse("meta", body, received)
		// A redelivery arrives a little later, possibly re-serialized by Meta
		// with other spacing; it must yield the same ids.
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		compact, _ := json.Marshal(v)
		b, _ := Parse("meta", compact, received.Add(time.Minute))
		if len(a) != len(b) {
			t.Fatalf("%s: %d vs %d events", path, len(a), len(b))
		}
		for i := range a {
			if a[i].ID != b[i].ID {
				t.Errorf("%s event %d: id %s on first delivery, %s on redelivery", filepath.Base(path), i, a[i].ID, b[i].ID)
			}
		}
	}
}

func TestIDsDiffer(t *testing.T) {
	status := func(wamid, st string, code int) string {
		errs := ""
		if code != 0 {
			errs = fmt.Sprintf(`,"errors":[{"code":%d}]`, code)
		}
		return `{"entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"id":"` + wamid + `","status":"` + st + `","timestamp":"1"` + errs + `}]}}]}]}`
	}
	account := func(waba string, at int, ev string) string {
		return fmt.Sprintf(`{"entry":[{"id":"%s","time":%d,"changes":[{"field":"account_update","value":{"event":"%s"}}]}]}`, waba, at, ev)
	}
	pairs := []struct{ name, a, b string }{
		{"status differs", status("wamid.A", "delivered", 0), status("wamid.A", "read", 0)},
		{"wamid differs", status("wamid.A", "read", 0), status("wamid.B", "read", 0)},
		{"error code differs", status("wamid.A", "failed", 131026), status("wamid.A", "failed", 131049)},
		{"event differs", account("1", 100, "ACCOUNT_VIOLATION"), account("1", 100, "ACCOUNT_RESTRICTION")},
		{"entry time differs", account("1", 100, "ACCOUNT_VIOLATION"), account("1", 200, "ACCOUNT_VIOLATION")},
		{"waba differs", account("1", 100, "ACCOUNT_VIOLATION"), account("2", 100, "ACCOUNT_VIOLATION")},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			a, _ := Parse("meta", []byte(p.a), received)
			b, _ := Parse("meta", []byte(p.b), received)
			if a[0].ID == b[0].ID {
				t.Errorf("both updates got id %s", a[0].ID)
			}
		})
	}
	// The same status in a different envelope (another batch) keeps its id:
	// dedup must catch it even though the delivery differs.
	one, _ := Parse("meta", []byte(status("wamid.A", "read", 0)), received)
	batch := `{"entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.Z","status":"sent","timestamp":"1"},{"id":"wamid.A","status":"read","timestamp":"1"}]}}]}]}`
	two, _ := Parse("meta", []byte(batch), received)
	if one[0].ID != two[1].ID {
		t.Errorf("status id depends on the batch: %s vs %s", one[0].ID, two[1].ID)
	}
}

// WhatsApp usernames: a customer may come with a business-scoped user id,
// a phone number or both; the two stay apart, and neither is lost.
func TestUserIDsKeptApartFromPhone(t *testing.T) {
	cases := []struct {
		fixture         string
		phone, userID   string
		wantMessageType string
	}{
		{"status_failed_username", "", "US.13491208655302741918", ""},
		{"message_username", "", "US.13491208655302741918", "text"},
		{"message_username_and_phone", "16505551234", "US.22918377465501928374", "button"},
		{"message_text", "16505551234", "", "text"},
	}
	for _, tc := range cases {
		body, err := os.ReadFile(filepath.Join("testdata", tc.fixture+".json"))
		if err != nil {
			t.Fatal(err)
		}
		evs, err := Parse("meta", body, received)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d events, err %v", tc.fixture, len(evs), err)
		}
		e := evs[0]
		if e.RecipientID != tc.phone || e.RecipientUserID != tc.userID {
			t.Errorf("%s: recipient_id %q recipient_user_id %q, want %q and %q", tc.fixture, e.RecipientID, e.RecipientUserID, tc.phone, tc.userID)
		}
		if e.Recipient() == "" {
			t.Errorf("%s: the event names no recipient at all", tc.fixture)
		}
		if e.Kind == event.KindMessage && (e.Status != "received" || e.Attr("message_type") != tc.wantMessageType) {
			t.Errorf("%s: status %q message_type %q, want received and %q", tc.fixture, e.Status, e.Attr("message_type"), tc.wantMessageType)
		}
	}
}

// A redelivery of a value-level error (which has no time of its own) is a
// duplicate; the same error reported again later is a new occurrence.
func TestValueErrorOccurrences(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "value_errors_130429.json"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := Parse("meta", body, received)
	redelivery, _ := Parse("meta", body, received.Add(time.Minute))
	later, _ := Parse("meta", body, received.Add(2*time.Hour))
	if first[0].ID != redelivery[0].ID {
		t.Errorf("redelivery a minute later: id %s, want %s", redelivery[0].ID, first[0].ID)
	}
	if first[0].ID == later[0].ID {
		t.Errorf("the same error two hours later kept id %s: it would be dropped as a duplicate", later[0].ID)
	}
}
