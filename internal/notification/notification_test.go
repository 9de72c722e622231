package notification

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestActionReadsTheShapeOfEarlierVersions(t *testing.T) {
	tests := []struct {
		name   string
		stored string
		want   Action
	}{
		{"slack, earlier", `{"notifier":"slack","channel":"#ops","templates":{"title":"my.title"}}`,
			Action{Notifier: "slack", Target: "#ops", Templates: map[string]string{"title": "my.title"}, Settings: json.RawMessage(`{"channel":"#ops"}`)}},
		{"jira, earlier", `{"notifier":"jira","project":"OPS","priority":"High","labels":["a"],"escalate_priority":"Highest"}`,
			Action{Notifier: "jira", Target: "OPS", EscalatePriority: "Highest", Settings: json.RawMessage(`{"labels":["a"],"priority":"High","project":"OPS"}`)}},
		{"no settings, earlier", `{"notifier":"log"}`, Action{Notifier: "log"}},
		{"this version", `{"notifier":"jira","target":"OPS","settings":{"project":"OPS"}}`,
			Action{Notifier: "jira", Target: "OPS", Settings: json.RawMessage(`{"project":"OPS"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Action
			if err := json.Unmarshal([]byte(tt.stored), &a); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, tt.want) {
				t.Errorf("decoded %+v (settings %s), want %+v (settings %s)", a, a.Settings, tt.want, tt.want.Settings)
			}
			// What this version writes it reads back unchanged.
			b, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			var again Action
			if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(again, a) {
				t.Errorf("round trip of %s = %+v, %v", b, again, err)
			}
		})
	}
	var a Action
	if err := json.Unmarshal([]byte(`["not an action"]`), &a); err == nil {
		t.Error("a list decoded as an action")
	}
}
