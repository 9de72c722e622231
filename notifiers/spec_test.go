package notifiers

import (
	"reflect"
	"testing"

	"github.com/wabridge/wabridge/internal/notification"
)

func TestSpecTemplates(t *testing.T) {
	sp := Spec{
		Name: "pager", Title: "Pager", Target: "queue",
		Roles:   []Role{{Name: "title", Default: "pager.title"}, {Name: "text", Default: "pager.text"}, {Name: "done", Default: "pager.done"}},
		Summary: "title",
		Body:    map[notification.Op][]string{"": {"text"}, notification.OpResolve: {"done", "text"}},
	}
	a := notification.Action{Templates: map[string]string{"text": "my.text", "nope": "x"}}
	sum, body := sp.Templates(notification.OpOpen, a)
	if sum != "pager.title" || !reflect.DeepEqual(body, []string{"my.text"}) {
		t.Errorf("open: %s %v", sum, body)
	}
	if _, body := sp.Templates(notification.OpResolve, a); !reflect.DeepEqual(body, []string{"pager.done", "my.text"}) {
		t.Errorf("resolve: %v", body)
	}
	if got := sp.Role(a, "nope"); got != "" {
		t.Errorf("an undeclared role = %q, want none", got)
	}
	if sp.Describe("Q1") != "queue Q1" || sp.Describe("") != "" || (Spec{}).Describe("x") != "x" {
		t.Errorf("Describe = %q", sp.Describe("Q1"))
	}
	if sp.Link("https://x") != "Pager" {
		t.Errorf("Link = %q", sp.Link("https://x"))
	}
}

type queueSettings struct {
	Queue string `json:"queue"`
}

func (s *queueSettings) Target() string { return s.Queue }

func TestDecodeSettings(t *testing.T) {
	var s queueSettings
	if err := DecodeSettings("pager", notification.Action{Settings: []byte(`{"queue":"Q1"}`)}, &s); err != nil || s.Queue != "Q1" {
		t.Errorf("decoded %+v, %v", s, err)
	}
	if err := DecodeSettings("pager", notification.Action{}, &s); err != nil || s.Queue != "Q1" {
		t.Errorf("no settings: %+v, %v", s, err)
	}
	if err := DecodeSettings("pager", notification.Action{Settings: []byte(`[1]`)}, &s); err == nil {
		t.Error("a list decoded as settings")
	}
}
