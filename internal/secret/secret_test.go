package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "xoxb-very-secret"
	s := Secret(value)
	type holder struct {
		Token Secret `json:"token" yaml:"token"`
	}
	js, err := json.Marshal(holder{s})
	if err != nil {
		t.Fatal(err)
	}
	ys, err := yaml.Marshal(holder{s})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", s, "holder", holder{s})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "token", s, "holder", holder{s})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%q": fmt.Sprintf("%q", s),
		"%+v": fmt.Sprintf("%+v", holder{s}), "%#v": fmt.Sprintf("%#v", holder{s}),
		"json": string(js), "yaml": string(ys), "slog": logs.String(),
	} {
		if strings.Contains(out, value) {
			t.Errorf("%s prints the secret: %s", name, out)
		}
		if !strings.Contains(out, "secret>") && !strings.Contains(out, `secret\u003e`) {
			t.Errorf("%s does not show it is redacted: %s", name, out)
		}
	}
	if s.Value() != value {
		t.Fatal("Value must return the secret")
	}
}

func TestEmptySecretPrintsEmpty(t *testing.T) {
	var s Secret
	if s.IsSet() || s.String() != "" {
		t.Fatalf("an unset secret should print empty, got %q", s.String())
	}
}
