package problem

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "rules.yaml", Line: 3, Message: "unknown key"}, "rules.yaml:3: unknown key"},
		{Problem{File: "rules.yaml", Message: "file is empty"}, "rules.yaml: file is empty"},
		{Problem{File: "environment WABRIDGE_SERVER_LISTEN", Message: "server.listen: bad"}, "environment WABRIDGE_SERVER_LISTEN: server.listen: bad"},
		{Problem{Message: "notifiers.slack: no token"}, "notifiers.slack: no token"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("Error = %q, want %q", got, tt.want)
		}
	}
}

func TestOf(t *testing.T) {
	a := At("a.yaml", 1, "first")
	b := At("b.tmpl", 0, "second")
	list := List{a, b}
	tests := []struct {
		name string
		err  error
		want List
	}{
		{"nil", nil, nil},
		{"a list", list, list},
		{"a problem", a, List{a}},
		{"a pointer to a problem", &b, List{b}},
		{"joined", errors.Join(a, errors.New("plain"), list), List{a, {Message: "plain"}, a, b}},
		{"a list in a join in a join", errors.Join(errors.Join(list)), list},
		{"a plain error", errors.New("boom"), List{{Message: "boom"}}},
		{"a wrapped problem keeps its words", fmt.Errorf("source x: %w", a), List{{Message: "source x: a.yaml:1: first"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.err); !slices.Equal(got, tt.want) {
				t.Fatalf("Of = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestList(t *testing.T) {
	var l List
	if l.Err() != nil {
		t.Fatal("an empty list is an error")
	}
	l.Add("c.yaml", 7, "bad %s", "value")
	l.Append(errors.Join(At("d.yaml", 2, "worse"), errors.New("unplaced")))
	if got, want := l.Error(), "c.yaml:7: bad value\nd.yaml:2: worse\nunplaced"; got != want {
		t.Fatalf("Error =\n%s\nwant\n%s", got, want)
	}
	var back List
	if !errors.As(l.Err(), &back) || len(back) != 3 {
		t.Fatalf("errors.As(List) = %v", back)
	}
	in := l.InFile("config.yaml")
	if got, want := in.Strings(), []string{"c.yaml:7: bad value", "d.yaml:2: worse", "config.yaml: unplaced"}; !slices.Equal(got, want) {
		t.Fatalf("InFile = %q, want %q", got, want)
	}
	if l[2].File != "" {
		t.Fatal("InFile changed the list it was called on")
	}
}
