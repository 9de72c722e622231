package event

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"1234":              "****",
		"16505551234":       "*******1234",
		"+55 11 99999-0000": "*************0000",
		"５５５１２３４５":          "****２３４５",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldAndAttributes(t *testing.T) {
	e := Event{ID: "x", Kind: KindStatus, Code: 131031, WABAID: "w1"}
	e.SetAttr("template_name", "promo")
	e.SetAttr("empty", "")
	for name, want := range map[string]string{
		"code": "131031", "kind": "status", "waba_id": "w1",
		"attributes.template_name": "promo", "template_name": "promo", "empty": "", "nope": "",
	} {
		if got := e.Field(name); got != want {
			t.Errorf("Field(%q) = %q, want %q", name, got, want)
		}
	}
	if _, ok := e.Attributes["empty"]; ok {
		t.Error("SetAttr kept an empty value")
	}
	if (&Event{}).Field("code") != "" {
		t.Error("code 0 should read as empty")
	}
}

func TestJSONContract(t *testing.T) {
	b, err := json.Marshal(Event{ID: "x", Kind: KindUnknown})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id", "source", "kind", "status", "code", "title", "message", "details",
		"severity", "recommended_action", "phone_number_id", "display_phone_number", "waba_id",
		"recipient_id", "message_id", "timestamp", "attributes"} {
		if _, ok := m[key]; !ok {
			t.Errorf("event JSON lacks %q", key)
		}
	}
	if attrs, ok := m["attributes"].(map[string]any); !ok || attrs == nil {
		t.Errorf("attributes should be an object, got %v", m["attributes"])
	}
	if _, ok := m["raw"]; ok {
		t.Error("raw should be omitted when empty")
	}
	if !strings.Contains(string(b), `"kind":"unknown"`) {
		t.Errorf("kind not lowercase: %s", b)
	}
}

func TestKindsAndSeverities(t *testing.T) {
	if !ValidKind(KindConnection) || ValidKind("nope") {
		t.Error("ValidKind")
	}
	if !ValidSeverity(SeverityCritical) || ValidSeverity("urgent") {
		t.Error("ValidSeverity")
	}
}

func TestDescribeMasksTheRecipient(t *testing.T) {
	e := Event{Kind: "message_status", Status: "failed", Code: 131026, Title: "Message undeliverable", PhoneNumberID: "106540352242922", RecipientID: "16505551234"}
	want := "message_status failed code 131026 (Message undeliverable), phone_number_id 106540352242922, recipient *******1234"
	if got := e.Describe(); got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	if got := e.Masked().Describe(); got != want {
		t.Errorf("Describe of the masked event = %q, want %q", got, want)
	}
}
