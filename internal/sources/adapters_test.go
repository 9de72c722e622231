package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/wabridge/wabridge/internal/delivery"
	"github.com/wabridge/wabridge/internal/event"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the adapters' output")

// testSecrets are what ${VAR} in testdata/example.yaml expand to.
var testSecrets = map[string]string{
	"EVO_KEY":           "evo-key-123",
	"TWILIO_AUTH_TOKEN": "12345",
	"GW_SECRET":         "gw-secret",
	"ZAPI_TOKEN":        "zapi-token",
	"CRM_PASSWORD":      "crm-pass",
	"WPP_TOKEN":         "wpp-token",
}

// exampleSources loads testdata/example.yaml the way the config loader
// does: ${VAR} expanded, then a local viper (which lowercases map keys such
// as status_map's desconnectedMobile) decoding into Config.
func exampleSources(t testing.TB) map[string]Config {
	t.Helper()
	raw, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	expanded := os.Expand(string(raw), func(k string) string { return testSecrets[k] })
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(expanded)); err != nil {
		t.Fatal(err)
	}
	var list []Config
	if err := v.UnmarshalKey("sources", &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]Config{}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

func exampleSource(t testing.TB, name string) Source {
	t.Helper()
	cfg, ok := exampleSources(t)[name]
	if !ok {
		t.Fatalf("no source %s in testdata/example.yaml", name)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	return s
}

var receivedAt = time.Date(2025, 11, 22, 0, 0, 0, 0, time.UTC)

func fixtureDelivery(t testing.TB, fixture string) delivery.Delivery {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	return delivery.Delivery{ID: "d1", ReceivedAt: receivedAt, Body: body}
}

func TestExampleConfigBuilds(t *testing.T) {
	for name, cfg := range exampleSources(t) {
		if errs := Validate(cfg); len(errs) > 0 {
			t.Errorf("source %s: %v", name, errs)
		}
	}
}

// TestGolden parses every provider fixture and compares the events with
// testdata/golden/FIXTURE.json (run with -update to rewrite, then review).
func TestGolden(t *testing.T) {
	cases := []struct{ source, fixture string }{
		{"evo", "evolution_close_401.json"},
		{"evo", "evolution_close_403.json"},
		{"evo", "evolution_close_406.json"},
		{"evo", "evolution_close_440.json"},
		{"evo", "evolution_open.json"},
		{"evo", "evolution_logout.json"},
		{"evo", "evolution_update_error.json"},
		{"evo", "evolution_update_old.json"},
		{"evo", "evolution_upsert.json"},
		{"zapi", "zapi_disconnected.json"},
		{"zapi", "zapi_status.json"},
		{"zapi", "zapi_received.json"},
		{"twilio", "twilio_failed.form"},
		{"gateway", "status_single.json"},
		{"gateway", "status_array.json"},
		{"gateway", "status_logout_timeless.json"},
		{"crm", "inbound_seed.json"},
		{"crm", "inbound_chatwoot.json"},
		{"crm", "inbound_camel.json"},
		{"crm", "inbound_username.json"},
		{"crm", "inbound_chatwoot_contact_updated.json"},
		{"crm", "inbound_chatwoot_status_changed.json"},
		{"twilio", "twilio_incoming.form"},
		{"wppconnect", "wppconnect.json"},
		{"wppconnect", "wppconnect_open.json"},
		{"wppconnect", "wppconnect_other.json"},
		{"wppfile", "wppconnect.json"},
		{"gupshup", "presets/gupshup_failed.json"},
		{"gupshup", "presets/gupshup_message.json"},
		{"infobip", "presets/infobip_dlr.json"},
		{"infobip", "presets/infobip_inbound.json"},
		{"infobip", "presets/infobip_seen.json"},
		{"twilio-es", "presets/twilio_es_failed.json"},
		{"greenapi", "presets/green_api_status.json"},
		{"greenapi", "presets/green_api_state.json"},
		{"wati", "presets/wati_failed.json"},
		{"wati", "presets/wati_message.json"},
		{"ycloud", "presets/ycloud_failed.json"},
		{"ycloud", "presets/ycloud_inbound.json"},
	}
	sources := exampleSources(t)
	for _, tc := range cases {
		t.Run(tc.source+"/"+tc.fixture, func(t *testing.T) {
			src, err := New(sources[tc.source])
			if err != nil {
				t.Fatal(err)
			}
			d := fixtureDelivery(t, tc.fixture)
			events, err := src.Parse(d)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := json.MarshalIndent(events, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", tc.source+"_"+strings.TrimSuffix(filepath.Base(tc.fixture), filepath.Ext(tc.fixture))+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update and review the file)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("events differ from %s:\ngot:\n%s", golden, got)
			}

			// A redelivery gives the same IDs; events within one delivery differ.
			again, err := src.Parse(d)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for i, e := range events {
				if e.ID == "" || e.ID != again[i].ID {
					t.Errorf("event %d: id %q, redelivered %q", i, e.ID, again[i].ID)
				}
				if seen[e.ID] {
					t.Errorf("event %d: id %s repeats within one delivery", i, e.ID)
				}
				seen[e.ID] = true
				if e.Source != tc.source {
					t.Errorf("event %d: source %q, want %q", i, e.Source, tc.source)
				}
				if e.Timestamp.IsZero() {
					t.Errorf("event %d: no timestamp", i)
				}
			}
		})
	}
}

// TestKeyFacts pins the facts the issue names, independently of the golden
// files, so a careless -update cannot bless a regression.
func TestKeyFacts(t *testing.T) {
	type want struct {
		kind                      event.Kind
		status                    string
		code                      int
		reason, phone, recip, msg string
	}
	cases := []struct {
		source, fixture string
		idx             int
		want            want
	}{
		{"evo", "evolution_close_401.json", 0, want{event.KindConnection, "logout", 401, "logged_out", "loja-centro", "", ""}},
		{"evo", "evolution_close_403.json", 0, want{event.KindConnection, "close", 403, "forbidden", "loja-centro", "", ""}},
		{"evo", "evolution_close_406.json", 0, want{event.KindConnection, "close", 406, "banned", "loja-centro", "", ""}},
		{"evo", "evolution_close_440.json", 0, want{event.KindConnection, "close", 440, "replaced", "loja-centro", "", ""}},
		{"evo", "evolution_open.json", 0, want{event.KindConnection, "open", 0, "", "loja-centro", "", ""}},
		{"evo", "evolution_logout.json", 0, want{event.KindConnection, "logout", 0, "logged_out", "loja-centro", "", ""}},
		{"evo", "evolution_update_error.json", 0, want{event.KindStatus, "failed", 0, "", "loja-centro", "5521988887777", "3EB0C767D097C5F8A1B2"}},
		{"evo", "evolution_update_old.json", 0, want{event.KindStatus, "delivered", 0, "", "loja-centro", "5521988887777", "3EB0C767D097C5F8A1B3"}},
		{"evo", "evolution_upsert.json", 0, want{event.KindMessage, "received", 0, "", "loja-centro", "5521988887777", "3EB0A1B2C3D4E5F60718"}},
		{"zapi", "zapi_disconnected.json", 0, want{event.KindConnection, "logout", 0, "logged_out", "3C4B2A1D9E8F", "", ""}},
		{"zapi", "zapi_status.json", 1, want{event.KindStatus, "read", 0, "", "3C4B2A1D9E8F", "5544999999999", "888888888888888888888"}},
		{"zapi", "zapi_received.json", 0, want{event.KindMessage, "received", 0, "", "3C4B2A1D9E8F", "5544999999999", "A20DA9C0183A2D35A260F53F5D2B9244"}},
		{"twilio", "twilio_failed.form", 0, want{event.KindStatus, "failed", 63016, "", "14155238886", "16505551234", "SM1f0e8ae6ade43cb3c0ce4525424e404f"}},
		{"gateway", "status_single.json", 0, want{event.KindStatus, "error", 470, "", "5511999990000", "5521988887777", "wamid.HBgMNTUxMTk5OTk5MDAwMBUCABIYFDNBMDQ"}},
		{"gateway", "status_array.json", 0, want{event.KindConnection, "logout", 0, "logged_out", "5511999990000", "", ""}},
		{"gateway", "status_array.json", 1, want{event.KindStatus, "not_found", 0, "", "5511999990000", "5521900000000", "msg-2"}},
		{"gateway", "status_array.json", 4, want{event.KindUnknown, "", 0, "", "", "", ""}},
		{"crm", "inbound_seed.json", 0, want{event.KindMessage, "received", 0, "", "", "5521988887777", ""}},
		{"crm", "inbound_chatwoot.json", 0, want{event.KindMessage, "received", 0, "", "", "5521988887777", "wamid.HBgMNTUyMTk4ODg4Nzc3NxUCABIYFDNBRkY"}},
		{"wppconnect", "wppconnect.json", 0, want{event.KindConnection, "logout", 0, "logged_out", "vendas", "", ""}},
		{"wppconnect", "wppconnect_open.json", 0, want{event.KindConnection, "open", 0, "", "vendas", "", ""}},
		{"wppconnect", "wppconnect_other.json", 0, want{event.KindUnknown, "", 0, "", "", "", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			events, err := exampleSource(t, tc.source).Parse(fixtureDelivery(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if tc.idx >= len(events) {
				t.Fatalf("%d events, want at least %d", len(events), tc.idx+1)
			}
			e := events[tc.idx]
			got := want{e.Kind, e.Status, e.Code, e.Attr("reason"), e.PhoneNumberID, e.RecipientID, e.MessageID}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTwilioAttributes(t *testing.T) {
	events, err := exampleSource(t, "twilio").Parse(fixtureDelivery(t, "twilio_failed.form"))
	if err != nil {
		t.Fatal(err)
	}
	e := events[0]
	if e.Attr("provider") != "twilio" || e.Attr("account_sid") != "AC00000000000000000000000000000000" {
		t.Errorf("attributes %v", e.Attributes)
	}
	if !strings.Contains(e.Message, "outside the allowed window") {
		t.Errorf("message %q does not carry ChannelStatusMessage", e.Message)
	}
	// Same sid, another status: another event.
	d := fixtureDelivery(t, "twilio_failed.form")
	d.Body = bytes.ReplaceAll(d.Body, []byte("Status=failed"), []byte("Status=undelivered"))
	other, err := exampleSource(t, "twilio").Parse(d)
	if err != nil {
		t.Fatal(err)
	}
	if other[0].Status != "undelivered" || other[0].ID == e.ID {
		t.Errorf("undelivered: status %q id %s (failed id %s)", other[0].Status, other[0].ID, e.ID)
	}
}

func TestInboundAttributes(t *testing.T) {
	events, err := exampleSource(t, "crm").Parse(fixtureDelivery(t, "inbound_seed.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := events[0]
	for k, v := range map[string]string{
		"name":                "Maria Souza",
		"user_id":             "cus_8842",
		"labels":              "vip,delivery",
		"message_type":        "text",
		"notes":               "VIP since 2023",
		"automation_notes":    "order-status flow ended",
		"last_system_message": "Olá! Seu pedido #4821 foi enviado.",
		"recent_messages":     "system: Olá! Seu pedido #4821 foi enviado. | user: Ainda não chegou | user: Pode verificar?",
	} {
		if got := e.Attr(k); got != v {
			t.Errorf("attribute %s = %q, want %q", k, got, v)
		}
	}
	if e.Attr("media_url") != "" {
		t.Errorf("media_url null became %q", e.Attr("media_url"))
	}
	if !e.Timestamp.Equal(time.Unix(1763770000, 0)) {
		t.Errorf("timestamp %v, want the last user message's", e.Timestamp)
	}
}

func TestMappedIDsKeepStatusesApart(t *testing.T) {
	src := exampleSource(t, "wppconnect")
	open, err := src.Parse(fixtureDelivery(t, "wppconnect_open.json"))
	if err != nil {
		t.Fatal(err)
	}
	logout, err := src.Parse(fixtureDelivery(t, "wppconnect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if open[0].ID == logout[0].ID {
		t.Fatal("open and logout of one session share an id: dedup would drop the logout")
	}
	if logout[0].Message != "desconnectedMobile" {
		t.Errorf("message %q, want the provider's word", logout[0].Message)
	}
}

func TestKeyOrderDoesNotChangeID(t *testing.T) {
	src := exampleSource(t, "gateway")
	a, err := src.Parse(delivery.Delivery{ReceivedAt: receivedAt, Body: []byte(`{"event":"logout","instance":"x","timestamp":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Parse(delivery.Delivery{ReceivedAt: receivedAt, Body: []byte(`{ "timestamp":1, "instance":"x", "event":"logout" }`)})
	if err != nil {
		t.Fatal(err)
	}
	if a[0].ID != b[0].ID {
		t.Errorf("ids %s and %s for the same value", a[0].ID, b[0].ID)
	}
}

func TestAccept(t *testing.T) {
	gw := exampleSource(t, "gateway")
	events, err := gw.Parse(fixtureDelivery(t, "status_array.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for i := range events {
		if gw.Accept(&events[i]) {
			kept = append(kept, string(events[i].Kind)+"/"+events[i].Status)
		}
	}
	want := "connection/logout,status/not_found,status/expired,unknown/"
	if got := strings.Join(kept, ","); got != want {
		t.Errorf("accepted %s, want %s (delivered is not listed; unknown always passes)", got, want)
	}
	evo := exampleSource(t, "evo")
	e := event.Event{Kind: event.KindStatus, Status: "delivered"}
	if !evo.Accept(&e) {
		t.Error("a source without accept must keep everything")
	}
}

// TestWrongProvider sends each type a payload of another provider: the
// error is ErrBadPayload (400), names the type and says what was missing.
func TestWrongProvider(t *testing.T) {
	cases := []struct {
		source, fixture, wantType, wantText string
	}{
		{"evo", "zapi_status.json", "evolution", `"event" or "data"`},
		{"zapi", "evolution_open.json", "zapi", `"type"`},
		{"twilio", "evolution_open.json", "twilio", "JSON"},
		{"gateway", "zapi_disconnected.json", "status", `"event" or "status"`},
		{"crm", "zapi_disconnected.json", "inbound", "phone_number"},
		{"evo", "inbound_seed.json", "evolution", `"event" or "data"`},
		{"twilio", "inbound_seed.json", "twilio", "JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.source+"/"+tc.fixture, func(t *testing.T) {
			_, err := exampleSource(t, tc.source).Parse(fixtureDelivery(t, tc.fixture))
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error %v, want ErrBadPayload", err)
			}
			if !strings.Contains(err.Error(), tc.wantType) || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q should name %q and %q", err, tc.wantType, tc.wantText)
			}
		})
	}
	// Form data without Twilio's fields.
	_, err := exampleSource(t, "twilio").Parse(delivery.Delivery{Body: []byte("a=1&b=2")})
	if !errors.Is(err, ErrBadPayload) || !strings.Contains(err.Error(), "MessageSid") {
		t.Errorf("form without MessageSid: %v", err)
	}
}

func TestNotJSON(t *testing.T) {
	for _, name := range []string{"evo", "zapi", "gateway", "crm", "wppconnect"} {
		for _, body := range []string{"", "hello", "{", `{"a":}`, "<xml/>"} {
			_, err := exampleSource(t, name).Parse(delivery.Delivery{Body: []byte(body)})
			if !errors.Is(err, ErrNotJSON) {
				t.Errorf("%s %q: %v, want ErrNotJSON", name, body, err)
			}
		}
	}
	_, err := exampleSource(t, "twilio").Parse(delivery.Delivery{Body: []byte("%zz")})
	if !errors.Is(err, ErrNotJSON) {
		t.Errorf("twilio bad form: %v, want ErrNotJSON", err)
	}
}

func TestTimestamps(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
	}{
		{`1763770000`, time.Unix(1763770000, 0)},
		{`1763770000123`, time.UnixMilli(1763770000123)},
		{`"1763770000"`, time.Unix(1763770000, 0)},
		{`"2025-11-22T00:01:00Z"`, time.Date(2025, 11, 22, 0, 1, 0, 0, time.UTC)},
		{`"2025-11-22T00:01:00.5-03:00"`, time.Date(2025, 11, 22, 3, 1, 0, 5e8, time.UTC)},
	}
	src := exampleSource(t, "gateway")
	for _, tc := range cases {
		events, err := src.Parse(delivery.Delivery{ReceivedAt: receivedAt, Body: []byte(`{"event":"read","timestamp":` + tc.in + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		if !events[0].Timestamp.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.in, events[0].Timestamp, tc.want)
		}
	}
	for _, bad := range []string{`0`, `-5`, `"soon"`, `1e300`, `null`, `{}`} {
		events, err := src.Parse(delivery.Delivery{ReceivedAt: receivedAt, Body: []byte(`{"event":"read","timestamp":` + bad + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		if !events[0].Timestamp.Equal(receivedAt) {
			t.Errorf("%s: %v, want the fallback ReceivedAt", bad, events[0].Timestamp)
		}
	}
}
