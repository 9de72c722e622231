package event

import (
	"strings"
	"testing"
)

// TestFieldTableRoundTrip: every field of the table reads back what was
// set by name, so Field (group_by, silences) and SetField (mappings) cannot
// disagree about a field.
func TestFieldTableRoundTrip(t *testing.T) {
	values := map[string]string{"kind": "status", "code": "131048", "severity": "critical"}
	for _, name := range FieldNames() {
		var e Event
		v := values[name]
		if v == "" {
			v = "v-" + name
		}
		if err := e.SetField(name, v); err != nil {
			t.Fatalf("SetField(%s, %q): %v", name, v, err)
		}
		if got := e.Field(name); got != v {
			t.Errorf("Field(%s) = %q after SetField(%q)", name, got, v)
		}
	}
	var e Event
	if err := e.SetField("attributes.template_name", "promo"); err != nil || e.Field("attributes.template_name") != "promo" || e.Attr("template_name") != "promo" {
		t.Errorf("attribute by name: %v, %+v", err, e.Attributes)
	}
}

func TestSetFieldRefusesWhatIsNoValue(t *testing.T) {
	for _, tt := range []struct{ name, value, want string }{
		{"code", "abc", "not a number"},
		{"kind", "statuss", "is not one of status"},
		{"severity", "urgent", "is not one of critical"},
		{"phone", "1", `"phone" is not an event field`},
	} {
		e := Event{Code: 1, Kind: KindError, Severity: SeverityInfo}
		err := e.SetField(tt.name, tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SetField(%s, %q) = %v, want %q", tt.name, tt.value, err, tt.want)
		}
		if e.Code != 1 || e.Kind != KindError || e.Severity != SeverityInfo || e.Attributes != nil {
			t.Errorf("SetField(%s, %q) changed the event: %+v", tt.name, tt.value, e)
		}
	}
}

// TestListsAreTheCallers: a caller that changes the list it got changes
// nobody else's.
func TestListsAreTheCallers(t *testing.T) {
	FieldNames()[0] = "x"
	Kinds()[0] = "x"
	Severities()[0] = "x"
	if FieldNames()[0] != "id" || Kinds()[0] != KindStatus || Severities()[0] != SeverityCritical || !IsField("id") {
		t.Error("a returned list is shared")
	}
}

func TestKnownField(t *testing.T) {
	for name, want := range map[string]bool{"code": true, "attributes.x": true, "attributes.": false, "phone": false, "timestamp": false} {
		if KnownField(name) != want {
			t.Errorf("KnownField(%q) = %v", name, !want)
		}
	}
	if got := MappableFields(); strings.Contains(strings.Join(got, ","), "source") || len(got) != len(FieldNames())-2 {
		t.Errorf("MappableFields = %v", got)
	}
}
