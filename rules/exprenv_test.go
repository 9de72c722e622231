package rules

import (
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/wabridge/wabridge/internal/event"
)

// TestExprEnvHasEveryField: a when expression sees every field of the
// event's one field table under its name (plus attributes and timestamp),
// so a field added to the event cannot be forgotten here. The environment
// stays a typed struct because expr checks types at compile time and runs
// it without a map per event.
func TestExprEnvHasEveryField(t *testing.T) {
	var got []string
	rt := reflect.TypeFor[exprEnv]()
	for i := range rt.NumField() {
		got = append(got, rt.Field(i).Tag.Get("expr"))
	}
	want := append(event.FieldNames(), "attributes", "timestamp")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("when expressions see %v; the event's fields are %v", got, want)
	}
	e := event.Event{ID: "i", Source: "s", Kind: event.KindStatus, Status: "failed", Code: 131048,
		Title: "t", Message: "m", Details: "d", Severity: event.SeverityCritical, RecommendedAction: "r",
		PhoneNumberID: "p", DisplayPhoneNumber: "dp", WABAID: "w", RecipientID: "ri", RecipientUserID: "ru", MessageID: "mi"}
	var x exprEnv
	x.fill(&e)
	v := reflect.ValueOf(x)
	for i := range rt.NumField() {
		name := rt.Field(i).Tag.Get("expr")
		if !event.IsField(name) {
			continue
		}
		if got := reflect.Indirect(v.Field(i)).Interface(); fmtValue(got) != e.Field(name) {
			t.Errorf("when expressions see %s = %v, the event has %q", name, got, e.Field(name))
		}
	}
}

func fmtValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		if v == 0 {
			return ""
		}
		return strconv.Itoa(v)
	}
	return ""
}
